// Completion-queue event loops shared by the sealstream server and proxy.
//
// A loop owns one gRPC completion queue and the one thread that pumps it.
// Every operation started on the queue carries an ss_rpc_tag as its gRPC tag:
// a small {handler, owner} value embedded in the object the operation belongs
// to, so no memory is allocated per operation. The pump thread calls
// |handler(owner, ok)| for each completion, in completion order; handlers of
// one queue therefore never run concurrently with each other, and each
// handler starts the next step of its state machine.
//
// Owners count one reference per operation in flight. If
// grpc_call_start_batch (or any other starter) fails, no completion will
// arrive for that tag: the caller drops the reference it took for it.
#ifndef SEALSTREAM_LIB_RPC_LOOP_H
#define SEALSTREAM_LIB_RPC_LOOP_H

#include <grpc/grpc.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss_rpc_handler runs on the pump thread when the operation tagged with its
// tag completes. |ok| is gRPC's success bit for the operation.
typedef void (*ss_rpc_handler)(void *owner, int ok);

// ss_rpc_tag is the gRPC tag of one kind of operation of |owner|. Embed it
// in the owner and pass its address as the tag; it must stay valid until its
// completion has been handled.
typedef struct ss_rpc_tag {
  ss_rpc_handler handler;
  void *owner;  // borrowed; passed back to |handler|
} ss_rpc_tag;

// ss_rpc_tag_init points |tag| at |handler| and |owner|.
void ss_rpc_tag_init(ss_rpc_tag *tag, ss_rpc_handler handler, void *owner);

typedef struct ss_rpc_loop ss_rpc_loop;

// ss_rpc_loop_new makes a loop with a new completion queue (for
// grpc_completion_queue_next) and no thread yet. It calls grpc_init; the
// matching grpc_shutdown happens in ss_rpc_loop_free. |name| (borrowed,
// at most 15 bytes are used) names the pump thread for debuggers. Returns
// NULL with |st| set on failure.
ss_rpc_loop *ss_rpc_loop_new(const char *name, ss_status *st);

// ss_rpc_loop_cq returns the loop's completion queue (borrowed), for
// grpc_server_register_completion_queue, grpc_channel_create_call and the
// like. Every tag posted to it must be an ss_rpc_tag.
grpc_completion_queue *ss_rpc_loop_cq(const ss_rpc_loop *loop);

// ss_rpc_loop_start starts the pump thread. Returns 1, or 0 with |st| set
// (the loop is then unchanged and may be freed).
int ss_rpc_loop_start(ss_rpc_loop *loop, ss_status *st);

// ss_rpc_loop_on_thread returns 1 when called from |loop|'s pump thread.
int ss_rpc_loop_on_thread(const ss_rpc_loop *loop);

// ss_rpc_loop_stop shuts the completion queue down and waits until the pump
// thread has handled every remaining completion and seen
// GRPC_QUEUE_SHUTDOWN. Every operation on the queue must have been started
// before (for a server: grpc_server_shutdown_and_notify has completed and
// the server was destroyed). Idempotent; must not be called from the pump
// thread. A loop that was never started is drained here, on the caller's
// thread.
void ss_rpc_loop_stop(ss_rpc_loop *loop);

// ss_rpc_loop_free stops |loop| if needed, destroys its queue and frees it.
// NULL is ignored.
void ss_rpc_loop_free(ss_rpc_loop *loop);

// ss_rpc_loop_completions returns how many completions the loop has
// dispatched so far (for tests and statistics).
uint64_t ss_rpc_loop_completions(const ss_rpc_loop *loop);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_RPC_LOOP_H
