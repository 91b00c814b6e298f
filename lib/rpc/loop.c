// Completion-queue event loop: one queue, one pump thread, tags that are
// {handler, owner} values embedded in their owners (see loop.h). The queue
// is shut down only after every operation on it was started, and destroyed
// only after the pump saw GRPC_QUEUE_SHUTDOWN, as grpc.h requires.
#include "lib/rpc/loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ss_rpc_loop {
  grpc_completion_queue *cq;  // owned
  pthread_t thread;           // valid when started
  int started;                // pump thread running or joined
  int stopped;                // queue shut down and drained
  char name[16];              // pump thread name
  _Atomic uint64_t completions;
};

void ss_rpc_tag_init(ss_rpc_tag *tag, ss_rpc_handler handler, void *owner) {
  tag->handler = handler;
  tag->owner = owner;
}

ss_rpc_loop *ss_rpc_loop_new(const char *name, ss_status *st) {
  ss_rpc_loop *loop = calloc(1, sizeof(*loop));
  if (loop == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  grpc_init();
  loop->cq = grpc_completion_queue_create_for_next(NULL);
  if (loop->cq == NULL) {
    // grpc_completion_queue_create_for_next does not fail in gRPC 1.51;
    // handled in case a later version does.
    grpc_shutdown();
    free(loop);
    ss_status_set(st, GRPC_STATUS_INTERNAL, "cannot create a completion queue");
    return NULL;
  }
  snprintf(loop->name, sizeof(loop->name), "%s",
           name != NULL ? name : "ss-rpc");
  atomic_init(&loop->completions, 0);
  return loop;
}

grpc_completion_queue *ss_rpc_loop_cq(const ss_rpc_loop *loop) {
  return loop->cq;
}

// pump dispatches completions until the queue is shut down and empty.
static void pump(ss_rpc_loop *loop) {
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        loop->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) {
      return;
    }
    if (ev.type != GRPC_OP_COMPLETE) {
      // GRPC_QUEUE_TIMEOUT cannot happen with an infinite deadline.
      continue;
    }
    ss_rpc_tag *tag = ev.tag;
    atomic_fetch_add_explicit(&loop->completions, 1, memory_order_relaxed);
    tag->handler(tag->owner, ev.success);
  }
}

static void *pump_main(void *arg) {
  pump(arg);
  return NULL;
}

int ss_rpc_loop_start(ss_rpc_loop *loop, ss_status *st) {
  if (loop->started || loop->stopped) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "event loop already started");
  }
  int err = pthread_create(&loop->thread, NULL, pump_main, loop);
  if (err != 0) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "cannot start the completion-queue thread: %s",
                         strerror(err));
  }
  pthread_setname_np(loop->thread, loop->name);
  loop->started = 1;
  return 1;
}

int ss_rpc_loop_on_thread(const ss_rpc_loop *loop) {
  return loop->started && pthread_equal(pthread_self(), loop->thread);
}

void ss_rpc_loop_stop(ss_rpc_loop *loop) {
  if (loop->stopped) {
    return;
  }
  grpc_completion_queue_shutdown(loop->cq);
  if (loop->started) {
    pthread_join(loop->thread, NULL);
  } else {
    pump(loop);
  }
  loop->stopped = 1;
}

void ss_rpc_loop_free(ss_rpc_loop *loop) {
  if (loop == NULL) {
    return;
  }
  ss_rpc_loop_stop(loop);
  grpc_completion_queue_destroy(loop->cq);
  free(loop);
  grpc_shutdown();
}

uint64_t ss_rpc_loop_completions(const ss_rpc_loop *loop) {
  return atomic_load_explicit(&loop->completions, memory_order_relaxed);
}
