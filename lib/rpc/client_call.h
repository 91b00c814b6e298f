// Outgoing gRPC calls made while serving a call, on the same event loop.
//
// An ss_rpc_client_call is the child of an accepted ss_rpc_call
// (GRPC_PROPAGATE_DEFAULTS): it inherits the parent's deadline, is cancelled
// when the parent is, and its handlers run on the parent's pump thread, so
// state shared by the two needs no lock when only handlers touch it. The
// parent is not released, and so the server's shutdown does not complete,
// until every child is.
//
// A call counts one reference for the application (dropped by
// ss_rpc_client_call_release) and one per batch in flight. It starts by
// sending its initial metadata and awaiting the server's initial metadata and
// status; messages go one at a time each way: one send, one receive in
// flight. Everything the server sends (metadata, messages, status) is
// untrusted.
#ifndef SEALSTREAM_LIB_RPC_CLIENT_CALL_H
#define SEALSTREAM_LIB_RPC_CLIENT_CALL_H

#include <grpc/grpc.h>
#include <stddef.h>

#include "lib/base/status.h"
#include "lib/rpc/server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ss_rpc_client_call ss_rpc_client_call;

// Callbacks of one outgoing call, all run on the parent's pump thread, never
// while the call's lock is held. All are optional.
typedef struct ss_rpc_client_call_ops {
  // on_initial_metadata: the server's initial metadata arrived (|md|
  // borrowed until release). Empty when the call failed before any, or the
  // server answered with trailers only. Comes once.
  void (*on_initial_metadata)(void *app, const grpc_metadata_array *md);
  // on_recv: the receive started by ss_rpc_client_call_recv completed with
  // the server's next message (owned by the callee), or NULL at the end of
  // the server's stream or when the call failed.
  void (*on_recv)(void *app, grpc_byte_buffer *msg);
  // on_send_done: the message of ss_rpc_client_call_send was accepted by
  // flow control (|ok| 1) or the call ended first (|ok| 0).
  void (*on_send_done)(void *app, int ok);
  // on_status: the call ended with |code|, |details| (borrowed until the
  // callback returns) and |trailing| metadata (borrowed until release).
  // Comes once, after the server's last message was received or the call
  // failed.
  void (*on_status)(void *app, grpc_status_code code, grpc_slice details,
                    const grpc_metadata_array *trailing);
  // on_release: the application released the call and nothing is in
  // flight; it is freed right after. Runs on whichever thread dropped the
  // last reference.
  void (*on_release)(void *app);
} ss_rpc_client_call_ops;

typedef struct ss_rpc_client_call_args {
  grpc_channel *channel;  // borrowed; must outlive the call
  const char *method;     // "/pkg.Service/Method"; copied by gRPC
  // :authority to send (copied by gRPC); NULL: the channel's default. A TLS
  // channel checks it against the server's certificate.
  const char *host;
  const grpc_metadata *metadata;  // initial metadata; copied by gRPC
  size_t num_metadata;
} ss_rpc_client_call_args;

// ss_rpc_client_call_start starts a call as the child of |parent| (which the
// application must hold) on |parent|'s loop, with |args|, and reports to
// |ops| (borrowed, usually static) with |app|. Returns the call, or NULL with
// |st| set (INVALID_ARGUMENT when gRPC refuses the metadata, INTERNAL
// otherwise); nothing is left behind on failure.
ss_rpc_client_call *ss_rpc_client_call_start(
    ss_rpc_call *parent, const ss_rpc_client_call_args *args,
    const ss_rpc_client_call_ops *ops, void *app, ss_status *st);

// ss_rpc_client_call_send starts sending |msg|; takes ownership of it on
// success. on_send_done follows. Fails with FAILED_PRECONDITION, changing
// nothing, while another send is in flight or after the half-close, and
// INTERNAL if gRPC refuses the batch. Returns 1, or 0 with |st| set.
int ss_rpc_client_call_send(ss_rpc_client_call *call, grpc_byte_buffer *msg,
                            ss_status *st);

// ss_rpc_client_call_close_send half-closes the call: no more messages go
// to the server. Waits for a send in flight. Idempotent. Returns 1, or 0
// with |st| set if gRPC refused the batch.
int ss_rpc_client_call_close_send(ss_rpc_client_call *call, ss_status *st);

// ss_rpc_client_call_recv starts receiving the server's next message;
// on_recv follows. One receive at a time: FAILED_PRECONDITION otherwise.
// Returns 1, or 0 with |st| set.
int ss_rpc_client_call_recv(ss_rpc_client_call *call, ss_status *st);

// ss_rpc_client_call_cancel cancels the call with |code| and |details|
// (copied) unless it already ended; on_status follows with them.
void ss_rpc_client_call_cancel(ss_rpc_client_call *call,
                               grpc_status_code code, const char *details);

// ss_rpc_client_call_release ends the application's use of |call|,
// cancelling it if its status has not arrived yet. It must not be touched
// afterwards; callbacks still owed run (on_recv, on_send_done, on_status,
// then on_release).
void ss_rpc_client_call_release(ss_rpc_client_call *call);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_RPC_CLIENT_CALL_H
