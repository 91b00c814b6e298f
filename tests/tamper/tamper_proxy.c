// A generic gRPC forwarder that tampers with server-to-client messages on
// purpose (see tamper_proxy.h). Built on the gRPC core API and lib/rpc's
// event loop, after gRPC's test/core/end2end/fixtures/proxy.cc but with tags
// embedded in the call and no asserts on call errors. Messages from either
// side are opaque bytes here; nothing is parsed.
//
// Each call has two legs named for their direction: c2p (client to proxy,
// the server-side call accepted here) and p2s (proxy to server). Every
// handler runs on the loop's one pump thread, so call state needs no lock;
// the plan, counters and recording shared with the test thread are under
// |mu|. Server-to-client messages move one at a time: receive from p2s,
// apply the plan, send the resulting 0..2 messages to c2p, then receive the
// next. The status goes to the client only after the server's messages have
// all been delivered.
#include "tests/tamper/tamper_proxy.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rpc/loop.h"

// A call records at most this many messages for a later replay; tamper tests
// replay short streams.
#define MAX_RECORDED 256
// At most this many server-to-client messages wait in a call's queue: a plan
// turns one received message into at most two.
#define QUEUE_CAP 4

typedef struct proxy_call proxy_call;

struct ss_tamper_proxy {
  ss_rpc_loop *loop;
  grpc_server *server;
  grpc_channel *channel;  // proxy to server
  char target[32];        // "127.0.0.1:PORT"
  int started;            // grpc_server_start was called; test thread only

  // The call being requested: written by gRPC, then read on the pump
  // thread (or by request_call before the first completion).
  grpc_call *new_call;
  grpc_call_details new_details;
  grpc_metadata_array new_md;
  ss_rpc_tag new_call_tag;
  ss_rpc_tag shutdown_tag;

  pthread_mutex_t mu;
  pthread_cond_t cv;  // signalled when |drained| is set
  // Guarded by |mu|.
  ss_tamper_plan plan;
  uint64_t applied;
  int request_pending;  // a grpc_server_request_call is outstanding
  int shutting_down;    // ss_tamper_proxy_free has begun
  int server_shut;      // grpc_server_shutdown_and_notify completed
  size_t live_calls;    // proxy_calls not yet freed
  int drained;          // server shut, no request pending, no live calls
  grpc_byte_buffer *recording[MAX_RECORDED];  // owned
  size_t num_recording;
};

struct proxy_call {
  ss_tamper_proxy *proxy;
  int refs;  // batches in flight, plus one while on_new_call sets up
  ss_tamper_plan plan;
  grpc_call *c2p;  // owned
  grpc_call *p2s;  // owned; NULL when replaying
  grpc_call_details details;
  grpc_metadata_array c2p_md;  // the client's metadata, forwarded to p2s
  grpc_metadata_array p2s_initial_md;
  grpc_metadata_array p2s_trailing_md;
  grpc_status_code p2s_status;
  grpc_slice p2s_details;
  int c2p_cancelled;  // set by RECV_CLOSE_ON_SERVER

  grpc_byte_buffer *c2p_msg;  // request message between receive and send
  grpc_byte_buffer *p2s_msg;  // response message as received
  grpc_byte_buffer *held;     // SWAP: message |plan.message|, sent later
  grpc_byte_buffer *queue[QUEUE_CAP];  // to send to the client, in order
  size_t queue_head;
  size_t queue_len;
  int sending;          // a c2p SEND_MESSAGE is in flight
  int receiving;        // a p2s RECV_MESSAGE is in flight
  size_t num_received;  // server-to-client messages received so far
  int p2s_ended;        // no more server-to-client messages will be queued
  int p2s_status_received;
  int end_with_ok;  // TRUNCATE, REPLAY: the client gets OK regardless
  int initial_md_sent;
  int status_started;
  int broken;  // the client went away or a batch failed to start: stop

  // Copies of the server's messages for a later replay; when replaying, the
  // messages to send, taken out (set to NULL) as they are queued.
  grpc_byte_buffer *record[MAX_RECORDED];  // owned
  size_t num_record;
  int record_overflow;
  int replaying;       // REPLAY: |record| is the stream to send
  size_t replay_next;  // next |record| entry to send

  ss_rpc_tag t_c2p_closed;
  ss_rpc_tag t_c2p_sent_initial_md;
  ss_rpc_tag t_c2p_recv_msg;
  ss_rpc_tag t_c2p_sent_msg;
  ss_rpc_tag t_c2p_sent_status;
  ss_rpc_tag t_p2s_sent_initial_md;
  ss_rpc_tag t_p2s_recv_initial_md;
  ss_rpc_tag t_p2s_sent_msg;
  ss_rpc_tag t_p2s_sent_close;
  ss_rpc_tag t_p2s_recv_msg;
  ss_rpc_tag t_p2s_status;
};

static void request_call(ss_tamper_proxy *proxy);

// check_drained marks the proxy drained once nothing can post to the
// queue any more. Called with |mu| held.
static void check_drained(ss_tamper_proxy *proxy) {
  if (proxy->server_shut && !proxy->request_pending && proxy->live_calls == 0 &&
      !proxy->drained) {
    proxy->drained = 1;
    pthread_cond_broadcast(&proxy->cv);
  }
}

static void call_free(proxy_call *pc) {
  ss_tamper_proxy *proxy = pc->proxy;
  for (size_t i = pc->queue_head; i < pc->queue_len; i++) {
    grpc_byte_buffer_destroy(pc->queue[i]);
  }
  for (size_t i = 0; i < pc->num_record; i++) {
    if (pc->record[i] != NULL) {
      grpc_byte_buffer_destroy(pc->record[i]);
    }
  }
  if (pc->held != NULL) {
    grpc_byte_buffer_destroy(pc->held);
  }
  if (pc->c2p_msg != NULL) {
    grpc_byte_buffer_destroy(pc->c2p_msg);
  }
  if (pc->p2s_msg != NULL) {
    grpc_byte_buffer_destroy(pc->p2s_msg);
  }
  if (pc->p2s != NULL) {
    grpc_call_unref(pc->p2s);
  }
  grpc_call_unref(pc->c2p);
  grpc_metadata_array_destroy(&pc->c2p_md);
  grpc_metadata_array_destroy(&pc->p2s_initial_md);
  grpc_metadata_array_destroy(&pc->p2s_trailing_md);
  grpc_slice_unref(pc->p2s_details);
  grpc_call_details_destroy(&pc->details);
  free(pc);
  pthread_mutex_lock(&proxy->mu);
  proxy->live_calls--;
  check_drained(proxy);
  pthread_mutex_unlock(&proxy->mu);
}

static void call_unref(proxy_call *pc) {
  if (--pc->refs == 0) {
    call_free(pc);
  }
}

// start_batch starts |num_ops| ops on |call| with |tag|, holding a
// reference for the completion. Returns 1, or 0 (reference dropped, call
// marked broken) when the batch did not start.
static int start_batch(proxy_call *pc, grpc_call *call, const grpc_op *ops,
                       size_t num_ops, ss_rpc_tag *tag) {
  pc->refs++;
  grpc_call_error err = grpc_call_start_batch(call, ops, num_ops, tag, NULL);
  if (err != GRPC_CALL_OK) {
    // No completion will arrive. A caller still holds its own reference,
    // so this cannot free |pc|.
    fprintf(stderr, "tamper_proxy: grpc_call_start_batch: %s\n",
            grpc_call_error_to_string(err));
    pc->refs--;
    pc->broken = 1;
    return 0;
  }
  return 1;
}

// break_call stops forwarding: both legs are cancelled so every pending
// batch completes and the call drains.
static void break_call(proxy_call *pc) {
  pc->broken = 1;
  grpc_call_cancel(pc->c2p, NULL);
  if (pc->p2s != NULL) {
    grpc_call_cancel(pc->p2s, NULL);
  }
}

static void count_applied(proxy_call *pc) {
  pthread_mutex_lock(&pc->proxy->mu);
  pc->proxy->applied++;
  pthread_mutex_unlock(&pc->proxy->mu);
}

static void enqueue(proxy_call *pc, grpc_byte_buffer *bb) {
  if (bb == NULL) {
    // A failed copy: the message is lost, which the test would see as a
    // drop it did not ask for, so give up on the call instead.
    break_call(pc);
    return;
  }
  if (pc->queue_head == pc->queue_len) {
    pc->queue_head = 0;
    pc->queue_len = 0;
  }
  if (pc->queue_len == QUEUE_CAP) {
    // Cannot happen: a plan queues at most two messages and the queue is
    // empty whenever a message is received. Handled anyway.
    grpc_byte_buffer_destroy(bb);
    break_call(pc);
    return;
  }
  pc->queue[pc->queue_len++] = bb;
}

// flipped_copy returns a new buffer holding |bb|'s bytes with the byte at
// |offset| (SIZE_MAX: the last) xored with |mask|, or NULL if |offset| is
// past the end or memory is short.
static grpc_byte_buffer *flipped_copy(grpc_byte_buffer *bb, size_t offset,
                                      uint8_t mask) {
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, bb)) {
    return NULL;
  }
  grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  size_t len = GRPC_SLICE_LENGTH(all);
  if (offset == SIZE_MAX && len > 0) {
    offset = len - 1;
  }
  if (offset >= len) {
    grpc_slice_unref(all);
    return NULL;
  }
  // A fresh slice: |all| may share memory with |bb|.
  grpc_slice copy = grpc_slice_malloc(len);
  memcpy(GRPC_SLICE_START_PTR(copy), GRPC_SLICE_START_PTR(all), len);
  GRPC_SLICE_START_PTR(copy)[offset] ^= mask;
  grpc_slice_unref(all);
  grpc_byte_buffer *out = grpc_raw_byte_buffer_create(&copy, 1);
  grpc_slice_unref(copy);
  return out;
}

// apply_plan queues what the client gets for received message |index|.
// Takes ownership of |msg|.
static void apply_plan(proxy_call *pc, size_t index, grpc_byte_buffer *msg) {
  const ss_tamper_plan *plan = &pc->plan;
  int hit = index == plan->message;
  switch (plan->mode) {
    case SS_TAMPER_FLIP:
      if (hit) {
        grpc_byte_buffer *flipped = flipped_copy(
            msg, plan->offset, plan->xor_mask != 0 ? plan->xor_mask : 0x01);
        if (flipped != NULL) {
          grpc_byte_buffer_destroy(msg);
          msg = flipped;
          count_applied(pc);
        }
      }
      enqueue(pc, msg);
      return;
    case SS_TAMPER_DROP:
      if (hit) {
        grpc_byte_buffer_destroy(msg);
        count_applied(pc);
        return;
      }
      enqueue(pc, msg);
      return;
    case SS_TAMPER_DUPLICATE:
      if (hit) {
        // Copied before the send, which consumes the original's slices.
        grpc_byte_buffer *copy = grpc_byte_buffer_copy(msg);
        enqueue(pc, msg);
        enqueue(pc, copy);
        count_applied(pc);
        return;
      }
      enqueue(pc, msg);
      return;
    case SS_TAMPER_SWAP:
      if (hit) {
        pc->held = msg;
        return;
      }
      if (pc->held != NULL && index == plan->message + 1) {
        enqueue(pc, msg);
        enqueue(pc, pc->held);
        pc->held = NULL;
        count_applied(pc);
        return;
      }
      enqueue(pc, msg);
      return;
    case SS_TAMPER_TRUNCATE:
      enqueue(pc, msg);
      if (hit) {
        // The rest of the server's stream is cut off; the client is told
        // the call succeeded.
        pc->end_with_ok = 1;
        pc->p2s_ended = 1;
        grpc_call_cancel(pc->p2s, NULL);
        count_applied(pc);
      }
      return;
    case SS_TAMPER_NONE:
    case SS_TAMPER_REPLAY:
      enqueue(pc, msg);
      return;
  }
  enqueue(pc, msg);
}

static void record_message(proxy_call *pc, grpc_byte_buffer *msg) {
  if (pc->num_record == MAX_RECORDED) {
    pc->record_overflow = 1;
    return;
  }
  grpc_byte_buffer *copy = grpc_byte_buffer_copy(msg);
  if (copy == NULL) {
    pc->record_overflow = 1;
    return;
  }
  pc->record[pc->num_record++] = copy;
}

// commit_recording makes this call's messages the ones a later REPLAY
// sends. Done when the status is about to go out, so the recording is in
// place before the client can see the end of the call.
static void commit_recording(proxy_call *pc) {
  if (pc->plan.mode != SS_TAMPER_NONE || pc->record_overflow ||
      pc->end_with_ok || pc->replaying) {
    return;
  }
  ss_tamper_proxy *proxy = pc->proxy;
  pthread_mutex_lock(&proxy->mu);
  for (size_t i = 0; i < proxy->num_recording; i++) {
    grpc_byte_buffer_destroy(proxy->recording[i]);
  }
  memcpy(proxy->recording, pc->record, pc->num_record * sizeof(pc->record[0]));
  proxy->num_recording = pc->num_record;
  pthread_mutex_unlock(&proxy->mu);
  pc->num_record = 0;
}

static void maybe_send_status(proxy_call *pc) {
  if (pc->status_started || pc->broken || !pc->initial_md_sent ||
      !pc->p2s_ended || pc->sending || pc->queue_head < pc->queue_len ||
      (pc->replaying && pc->replay_next < pc->num_record)) {
    return;
  }
  if (!pc->end_with_ok && !pc->p2s_status_received) {
    return;
  }
  commit_recording(pc);
  pc->status_started = 1;
  grpc_slice empty = grpc_empty_slice();
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  if (pc->end_with_ok) {
    op.data.send_status_from_server.status = GRPC_STATUS_OK;
    op.data.send_status_from_server.status_details = &empty;
  } else {
    op.data.send_status_from_server.status = pc->p2s_status;
    op.data.send_status_from_server.status_details = &pc->p2s_details;
    op.data.send_status_from_server.trailing_metadata_count =
        pc->p2s_trailing_md.count;
    op.data.send_status_from_server.trailing_metadata =
        pc->p2s_trailing_md.metadata;
  }
  start_batch(pc, pc->c2p, &op, 1, &pc->t_c2p_sent_status);
}

// pump_out sends the next queued message to the client, or receives the
// next one from the server, or ends the call.
static void pump_out(proxy_call *pc) {
  if (pc->broken || pc->sending || pc->receiving) {
    return;
  }
  if (pc->queue_head == pc->queue_len && pc->replaying &&
      pc->replay_next < pc->num_record) {
    enqueue(pc, pc->record[pc->replay_next]);
    pc->record[pc->replay_next++] = NULL;
  }
  if (pc->queue_head < pc->queue_len) {
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = pc->queue[pc->queue_head];
    if (start_batch(pc, pc->c2p, &op, 1, &pc->t_c2p_sent_msg)) {
      pc->sending = 1;
    } else {
      break_call(pc);
    }
    return;
  }
  if (!pc->p2s_ended) {
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &pc->p2s_msg;
    if (start_batch(pc, pc->p2s, &op, 1, &pc->t_p2s_recv_msg)) {
      pc->receiving = 1;
    } else {
      break_call(pc);
    }
    return;
  }
  maybe_send_status(pc);
}

static void on_c2p_closed(void *owner, int ok) {
  (void)ok;
  proxy_call *pc = owner;
  if (pc->c2p_cancelled) {
    // The client cancelled, its deadline passed, or the proxy is shutting
    // down: nothing more can reach it.
    pc->broken = 1;
    if (pc->p2s != NULL) {
      grpc_call_cancel(pc->p2s, NULL);
    }
  }
  call_unref(pc);
}

static void on_c2p_sent_initial_md(void *owner, int ok) {
  proxy_call *pc = owner;
  if (!ok) {
    break_call(pc);
  } else {
    pc->initial_md_sent = 1;
    maybe_send_status(pc);
  }
  call_unref(pc);
}

static void on_c2p_sent_msg(void *owner, int ok) {
  proxy_call *pc = owner;
  pc->sending = 0;
  grpc_byte_buffer_destroy(pc->queue[pc->queue_head]);
  pc->queue[pc->queue_head++] = NULL;
  if (!ok) {
    break_call(pc);
  } else {
    pump_out(pc);
  }
  call_unref(pc);
}

static void on_c2p_sent_status(void *owner, int ok) {
  (void)ok;
  call_unref(owner);
}

static void on_c2p_recv_msg(void *owner, int ok) {
  proxy_call *pc = owner;
  grpc_op op;
  memset(&op, 0, sizeof(op));
  if (ok && !pc->broken && pc->c2p_msg != NULL) {
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = pc->c2p_msg;
    if (!start_batch(pc, pc->p2s, &op, 1, &pc->t_p2s_sent_msg)) {
      break_call(pc);
    }
  } else if (ok && !pc->broken) {
    // The client half-closed.
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    if (!start_batch(pc, pc->p2s, &op, 1, &pc->t_p2s_sent_close)) {
      break_call(pc);
    }
  }
  call_unref(pc);
}

static void on_p2s_sent_msg(void *owner, int ok) {
  proxy_call *pc = owner;
  grpc_byte_buffer_destroy(pc->c2p_msg);
  pc->c2p_msg = NULL;
  if (ok && !pc->broken) {
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &pc->c2p_msg;
    if (!start_batch(pc, pc->c2p, &op, 1, &pc->t_c2p_recv_msg)) {
      break_call(pc);
    }
  }
  call_unref(pc);
}

static void on_p2s_sent_close(void *owner, int ok) {
  (void)ok;
  call_unref(owner);
}

static void on_p2s_sent_initial_md(void *owner, int ok) {
  (void)ok;
  call_unref(owner);
}

static void on_p2s_recv_initial_md(void *owner, int ok) {
  (void)ok;
  proxy_call *pc = owner;
  if (!pc->broken) {
    // Also after a failure: the client then gets empty metadata and the
    // server's status, as with a trailers-only response.
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    op.data.send_initial_metadata.count = pc->p2s_initial_md.count;
    op.data.send_initial_metadata.metadata = pc->p2s_initial_md.metadata;
    if (start_batch(pc, pc->c2p, &op, 1, &pc->t_c2p_sent_initial_md)) {
      // Messages go out only after the initial metadata batch started.
      pump_out(pc);
    } else {
      break_call(pc);
    }
  }
  call_unref(pc);
}

static void on_p2s_recv_msg(void *owner, int ok) {
  proxy_call *pc = owner;
  pc->receiving = 0;
  grpc_byte_buffer *msg = pc->p2s_msg;
  pc->p2s_msg = NULL;
  if (!ok || msg == NULL || pc->p2s_ended) {
    if (msg != NULL) {
      grpc_byte_buffer_destroy(msg);
    }
    pc->p2s_ended = 1;
    if (pc->held != NULL) {
      // SWAP of the last message: nothing followed it, so it goes last.
      enqueue(pc, pc->held);
      pc->held = NULL;
    }
  } else {
    size_t index = pc->num_received++;
    record_message(pc, msg);
    apply_plan(pc, index, msg);
  }
  pump_out(pc);
  call_unref(pc);
}

static void on_p2s_status(void *owner, int ok) {
  (void)ok;
  proxy_call *pc = owner;
  pc->p2s_status_received = 1;
  maybe_send_status(pc);
  call_unref(pc);
}

// start_replay answers the call from the recording, without a server.
static void start_replay(proxy_call *pc) {
  ss_tamper_proxy *proxy = pc->proxy;
  pc->replaying = 1;
  pc->end_with_ok = 1;
  pc->p2s_ended = 1;
  pthread_mutex_lock(&proxy->mu);
  for (size_t i = 0; i < proxy->num_recording; i++) {
    // A failed copy stays NULL and is sent as nothing; see enqueue.
    pc->record[pc->num_record++] = grpc_byte_buffer_copy(proxy->recording[i]);
  }
  if (pc->num_record > 0) {
    proxy->applied++;
  }
  pthread_mutex_unlock(&proxy->mu);
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_SEND_INITIAL_METADATA;
  if (start_batch(pc, pc->c2p, &op, 1, &pc->t_c2p_sent_initial_md)) {
    pump_out(pc);
  } else {
    break_call(pc);
  }
}

static void on_new_call(void *owner, int ok);

static void setup_call(ss_tamper_proxy *proxy) {
  proxy_call *pc = calloc(1, sizeof(*pc));
  if (pc == NULL) {
    grpc_call_cancel_with_status(proxy->new_call,
                                 GRPC_STATUS_RESOURCE_EXHAUSTED,
                                 "tamper proxy: out of memory", NULL);
    grpc_call_unref(proxy->new_call);
    grpc_call_details_destroy(&proxy->new_details);
    grpc_metadata_array_destroy(&proxy->new_md);
    return;
  }
  pc->proxy = proxy;
  pc->refs = 1;
  pc->c2p = proxy->new_call;
  pc->details = proxy->new_details;
  pc->c2p_md = proxy->new_md;
  pc->p2s_details = grpc_empty_slice();
  grpc_metadata_array_init(&pc->p2s_initial_md);
  grpc_metadata_array_init(&pc->p2s_trailing_md);
  ss_rpc_tag_init(&pc->t_c2p_closed, on_c2p_closed, pc);
  ss_rpc_tag_init(&pc->t_c2p_sent_initial_md, on_c2p_sent_initial_md, pc);
  ss_rpc_tag_init(&pc->t_c2p_recv_msg, on_c2p_recv_msg, pc);
  ss_rpc_tag_init(&pc->t_c2p_sent_msg, on_c2p_sent_msg, pc);
  ss_rpc_tag_init(&pc->t_c2p_sent_status, on_c2p_sent_status, pc);
  ss_rpc_tag_init(&pc->t_p2s_sent_initial_md, on_p2s_sent_initial_md, pc);
  ss_rpc_tag_init(&pc->t_p2s_recv_initial_md, on_p2s_recv_initial_md, pc);
  ss_rpc_tag_init(&pc->t_p2s_sent_msg, on_p2s_sent_msg, pc);
  ss_rpc_tag_init(&pc->t_p2s_sent_close, on_p2s_sent_close, pc);
  ss_rpc_tag_init(&pc->t_p2s_recv_msg, on_p2s_recv_msg, pc);
  ss_rpc_tag_init(&pc->t_p2s_status, on_p2s_status, pc);
  pthread_mutex_lock(&proxy->mu);
  pc->plan = proxy->plan;
  proxy->live_calls++;
  pthread_mutex_unlock(&proxy->mu);

  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &pc->c2p_cancelled;
  if (!start_batch(pc, pc->c2p, &op, 1, &pc->t_c2p_closed)) {
    break_call(pc);
    call_unref(pc);
    return;
  }

  if (pc->plan.mode == SS_TAMPER_REPLAY) {
    start_replay(pc);
    call_unref(pc);
    return;
  }

  pc->p2s =
      grpc_channel_create_call(proxy->channel, pc->c2p, GRPC_PROPAGATE_DEFAULTS,
                               ss_rpc_loop_cq(proxy->loop), pc->details.method,
                               NULL, pc->details.deadline, NULL);
  if (pc->p2s == NULL) {
    // grpc_channel_create_call does not fail in gRPC 1.51; handled anyway.
    break_call(pc);
    call_unref(pc);
    return;
  }
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_SEND_INITIAL_METADATA;
  op.data.send_initial_metadata.count = pc->c2p_md.count;
  op.data.send_initial_metadata.metadata = pc->c2p_md.metadata;
  int started = start_batch(pc, pc->p2s, &op, 1, &pc->t_p2s_sent_initial_md);

  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_INITIAL_METADATA;
  op.data.recv_initial_metadata.recv_initial_metadata = &pc->p2s_initial_md;
  started =
      started && start_batch(pc, pc->p2s, &op, 1, &pc->t_p2s_recv_initial_md);

  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  op.data.recv_status_on_client.trailing_metadata = &pc->p2s_trailing_md;
  op.data.recv_status_on_client.status = &pc->p2s_status;
  op.data.recv_status_on_client.status_details = &pc->p2s_details;
  started = started && start_batch(pc, pc->p2s, &op, 1, &pc->t_p2s_status);

  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &pc->c2p_msg;
  started = started && start_batch(pc, pc->c2p, &op, 1, &pc->t_c2p_recv_msg);
  if (!started) {
    break_call(pc);
  }
  call_unref(pc);
}

static void on_new_call(void *owner, int ok) {
  ss_tamper_proxy *proxy = owner;
  pthread_mutex_lock(&proxy->mu);
  proxy->request_pending = 0;
  int shutting_down = proxy->shutting_down;
  pthread_mutex_unlock(&proxy->mu);
  if (ok) {
    // Takes the call, its details and metadata.
    setup_call(proxy);
  } else if (proxy->new_call != NULL) {
    // Cannot happen: a failed request delivers no call. Handled anyway.
    grpc_call_unref(proxy->new_call);
    grpc_call_details_destroy(&proxy->new_details);
    grpc_metadata_array_destroy(&proxy->new_md);
  } else {
    grpc_call_details_destroy(&proxy->new_details);
    grpc_metadata_array_destroy(&proxy->new_md);
  }
  if (ok && !shutting_down) {
    request_call(proxy);
  }
  pthread_mutex_lock(&proxy->mu);
  check_drained(proxy);
  pthread_mutex_unlock(&proxy->mu);
}

static void request_call(ss_tamper_proxy *proxy) {
  proxy->new_call = NULL;
  grpc_call_details_init(&proxy->new_details);
  grpc_metadata_array_init(&proxy->new_md);
  grpc_completion_queue *cq = ss_rpc_loop_cq(proxy->loop);
  pthread_mutex_lock(&proxy->mu);
  proxy->request_pending = 1;
  pthread_mutex_unlock(&proxy->mu);
  grpc_call_error err = grpc_server_request_call(
      proxy->server, &proxy->new_call, &proxy->new_details, &proxy->new_md, cq,
      cq, &proxy->new_call_tag);
  if (err != GRPC_CALL_OK) {
    fprintf(stderr, "tamper_proxy: grpc_server_request_call: %s\n",
            grpc_call_error_to_string(err));
    grpc_call_details_destroy(&proxy->new_details);
    grpc_metadata_array_destroy(&proxy->new_md);
    pthread_mutex_lock(&proxy->mu);
    proxy->request_pending = 0;
    check_drained(proxy);
    pthread_mutex_unlock(&proxy->mu);
  }
}

static void on_server_shutdown(void *owner, int ok) {
  (void)ok;
  ss_tamper_proxy *proxy = owner;
  pthread_mutex_lock(&proxy->mu);
  proxy->server_shut = 1;
  check_drained(proxy);
  pthread_mutex_unlock(&proxy->mu);
}

ss_tamper_proxy *ss_tamper_proxy_new(const char *backend, ss_status *st) {
  ss_tamper_proxy *proxy = calloc(1, sizeof(*proxy));
  if (proxy == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&proxy->mu, NULL);
  pthread_cond_init(&proxy->cv, NULL);
  ss_rpc_tag_init(&proxy->new_call_tag, on_new_call, proxy);
  ss_rpc_tag_init(&proxy->shutdown_tag, on_server_shutdown, proxy);
  proxy->loop = ss_rpc_loop_new("tamper-proxy", st);
  if (proxy->loop == NULL || !ss_rpc_loop_start(proxy->loop, st)) {
    goto err;
  }
  // Messages of any size pass; retries would buffer and resend them.
  grpc_arg args[2];
  memset(args, 0, sizeof(args));
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = -1;
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = GRPC_ARG_ENABLE_RETRIES;
  args[1].value.integer = 0;
  grpc_channel_args channel_args = {.num_args = 2, .args = args};

  proxy->server = grpc_server_create(&channel_args, NULL);
  grpc_server_register_completion_queue(proxy->server,
                                        ss_rpc_loop_cq(proxy->loop), NULL);
  grpc_server_credentials *server_creds =
      grpc_insecure_server_credentials_create();
  int port =
      grpc_server_add_http2_port(proxy->server, "127.0.0.1:0", server_creds);
  grpc_server_credentials_release(server_creds);
  if (port <= 0) {
    ss_status_set(st, GRPC_STATUS_UNAVAILABLE,
                  "tamper proxy: cannot listen on 127.0.0.1");
    goto err;
  }
  snprintf(proxy->target, sizeof(proxy->target), "127.0.0.1:%d", port);
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  proxy->channel = grpc_channel_create(backend, creds, &channel_args);
  grpc_channel_credentials_release(creds);
  grpc_server_start(proxy->server);
  proxy->started = 1;
  request_call(proxy);
  return proxy;

err:
  ss_tamper_proxy_free(proxy);
  return NULL;
}

void ss_tamper_proxy_free(ss_tamper_proxy *proxy) {
  if (proxy == NULL) {
    return;
  }
  if (proxy->server != NULL) {
    if (proxy->started) {
      pthread_mutex_lock(&proxy->mu);
      proxy->shutting_down = 1;
      pthread_mutex_unlock(&proxy->mu);
      grpc_server_shutdown_and_notify(
          proxy->server, ss_rpc_loop_cq(proxy->loop), &proxy->shutdown_tag);
      grpc_server_cancel_all_calls(proxy->server);
      pthread_mutex_lock(&proxy->mu);
      while (!proxy->drained) {
        pthread_cond_wait(&proxy->cv, &proxy->mu);
      }
      pthread_mutex_unlock(&proxy->mu);
    }
    // Never started: it has no listener and no calls, so it may be
    // destroyed without a shutdown.
    grpc_server_destroy(proxy->server);
  }
  if (proxy->channel != NULL) {
    grpc_channel_destroy(proxy->channel);
  }
  // Stops the pump after the last completion; then grpc_shutdown.
  ss_rpc_loop_free(proxy->loop);
  for (size_t i = 0; i < proxy->num_recording; i++) {
    grpc_byte_buffer_destroy(proxy->recording[i]);
  }
  pthread_cond_destroy(&proxy->cv);
  pthread_mutex_destroy(&proxy->mu);
  free(proxy);
}

const char *ss_tamper_proxy_target(const ss_tamper_proxy *proxy) {
  return proxy->target;
}

void ss_tamper_proxy_set_plan(ss_tamper_proxy *proxy,
                              const ss_tamper_plan *plan) {
  pthread_mutex_lock(&proxy->mu);
  proxy->plan = *plan;
  pthread_mutex_unlock(&proxy->mu);
}

uint64_t ss_tamper_proxy_applied(ss_tamper_proxy *proxy) {
  pthread_mutex_lock(&proxy->mu);
  uint64_t applied = proxy->applied;
  pthread_mutex_unlock(&proxy->mu);
  return applied;
}

size_t ss_tamper_proxy_recorded(ss_tamper_proxy *proxy, size_t index,
                                size_t *out_len) {
  pthread_mutex_lock(&proxy->mu);
  size_t num = proxy->num_recording;
  size_t len =
      index < num ? grpc_byte_buffer_length(proxy->recording[index]) : 0;
  pthread_mutex_unlock(&proxy->mu);
  if (out_len != NULL) {
    *out_len = len;
  }
  return num;
}
