// gRPC server and server-call state machines on ss_rpc_loops (see server.h),
// following grpc.h's rules for the core API: registered methods read the
// request message with the call; each call has one RECV_CLOSE_ON_SERVER
// batch from acceptance to its end, at most one send batch at a time and one
// status batch; shutdown is shutdown_and_notify, optionally cancel_all, wait
// for the notification, destroy, then drain and destroy the queues.
//
// Calls, messages, metadata and method paths come from the network and are
// untrusted; TLS files come from the operator.
#include "lib/rpc/server.h"

#include <errno.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/rpc/buffer.h"
#include "lib/rpc/server_internal.h"
#include "lib/rpc/tls.h"

#define SS_RPC_MAX_REQUESTS_PER_METHOD 1024
#define SS_RPC_KEEPALIVE_TIME_MS (60 * 1000)
#define SS_RPC_KEEPALIVE_TIMEOUT_MS (20 * 1000)

typedef struct rpc_method {
  char *path;    // owned
  void *handle;  // from grpc_server_register_method
  ss_rpc_call_handler handler;
  void *ctx;                // borrowed
  struct rpc_method *next;  // owned list
} rpc_method;

struct ss_rpc_server {
  grpc_server *server;                   // owned
  ss_rpc_loop *loops[SS_RPC_MAX_LOOPS];  // owned; num_loops entries
  int num_loops;
  int port;
  int requests_per_method;
  rpc_method *methods;  // owned list, fixed once started
  // Calls to paths without a method; NULL: answered UNIMPLEMENTED.
  ss_rpc_call_handler fallback;
  void *fallback_ctx;  // borrowed

  pthread_mutex_t mu;
  pthread_cond_t cv;    // signalled when shutdown_done is set
  int started;          // guarded by mu
  int shutdown_called;  // guarded by mu; no request is armed after it
  int shutdown_done;    // guarded by mu; the notification arrived
  // Guarded by mu: awaited requests plus accepted calls not yet released.
  // gRPC may report the shutdown while a cancelled call still exists, so
  // the server is only done when this is 0 too.
  int outstanding;
  ss_rpc_tag shutdown_tag;

  _Atomic int live_calls;  // accepted and not yet released
};

struct ss_rpc_call {
  ss_rpc_server *server;      // borrowed
  rpc_method *method;         // NULL for a call to an unregistered path
  ss_rpc_loop *loop;          // borrowed; runs every handler of this call
  grpc_call *call;            // owned after acceptance
  char *unregistered_path;    // owned; the path of an unregistered call
  char *unregistered_host;    // owned; its :authority
  gpr_timespec deadline;      // registered calls
  grpc_call_details details;  // unregistered calls
  grpc_metadata_array request_md;
  grpc_byte_buffer *request;  // owned; registered calls' first message

  ss_rpc_tag accept_tag;
  ss_rpc_tag initial_md_tag;
  ss_rpc_tag send_tag;
  ss_rpc_tag recv_tag;
  ss_rpc_tag status_tag;
  ss_rpc_tag close_tag;
  int close_cancelled;  // written by gRPC when the close batch completes
  grpc_byte_buffer *received;  // written by gRPC when a receive completes

  pthread_mutex_t mu;  // guards the fields below, and serializes batches
  int refs;            // the application's + one per batch in flight
  int initial_md_sent;  // or started
  int send_in_flight;
  int recv_in_flight;
  grpc_byte_buffer *sending;    // owned while its send is in flight
  int finished;                 // ss_rpc_call_finish was called
  int status_pending;           // finish waits for the send in flight
  grpc_status_code final_code;  // valid when status_pending
  char *final_details;          // owned; valid when status_pending
  grpc_metadata *trailing_md;   // owned, slices referenced; from finish on
  size_t num_trailing_md;
  grpc_byte_buffer *final_msg;  // owned from finish to the status completion
  int cancelled;                // known to be cancelled

  const ss_rpc_call_ops *ops;  // borrowed; NULL: no callbacks
  void *app;                   // borrowed
};

static const ss_rpc_call_ops kNoOps = {0};

void ss_rpc_server_options_init(ss_rpc_server_options *options) {
  memset(options, 0, sizeof(*options));
}

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// --- calls -----------------------------------------------------------------

static void on_accept(void *owner, int ok);
static void on_initial_md_sent(void *owner, int ok);
static void on_send_done(void *owner, int ok);
static void on_recv_done(void *owner, int ok);
static void on_status_done(void *owner, int ok);
static void on_close(void *owner, int ok);

static ss_rpc_call *call_new(ss_rpc_server *server, rpc_method *method,
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

// call_free frees |c| and what it owns; the grpc_call must already be
// released (or never accepted).
static void call_free(ss_rpc_call *c) {
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

// outstanding_done counts one awaited request or call as gone. Once the
// count reaches 0 after a shutdown, ss_rpc_server_free may proceed: the
// caller must not touch |server| after this returns.
static void outstanding_done(ss_rpc_server *server) {
  pthread_mutex_lock(&server->mu);
  if (--server->outstanding == 0) {
    pthread_cond_broadcast(&server->cv);
  }
  pthread_mutex_unlock(&server->mu);
}

static void call_release(ss_rpc_call *c) {
  if (c->ops->on_release != NULL) {
    c->ops->on_release(c->app);
  }
  ss_rpc_server *server = c->server;
  atomic_fetch_sub(&server->live_calls, 1);
  grpc_call_unref(c->call);
  c->call = NULL;
  call_free(c);
  outstanding_done(server);
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

static void arm(ss_rpc_server *server, rpc_method *method, ss_rpc_loop *loop);

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
    call_free(c);
    outstanding_done(server);
    return;
  }
  // Keep the number of awaited calls constant.
  arm(server, c->method, c->loop);
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

// arm awaits one more call to |method| (NULL: any unregistered path) on
// |loop|. Nothing is armed once shutdown was called.
static void arm(ss_rpc_server *server, rpc_method *method, ss_rpc_loop *loop) {
  ss_rpc_call *c = call_new(server, method, loop);
  if (c == NULL) {
    // Out of memory: one fewer call is awaited until the next acceptance.
    return;
  }
  grpc_completion_queue *cq = ss_rpc_loop_cq(loop);
  pthread_mutex_lock(&server->mu);
  grpc_call_error err = GRPC_CALL_ERROR;
  if (!server->shutdown_called) {
    if (method != NULL) {
      err = grpc_server_request_registered_call(
          server->server, method->handle, &c->call, &c->deadline,
          &c->request_md, &c->request, cq, cq, &c->accept_tag);
    } else {
      err = grpc_server_request_call(server->server, &c->call, &c->details,
                                     &c->request_md, cq, cq, &c->accept_tag);
    }
    if (err == GRPC_CALL_OK) {
      server->outstanding++;
    }
  }
  pthread_mutex_unlock(&server->mu);
  if (err != GRPC_CALL_OK) {
    call_free(c);  // no completion will arrive
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

// --- server ----------------------------------------------------------------

static void on_shutdown(void *owner, int ok) {
  (void)ok;  // the notification always succeeds
  ss_rpc_server *server = owner;
  pthread_mutex_lock(&server->mu);
  server->shutdown_done = 1;
  pthread_cond_broadcast(&server->cv);
  pthread_mutex_unlock(&server->mu);
}

static void free_methods(rpc_method *m) {
  while (m != NULL) {
    rpc_method *next = m->next;
    free(m->path);
    free(m);
    m = next;
  }
}

ss_rpc_server *ss_rpc_server_new(const ss_rpc_server_options *options,
                                 ss_status *st) {
  if (options->listen_addr == NULL || options->listen_addr[0] == '\0') {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "no listen address (HOST:PORT)");
    return NULL;
  }
  int num_loops = options->num_loops == 0 ? 1 : options->num_loops;
  if (num_loops < 1 || num_loops > SS_RPC_MAX_LOOPS) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "completion queues: %d; expected 1 to %d", num_loops,
                  SS_RPC_MAX_LOOPS);
    return NULL;
  }
  int requests = options->requests_per_method == 0
                     ? SS_RPC_DEFAULT_REQUESTS_PER_METHOD
                     : options->requests_per_method;
  if (requests < 1 || requests > SS_RPC_MAX_REQUESTS_PER_METHOD) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "requests per method: %d; expected 1 to %d", requests,
                  SS_RPC_MAX_REQUESTS_PER_METHOD);
    return NULL;
  }
  size_t max_recv = options->max_receive_bytes == 0
                        ? SS_RPC_DEFAULT_MAX_RECEIVE_BYTES
                        : options->max_receive_bytes;
  size_t max_send = options->max_send_bytes == 0 ? SS_RPC_DEFAULT_MAX_SEND_BYTES
                                                 : options->max_send_bytes;
  if (max_recv > INT32_MAX || max_send > INT32_MAX ||
      options->max_metadata_bytes > INT32_MAX) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "message and metadata size caps must be below 2 GiB");
    return NULL;
  }

  ss_rpc_server *server = calloc(1, sizeof(*server));
  if (server == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&server->mu, NULL);
  pthread_condattr_t cond_attr;
  pthread_condattr_init(&cond_attr);
  pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC);
  pthread_cond_init(&server->cv, &cond_attr);
  pthread_condattr_destroy(&cond_attr);
  atomic_init(&server->live_calls, 0);
  server->requests_per_method = requests;
  ss_rpc_tag_init(&server->shutdown_tag, on_shutdown, server);

  grpc_server_credentials *creds = NULL;
  for (int i = 0; i < num_loops; i++) {
    char name[16];
    snprintf(name, sizeof(name), "ss-cq-%d", i % 100);
    server->loops[i] = ss_rpc_loop_new(name, st);
    if (server->loops[i] == NULL) {
      goto err;
    }
    server->num_loops = i + 1;
  }

  // The pumps run before the port is bound so that every failure below
  // can destroy a server that has no listener, without a shutdown.
  for (int i = 0; i < server->num_loops; i++) {
    if (!ss_rpc_loop_start(server->loops[i], st)) {
      goto err;
    }
  }
  ss_tls_server_options tls = {options->tls_cert_file, options->tls_key_file,
                               options->tls_client_ca_file};
  creds = ss_tls_server_credentials_new(&tls, st);
  if (creds == NULL) {
    goto err;
  }
  grpc_arg args[7];
  memset(args, 0, sizeof(args));
  size_t num_args = 0;
  args[num_args].type = GRPC_ARG_INTEGER;
  args[num_args].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[num_args++].value.integer = (int)max_recv;
  args[num_args].type = GRPC_ARG_INTEGER;
  args[num_args].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
  args[num_args++].value.integer = (int)max_send;
  // gRPC sets SO_REUSEPORT by default, which lets a second server bind a
  // port in use and silently share its connections. Refuse that.
  args[num_args].type = GRPC_ARG_INTEGER;
  args[num_args].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
  args[num_args++].value.integer = 0;
  // A peer that vanished without closing its connection would otherwise
  // hold its streams, blocked on flow control, until TCP gives up: ping
  // connections with calls in progress and drop those that do not answer.
  args[num_args].type = GRPC_ARG_INTEGER;
  args[num_args].key = (char *)GRPC_ARG_KEEPALIVE_TIME_MS;
  args[num_args++].value.integer = SS_RPC_KEEPALIVE_TIME_MS;
  args[num_args].type = GRPC_ARG_INTEGER;
  args[num_args].key = (char *)GRPC_ARG_KEEPALIVE_TIMEOUT_MS;
  args[num_args++].value.integer = SS_RPC_KEEPALIVE_TIMEOUT_MS;
  if (options->max_metadata_bytes > 0) {
    args[num_args].type = GRPC_ARG_INTEGER;
    args[num_args].key = (char *)GRPC_ARG_MAX_METADATA_SIZE;
    args[num_args++].value.integer = (int)options->max_metadata_bytes;
  }
  if (options->keep_compressed) {
    args[num_args].type = GRPC_ARG_INTEGER;
    args[num_args].key = (char *)GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION;
    args[num_args++].value.integer = 0;
  }
  grpc_channel_args channel_args = {num_args, args};
  server->server = grpc_server_create(&channel_args, NULL);
  for (int i = 0; i < server->num_loops; i++) {
    grpc_server_register_completion_queue(
        server->server, ss_rpc_loop_cq(server->loops[i]), NULL);
  }
  server->port =
      grpc_server_add_http2_port(server->server, options->listen_addr, creds);
  grpc_server_credentials_release(creds);
  if (server->port == 0) {
    ss_status_set(st, GRPC_STATUS_UNAVAILABLE,
                  "cannot listen on %s (address in use, not local, or not "
                  "HOST:PORT)",
                  options->listen_addr);
    goto err;
  }
  return server;

err:
  if (server->server != NULL) {
    // Not started and without a listener: no shutdown is needed.
    grpc_server_destroy(server->server);
  }
  for (int i = 0; i < server->num_loops; i++) {
    ss_rpc_loop_free(server->loops[i]);
  }
  pthread_cond_destroy(&server->cv);
  pthread_mutex_destroy(&server->mu);
  free(server);
  return NULL;
}

int ss_rpc_server_add_method(ss_rpc_server *server, const char *path,
                             ss_rpc_call_handler handler, void *ctx,
                             ss_status *st) {
  if (server->started) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "method %s added after the server started", path);
  }
  if (path == NULL || path[0] != '/' || handler == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "method path must start with '/' and have a handler");
  }
  rpc_method *m = calloc(1, sizeof(*m));
  if (m == NULL || (m->path = strdup(path)) == NULL) {
    free(m);
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  m->handle =
      grpc_server_register_method(server->server, m->path, NULL,
                                  GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
  if (m->handle == NULL) {
    free(m->path);
    free(m);
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "method %s cannot be registered (registered twice?)",
                         path);
  }
  m->handler = handler;
  m->ctx = ctx;
  m->next = server->methods;
  server->methods = m;
  return 1;
}

int ss_rpc_server_set_fallback(ss_rpc_server *server,
                               ss_rpc_call_handler handler, void *ctx,
                               ss_status *st) {
  if (server->started) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "fallback set after the server started");
  }
  if (handler == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "a fallback needs a handler");
  }
  server->fallback = handler;
  server->fallback_ctx = ctx;
  return 1;
}

int ss_rpc_server_start(ss_rpc_server *server, ss_status *st) {
  pthread_mutex_lock(&server->mu);
  if (server->started || server->shutdown_called) {
    pthread_mutex_unlock(&server->mu);
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "server already started or shut down");
  }
  server->started = 1;
  pthread_mutex_unlock(&server->mu);
  grpc_server_start(server->server);
  for (int i = 0; i < server->num_loops; i++) {
    for (int r = 0; r < server->requests_per_method; r++) {
      for (rpc_method *m = server->methods; m != NULL; m = m->next) {
        arm(server, m, server->loops[i]);
      }
    }
    // Without a fallback, unregistered paths are rare: one awaited call per
    // loop, re-armed on each acceptance, is enough to answer them.
    int unregistered =
        server->fallback != NULL ? server->requests_per_method : 1;
    for (int r = 0; r < unregistered; r++) {
      arm(server, NULL, server->loops[i]);
    }
  }
  return 1;
}

int ss_rpc_server_port(const ss_rpc_server *server) { return server->port; }

int ss_rpc_server_num_loops(const ss_rpc_server *server) {
  return server->num_loops;
}

ss_rpc_loop *ss_rpc_server_loop(const ss_rpc_server *server, int index) {
  if (index < 0 || index >= server->num_loops) {
    return NULL;
  }
  return server->loops[index];
}

void ss_rpc_server_shutdown(ss_rpc_server *server) {
  pthread_mutex_lock(&server->mu);
  int first = !server->shutdown_called;
  server->shutdown_called = 1;
  pthread_mutex_unlock(&server->mu);
  if (first) {
    grpc_server_shutdown_and_notify(server->server,
                                    ss_rpc_loop_cq(server->loops[0]),
                                    &server->shutdown_tag);
  }
}

int ss_rpc_server_wait(ss_rpc_server *server, int64_t timeout_ms) {
  struct timespec until;
  if (timeout_ms >= 0) {
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
  }
  pthread_mutex_lock(&server->mu);
  while (!server->shutdown_done || server->outstanding > 0) {
    if (timeout_ms < 0) {
      pthread_cond_wait(&server->cv, &server->mu);
    } else if (pthread_cond_timedwait(&server->cv, &server->mu, &until) ==
               ETIMEDOUT) {
      break;
    }
  }
  int done = server->shutdown_done && server->outstanding == 0;
  pthread_mutex_unlock(&server->mu);
  return done;
}

void ss_rpc_server_cancel_all(ss_rpc_server *server) {
  ss_rpc_server_shutdown(server);
  grpc_server_cancel_all_calls(server->server);
}

int ss_rpc_server_live_calls(const ss_rpc_server *server) {
  return atomic_load(&server->live_calls);
}

void ss_rpc_server_free(ss_rpc_server *server) {
  if (server == NULL) {
    return;
  }
  ss_rpc_server_shutdown(server);
  if (!ss_rpc_server_wait(server, 0)) {
    ss_rpc_server_cancel_all(server);
    ss_rpc_server_wait(server, -1);
  }
  grpc_server_destroy(server->server);
  // No request is awaited and no call is left (see |outstanding|): the
  // queues hold no more work and can be shut down.
  for (int i = 0; i < server->num_loops; i++) {
    ss_rpc_loop_free(server->loops[i]);
  }
  free_methods(server->methods);
  pthread_cond_destroy(&server->cv);
  pthread_mutex_destroy(&server->mu);
  free(server);
}
