// The tamper proxy (see tamper_proxy.h): sealstream-proxy's forwarding core
// with a filter that carries out a plan on backend-to-client messages.
// Client-to-backend messages pass unchanged. Messages are opaque bytes here;
// nothing is parsed.
//
// A filter's callbacks for one call run on that call's pump thread, so the
// call's state needs no lock; the plan, counters and recording shared with
// the test thread and other calls are under |mu|.
#include "tests/tamper/tamper_proxy.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tamper/filter_proxy.h"

// A call records at most this many messages for a later replay; tamper tests
// replay short streams.
#define MAX_RECORDED 256

// grpc_byte_buffer_copy never returns NULL (gRPC aborts when memory is
// short), so copies below are not checked.

struct ss_tamper_proxy {
  ss_filter_proxy *proxy;  // owned
  ss_forward_filter filter;

  pthread_mutex_t mu;
  // Guarded by |mu|.
  ss_tamper_plan plan;
  uint64_t applied;
  grpc_byte_buffer *recording[MAX_RECORDED];  // owned
  size_t num_recording;
};

typedef struct tamper_call {
  ss_tamper_proxy *proxy;
  ss_tamper_plan plan;     // the plan the call started with
  size_t num_received;     // backend-to-client messages seen so far
  grpc_byte_buffer *held;  // owned; SWAP: message |plan.message|, sent later
  // NONE: copies of the backend's messages for a later replay. REPLAY: the
  // stream to send, taken out (set to NULL) as it is emitted.
  grpc_byte_buffer *record[MAX_RECORDED];  // owned
  size_t num_record;
  size_t replay_next;   // REPLAY: next |record| entry to emit
  int record_overflow;  // NONE: the stream did not fit |record|
  int committed;        // NONE: |record| became the proxy's recording
} tamper_call;

static void count_applied(tamper_call *tc) {
  pthread_mutex_lock(&tc->proxy->mu);
  tc->proxy->applied++;
  pthread_mutex_unlock(&tc->proxy->mu);
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

static void *call_begin(void *ctx, const char *method) {
  (void)method;
  ss_tamper_proxy *proxy = ctx;
  tamper_call *tc = calloc(1, sizeof(*tc));
  if (tc == NULL) {
    return NULL;  // the call is then forwarded untouched
  }
  tc->proxy = proxy;
  pthread_mutex_lock(&proxy->mu);
  tc->plan = proxy->plan;
  if (tc->plan.mode == SS_TAMPER_REPLAY) {
    for (size_t i = 0; i < proxy->num_recording; i++) {
      tc->record[i] = grpc_byte_buffer_copy(proxy->recording[i]);
    }
    tc->num_record = proxy->num_recording;
    if (tc->num_record > 0) {
      proxy->applied++;
    }
  }
  pthread_mutex_unlock(&proxy->mu);
  return tc;
}

// on_message carries out the plan on backend message |tc->num_received|.
static void on_message(void *call_state, ss_forward_dir dir,
                       grpc_byte_buffer *msg, ss_forward_emit *out) {
  tamper_call *tc = call_state;
  if (tc == NULL || dir != SS_FORWARD_TO_CLIENT) {
    ss_forward_emit_add(out, msg);
    return;
  }
  const ss_tamper_plan *plan = &tc->plan;
  size_t index = tc->num_received++;
  int hit = index == plan->message;
  switch (plan->mode) {
    case SS_TAMPER_NONE:
      if (tc->num_record == MAX_RECORDED) {
        tc->record_overflow = 1;
      } else {
        tc->record[tc->num_record++] = grpc_byte_buffer_copy(msg);
      }
      break;
    case SS_TAMPER_FLIP:
      if (hit) {
        grpc_byte_buffer *flipped = flipped_copy(
            msg, plan->offset, plan->xor_mask != 0 ? plan->xor_mask : 0x01);
        if (flipped != NULL) {
          grpc_byte_buffer_destroy(msg);
          msg = flipped;
          count_applied(tc);
        }
      }
      break;
    case SS_TAMPER_DROP:
      if (hit) {
        grpc_byte_buffer_destroy(msg);
        count_applied(tc);
        return;
      }
      break;
    case SS_TAMPER_DUPLICATE:
      if (hit) {
        // Copied before the send, which consumes the original's slices.
        ss_forward_emit_add(out, grpc_byte_buffer_copy(msg));
        count_applied(tc);
      }
      break;
    case SS_TAMPER_SWAP:
      if (hit) {
        tc->held = msg;
        return;
      }
      if (tc->held != NULL && index == plan->message + 1) {
        ss_forward_emit_add(out, msg);
        ss_forward_emit_add(out, tc->held);
        tc->held = NULL;
        count_applied(tc);
        return;
      }
      break;
    case SS_TAMPER_TRUNCATE:
      if (hit) {
        // The rest of the backend's stream is cut off; the client is told
        // the call succeeded.
        out->end_ok = 1;
        count_applied(tc);
      }
      break;
    case SS_TAMPER_REPLAY:
      // The backend's answer is never shown; see on_stream_end.
      grpc_byte_buffer_destroy(msg);
      return;
  }
  ss_forward_emit_add(out, msg);
}

// on_stream_end runs when the backend's stream ended, before the client gets
// the status, and again after what it emitted was delivered.
static void on_stream_end(void *call_state, ss_forward_dir dir,
                          ss_forward_emit *out) {
  tamper_call *tc = call_state;
  if (tc == NULL || dir != SS_FORWARD_TO_CLIENT) {
    return;
  }
  if (tc->held != NULL) {
    // SWAP of the last message: nothing followed it, so it goes last.
    ss_forward_emit_add(out, tc->held);
    tc->held = NULL;
    return;
  }
  if (tc->plan.mode == SS_TAMPER_REPLAY) {
    // At most SS_FORWARD_MAX_EMIT at a time; called again for the rest.
    while (out->num < SS_FORWARD_MAX_EMIT && tc->replay_next < tc->num_record) {
      ss_forward_emit_add(out, tc->record[tc->replay_next]);
      tc->record[tc->replay_next++] = NULL;
    }
    out->end_ok = tc->replay_next == tc->num_record;
    return;
  }
  if (tc->plan.mode != SS_TAMPER_NONE || tc->record_overflow ||
      tc->committed) {
    return;
  }
  // Forwarded whole: this is what a later REPLAY sends. Done before the
  // status goes out, so the test sees the recording once its call ended.
  tc->committed = 1;
  ss_tamper_proxy *proxy = tc->proxy;
  pthread_mutex_lock(&proxy->mu);
  for (size_t i = 0; i < proxy->num_recording; i++) {
    grpc_byte_buffer_destroy(proxy->recording[i]);
  }
  memcpy(proxy->recording, tc->record, tc->num_record * sizeof(tc->record[0]));
  proxy->num_recording = tc->num_record;
  pthread_mutex_unlock(&proxy->mu);
  tc->num_record = 0;
}

static void call_end(void *call_state) {
  tamper_call *tc = call_state;
  if (tc == NULL) {
    return;
  }
  for (size_t i = 0; i < tc->num_record; i++) {
    if (tc->record[i] != NULL) {
      grpc_byte_buffer_destroy(tc->record[i]);
    }
  }
  if (tc->held != NULL) {
    grpc_byte_buffer_destroy(tc->held);
  }
  free(tc);
}

ss_tamper_proxy *ss_tamper_proxy_new(const char *backend, ss_status *st) {
  ss_tamper_proxy *proxy = calloc(1, sizeof(*proxy));
  if (proxy == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&proxy->mu, NULL);
  proxy->filter.ctx = proxy;
  proxy->filter.call_begin = call_begin;
  proxy->filter.message = on_message;
  proxy->filter.stream_end = on_stream_end;
  proxy->filter.call_end = call_end;
  proxy->proxy = ss_filter_proxy_new(backend, &proxy->filter, st);
  if (proxy->proxy == NULL) {
    ss_tamper_proxy_free(proxy);
    return NULL;
  }
  return proxy;
}

void ss_tamper_proxy_free(ss_tamper_proxy *proxy) {
  if (proxy == NULL) {
    return;
  }
  // Returns after every call's call_end: nothing touches |proxy| after it.
  ss_filter_proxy_free(proxy->proxy);
  for (size_t i = 0; i < proxy->num_recording; i++) {
    grpc_byte_buffer_destroy(proxy->recording[i]);
  }
  pthread_mutex_destroy(&proxy->mu);
  free(proxy);
}

const char *ss_tamper_proxy_target(const ss_tamper_proxy *proxy) {
  return ss_filter_proxy_target(proxy->proxy);
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
