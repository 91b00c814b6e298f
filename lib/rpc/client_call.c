// Outgoing calls as children of server calls (see client_call.h), on the
// gRPC core API: the call is created on the parent's completion queue with
// GRPC_PROPAGATE_DEFAULTS; at start one batch sends the initial metadata,
// one awaits the server's initial metadata and one its status, which gRPC
// reports after the server's last message was received. Sends and receives
// are one batch each, one of each in flight at a time.
//
// The server's metadata, messages and status are untrusted; they are passed
// on unread.
#include "lib/rpc/client_call.h"

#include <grpc/support/time.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rpc/buffer.h"
#include "lib/rpc/server_internal.h"

struct ss_rpc_client_call {
  ss_rpc_call *parent;  // referenced until the call is freed
  grpc_call *call;      // owned

  ss_rpc_tag start_tag;
  ss_rpc_tag initial_md_tag;
  ss_rpc_tag send_tag;
  ss_rpc_tag close_tag;
  ss_rpc_tag recv_tag;
  ss_rpc_tag status_tag;

  // Written by gRPC when the batches complete; read on the pump thread.
  grpc_metadata_array initial_md;
  grpc_metadata_array trailing_md;
  grpc_status_code status;
  grpc_slice status_details;
  grpc_byte_buffer *received;

  pthread_mutex_t mu;  // guards the fields below
  int refs;            // the application's + one per batch in flight
  int send_in_flight;
  grpc_byte_buffer *sending;  // owned while its send is in flight
  int close_wanted;           // half-close requested
  int close_started;
  int recv_in_flight;
  int status_received;

  const ss_rpc_client_call_ops *ops;  // borrowed
  void *app;                          // borrowed
};

static const ss_rpc_client_call_ops kNoClientOps = {0};

static void client_call_free(ss_rpc_client_call *c) {
  if (c->call != NULL) {
    grpc_call_unref(c->call);
  }
  grpc_metadata_array_destroy(&c->initial_md);
  grpc_metadata_array_destroy(&c->trailing_md);
  grpc_slice_unref(c->status_details);
  if (c->received != NULL) {
    // Not expected: every received message is handed on. Handled anyway.
    grpc_byte_buffer_destroy(c->received);
  }
  pthread_mutex_destroy(&c->mu);
  ss_rpc_call *parent = c->parent;
  free(c);
  ss__rpc_call_unref(parent);
}

static void client_call_unref(ss_rpc_client_call *c) {
  pthread_mutex_lock(&c->mu);
  int left = --c->refs;
  pthread_mutex_unlock(&c->mu);
  if (left == 0) {
    if (c->ops->on_release != NULL) {
      c->ops->on_release(c->app);
    }
    client_call_free(c);
  }
}

// start_batch starts |ops| under |tag| with a reference for it. Called with
// c->mu held. Returns 1, or 0 with |st| set (no completion will arrive).
static int start_batch(ss_rpc_client_call *c, const grpc_op *ops, size_t n,
                       ss_rpc_tag *tag, const char *what, ss_status *st) {
  c->refs++;
  grpc_call_error err = grpc_call_start_batch(c->call, ops, n, tag, NULL);
  if (err != GRPC_CALL_OK) {
    c->refs--;
    return ss_status_set(st, err == GRPC_CALL_ERROR_INVALID_METADATA
                                 ? GRPC_STATUS_INVALID_ARGUMENT
                                 : GRPC_STATUS_INTERNAL,
                         "cannot %s: %s", what, grpc_call_error_to_string(err));
  }
  return 1;
}

// start_close starts the half-close. Called with c->mu held and no send in
// flight.
static int start_close(ss_rpc_client_call *c, ss_status *st) {
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  c->close_started = 1;
  return start_batch(c, &op, 1, &c->close_tag, "half-close", st);
}

static void on_started(void *owner, int ok) {
  (void)ok;  // a failed send of initial metadata fails the call: on_status
  client_call_unref(owner);
}

static void on_close_sent(void *owner, int ok) {
  (void)ok;  // as above
  client_call_unref(owner);
}

static void on_initial_md(void *owner, int ok) {
  (void)ok;  // on failure the array is empty, which is what is reported
  ss_rpc_client_call *c = owner;
  if (c->ops->on_initial_metadata != NULL) {
    c->ops->on_initial_metadata(c->app, &c->initial_md);
  }
  client_call_unref(c);
}

static void on_sent(void *owner, int ok) {
  ss_rpc_client_call *c = owner;
  pthread_mutex_lock(&c->mu);
  grpc_byte_buffer *sent = c->sending;
  c->sending = NULL;
  c->send_in_flight = 0;
  if (c->close_wanted && !c->close_started) {
    // A failure leaves the call to fail on its own: on_status reports it.
    start_close(c, NULL);
  }
  pthread_mutex_unlock(&c->mu);
  grpc_byte_buffer_destroy(sent);
  if (c->ops->on_send_done != NULL) {
    c->ops->on_send_done(c->app, ok);
  }
  client_call_unref(c);
}

static void on_received(void *owner, int ok) {
  ss_rpc_client_call *c = owner;
  pthread_mutex_lock(&c->mu);
  grpc_byte_buffer *msg = c->received;
  c->received = NULL;
  c->recv_in_flight = 0;
  pthread_mutex_unlock(&c->mu);
  if (!ok && msg != NULL) {
    // Not expected: a failed receive delivers no message.
    grpc_byte_buffer_destroy(msg);
    msg = NULL;
  }
  if (c->ops->on_recv != NULL) {
    c->ops->on_recv(c->app, msg);
  } else if (msg != NULL) {
    grpc_byte_buffer_destroy(msg);
  }
  client_call_unref(c);
}

static void on_status(void *owner, int ok) {
  (void)ok;  // RECV_STATUS_ON_CLIENT always delivers a status
  ss_rpc_client_call *c = owner;
  pthread_mutex_lock(&c->mu);
  c->status_received = 1;
  pthread_mutex_unlock(&c->mu);
  if (c->ops->on_status != NULL) {
    c->ops->on_status(c->app, c->status, c->status_details, &c->trailing_md);
  }
  client_call_unref(c);
}

ss_rpc_client_call *ss_rpc_client_call_start(
    ss_rpc_call *parent, const ss_rpc_client_call_args *args,
    const ss_rpc_client_call_ops *ops, void *app, ss_status *st) {
  if (parent == NULL || args == NULL || args->channel == NULL ||
      args->method == NULL || args->method[0] != '/') {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "an outgoing call needs a parent, a channel and a method "
                  "path starting with '/'");
    return NULL;
  }
  ss_rpc_client_call *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&c->mu, NULL);
  grpc_metadata_array_init(&c->initial_md);
  grpc_metadata_array_init(&c->trailing_md);
  c->status_details = grpc_empty_slice();
  c->ops = ops != NULL ? ops : &kNoClientOps;
  c->app = app;
  ss_rpc_tag_init(&c->start_tag, on_started, c);
  ss_rpc_tag_init(&c->initial_md_tag, on_initial_md, c);
  ss_rpc_tag_init(&c->send_tag, on_sent, c);
  ss_rpc_tag_init(&c->close_tag, on_close_sent, c);
  ss_rpc_tag_init(&c->recv_tag, on_received, c);
  ss_rpc_tag_init(&c->status_tag, on_status, c);

  grpc_slice method = grpc_slice_from_copied_string(args->method);
  grpc_slice host = args->host != NULL
                        ? grpc_slice_from_copied_string(args->host)
                        : grpc_empty_slice();
  grpc_completion_queue *cq = ss_rpc_loop_cq(ss_rpc_call_loop(parent));
  // The deadline is the parent's, through GRPC_PROPAGATE_DEADLINE.
  c->call = grpc_channel_create_call(
      args->channel, ss_rpc_call_grpc(parent), GRPC_PROPAGATE_DEFAULTS, cq,
      method, args->host != NULL ? &host : NULL,
      gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
  grpc_slice_unref(method);
  grpc_slice_unref(host);
  if (c->call == NULL) {
    grpc_slice_unref(c->status_details);
    grpc_metadata_array_destroy(&c->initial_md);
    grpc_metadata_array_destroy(&c->trailing_md);
    pthread_mutex_destroy(&c->mu);
    free(c);
    ss_status_set(st, GRPC_STATUS_INTERNAL, "gRPC made no outgoing call");
    return NULL;
  }
  ss__rpc_call_ref(parent);
  c->parent = parent;
  c->refs = 1;  // the application's

  grpc_op ops_start;
  memset(&ops_start, 0, sizeof(ops_start));
  ops_start.op = GRPC_OP_SEND_INITIAL_METADATA;
  ops_start.data.send_initial_metadata.count = args->num_metadata;
  ops_start.data.send_initial_metadata.metadata =
      (grpc_metadata *)args->metadata;
  grpc_op op_md;
  memset(&op_md, 0, sizeof(op_md));
  op_md.op = GRPC_OP_RECV_INITIAL_METADATA;
  op_md.data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
  grpc_op op_status;
  memset(&op_status, 0, sizeof(op_status));
  op_status.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  op_status.data.recv_status_on_client.trailing_metadata = &c->trailing_md;
  op_status.data.recv_status_on_client.status = &c->status;
  op_status.data.recv_status_on_client.status_details = &c->status_details;

  pthread_mutex_lock(&c->mu);
  int ok = start_batch(c, &ops_start, 1, &c->start_tag,
                       "send initial metadata", st);
  if (ok) {
    // Once the first batch is in, a failure below leaves a call that can
    // still end: cancel it so the batches started complete.
    if (!start_batch(c, &op_md, 1, &c->initial_md_tag,
                     "receive initial metadata", st) ||
        !start_batch(c, &op_status, 1, &c->status_tag, "receive the status",
                     st)) {
      ok = 0;
    }
  }
  pthread_mutex_unlock(&c->mu);
  if (!ok) {
    // No callback may reach the caller after a failed start.
    c->ops = &kNoClientOps;
    grpc_call_cancel(c->call, NULL);
    client_call_unref(c);
    return NULL;
  }
  return c;
}

int ss_rpc_client_call_send(ss_rpc_client_call *call, grpc_byte_buffer *msg,
                            ss_status *st) {
  pthread_mutex_lock(&call->mu);
  if (call->send_in_flight || call->close_wanted) {
    int closed = call->close_wanted;
    pthread_mutex_unlock(&call->mu);
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION, "%s",
                         closed ? "send after the half-close"
                                : "send while another message is in flight");
  }
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_SEND_MESSAGE;
  op.flags = ss_rpc_buffer_send_flags(msg);
  op.data.send_message.send_message = msg;
  int ok = start_batch(call, &op, 1, &call->send_tag, "send", st);
  if (ok) {
    call->send_in_flight = 1;
    call->sending = msg;
  }
  pthread_mutex_unlock(&call->mu);
  return ok;
}

int ss_rpc_client_call_close_send(ss_rpc_client_call *call, ss_status *st) {
  pthread_mutex_lock(&call->mu);
  int ok = 1;
  if (!call->close_wanted) {
    call->close_wanted = 1;
    if (!call->send_in_flight) {
      ok = start_close(call, st);
    }
  }
  pthread_mutex_unlock(&call->mu);
  return ok;
}

int ss_rpc_client_call_recv(ss_rpc_client_call *call, ss_status *st) {
  pthread_mutex_lock(&call->mu);
  if (call->recv_in_flight) {
    pthread_mutex_unlock(&call->mu);
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "receive while another is in flight");
  }
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &call->received;
  int ok = start_batch(call, &op, 1, &call->recv_tag, "receive", st);
  if (ok) {
    call->recv_in_flight = 1;
  }
  pthread_mutex_unlock(&call->mu);
  return ok;
}

void ss_rpc_client_call_cancel(ss_rpc_client_call *call,
                               grpc_status_code code, const char *details) {
  grpc_call_cancel_with_status(call->call, code, details != NULL ? details : "",
                               NULL);
}

void ss_rpc_client_call_release(ss_rpc_client_call *call) {
  pthread_mutex_lock(&call->mu);
  int cancel = !call->status_received;
  pthread_mutex_unlock(&call->mu);
  if (cancel) {
    grpc_call_cancel(call->call, NULL);
  }
  client_call_unref(call);
}
