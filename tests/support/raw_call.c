// A blocking server-streaming call on the gRPC core API (grpc.h): one
// completion queue per call, each batch awaited with pluck before the next
// starts. Responses are untrusted bytes; they are only copied here.
#include "tests/support/raw_call.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>

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

// run_batch starts |num_ops| ops on |call| and waits for their completion.
// Returns the completion's success flag, or 0 if the batch did not start.
static int run_batch(grpc_completion_queue *cq, grpc_call *call,
                     const grpc_op *ops, size_t num_ops, void *tag) {
  if (grpc_call_start_batch(call, ops, num_ops, tag, NULL) != GRPC_CALL_OK) {
    return 0;
  }
  grpc_event ev = grpc_completion_queue_pluck(
      cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  return ev.type == GRPC_OP_COMPLETE && ev.success;
}

// keep_message appends the bytes of |bb| to |out|. Returns 1, or 0 when
// |max_bytes| would be exceeded or memory is short.
static int keep_message(ss_raw_result *out, grpc_byte_buffer *bb,
                        size_t *kept_bytes, size_t max_bytes) {
  size_t len = grpc_byte_buffer_length(bb);
  if (len > max_bytes - *kept_bytes) {
    return 0;
  }
  ss_raw_message *grown =
      realloc(out->messages, (out->num_messages + 1) * sizeof(*grown));
  if (grown == NULL) {
    return 0;
  }
  out->messages = grown;
  uint8_t *data = malloc(len > 0 ? len : 1);
  if (data == NULL) {
    return 0;
  }
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, bb)) {
    free(data);
    return 0;
  }
  size_t off = 0;
  grpc_slice slice;
  while (grpc_byte_buffer_reader_next(&reader, &slice)) {
    size_t n = GRPC_SLICE_LENGTH(slice);
    // The reader yields exactly grpc_byte_buffer_length bytes for a raw
    // buffer; a decompressed one could differ, so check.
    if (n > len - off) {
      grpc_slice_unref(slice);
      grpc_byte_buffer_reader_destroy(&reader);
      free(data);
      return 0;
    }
    memcpy(data + off, GRPC_SLICE_START_PTR(slice), n);
    off += n;
    grpc_slice_unref(slice);
  }
  grpc_byte_buffer_reader_destroy(&reader);
  out->messages[out->num_messages].data = data;
  out->messages[out->num_messages].len = off;
  out->num_messages++;
  *kept_bytes += off;
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
  grpc_init();

  grpc_arg arg;
  arg.type = GRPC_ARG_INTEGER;
  arg.key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  arg.value.integer = -1;
  grpc_channel_args args = {.num_args = 1, .args = &arg};
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  grpc_channel *channel = grpc_channel_create(target, creds, &args);
  grpc_channel_credentials_release(creds);
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);

  gpr_timespec deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
  if (options->timeout_ms > 0) {
    deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                     gpr_time_from_millis(options->timeout_ms, GPR_TIMESPAN));
  }
  grpc_slice method_slice = grpc_slice_from_copied_string(method);
  grpc_call *call =
      grpc_channel_create_call(channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                               method_slice, NULL, deadline, NULL);
  grpc_slice_unref(method_slice);

  grpc_metadata md;
  memset(&md, 0, sizeof(md));
  size_t md_count = 0;
  if (options->metadata_key != NULL) {
    md.key = grpc_slice_from_copied_string(options->metadata_key);
    md.value = grpc_slice_from_copied_string(
        options->metadata_value != NULL ? options->metadata_value : "");
    md_count = 1;
  }
  grpc_slice request_slice =
      grpc_slice_from_copied_buffer((const char *)request, request_len);
  grpc_byte_buffer *request_bb = grpc_raw_byte_buffer_create(&request_slice, 1);
  grpc_slice_unref(request_slice);

  grpc_metadata_array initial_md;
  grpc_metadata_array trailing_md;
  grpc_metadata_array_init(&initial_md);
  grpc_metadata_array_init(&trailing_md);
  grpc_slice details = grpc_empty_slice();
  grpc_status_code code = GRPC_STATUS_UNKNOWN;
  int tag_send;
  int tag_recv;
  int tag_status;

  grpc_op ops[4];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = md_count;
  ops[0].data.send_initial_metadata.metadata = md_count > 0 ? &md : NULL;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = request_bb;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
  // A failed send (the server answered at once with an error) still lets
  // the status be read below.
  run_batch(cq, call, ops, 4, &tag_send);

  size_t kept_bytes = 0;
  int over_limit = 0;
  for (;;) {
    grpc_byte_buffer *bb = NULL;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &bb;
    if (!run_batch(cq, call, &op, 1, &tag_recv) || bb == NULL) {
      break;
    }
    int kept = keep_message(out, bb, &kept_bytes, max_bytes);
    grpc_byte_buffer_destroy(bb);
    if (!kept) {
      over_limit = 1;
      grpc_call_cancel(call, NULL);
      break;
    }
    if (options->cancel_after != 0 &&
        out->num_messages >= options->cancel_after) {
      grpc_call_cancel(call, NULL);
      break;
    }
  }

  grpc_op status_op;
  memset(&status_op, 0, sizeof(status_op));
  status_op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  status_op.data.recv_status_on_client.trailing_metadata = &trailing_md;
  status_op.data.recv_status_on_client.status = &code;
  status_op.data.recv_status_on_client.status_details = &details;
  if (!run_batch(cq, call, &status_op, 1, &tag_status)) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "%s: no status received", method);
    goto done;
  }
  if (over_limit) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "%s: responses exceed %zu bytes or memory is short", method,
                  max_bytes);
    goto done;
  }
  out->code = code;
  size_t dlen = GRPC_SLICE_LENGTH(details);
  if (dlen >= sizeof(out->details)) {
    dlen = sizeof(out->details) - 1;
  }
  memcpy(out->details, GRPC_SLICE_START_PTR(details), dlen);
  out->details[dlen] = '\0';
  ok = 1;

done:
  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&initial_md);
  grpc_metadata_array_destroy(&trailing_md);
  grpc_byte_buffer_destroy(request_bb);
  if (md_count > 0) {
    grpc_slice_unref(md.key);
    grpc_slice_unref(md.value);
  }
  grpc_call_unref(call);
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_pluck(cq, NULL,
                                     gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
  grpc_channel_destroy(channel);
  grpc_shutdown();
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
      ss_raw_call(out, target, SS_RAW_EXECUTE_QUERY, packed, len, options, st);
  free(packed);
  return ok;
}
