// One server-streaming call that keeps every response, built on the blocking
// test client of lib/rpc (test_client.h), which owns all the completion-queue
// work. Responses are untrusted bytes; they are only copied here.
#include "tests/support/raw_call.h"

#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/bytes.h"
#include "lib/protocol/names.h"
#include "lib/rpc/test_client.h"

#define DEFAULT_MAX_BYTES (64u * 1024 * 1024)

void ss_raw_result_init(ss_raw_result *result) {
  memset(result, 0, sizeof(*result));
}

void ss_raw_result_cleanup(ss_raw_result *result) {
  for (size_t i = 0; i < result->num_messages; i++) {
    free(result->messages[i].data);
  }
  free(result->messages);
  ss_raw_result_init(result);
}

// keep_message appends a copy of |msg| to |out|. Returns 1, or 0 when
// |max_bytes| would be exceeded or memory is short.
static int keep_message(ss_raw_result *out, const ss_buf *msg,
                        size_t *kept_bytes, size_t max_bytes) {
  if (msg->len > max_bytes - *kept_bytes) {
    return 0;
  }
  ss_raw_message *grown =
      realloc(out->messages, (out->num_messages + 1) * sizeof(*grown));
  if (grown == NULL) {
    return 0;
  }
  out->messages = grown;
  uint8_t *data = malloc(msg->len > 0 ? msg->len : 1);
  if (data == NULL) {
    return 0;
  }
  if (msg->len > 0) {
    memcpy(data, msg->data, msg->len);
  }
  out->messages[out->num_messages].data = data;
  out->messages[out->num_messages].len = msg->len;
  out->num_messages++;
  *kept_bytes += msg->len;
  return 1;
}

int ss_raw_call(ss_raw_result *out, const char *target, const char *method,
                const uint8_t *request, size_t request_len,
                const ss_raw_call_options *options, ss_status *st) {
  ss_raw_call_options defaults;
  memset(&defaults, 0, sizeof(defaults));
  if (options == NULL) {
    options = &defaults;
  }
  size_t max_bytes =
      options->max_bytes != 0 ? options->max_bytes : DEFAULT_MAX_BYTES;
  ss_raw_result_cleanup(out);
  int ok = 0;

  grpc_metadata md;
  memset(&md, 0, sizeof(md));
  size_t num_md = 0;
  if (options->metadata_key != NULL) {
    md.key = grpc_slice_from_copied_string(options->metadata_key);
    md.value = grpc_slice_from_copied_string(
        options->metadata_value != NULL ? options->metadata_value : "");
    num_md = 1;
  }
  ss_buf msg;
  ss_buf_init(&msg, 0);
  grpc_channel *channel = ss_test_channel_new_target(target);
  // The test client sends no message for a NULL request; this call always
  // sends one, even an empty one.
  ss_test_call *call = ss_test_call_start_with_metadata(
      channel, method, request != NULL ? (const void *)request : "",
      request_len, options->timeout_ms, num_md > 0 ? &md : NULL, num_md);
  if (call == NULL) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "%s: cannot start the call",
                  method);
    goto done;
  }

  size_t kept_bytes = 0;
  int over_limit = 0;
  while (ss_test_call_recv(call, &msg)) {
    if (!keep_message(out, &msg, &kept_bytes, max_bytes)) {
      over_limit = 1;
      ss_test_call_cancel(call);
      break;
    }
    if (options->cancel_after != 0 &&
        out->num_messages >= options->cancel_after) {
      ss_test_call_cancel(call);
      break;
    }
  }
  out->code = ss_test_call_status(call, out->details, sizeof(out->details));
  if (over_limit) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "%s: responses exceed %zu bytes or memory is short", method,
                  max_bytes);
    goto done;
  }
  ok = 1;

done:
  ss_test_call_free(call);
  grpc_channel_destroy(channel);
  grpc_shutdown();  // owed for ss_test_channel_new_target's grpc_init
  ss_buf_cleanup(&msg);
  if (num_md > 0) {
    grpc_slice_unref(md.key);
    grpc_slice_unref(md.value);
  }
  if (!ok) {
    ss_raw_result_cleanup(out);
  }
  return ok;
}

int ss_raw_query(ss_raw_result *out, const char *target,
                 const Sealstream__V1__QueryRequest *request,
                 const ss_raw_call_options *options, ss_status *st) {
  size_t len = sealstream__v1__query_request__get_packed_size(request);
  uint8_t *packed = malloc(len > 0 ? len : 1);
  if (packed == NULL) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  sealstream__v1__query_request__pack(request, packed);
  int ok =
      ss_raw_call(out, target, SS_PROTOCOL_EXECUTE_QUERY_METHOD, packed, len, options, st);
  free(packed);
  return ok;
}
