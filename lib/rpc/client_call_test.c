// Tests of the fallback handler, receiving on server calls and outgoing
// calls as children of server calls: a front server whose fallback relays
// each unregistered call to a back server, on loopback.
#include "lib/rpc/client_call.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/base/bytes.h"
#include "lib/rpc/buffer.h"
#include "lib/rpc/server.h"
#include "lib/rpc/test_client.h"

#define BACK_ECHO "/back.Test/Echo"
#define BACK_FAIL "/back.Test/Fail"

typedef struct fixture {
  ss_rpc_server *back;
  ss_rpc_server *front;
  grpc_channel *to_back;  // the front's channel to the back
  grpc_channel *client;   // the test's channel to the front
  pthread_mutex_t mu;
  int releases;  // relays released
} fixture;

// One relayed call: the front's call, its child to the back, and the one
// message between them.
typedef struct relay {
  fixture *f;
  ss_rpc_call *call;
  ss_rpc_client_call *child;
  grpc_byte_buffer *request;  // the client's message, until sent on
  grpc_byte_buffer *reply;    // the back's message, until finished with
  int messages_from_client;
  int stream_ended;  // the back's last message was read
  int status_received;
  grpc_status_code code;
  char details[128];
} relay;

static void on_back_echo(void *ctx, ss_rpc_call *call) {
  (void)ctx;
  grpc_byte_buffer *req = ss_rpc_call_request(call);
  ss_rpc_call_finish(call, req != NULL ? grpc_byte_buffer_copy(req) : NULL,
                     GRPC_STATUS_OK, NULL, NULL);
}

static void on_back_fail(void *ctx, ss_rpc_call *call) {
  (void)ctx;
  ss_rpc_call_finish(call, NULL, GRPC_STATUS_FAILED_PRECONDITION,
                     "the back refused", NULL);
}

// maybe_finish answers the client once the back's stream and status are in,
// whichever came first.
static void maybe_finish(relay *r) {
  if (!r->stream_ended || !r->status_received) {
    return;
  }
  ss_rpc_call_finish(r->call, r->reply, r->code, r->details, NULL);
  r->reply = NULL;
  ss_rpc_client_call_release(r->child);
}

static void child_recv(void *app, grpc_byte_buffer *msg) {
  relay *r = app;
  if (msg == NULL) {
    r->stream_ended = 1;
    maybe_finish(r);
    return;
  }
  if (r->reply != NULL) {
    grpc_byte_buffer_destroy(r->reply);
  }
  r->reply = msg;
  ss_rpc_client_call_recv(r->child, NULL);
}

static void child_status(void *app, grpc_status_code code, grpc_slice details,
                         const grpc_metadata_array *trailing) {
  (void)trailing;
  relay *r = app;
  r->status_received = 1;
  r->code = code;
  snprintf(r->details, sizeof(r->details), "%.*s (%d client messages)",
           (int)GRPC_SLICE_LENGTH(details),
           (const char *)GRPC_SLICE_START_PTR(details),
           r->messages_from_client);
  maybe_finish(r);
}

// The child is released before its parent, which frees the relay.
static void child_released(void *app) {
  relay *r = app;
  pthread_mutex_lock(&r->f->mu);
  r->f->releases++;
  pthread_mutex_unlock(&r->f->mu);
}

static void child_initial_md(void *app, const grpc_metadata_array *md) {
  (void)md;
  ss_rpc_client_call_recv(((relay *)app)->child, NULL);
}

static const ss_rpc_client_call_ops kChildOps = {
    .on_initial_metadata = child_initial_md,
    .on_recv = child_recv,
    .on_status = child_status,
    .on_release = child_released,
};

// relay_recv collects the client's messages; at its half-close it sends the
// first one to the back and half-closes there too.
static void relay_recv(void *app, grpc_byte_buffer *msg) {
  relay *r = app;
  if (msg != NULL) {
    r->messages_from_client++;
    if (r->request == NULL) {
      r->request = msg;
    } else {
      grpc_byte_buffer_destroy(msg);
    }
    ss_rpc_call_recv(r->call, NULL);
    return;
  }
  if (r->request != NULL &&
      ss_rpc_client_call_send(r->child, r->request, NULL)) {
    r->request = NULL;
  }
  ss_rpc_client_call_close_send(r->child, NULL);
}

static void relay_released(void *app) {
  relay *r = app;
  if (r->request != NULL) {
    grpc_byte_buffer_destroy(r->request);
  }
  if (r->reply != NULL) {
    grpc_byte_buffer_destroy(r->reply);
  }
  free(r);
}

static const ss_rpc_call_ops kRelayOps = {
    .on_recv = relay_recv,
    .on_release = relay_released,
};

// on_fallback relays a call to /x.Y/Echo or /x.Y/Fail to the back's method
// of the same name.
static void on_fallback(void *ctx, ss_rpc_call *call) {
  fixture *f = ctx;
  const char *method = ss_rpc_call_method(call);
  const char *slash = strrchr(method, '/');
  char back_method[64];
  snprintf(back_method, sizeof(back_method), "/back.Test%s",
           slash != NULL ? slash : "/");
  relay *r = calloc(1, sizeof(*r));
  assert_non_null(r);
  r->f = f;
  r->call = call;
  ss_rpc_client_call_args args = {.channel = f->to_back,
                                  .method = back_method};
  ss_status st;
  r->child = ss_rpc_client_call_start(call, &args, &kChildOps, r, &st);
  if (r->child == NULL) {
    free(r);
    ss_rpc_call_finish(call, NULL, st.code, st.msg, NULL);
    return;
  }
  ss_rpc_call_set_ops(call, &kRelayOps, r);
  ss_rpc_call_recv(call, NULL);
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  pthread_mutex_init(&f->mu, NULL);
  ss_rpc_server_options options;
  ss_rpc_server_options_init(&options);
  options.listen_addr = "127.0.0.1:0";
  ss_status st;
  f->back = ss_rpc_server_new(&options, &st);
  if (f->back == NULL ||
      !ss_rpc_server_add_method(f->back, BACK_ECHO, on_back_echo, f, &st) ||
      !ss_rpc_server_add_method(f->back, BACK_FAIL, on_back_fail, f, &st) ||
      !ss_rpc_server_start(f->back, &st)) {
    fprintf(stderr, "back: %s\n", st.msg);
    return -1;
  }
  f->to_back = ss_test_channel_new(ss_rpc_server_port(f->back));
  f->front = ss_rpc_server_new(&options, &st);
  if (f->front == NULL ||
      !ss_rpc_server_set_fallback(f->front, on_fallback, f, &st) ||
      !ss_rpc_server_start(f->front, &st)) {
    fprintf(stderr, "front: %s\n", st.msg);
    return -1;
  }
  f->client = ss_test_channel_new(ss_rpc_server_port(f->front));
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  grpc_channel_destroy(f->client);
  grpc_shutdown();
  ss_rpc_server_free(f->front);
  grpc_channel_destroy(f->to_back);
  grpc_shutdown();
  ss_rpc_server_free(f->back);
  pthread_mutex_destroy(&f->mu);
  free(f);
  return 0;
}

static void test_unregistered_calls_reach_the_fallback_and_a_child_call(
    void **state) {
  fixture *f = *state;
  ss_buf resp = {0};
  char details[128];
  grpc_status_code code =
      ss_test_unary(f->client, "/any.Unknown/Echo", "hello", 5, &resp,
                    details, sizeof(details), 5000);
  assert_int_equal(code, GRPC_STATUS_OK);
  assert_int_equal(resp.len, 5);
  assert_memory_equal(resp.data, "hello", 5);
  assert_string_equal(details, " (1 client messages)");
  ss_buf_cleanup(&resp);
}

static void test_a_child_calls_status_and_details_come_back(void **state) {
  fixture *f = *state;
  ss_buf resp = {0};
  char details[128];
  grpc_status_code code =
      ss_test_unary(f->client, "/other.Service/Fail", "x", 1, &resp, details,
                    sizeof(details), 5000);
  assert_int_equal(code, GRPC_STATUS_FAILED_PRECONDITION);
  assert_string_equal(details, "the back refused (1 client messages)");
  assert_int_equal(resp.len, 0);
  ss_buf_cleanup(&resp);
}

static void test_a_call_without_messages_reads_the_half_close(void **state) {
  fixture *f = *state;
  ss_buf resp = {0};
  char details[128];
  grpc_status_code code = ss_test_unary(f->client, "/any.Unknown/Echo", NULL,
                                        0, &resp, details, sizeof(details),
                                        5000);
  assert_int_equal(code, GRPC_STATUS_OK);
  assert_string_equal(details, " (0 client messages)");
  assert_int_equal(resp.len, 0);
  ss_buf_cleanup(&resp);
}

static void test_many_concurrent_unregistered_calls_are_all_served(
    void **state) {
  fixture *f = *state;
  enum { kCalls = 64 };
  ss_test_call *calls[kCalls];
  for (int i = 0; i < kCalls; i++) {
    char msg[16];
    int len = snprintf(msg, sizeof(msg), "m%d", i);
    calls[i] = ss_test_call_start(f->client, "/many.Calls/Echo", msg,
                                  (size_t)len, 10000);
    assert_non_null(calls[i]);
  }
  for (int i = 0; i < kCalls; i++) {
    ss_buf out = {0};
    char want[16];
    int len = snprintf(want, sizeof(want), "m%d", i);
    assert_int_equal(ss_test_call_recv(calls[i], &out), 1);
    assert_int_equal(out.len, (size_t)len);
    assert_memory_equal(out.data, want, (size_t)len);
    assert_int_equal(ss_test_call_status(calls[i], NULL, 0), GRPC_STATUS_OK);
    ss_buf_cleanup(&out);
    ss_test_call_free(calls[i]);
  }
}

static void test_freeing_the_server_waits_for_child_calls(void **state) {
  fixture *f = *state;
  ss_buf resp = {0};
  assert_int_equal(ss_test_unary(f->client, "/a.B/Echo", "z", 1, &resp, NULL,
                                 0, 5000),
                   GRPC_STATUS_OK);
  ss_buf_cleanup(&resp);
  // The relay's child is released before its parent; freeing the front
  // waits for both.
  ss_rpc_server_free(f->front);
  f->front = NULL;
  pthread_mutex_lock(&f->mu);
  int releases = f->releases;
  pthread_mutex_unlock(&f->mu);
  assert_int_equal(releases, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_unregistered_calls_reach_the_fallback_and_a_child_call, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_a_child_calls_status_and_details_come_back, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_a_call_without_messages_reads_the_half_close, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_many_concurrent_unregistered_calls_are_all_served, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_freeing_the_server_waits_for_child_calls, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
