// Blocking test client on the gRPC core API (see test_client.h), on
// ss_sync_call: the start, receive and status batches of a call are in
// flight together under their own tags.
#include "lib/rpc/test_client.h"

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rpc/buffer.h"
#include "lib/rpc/sync_call.h"
#include "lib/rpc/tls.h"

enum { kTagStart = 0, kTagRecv = 1, kTagStatus = 2 };

struct ss_test_call {
  ss_sync_call *call;  // owned
  grpc_metadata_array initial_md;
  grpc_metadata_array trailing_md;
  grpc_byte_buffer *request;
  grpc_byte_buffer *received;
  grpc_status_code status;
  grpc_slice status_details;
  int ended;  // a recv returned end of stream
};

static grpc_channel *channel_new(const char *target,
                                 grpc_channel_credentials *creds,
                                 const grpc_channel_args *args) {
  if (creds == NULL) {
    return NULL;
  }
  grpc_init();
  grpc_channel *channel = grpc_channel_create(target, creds, args);
  grpc_channel_credentials_release(creds);
  return channel;
}

static void loopback_target(char *out, size_t out_len, int port) {
  snprintf(out, out_len, "127.0.0.1:%d", port);
}

grpc_channel *ss_test_channel_new_target(const char *target) {
  grpc_arg arg;
  memset(&arg, 0, sizeof(arg));
  arg.type = GRPC_ARG_INTEGER;
  arg.key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  arg.value.integer = 64 * 1024 * 1024;
  grpc_channel_args args = {1, &arg};
  return channel_new(target, grpc_insecure_credentials_create(), &args);
}

grpc_channel *ss_test_channel_new(int port) {
  char target[64];
  loopback_target(target, sizeof(target), port);
  return ss_test_channel_new_target(target);
}

grpc_channel *ss_test_channel_new_tls(int port, const char *ca_pem,
                                      const char *cert_pem, const char *key_pem,
                                      const char *server_name) {
  grpc_channel_credentials *creds =
      ss_tls_channel_credentials_from_pem(ca_pem, cert_pem, key_pem, NULL);
  grpc_arg arg;
  ss_tls_server_name_arg(&arg, server_name);
  grpc_channel_args args = {1, &arg};
  char target[64];
  loopback_target(target, sizeof(target), port);
  return channel_new(target, creds, &args);
}

ss_test_call *ss_test_call_start(grpc_channel *channel, const char *method,
                                 const void *request, size_t request_len,
                                 int64_t timeout_ms) {
  return ss_test_call_start_with_metadata(channel, method, request, request_len,
                                          timeout_ms, NULL, 0);
}

ss_test_call *ss_test_call_start_with_metadata(
    grpc_channel *channel, const char *method, const void *request,
    size_t request_len, int64_t timeout_ms, const grpc_metadata *metadata,
    size_t num_metadata) {
  ss_test_call *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    return NULL;
  }
  grpc_metadata_array_init(&c->initial_md);
  grpc_metadata_array_init(&c->trailing_md);
  c->status_details = grpc_empty_slice();
  gpr_timespec deadline =
      timeout_ms > 0
          ? gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(timeout_ms, GPR_TIMESPAN))
          : gpr_inf_future(GPR_CLOCK_MONOTONIC);
  c->call = ss_sync_call_new(channel, method, deadline, NULL);
  if (c->call == NULL) {
    ss_test_call_free(c);
    return NULL;
  }
  grpc_op ops[4];
  memset(ops, 0, sizeof(ops));
  size_t n = 0;
  ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[n].data.send_initial_metadata.count = num_metadata;
  ops[n++].data.send_initial_metadata.metadata = (grpc_metadata *)metadata;
  if (request != NULL) {
    c->request = ss_rpc_buffer_copy(request, request_len, NULL);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = c->request;
  }
  ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[n++].data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
  if (!ss_sync_call_start(c->call, kTagStart, ops, n, NULL)) {
    ss_test_call_free(c);
    return NULL;
  }
  grpc_op status_op;
  memset(&status_op, 0, sizeof(status_op));
  status_op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  status_op.data.recv_status_on_client.trailing_metadata = &c->trailing_md;
  status_op.data.recv_status_on_client.status = &c->status;
  status_op.data.recv_status_on_client.status_details = &c->status_details;
  if (!ss_sync_call_start(c->call, kTagStatus, &status_op, 1, NULL)) {
    ss_test_call_free(c);
    return NULL;
  }
  return c;
}

int ss_test_call_recv(ss_test_call *c, ss_buf *out) {
  ss_buf_reset(out);
  if (c->ended) {
    return 0;
  }
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &c->received;
  if (!ss_sync_call_wait(c->call, kTagStart, NULL, NULL) ||
      !ss_sync_call_run(c->call, kTagRecv, &op, 1, NULL, NULL) ||
      c->received == NULL) {
    c->ended = 1;
    return 0;
  }
  int ok = ss_rpc_buffer_read(c->received, out, NULL);
  grpc_byte_buffer_destroy(c->received);
  c->received = NULL;
  if (!ok) {
    c->ended = 1;
  }
  return ok;
}

grpc_status_code ss_test_call_status(ss_test_call *c, char *details,
                                     size_t details_len) {
  int ok = 0;
  // Without a completed status batch |c->status| is still its zero value,
  // GRPC_STATUS_OK, which would pass a failed call off as a good one.
  if (!ss_sync_call_wait(c->call, kTagStart, NULL, NULL) ||
      !ss_sync_call_wait(c->call, kTagRecv, NULL, NULL) ||
      !ss_sync_call_wait(c->call, kTagStatus, &ok, NULL) || !ok) {
    if (details != NULL && details_len > 0) {
      snprintf(details, details_len, "test client: no status received");
    }
    return GRPC_STATUS_INTERNAL;
  }
  if (details != NULL && details_len > 0) {
    size_t len = GRPC_SLICE_LENGTH(c->status_details);
    if (len >= details_len) {
      len = details_len - 1;
    }
    memcpy(details, GRPC_SLICE_START_PTR(c->status_details), len);
    details[len] = '\0';
  }
  return c->status;
}

void ss_test_call_cancel(ss_test_call *c) { ss_sync_call_cancel(c->call); }

void ss_test_call_free(ss_test_call *c) {
  if (c == NULL) {
    return;
  }
  // Cancels the call if its status batch is still pending.
  ss_sync_call_free(c->call);
  if (c->request != NULL) {
    grpc_byte_buffer_destroy(c->request);
  }
  if (c->received != NULL) {
    grpc_byte_buffer_destroy(c->received);
  }
  grpc_metadata_array_destroy(&c->initial_md);
  grpc_metadata_array_destroy(&c->trailing_md);
  grpc_slice_unref(c->status_details);
  free(c);
}

grpc_status_code ss_test_unary(grpc_channel *channel, const char *method,
                               const void *request, size_t request_len,
                               ss_buf *response, char *details,
                               size_t details_len, int64_t timeout_ms) {
  ss_test_call *c =
      ss_test_call_start(channel, method, request, request_len, timeout_ms);
  if (c == NULL) {
    if (details != NULL && details_len > 0) {
      snprintf(details, details_len, "test client: cannot start the call");
    }
    return GRPC_STATUS_INTERNAL;
  }
  ss_test_call_recv(c, response);
  grpc_status_code code = ss_test_call_status(c, details, details_len);
  ss_test_call_free(c);
  return code;
}
