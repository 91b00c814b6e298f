// Test support: one server-streaming gRPC call that collects every response,
// for requests the client library would never send (a crafted JWK, a
// plaintext request, garbage bytes) and for looking at the exact messages and
// status a server or proxy returns. The call itself is made by the blocking
// test client of lib/rpc (lib/rpc/test_client.h); this adds an arbitrary
// target, one request header, and limits on what is kept.
#ifndef SEALSTREAM_TESTS_SUPPORT_RAW_CALL_H
#define SEALSTREAM_TESTS_SUPPORT_RAW_CALL_H

#include <grpc/status.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"
#include "sealstream/v1/query.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ss_raw_message {
  uint8_t *data;  // owned
  size_t len;
} ss_raw_message;

typedef struct ss_raw_result {
  grpc_status_code code;     // the call's final status
  char details[1024];        // its message, NUL-terminated (truncated)
  size_t num_messages;       // messages received (all of them are kept)
  ss_raw_message *messages;  // owned, |num_messages| long
} ss_raw_result;

// ss_raw_result_init makes an empty result; the zero value is one too.
void ss_raw_result_init(ss_raw_result *result);

// ss_raw_result_cleanup frees the messages and empties |result|.
void ss_raw_result_cleanup(ss_raw_result *result);

typedef struct ss_raw_call_options {
  int64_t timeout_ms;   // deadline for the call; 0: none
  size_t cancel_after;  // cancel once this many messages arrived; 0: never
  size_t max_bytes;     // total bytes kept before the call fails; 0: 64 MiB
  const char *metadata_key;  // one extra request header; NULL: none
  const char *metadata_value;
} ss_raw_call_options;

// ss_raw_call sends |request_len| bytes of |request| as the one request
// message of |method| on a new insecure channel to |target| and reads every
// response message and the status into |out| (cleaned up first). |options|
// may be NULL. A single response over 64 MiB ends the call with gRPC's own
// RESOURCE_EXHAUSTED status. Returns 1 once the call ended, whatever its
// status; 0 with |st| set and |out| empty when the call could not be made or
// a limit was hit.
int ss_raw_call(ss_raw_result *out, const char *target, const char *method,
                const uint8_t *request, size_t request_len,
                const ss_raw_call_options *options, ss_status *st);

// ss_raw_query packs |request| and calls ExecuteQuery with it (see
// ss_raw_call).
int ss_raw_query(ss_raw_result *out, const char *target,
                 const Sealstream__V1__QueryRequest *request,
                 const ss_raw_call_options *options, ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_TESTS_SUPPORT_RAW_CALL_H
