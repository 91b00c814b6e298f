// Blocking client calls (see sync_call.h), following grpc.h's rules: one
// batch per tag in flight, a queue drained until GRPC_QUEUE_SHUTDOWN before
// it is destroyed. What the server sends is untrusted but never inspected
// here; callers read it from their ops' buffers.
#include "lib/rpc/sync_call.h"

#include <stdlib.h>

struct ss_sync_call {
  grpc_completion_queue *cq;           // owned; only this call's batches use it
  grpc_call *call;                     // owned reference
  char tags[SS_SYNC_CALL_MAX_TAGS];    // their addresses are the gRPC tags
  int pending[SS_SYNC_CALL_MAX_TAGS];  // started and not yet completed
  int success[SS_SYNC_CALL_MAX_TAGS];  // the last completion's success bit
};

ss_sync_call *ss_sync_call_new(grpc_channel *channel, const char *method,
                               gpr_timespec deadline, ss_status *st) {
  ss_sync_call *call = calloc(1, sizeof(*call));
  if (call == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  call->cq = grpc_completion_queue_create_for_next(NULL);
  call->call = grpc_channel_create_call(
      channel, NULL, GRPC_PROPAGATE_DEFAULTS, call->cq,
      grpc_slice_from_static_string(method), NULL, deadline, NULL);
  if (call->call == NULL) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "gRPC made no call");
    ss_sync_call_free(call);
    return NULL;
  }
  return call;
}

int ss_sync_call_start(ss_sync_call *call, int tag, const grpc_op *ops,
                       size_t num_ops, ss_status *st) {
  if (tag < 0 || tag >= SS_SYNC_CALL_MAX_TAGS || call->pending[tag]) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "batch tag %d is out of range or already pending",
                         tag);
  }
  grpc_call_error rc =
      grpc_call_start_batch(call->call, ops, num_ops, &call->tags[tag], NULL);
  if (rc != GRPC_CALL_OK) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "gRPC refused a batch: %s",
                         grpc_call_error_to_string(rc));
  }
  call->pending[tag] = 1;
  return 1;
}

int ss_sync_call_wait(ss_sync_call *call, int tag, int *out_ok, ss_status *st) {
  if (out_ok != NULL) {
    *out_ok = 0;
  }
  if (tag < 0 || tag >= SS_SYNC_CALL_MAX_TAGS) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "batch tag %d is out of range", tag);
  }
  while (call->pending[tag]) {
    grpc_event ev = grpc_completion_queue_next(
        call->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    const char *t = ev.tag;
    if (ev.type != GRPC_OP_COMPLETE || t < call->tags ||
        t >= call->tags + SS_SYNC_CALL_MAX_TAGS) {
      // Cannot happen: the queue is this call's and is shut down only by
      // ss_sync_call_free.
      return ss_status_set(st, GRPC_STATUS_INTERNAL,
                           "unexpected completion-queue event %d",
                           (int)ev.type);
    }
    int done = (int)(t - call->tags);
    call->pending[done] = 0;
    call->success[done] = ev.success;
  }
  if (out_ok != NULL) {
    *out_ok = call->success[tag];
  }
  return 1;
}

int ss_sync_call_run(ss_sync_call *call, int tag, const grpc_op *ops,
                     size_t num_ops, int *out_ok, ss_status *st) {
  if (out_ok != NULL) {
    *out_ok = 0;
  }
  return ss_sync_call_start(call, tag, ops, num_ops, st) &&
         ss_sync_call_wait(call, tag, out_ok, st);
}

void ss_sync_call_cancel(ss_sync_call *call) {
  grpc_call_cancel(call->call, NULL);
}

void ss_sync_call_free(ss_sync_call *call) {
  if (call == NULL) {
    return;
  }
  if (call->call != NULL) {
    int any_pending = 0;
    for (int i = 0; i < SS_SYNC_CALL_MAX_TAGS; i++) {
      any_pending |= call->pending[i];
    }
    if (any_pending) {
      grpc_call_cancel(call->call, NULL);
    }
    for (int i = 0; i < SS_SYNC_CALL_MAX_TAGS; i++) {
      // Cannot fail (see ss_sync_call_wait); if it did, the drain below
      // still collects every completion before the queue is destroyed.
      ss_sync_call_wait(call, i, NULL, NULL);
    }
    grpc_call_unref(call->call);
  }
  grpc_completion_queue_shutdown(call->cq);
  while (grpc_completion_queue_next(call->cq,
                                    gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(call->cq);
  free(call);
}
