// Blocking client calls on gRPC core: a grpc_call on a completion queue of
// its own, pumped by whoever waits on it, for code that runs one call per
// thread (the client library, test clients) rather than on an ss_rpc_loop.
//
// A call has SS_SYNC_CALL_MAX_TAGS tags, small integers naming the kinds of
// batch the caller keeps in flight at once (say: send, receive, status). At
// most one batch is pending per tag. Waiting for one tag records the
// completions of the others that arrive meanwhile, so their batches can be
// waited for later in any order. Not thread-safe, except
// ss_sync_call_cancel.
#ifndef SEALSTREAM_LIB_RPC_SYNC_CALL_H
#define SEALSTREAM_LIB_RPC_SYNC_CALL_H

#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <stddef.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SS_SYNC_CALL_MAX_TAGS 4

typedef struct ss_sync_call ss_sync_call;

// ss_sync_call_new starts a call to |method| ("/pkg.Service/Method",
// borrowed) on |channel| with |deadline| (gpr_inf_future for none), on a new
// completion queue. No batch is started yet. Returns the call (free with
// ss_sync_call_free), or NULL with |st| set (INTERNAL) if gRPC made no call.
ss_sync_call *ss_sync_call_new(grpc_channel *channel, const char *method,
                               gpr_timespec deadline, ss_status *st);

// ss_sync_call_start starts the |num_ops| |ops| as one batch under |tag|
// (0 to SS_SYNC_CALL_MAX_TAGS - 1). The buffers the ops point at must stay
// valid until the batch completed. Returns 1; or 0 with |st| set, and no
// completion to come, when |tag| is out of range or already pending
// (FAILED_PRECONDITION) or gRPC refuses the batch (INTERNAL).
int ss_sync_call_start(ss_sync_call *call, int tag, const grpc_op *ops,
                       size_t num_ops, ss_status *st);

// ss_sync_call_wait waits until the batch pending under |tag|, if any, has
// completed and sets |*out_ok| (unless |out_ok| is NULL: callers that learn
// the outcome from the call's status) to its success bit (0 means the call
// failed; its status says why), or to 0 when no batch ever ran under |tag|.
// The call's deadline, or a cancel, bounds the wait. Returns 1, or 0 with
// |st| set (INTERNAL, |*out_ok| 0) if the queue delivered something other
// than a completion of this call, which cannot happen while it is used as
// documented.
int ss_sync_call_wait(ss_sync_call *call, int tag, int *out_ok, ss_status *st);

// ss_sync_call_run is ss_sync_call_start followed by ss_sync_call_wait.
int ss_sync_call_run(ss_sync_call *call, int tag, const grpc_op *ops,
                     size_t num_ops, int *out_ok, ss_status *st);

// ss_sync_call_cancel cancels the call (a no-op once it has ended). Pending
// batches then complete. Safe from any thread while the call exists.
void ss_sync_call_cancel(ss_sync_call *call);

// ss_sync_call_free cancels the call if a batch is still pending, waits for
// every pending batch, and frees the call and its queue. NULL is ignored.
void ss_sync_call_free(ss_sync_call *call);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_RPC_SYNC_CALL_H
