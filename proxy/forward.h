// The proxy's forwarding core: one accepted call forwarded to one backend.
//
// A forwarded call has two legs named for their direction: c2p, the call a
// client made to the proxy (an ss_rpc_call), and p2s, the call the proxy
// makes to the backend (an ss_rpc_client_call, child of c2p, so it carries
// c2p's deadline and is cancelled with it). Both legs' handlers run on c2p's
// pump thread. The core forwards, without decoding anything:
//   - to the backend: the metadata the caller chose, every client message as
//     an opaque byte buffer, and the client's half-close;
//   - to the client: the backend's initial metadata as soon as it arrives,
//     every backend message, then the backend's status code, details and
//     trailing metadata once its last message has been delivered.
// Exactly one receive and one send are in flight per direction, so flow
// control holds end to end: a slow client slows the backend, and a call
// holds at most one message per direction. Messages compressed by their
// sender pass through compressed, never inflated here (gzip only: another
// algorithm is UNIMPLEMENTED). A backend's own statuses, UNAVAILABLE
// included, pass verbatim; when the backend's connection is down, the
// client gets UNAVAILABLE with details naming the route.
//
// Every byte here is untrusted and passed on unread. An optional filter (for
// tests: tampering, capturing) sees every message.
#ifndef SEALSTREAM_PROXY_FORWARD_H
#define SEALSTREAM_PROXY_FORWARD_H

#include <grpc/grpc.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"
#include "lib/rpc/server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ss_forward_dir {
  SS_FORWARD_TO_BACKEND = 0,  // client to proxy to backend
  SS_FORWARD_TO_CLIENT = 1,   // backend to proxy to client
} ss_forward_dir;

// At most this many messages a filter may emit for one it was given.
#define SS_FORWARD_MAX_EMIT 4

// What a filter forwards in place of one message: |num| messages (owned,
// sent in order). |end_ok| (towards the client only) ends the call with OK
// once they were delivered, whatever the backend does.
typedef struct ss_forward_emit {
  grpc_byte_buffer *msgs[SS_FORWARD_MAX_EMIT];
  size_t num;
  int end_ok;
} ss_forward_emit;

// ss_forward_emit_add appends |msg| (owned) to |out|. Returns 1, or 0 when
// |out| is full (|msg| is then destroyed).
int ss_forward_emit_add(ss_forward_emit *out, grpc_byte_buffer *msg);

// A message filter, for tests: a tampering or capturing proxy is the real
// forwarding core with a filter. All functions run on the call's pump
// thread; optional ones may be NULL.
typedef struct ss_forward_filter {
  void *ctx;
  // call_begin returns the filter's state for a new call of |method|.
  void *(*call_begin)(void *ctx, const char *method);
  // message takes |msg| (owned) going in |dir| and emits what to forward
  // instead; emitting |msg| itself forwards it unchanged.
  void (*message)(void *call_state, ss_forward_dir dir, grpc_byte_buffer *msg,
                  ss_forward_emit *out);
  // stream_end: the stream in |dir| ended (half-close, or the backend's last
  // message). Called again after what it emits was delivered, until it
  // emits nothing. Optional.
  void (*stream_end)(void *call_state, ss_forward_dir dir,
                     ss_forward_emit *out);
  // call_end frees the call's state. Optional.
  void (*call_end)(void *call_state);
} ss_forward_filter;

// How one forwarded call went, reported once at its end.
typedef struct ss_forward_result {
  grpc_status_code code;  // as sent to the client
  const char *details;    // as sent to the client; borrowed for the callback
  uint64_t bytes[2];      // message bytes forwarded, by ss_forward_dir
  uint64_t messages[2];   // messages forwarded, by ss_forward_dir
  int64_t duration_us;    // start to the status sent
  // Start to the backend's initial metadata and to its first message; -1
  // when they never came.
  int64_t connect_us;
  int64_t first_byte_us;
} ss_forward_result;

// Callbacks of the code that starts forwarded calls (the proxy): counters
// and the call's end. They run on the call's pump thread; optional ones may
// be NULL.
typedef struct ss_forward_observer {
  void *ctx;
  // on_message: |len| message bytes were forwarded in |dir|.
  void (*on_message)(void *ctx, void *call_ctx, ss_forward_dir dir,
                     size_t len);
  // on_end: the call ended with |result|. |call_ctx| may be freed here.
  void (*on_end)(void *ctx, void *call_ctx, const ss_forward_result *result);
} ss_forward_observer;

// Where a call goes.
typedef struct ss_forward_target {
  const char *route;      // the route's name, for messages; copied
  grpc_channel *channel;  // borrowed; must outlive the call
  const char *host;       // :authority for the backend; NULL: the channel's
} ss_forward_target;

// ss_forward_start forwards |call| (held by the caller, who gives it up on
// success) to |target|, sending the |num_metadata| entries of |metadata|
// (borrowed; copied by gRPC) as the backend call's initial metadata.
// |observer| and |filter| (both borrowed, may be NULL, must outlive the call)
// are told about it with |call_ctx|. On failure nothing was started, |st|
// says why, and |call| is still the caller's to finish. Returns 1, or 0.
int ss_forward_start(ss_rpc_call *call, const ss_forward_target *target,
                     const grpc_metadata *metadata, size_t num_metadata,
                     const ss_forward_observer *observer,
                     const ss_forward_filter *filter, void *call_ctx,
                     ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_PROXY_FORWARD_H
