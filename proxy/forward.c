// Forwarding one call to one backend (see forward.h), after gRPC's proxy
// fixture (test/core/end2end/fixtures/proxy.cc) with the classic proxy bugs
// avoided: the backend's initial metadata goes out as soon as it arrives; a
// backend that ends before the client half-closes, or answers with a status
// only, reaches the client intact; the status goes out only after every
// message before it was delivered.
//
// Each direction is a small pipeline: receive one message from the source
// leg, pass it through the filter (if any) into a queue of at most
// SS_FORWARD_MAX_EMIT messages (one without a filter), send them one by one
// to the sink leg, and receive the next only when the queue is empty. All
// handlers of both legs run on one pump thread, so the state needs no lock.
//
// Messages, metadata and statuses are untrusted and forwarded unread.
#include "proxy/forward.h"

#include <grpc/byte_buffer.h>
#include <grpc/compression.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/rpc/client_call.h"

// The details sent to a client when the backend was unavailable: the route
// and what gRPC said, bounded.
#define SS_FORWARD_DETAILS_MAX 512
// How long an UNAVAILABLE status waits for a channel that still reads READY
// to show its connection broke.
#define SS_FORWARD_UNAVAILABLE_WATCH_MS 250

typedef struct direction {
  grpc_byte_buffer *queue[SS_FORWARD_MAX_EMIT];  // owned; to send in order
  size_t head;
  size_t len;
  int receiving;    // a receive from the source leg is in flight
  int sending;      // a send to the sink leg is in flight
  int source_done;  // the source ended its stream (or failed)
  int drained;      // source done and the filter emitted all it had
  uint64_t bytes;
  uint64_t messages;
} direction;

typedef struct forward {
  ss_rpc_call *c2p;           // held until finished
  ss_rpc_client_call *p2s;    // held until released
  grpc_channel *channel;      // borrowed; p2s's
  char route[128];            // for messages
  const ss_forward_observer *observer;  // borrowed; may be NULL
  const ss_forward_filter *filter;      // borrowed; may be NULL
  void *filter_state;
  void *call_ctx;  // the observer's

  direction dir[2];  // by ss_forward_dir
  int initial_md_done;  // the backend's initial metadata was handled
  int status_received;
  grpc_status_code status;
  char *status_details;  // owned
  const grpc_metadata_array *trailing_md;  // borrowed from p2s until release
  int watching;  // the backend channel's state is awaited (check_unavailable)
  ss_rpc_tag watch_tag;
  int end_ok;    // a filter ended the call with OK
  int broken;    // a leg failed: stop forwarding and end the call
  ss_status failure;  // why, when |broken|: what the client is told
  int finished;  // the status went to the client
  int refs;      // c2p and p2s, each until its on_release

  int64_t start_us;
  int64_t connect_us;
  int64_t first_byte_us;
} forward;

// Compressed messages pass through as their sender compressed them: the
// proxy never inflates one. gRPC 1.51 does not tell the application which
// encoding a call declared, so both legs of every forwarded call declare
// gzip, the one algorithm every gRPC implementation speaks: a gzip-compressed
// message goes on with its compressed flag, every other message goes
// uncompressed (ss_rpc_buffer_send_flags), and a message compressed with
// another algorithm is refused.
static grpc_metadata declare_gzip(void) {
  grpc_metadata md;
  memset(&md, 0, sizeof(md));
  md.key = grpc_slice_from_static_string(
      GRPC_COMPRESSION_REQUEST_ALGORITHM_MD_KEY);
  md.value = grpc_slice_from_static_string("gzip");
  return md;
}

// with_gzip returns a new array (free with free()) of the |n| entries of
// |md| and the gzip declaration, or NULL when out of memory.
static grpc_metadata *with_gzip(const grpc_metadata *md, size_t n) {
  grpc_metadata *out = malloc((n + 1) * sizeof(*out));
  if (out != NULL) {
    if (n > 0) {
      memcpy(out, md, n * sizeof(*out));
    }
    out[n] = declare_gzip();
  }
  return out;
}

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int ss_forward_emit_add(ss_forward_emit *out, grpc_byte_buffer *msg) {
  if (out->num >= SS_FORWARD_MAX_EMIT) {
    grpc_byte_buffer_destroy(msg);
    return 0;
  }
  out->msgs[out->num++] = msg;
  return 1;
}

static void forward_unref(forward *f) {
  if (--f->refs > 0) {
    return;
  }
  for (int d = 0; d < 2; d++) {
    for (size_t i = 0; i < f->dir[d].len; i++) {
      grpc_byte_buffer_destroy(
          f->dir[d].queue[(f->dir[d].head + i) % SS_FORWARD_MAX_EMIT]);
    }
  }
  if (f->filter != NULL && f->filter->call_end != NULL) {
    f->filter->call_end(f->filter_state);
  }
  free(f->status_details);
  free(f);
}

static void enqueue(forward *f, ss_forward_dir d, ss_forward_emit *out) {
  direction *dir = &f->dir[d];
  for (size_t i = 0; i < out->num; i++) {
    if (dir->len == SS_FORWARD_MAX_EMIT) {
      // Cannot happen: a message is received only into an empty queue.
      grpc_byte_buffer_destroy(out->msgs[i]);
      continue;
    }
    dir->queue[(dir->head + dir->len) % SS_FORWARD_MAX_EMIT] = out->msgs[i];
    dir->len++;
  }
  if (d == SS_FORWARD_TO_CLIENT && out->end_ok) {
    f->end_ok = 1;
  }
}

static void pump(forward *f, ss_forward_dir d);

// finish sends the status to the client once everything before it was
// delivered, and lets the backend call go.
static void maybe_finish(forward *f) {
  direction *to_client = &f->dir[SS_FORWARD_TO_CLIENT];
  if (f->finished || f->watching) {
    return;
  }
  int delivered = to_client->drained && to_client->len == 0 &&
                  !to_client->sending && f->initial_md_done;
  if (!f->broken && !(delivered && (f->status_received || f->end_ok))) {
    return;
  }
  if (f->broken && !f->status_received) {
    // Wait for the backend call to end: it was cancelled.
    return;
  }
  f->finished = 1;
  grpc_status_code code = f->end_ok ? GRPC_STATUS_OK : f->status;
  const char *details = f->end_ok ? "" : f->status_details;
  const grpc_metadata *trailing = NULL;
  size_t num_trailing = 0;
  if (!f->end_ok && f->trailing_md != NULL) {
    trailing = f->trailing_md->metadata;
    num_trailing = f->trailing_md->count;
  }
  ss_status st;
  // A failure means the client is gone; the call ends either way.
  ss_rpc_call_finish_with_metadata(f->c2p, NULL, code, details, trailing,
                                   num_trailing, &st);
  if (f->observer != NULL && f->observer->on_end != NULL) {
    ss_forward_result result;
    memset(&result, 0, sizeof(result));
    result.code = code;
    result.details = details;
    for (int i = 0; i < 2; i++) {
      result.bytes[i] = f->dir[i].bytes;
      result.messages[i] = f->dir[i].messages;
    }
    result.duration_us = now_us() - f->start_us;
    result.connect_us = f->connect_us;
    result.first_byte_us = f->first_byte_us;
    f->observer->on_end(f->observer->ctx, f->call_ctx, &result);
  }
  ss_rpc_client_call_release(f->p2s);
}

// fail stops forwarding after a leg failed or refused an operation: the
// backend call is cancelled and the client gets its status, now if it
// already arrived (a deadline ends both legs at once, in either order),
// else when it does.
static void fail(forward *f, const ss_status *st) {
  if (f->broken) {
    return;
  }
  f->broken = 1;
  f->failure = *st;
  ss_rpc_client_call_cancel(f->p2s, st->code, st->msg);
  maybe_finish(f);
}

static int start_send(forward *f, ss_forward_dir d, grpc_byte_buffer *msg,
                      ss_status *st) {
  return d == SS_FORWARD_TO_BACKEND
             ? ss_rpc_client_call_send(f->p2s, msg, st)
             : ss_rpc_call_send(f->c2p, msg, st);
}

static int start_recv(forward *f, ss_forward_dir d, ss_status *st) {
  return d == SS_FORWARD_TO_BACKEND ? ss_rpc_call_recv(f->c2p, st)
                                    : ss_rpc_client_call_recv(f->p2s, st);
}

// pump moves direction |d| on by one step: send the next queued message,
// pull more from the filter at the end of the stream, or receive the next
// message.
static void pump(forward *f, ss_forward_dir d) {
  direction *dir = &f->dir[d];
  ss_status st;
  ss_status_init(&st);
  for (;;) {
    if (f->broken || f->finished || dir->sending || dir->receiving) {
      return;
    }
    if (dir->len > 0) {
      grpc_byte_buffer *msg = dir->queue[dir->head];
      size_t len = grpc_byte_buffer_length(msg);
      if (!start_send(f, d, msg, &st)) {
        fail(f, &st);
        return;
      }
      dir->queue[dir->head] = NULL;
      dir->head = (dir->head + 1) % SS_FORWARD_MAX_EMIT;
      dir->len--;
      dir->sending = 1;
      dir->bytes += len;
      dir->messages++;
      if (f->observer != NULL && f->observer->on_message != NULL) {
        f->observer->on_message(f->observer->ctx, f->call_ctx, d, len);
      }
      return;
    }
    if (d == SS_FORWARD_TO_CLIENT && f->end_ok) {
      dir->drained = 1;
    }
    if (dir->source_done && !dir->drained) {
      ss_forward_emit out;
      memset(&out, 0, sizeof(out));
      if (f->filter != NULL && f->filter->stream_end != NULL) {
        f->filter->stream_end(f->filter_state, d, &out);
      }
      if (out.num > 0 || out.end_ok) {
        enqueue(f, d, &out);
        continue;
      }
      dir->drained = 1;
    }
    if (dir->drained) {
      if (d == SS_FORWARD_TO_BACKEND) {
        if (!ss_rpc_client_call_close_send(f->p2s, &st)) {
          fail(f, &st);
        }
      } else {
        maybe_finish(f);
      }
      return;
    }
    if (d == SS_FORWARD_TO_CLIENT && !f->initial_md_done) {
      return;  // messages follow the backend's initial metadata
    }
    if (!start_recv(f, d, &st)) {
      fail(f, &st);
      return;
    }
    dir->receiving = 1;
    return;
  }
}

// received takes a message (NULL: end of stream) from the source of |d|.
static void received(forward *f, ss_forward_dir d, grpc_byte_buffer *msg) {
  direction *dir = &f->dir[d];
  dir->receiving = 0;
  grpc_compression_algorithm compression =
      msg != NULL && msg->type == GRPC_BB_RAW ? msg->data.raw.compression
                                              : GRPC_COMPRESS_NONE;
  if (compression != GRPC_COMPRESS_NONE && compression != GRPC_COMPRESS_GZIP) {
    grpc_byte_buffer_destroy(msg);
    const char *name = "an unknown algorithm";
    grpc_compression_algorithm_name(compression, &name);
    ss_status st;
    ss_status_set(&st, GRPC_STATUS_UNIMPLEMENTED,
                  "the %s sent a message compressed with %s; the proxy passes "
                  "on gzip-compressed messages only",
                  d == SS_FORWARD_TO_BACKEND ? "client" : "backend", name);
    fail(f, &st);
    return;
  }
  if (msg == NULL) {
    dir->source_done = 1;
  } else if (f->broken || f->finished ||
             (d == SS_FORWARD_TO_CLIENT && f->end_ok)) {
    grpc_byte_buffer_destroy(msg);
  } else {
    if (d == SS_FORWARD_TO_CLIENT && f->first_byte_us < 0) {
      f->first_byte_us = now_us() - f->start_us;
    }
    ss_forward_emit out;
    memset(&out, 0, sizeof(out));
    if (f->filter != NULL && f->filter->message != NULL) {
      f->filter->message(f->filter_state, d, msg, &out);
    } else {
      out.msgs[0] = msg;
      out.num = 1;
    }
    enqueue(f, d, &out);
    if (d == SS_FORWARD_TO_CLIENT && f->end_ok) {
      // The backend's stream no longer matters.
      ss_rpc_client_call_cancel(f->p2s, GRPC_STATUS_CANCELLED,
                                "the proxy ended the call");
    }
  }
  pump(f, d);
  // Once the call broke, pump does nothing: the end of a stream may be what
  // the status waited for.
  maybe_finish(f);
}

static void sent(forward *f, ss_forward_dir d, int ok) {
  f->dir[d].sending = 0;
  if (!ok && d == SS_FORWARD_TO_CLIENT) {
    // The client is gone (cancelled, deadline, connection lost): on_cancel
    // says so too; stop the backend now.
    ss_status st;
    ss_status_set(&st, GRPC_STATUS_CANCELLED, "the client went away");
    fail(f, &st);
  }
  // A failed send to the backend means the backend call ended: its status
  // follows and is forwarded; the client's next message is not read.
  if (!ok && d == SS_FORWARD_TO_BACKEND) {
    f->dir[d].source_done = 1;
    f->dir[d].drained = 1;
  }
  pump(f, d);
  maybe_finish(f);
}

// --- client-to-proxy leg ----------------------------------------------------

static void c2p_recv(void *app, grpc_byte_buffer *msg) {
  received(app, SS_FORWARD_TO_BACKEND, msg);
}

static void c2p_sent(void *app, int ok) {
  sent(app, SS_FORWARD_TO_CLIENT, ok);
}

// deadline_reached returns 1 when the client's deadline has passed or is
// about to: the client's own deadline passes a little before the proxy's
// (which starts when the request arrives), and the client then resets the
// stream, so a cancel this close to the deadline is the deadline.
static int deadline_reached(const forward *f) {
  int64_t deadline_ms = ss_rpc_call_deadline_ms(f->c2p);
  return deadline_ms != 0 && deadline_ms <= now_us() / 1000 + 100;
}

static void c2p_cancelled(void *app) {
  forward *f = app;
  ss_status st;
  if (deadline_reached(f)) {
    ss_status_set(&st, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
  } else {
    ss_status_set(&st, GRPC_STATUS_CANCELLED, "the client cancelled the call");
  }
  // The backend call is cancelled through propagation too; this makes sure
  // forwarding stops at once.
  fail(f, &st);
}

static void c2p_released(void *app) { forward_unref(app); }

static const ss_rpc_call_ops kC2pOps = {
    .on_send_done = c2p_sent,
    .on_cancel = c2p_cancelled,
    .on_release = c2p_released,
    .on_recv = c2p_recv,
};

// --- proxy-to-server leg ----------------------------------------------------

static void p2s_initial_md(void *app, const grpc_metadata_array *md) {
  forward *f = app;
  f->connect_us = now_us() - f->start_us;
  if (!f->finished) {
    grpc_metadata *sent = with_gzip(md->metadata, md->count);
    ss_status st;
    // If gRPC refuses to send them, they are dropped rather than the call:
    // the metadata the client gets is then empty.
    if (sent == NULL ||
        !ss_rpc_call_send_initial_metadata(f->c2p, sent, md->count + 1, &st)) {
      grpc_metadata gzip = declare_gzip();
      ss_rpc_call_send_initial_metadata(f->c2p, &gzip, 1, &st);
    }
    free(sent);
  }
  f->initial_md_done = 1;
  pump(f, SS_FORWARD_TO_CLIENT);
  maybe_finish(f);
}

static void p2s_recv(void *app, grpc_byte_buffer *msg) {
  received(app, SS_FORWARD_TO_CLIENT, msg);
}

static void p2s_sent(void *app, int ok) {
  sent(app, SS_FORWARD_TO_BACKEND, ok);
}

// name_route replaces the details of an UNAVAILABLE status that gRPC made
// because the backend's connection is down with details naming the route.
static void name_route(forward *f) {
  char *out = malloc(SS_FORWARD_DETAILS_MAX);
  if (out == NULL) {
    return;  // the details stay as they are
  }
  snprintf(out, SS_FORWARD_DETAILS_MAX, "route '%s': backend unavailable: %s",
           f->route, f->status_details != NULL ? f->status_details : "");
  free(f->status_details);
  f->status_details = out;
}

// on_watch: the backend's channel left READY (|ok|), or stayed READY until
// the watch's deadline, after an UNAVAILABLE status.
static void on_watch(void *owner, int ok) {
  forward *f = owner;
  f->watching = 0;
  if (ok && grpc_channel_check_connectivity_state(f->channel, 0) !=
                GRPC_CHANNEL_READY) {
    name_route(f);
  }
  maybe_finish(f);
}

// check_unavailable decides whose an UNAVAILABLE status is. A backend may
// answer UNAVAILABLE itself, passed on verbatim like any status; when its
// connection is down, the status is gRPC's own, and the client is told which
// route failed. A connection that just broke may still read READY for a
// moment: then the decision waits, briefly, for the channel to leave READY.
static void check_unavailable(forward *f) {
  if (grpc_channel_check_connectivity_state(f->channel, 0) !=
      GRPC_CHANNEL_READY) {
    name_route(f);
    return;
  }
  f->watching = 1;
  gpr_timespec deadline = gpr_time_add(
      gpr_now(GPR_CLOCK_MONOTONIC),
      gpr_time_from_millis(SS_FORWARD_UNAVAILABLE_WATCH_MS, GPR_TIMESPAN));
  grpc_channel_watch_connectivity_state(
      f->channel, GRPC_CHANNEL_READY, deadline,
      ss_rpc_loop_cq(ss_rpc_call_loop(f->c2p)), &f->watch_tag);
}

static void p2s_status(void *app, grpc_status_code code, grpc_slice details,
                       const grpc_metadata_array *trailing) {
  forward *f = app;
  f->status_received = 1;
  if (f->broken) {
    // The backend call ended because the proxy cancelled it (or gRPC did,
    // through the client's call, a moment earlier): the reason is the
    // failure's.
    f->status = f->failure.code;
    f->status_details = strdup(f->failure.msg);
  } else if (code == GRPC_STATUS_CANCELLED && deadline_reached(f)) {
    // The client's deadline reached the backend call (its child) through
    // gRPC before it reached the proxy.
    f->status = GRPC_STATUS_DEADLINE_EXCEEDED;
    f->status_details = strdup("deadline exceeded");
  } else {
    f->status = code;
    // Out of memory leaves it NULL: the status then goes without details.
    f->status_details = strndup((const char *)GRPC_SLICE_START_PTR(details),
                                GRPC_SLICE_LENGTH(details));
    if (code == GRPC_STATUS_UNAVAILABLE) {
      check_unavailable(f);
    }
  }
  f->trailing_md = trailing;
  if (code != GRPC_STATUS_OK) {
    // The client's next messages have nowhere to go.
    f->dir[SS_FORWARD_TO_BACKEND].source_done = 1;
  }
  maybe_finish(f);
}

static void p2s_released(void *app) { forward_unref(app); }

static const ss_rpc_client_call_ops kP2sOps = {
    .on_initial_metadata = p2s_initial_md,
    .on_recv = p2s_recv,
    .on_send_done = p2s_sent,
    .on_status = p2s_status,
    .on_release = p2s_released,
};

int ss_forward_start(ss_rpc_call *call, const ss_forward_target *target,
                     const grpc_metadata *metadata, size_t num_metadata,
                     const ss_forward_observer *observer,
                     const ss_forward_filter *filter, void *call_ctx,
                     ss_status *st) {
  forward *f = calloc(1, sizeof(*f));
  if (f == NULL) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  f->c2p = call;
  f->channel = target->channel;
  ss_rpc_tag_init(&f->watch_tag, on_watch, f);
  snprintf(f->route, sizeof(f->route), "%s",
           target->route != NULL ? target->route : "");
  f->observer = observer;
  f->filter = filter;
  f->call_ctx = call_ctx;
  f->start_us = now_us();
  f->connect_us = -1;
  f->first_byte_us = -1;
  if (filter != NULL && filter->call_begin != NULL) {
    f->filter_state = filter->call_begin(filter->ctx, ss_rpc_call_method(call));
  }
  ss_rpc_client_call_args args;
  memset(&args, 0, sizeof(args));
  args.channel = target->channel;
  args.method = ss_rpc_call_method(call);
  args.host = target->host;
  grpc_metadata *sent = with_gzip(metadata, num_metadata);
  if (sent == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  } else {
    args.metadata = sent;
    args.num_metadata = num_metadata + 1;
    f->p2s = ss_rpc_client_call_start(call, &args, &kP2sOps, f, st);
    free(sent);
  }
  if (f->p2s == NULL) {
    if (filter != NULL && filter->call_end != NULL) {
      filter->call_end(f->filter_state);
    }
    free(f);
    return 0;
  }
  f->refs = 2;
  // From here the call is the forwarder's: its ops see every event.
  ss_rpc_call_set_ops(call, &kC2pOps, f);
  if (ss_rpc_call_cancelled(call)) {
    c2p_cancelled(f);
  }
  pump(f, SS_FORWARD_TO_BACKEND);
  return 1;
}
