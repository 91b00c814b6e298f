// A small blocking gRPC core client for tests of servers built on lib/rpc:
// unary and server-streaming calls over loopback, one completion queue per
// call, no generated stubs. Test-only; every failure of the gRPC API itself
// returns an error rather than aborting, so tests can report it.
#ifndef SEALSTREAM_LIB_RPC_TEST_CLIENT_H
#define SEALSTREAM_LIB_RPC_TEST_CLIENT_H

#include <grpc/grpc.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss_test_channel_new connects (lazily) to 127.0.0.1:|port| without TLS,
// accepting messages of up to 64 MiB. Destroy with grpc_channel_destroy.
// Calls grpc_init; the caller owes one grpc_shutdown after destroying it.
grpc_channel *ss_test_channel_new(int port);

// ss_test_channel_new_target is ss_test_channel_new for a gRPC target string
// such as "127.0.0.1:PORT" (borrowed; copied by gRPC).
grpc_channel *ss_test_channel_new_target(const char *target);

// ss_test_channel_new_tls connects to 127.0.0.1:|port| with TLS trusting
// |ca_pem|, checking the name |server_name|, presenting |cert_pem| and
// |key_pem| when both are non-NULL. Returns NULL, without calling grpc_init,
// if the PEM texts are refused (see ss_tls_channel_credentials_from_pem).
grpc_channel *ss_test_channel_new_tls(int port, const char *ca_pem,
                                      const char *cert_pem, const char *key_pem,
                                      const char *server_name);

typedef struct ss_test_call ss_test_call;

// ss_test_call_start starts a call to |method| on |channel| and sends
// |request| (|request_len| bytes; NULL sends no message) and the client's
// half-close. |timeout_ms| 0 means no deadline. Returns NULL if gRPC refused
// to start it.
ss_test_call *ss_test_call_start(grpc_channel *channel, const char *method,
                                 const void *request, size_t request_len,
                                 int64_t timeout_ms);

// ss_test_call_start_with_metadata is ss_test_call_start that also sends the
// |num_metadata| request headers of |metadata| (borrowed until
// ss_test_call_free; NULL when |num_metadata| is 0).
ss_test_call *ss_test_call_start_with_metadata(
    grpc_channel *channel, const char *method, const void *request,
    size_t request_len, int64_t timeout_ms, const grpc_metadata *metadata,
    size_t num_metadata);

// ss_test_call_recv waits for the next message and copies it to |out|
// (reset first). Returns 1 for a message, 0 when the stream ended.
int ss_test_call_recv(ss_test_call *call, ss_buf *out);

// ss_test_call_status waits for the call's status and returns its code,
// copying its details into |details| (|details_len| bytes, NUL-terminated;
// may be NULL). If gRPC delivered no status (the batch failed), returns
// GRPC_STATUS_INTERNAL with details that say so.
grpc_status_code ss_test_call_status(ss_test_call *call, char *details,
                                     size_t details_len);

// ss_test_call_cancel cancels the call from the client side.
void ss_test_call_cancel(ss_test_call *call);

// ss_test_call_free cancels the call if its status was not received, waits
// for every operation and frees it. NULL is ignored.
void ss_test_call_free(ss_test_call *call);

// ss_test_unary makes one unary call and returns its status code; the
// response, if any, goes to |response|.
grpc_status_code ss_test_unary(grpc_channel *channel, const char *method,
                               const void *request, size_t request_len,
                               ss_buf *response, char *details,
                               size_t details_len, int64_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_RPC_TEST_CLIENT_H
