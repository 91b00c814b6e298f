// The server side of an accepted call (ss_rpc_call, see server.h): its
// state machine on its loop, receive, send, initial metadata, finish and
// cancel, and its references. It follows grpc.h's rules for the core API:
// each call has one RECV_CLOSE_ON_SERVER batch from acceptance to its end, at
// most one send batch at a time and one status batch.
//
// Messages, metadata, method paths and hosts come from the network and are
// untrusted.
#include "lib/rpc/server.h"

#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/rpc/buffer.h"
#include "lib/rpc/server_internal.h"

static const ss_rpc_call_ops kNoOps = {0};

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_accept(void *owner, int ok);
static void on_initial_md_sent(void *owner, int ok);
static void on_send_done(void *owner, int ok);
static void on_recv_done(void *owner, int ok);
static void on_status_done(void *owner, int ok);
static void on_close(void *owner, int ok);

ss_rpc_call *ss__rpc_call_new(ss_rpc_server *server, rpc_method *method,
                              ss_rpc_loop *loop) {
  ss_rpc_call *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    return NULL;
  }
  c->server = server;
  c->method = method;
  c->loop = loop;
  c->ops = &kNoOps;
  grpc_metadata_array_init(&c->request_md);
  grpc_call_details_init(&c->details);
  ss_rpc_tag_init(&c->accept_tag, on_accept, c);
  ss_rpc_tag_init(&c->initial_md_tag, on_initial_md_sent, c);
  ss_rpc_tag_init(&c->send_tag, on_send_done, c);
  ss_rpc_tag_init(&c->recv_tag, on_recv_done, c);
  ss_rpc_tag_init(&c->status_tag, on_status_done, c);
  ss_rpc_tag_init(&c->close_tag, on_close, c);
  pthread_mutex_init(&c->mu, NULL);
  return c;
}

void ss__rpc_call_free(ss_rpc_call *c) {
  grpc_metadata_array_destroy(&c->request_md);
  grpc_call_details_destroy(&c->details);
  if (c->request != NULL) {
    grpc_byte_buffer_destroy(c->request);
  }
  free(c->unregistered_path);
  free(c->unregistered_host);
  free(c->final_details);
  for (size_t i = 0; i < c->num_trailing_md; i++) {
    grpc_slice_unref(c->trailing_md[i].key);
    grpc_slice_unref(c->trailing_md[i].value);
  }
  free(c->trailing_md);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

static void call_release(ss_rpc_call *c) {
  if (c->ops->on_release != NULL) {
    c->ops->on_release(c->app);
  }
  ss_rpc_server *server = c->server;
  atomic_fetch_sub(&server->live_calls, 1);
  grpc_call_unref(c->call);
  c->call = NULL;
  ss__rpc_call_free(c);
  ss__rpc_server_outstanding_done(server);
}

static void call_unref(ss_rpc_call *c) {
  pthread_mutex_lock(&c->mu);
  int left = --c->refs;
  pthread_mutex_unlock(&c->mu);
  if (left == 0) {
    call_release(c);
  }
}

void ss__rpc_call_ref(ss_rpc_call *call) {
  pthread_mutex_lock(&call->mu);
  call->refs++;
  pthread_mutex_unlock(&call->mu);
}

void ss__rpc_call_unref(ss_rpc_call *call) { call_unref(call); }

// start_status starts the status batch of |c|. Called with c->mu held and
// no send in flight; takes a reference for the batch. Returns 1, or 0 with
// |st| set after cancelling the call.
static int start_status(ss_rpc_call *c, grpc_status_code code,
                        const char *details, ss_status *st) {
  grpc_op ops[3];
  memset(ops, 0, sizeof(ops));
  size_t n = 0;
  if (!c->initial_md_sent) {
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    n++;
  }
  if (c->final_msg != NULL) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].flags = ss_rpc_buffer_send_flags(c->final_msg);
    ops[n].data.send_message.send_message = c->final_msg;
    n++;
  }
  grpc_slice details_slice =
      grpc_slice_from_copied_string(details != NULL ? details : "");
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = code;
  ops[n].data.send_status_from_server.status_details = &details_slice;
  ops[n].data.send_status_from_server.trailing_metadata_count =
      c->num_trailing_md;
  ops[n].data.send_status_from_server.trailing_metadata = c->trailing_md;
  n++;
  c->refs++;
  grpc_call_error err =
      grpc_call_start_batch(c->call, ops, n, &c->status_tag, NULL);
  grpc_slice_unref(details_slice);
  if (err != GRPC_CALL_OK) {
    // No completion will arrive for this batch.
    c->refs--;
    if (c->final_msg != NULL) {
      grpc_byte_buffer_destroy(c->final_msg);
      c->final_msg = NULL;
    }
    grpc_call_cancel_with_status(c->call, code, details != NULL ? details : "",
                                 NULL);
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "cannot send the status: %s",
                         grpc_call_error_to_string(err));
  }
  c->initial_md_sent = 1;
  return 1;
}

static void on_send_done(void *owner, int ok) {
  ss_rpc_call *c = owner;
  pthread_mutex_lock(&c->mu);
  grpc_byte_buffer *sent = c->sending;
  c->sending = NULL;
  c->send_in_flight = 0;
  int status_now = c->status_pending;
  int app_active = !c->finished;
  if (status_now) {
    c->status_pending = 0;
    ss_status st;
    // A failure cancels the call; the application has already left it.
    start_status(c, c->final_code, c->final_details, &st);
  }
  pthread_mutex_unlock(&c->mu);
  grpc_byte_buffer_destroy(sent);
  if (app_active && c->ops->on_send_done != NULL) {
    c->ops->on_send_done(c->app, ok);
  }
  call_unref(c);
}

static void on_status_done(void *owner, int ok) {
  (void)ok;  // nothing to do differently: the call is over either way
  ss_rpc_call *c = owner;
  pthread_mutex_lock(&c->mu);
  grpc_byte_buffer *msg = c->final_msg;
  c->final_msg = NULL;
  pthread_mutex_unlock(&c->mu);
  if (msg != NULL) {
    grpc_byte_buffer_destroy(msg);
  }
  call_unref(c);
}

static void on_initial_md_sent(void *owner, int ok) {
  (void)ok;  // a failure means the call broke, which on_close reports
  call_unref(owner);
}

static void on_recv_done(void *owner, int ok) {
  ss_rpc_call *c = owner;
  pthread_mutex_lock(&c->mu);
  grpc_byte_buffer *msg = c->received;
  c->received = NULL;
  c->recv_in_flight = 0;
  int app_active = !c->finished;
  pthread_mutex_unlock(&c->mu);
  if (!ok && msg != NULL) {
    // Not expected: a failed receive delivers no message. Handled anyway.
    grpc_byte_buffer_destroy(msg);
    msg = NULL;
  }
  if (app_active && c->ops->on_recv != NULL) {
    c->ops->on_recv(c->app, msg);
  } else if (msg != NULL) {
    grpc_byte_buffer_destroy(msg);
  }
  call_unref(c);
}

static void on_close(void *owner, int ok) {
  (void)ok;  // RECV_CLOSE_ON_SERVER always succeeds; |close_cancelled| tells
  ss_rpc_call *c = owner;
  pthread_mutex_lock(&c->mu);
  int notify = 0;
  if (c->close_cancelled) {
    c->cancelled = 1;
    notify = !c->finished;
  }
  pthread_mutex_unlock(&c->mu);
  if (notify && c->ops->on_cancel != NULL) {
    c->ops->on_cancel(c->app);
  }
  call_unref(c);
}

static void answer_unimplemented(ss_rpc_call *c) {
  ss_rpc_call_finish(c, NULL, GRPC_STATUS_UNIMPLEMENTED,
                     "method not implemented by this server", NULL);
}

// slice_to_string copies |slice| into a new NUL-terminated string, cut at a
// NUL byte (paths and hosts from the network may hold one). NULL when out of
// memory.
static char *slice_to_string(grpc_slice slice) {
  return strndup((const char *)GRPC_SLICE_START_PTR(slice),
                 GRPC_SLICE_LENGTH(slice));
}

static void on_accept(void *owner, int ok) {
  ss_rpc_call *c = owner;
  ss_rpc_server *server = c->server;
  if (!ok) {
    // The server is shutting down: this request will never be matched.
    if (c->call != NULL) {
      // Not expected: a failed request has no call. Handled anyway.
      grpc_call_unref(c->call);
    }
    ss__rpc_call_free(c);
    ss__rpc_server_outstanding_done(server);
    return;
  }
  // Keep the number of awaited calls constant.
  ss__rpc_server_arm(server, c->method, c->loop);
  atomic_fetch_add(&server->live_calls, 1);

  if (c->method == NULL) {
    // Out of memory leaves them NULL, which reads as "".
    c->unregistered_path = slice_to_string(c->details.method);
    c->unregistered_host = slice_to_string(c->details.host);
  }

  c->refs = 1;  // the application's, dropped by ss_rpc_call_finish
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &c->close_cancelled;
  pthread_mutex_lock(&c->mu);
  c->refs++;
  grpc_call_error err =
      grpc_call_start_batch(c->call, &op, 1, &c->close_tag, NULL);
  if (err != GRPC_CALL_OK) {
    // No completion will arrive; without the close batch a cancel would go
    // unnoticed, so end the call now.
    c->refs--;
    c->cancelled = 1;
    grpc_call_cancel_with_status(c->call, GRPC_STATUS_INTERNAL,
                                 "server could not track the call", NULL);
  }
  pthread_mutex_unlock(&c->mu);

  if (c->method != NULL) {
    c->method->handler(c->method->ctx, c);
  } else if (server->fallback != NULL) {
    server->fallback(server->fallback_ctx, c);
  } else {
    answer_unimplemented(c);
  }
}

void ss_rpc_call_set_ops(ss_rpc_call *call, const ss_rpc_call_ops *ops,
                         void *app) {
  pthread_mutex_lock(&call->mu);
  call->ops = ops != NULL ? ops : &kNoOps;
  call->app = app;
  pthread_mutex_unlock(&call->mu);
}

const char *ss_rpc_call_method(const ss_rpc_call *call) {
  if (call->method != NULL) {
    return call->method->path;
  }
  return call->unregistered_path != NULL ? call->unregistered_path : "";
}

const char *ss_rpc_call_host(const ss_rpc_call *call) {
  return call->unregistered_host != NULL ? call->unregistered_host : "";
}

grpc_byte_buffer *ss_rpc_call_request(const ss_rpc_call *call) {
  return call->request;
}

const grpc_metadata_array *ss_rpc_call_metadata(const ss_rpc_call *call) {
  return &call->request_md;
}

int64_t ss_rpc_call_deadline_ms(const ss_rpc_call *call) {
  gpr_timespec deadline =
      call->method != NULL ? call->deadline : call->details.deadline;
  if (gpr_time_cmp(deadline, gpr_inf_future(deadline.clock_type)) == 0) {
    return 0;
  }
  // gpr's monotonic clock may have another epoch than CLOCK_MONOTONIC:
  // carry over the time left, not the absolute value.
  gpr_timespec left =
      gpr_time_sub(gpr_convert_clock_type(deadline, GPR_CLOCK_MONOTONIC),
                   gpr_now(GPR_CLOCK_MONOTONIC));
  int64_t left_ms = left.tv_sec * 1000 + left.tv_nsec / 1000000;
  int64_t at = monotonic_ms() + left_ms;
  return at > 0 ? at : 1;
}

char *ss_rpc_call_peer(const ss_rpc_call *call) {
  char *peer = grpc_call_get_peer(call->call);
  char *copy = strdup(peer != NULL ? peer : "unknown");
  gpr_free(peer);
  return copy;
}

grpc_call *ss_rpc_call_grpc(const ss_rpc_call *call) { return call->call; }

ss_rpc_loop *ss_rpc_call_loop(const ss_rpc_call *call) { return call->loop; }

int ss_rpc_call_cancelled(ss_rpc_call *call) {
  pthread_mutex_lock(&call->mu);
  int cancelled = call->cancelled;
  pthread_mutex_unlock(&call->mu);
  return cancelled;
}

int ss_rpc_call_send(ss_rpc_call *call, grpc_byte_buffer *msg, ss_status *st) {
  pthread_mutex_lock(&call->mu);
  if (call->finished) {
    pthread_mutex_unlock(&call->mu);
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "send after the call was finished");
  }
  if (call->send_in_flight) {
    pthread_mutex_unlock(&call->mu);
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "send while another message is in flight");
  }
  grpc_op ops[2];
  memset(ops, 0, sizeof(ops));
  size_t n = 0;
  if (!call->initial_md_sent) {
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    n++;
  }
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n].flags = ss_rpc_buffer_send_flags(msg);
  ops[n].data.send_message.send_message = msg;
  n++;
  call->refs++;
  call->send_in_flight = 1;
  call->sending = msg;
  grpc_call_error err =
      grpc_call_start_batch(call->call, ops, n, &call->send_tag, NULL);
  if (err != GRPC_CALL_OK) {
    // No completion will arrive; the application still holds its
    // reference, so this one is never the last.
    call->refs--;
    call->send_in_flight = 0;
    call->sending = NULL;
    pthread_mutex_unlock(&call->mu);
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "cannot send: %s",
                         grpc_call_error_to_string(err));
  }
  call->initial_md_sent = 1;
  pthread_mutex_unlock(&call->mu);
  return 1;
}

int ss_rpc_call_recv(ss_rpc_call *call, ss_status *st) {
  pthread_mutex_lock(&call->mu);
  if (call->finished || call->recv_in_flight) {
    int finished = call->finished;
    pthread_mutex_unlock(&call->mu);
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION, "%s",
                         finished ? "receive after the call was finished"
                                  : "receive while another is in flight");
  }
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &call->received;
  call->refs++;
  call->recv_in_flight = 1;
  grpc_call_error err =
      grpc_call_start_batch(call->call, &op, 1, &call->recv_tag, NULL);
  if (err != GRPC_CALL_OK) {
    // No completion will arrive; the application's reference remains.
    call->refs--;
    call->recv_in_flight = 0;
    pthread_mutex_unlock(&call->mu);
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "cannot receive: %s",
                         grpc_call_error_to_string(err));
  }
  pthread_mutex_unlock(&call->mu);
  return 1;
}

int ss_rpc_call_send_initial_metadata(ss_rpc_call *call,
                                      const grpc_metadata *metadata,
                                      size_t num_metadata, ss_status *st) {
  pthread_mutex_lock(&call->mu);
  if (call->finished || call->initial_md_sent) {
    pthread_mutex_unlock(&call->mu);
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "initial metadata after the first send or finish");
  }
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_SEND_INITIAL_METADATA;
  op.data.send_initial_metadata.count = num_metadata;
  op.data.send_initial_metadata.metadata = (grpc_metadata *)metadata;
  call->refs++;
  // gRPC copies the metadata into the batch before returning.
  grpc_call_error err =
      grpc_call_start_batch(call->call, &op, 1, &call->initial_md_tag, NULL);
  if (err != GRPC_CALL_OK) {
    call->refs--;
    pthread_mutex_unlock(&call->mu);
    return ss_status_set(st, GRPC_STATUS_INTERNAL,
                         "cannot send initial metadata: %s",
                         grpc_call_error_to_string(err));
  }
  call->initial_md_sent = 1;
  pthread_mutex_unlock(&call->mu);
  return 1;
}

int ss_rpc_call_finish(ss_rpc_call *call, grpc_byte_buffer *msg,
                       grpc_status_code code, const char *details,
                       ss_status *st) {
  return ss_rpc_call_finish_with_metadata(call, msg, code, details, NULL, 0,
                                          st);
}

int ss_rpc_call_finish_with_metadata(ss_rpc_call *call, grpc_byte_buffer *msg,
                                     grpc_status_code code,
                                     const char *details,
                                     const grpc_metadata *trailing,
                                     size_t num_trailing, ss_status *st) {
  pthread_mutex_lock(&call->mu);
  if (call->finished) {
    pthread_mutex_unlock(&call->mu);
    if (msg != NULL) {
      grpc_byte_buffer_destroy(msg);
    }
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "call already finished");
  }
  call->finished = 1;
  call->final_msg = msg;
  // The status may wait for a send in flight: keep the trailing metadata.
  if (num_trailing > 0) {
    call->trailing_md = calloc(num_trailing, sizeof(*call->trailing_md));
    // Out of memory: the status goes without its trailing metadata.
    if (call->trailing_md != NULL) {
      for (size_t i = 0; i < num_trailing; i++) {
        call->trailing_md[i].key = grpc_slice_ref(trailing[i].key);
        call->trailing_md[i].value = grpc_slice_ref(trailing[i].value);
      }
      call->num_trailing_md = num_trailing;
    }
  }
  int ok = 1;
  if (call->send_in_flight) {
    call->status_pending = 1;
    call->final_code = code;
    // Out of memory leaves it NULL: the status then goes without details.
    call->final_details = strdup(details != NULL ? details : "");
  } else {
    ok = start_status(call, code, details, st);
  }
  pthread_mutex_unlock(&call->mu);
  call_unref(call);  // the application's reference
  return ok;
}

void ss_rpc_call_cancel(ss_rpc_call *call, grpc_status_code code,
                        const char *details) {
  grpc_call_cancel_with_status(call->call, code, details != NULL ? details : "",
                               NULL);
}
