// The rpc server and its call state machine against a real gRPC client on
// loopback: unary and streaming calls with sends from worker threads, the
// status queued behind a send in flight, UNIMPLEMENTED for unknown paths,
// client cancel and deadline reported once and every call released, graceful
// and forced shutdown, option errors, and TLS with and without client
// certificates.
#include "lib/rpc/server.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/base/bytes.h"
#include "lib/rpc/buffer.h"
#include "lib/rpc/pool.h"
#include "lib/rpc/test_client.h"
#include "tests/support/test_pki.h"

#define UNARY "/test.Echo/Unary"
#define STREAM "/test.Echo/Stream"
#define HANG "/test.Echo/Hang"
#define QUEUED "/test.Echo/Queued"
#define FAIL "/test.Echo/Fail"

typedef struct service {
  ss_rpc_pool *pool;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int hung;              // Hang calls accepted
  int cancels;           // on_cancel reports
  int releases;          // on_release reports
  int second_send_code;  // status of a send while another is in flight
  int64_t deadline_left_ms;
  int stream_delay_ms;  // pause before each streamed message
} service;

typedef struct fixture {
  service svc;
  ss_rpc_server *server;
  grpc_channel *channel;
} fixture;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void note(service *svc, int *counter) {
  pthread_mutex_lock(&svc->mu);
  (*counter)++;
  pthread_cond_broadcast(&svc->cv);
  pthread_mutex_unlock(&svc->mu);
}

// wait_count waits up to 5 s for |*counter| to reach |want|.
static int wait_count(service *svc, int *counter, int want) {
  int64_t until = now_ms() + 5000;
  pthread_mutex_lock(&svc->mu);
  while (*counter < want && now_ms() < until) {
    pthread_mutex_unlock(&svc->mu);
    usleep(2000);
    pthread_mutex_lock(&svc->mu);
  }
  int got = *counter;
  pthread_mutex_unlock(&svc->mu);
  return got >= want;
}

static int wait_no_live_calls(ss_rpc_server *server) {
  int64_t until = now_ms() + 5000;
  while (ss_rpc_server_live_calls(server) != 0 && now_ms() < until) {
    usleep(2000);
  }
  return ss_rpc_server_live_calls(server) == 0;
}

static grpc_byte_buffer *text(const char *s) {
  return ss_rpc_buffer_copy(s, strlen(s), NULL);
}

// --- the test service --------------------------------------------------

typedef struct stream_call {
  service *svc;
  ss_rpc_call *call;
  ss_rpc_job job;
  int next;   // index of the next message
  int count;  // messages to send
} stream_call;

static void stream_released(void *app) {
  stream_call *s = app;
  note(s->svc, &s->svc->releases);
  free(s);
}

static void stream_cancelled(void *app) {
  stream_call *s = app;
  note(s->svc, &s->svc->cancels);
}

// stream_step runs on a worker: it sends the next message, or the last one
// with the status. |s| must not be touched after a send or finish.
static void stream_step(void *owner) {
  stream_call *s = owner;
  if (s->svc->stream_delay_ms > 0) {
    usleep((useconds_t)s->svc->stream_delay_ms * 1000);
  }
  char msg[32];
  snprintf(msg, sizeof(msg), "message %d", s->next);
  s->next++;
  if (s->next == s->count) {
    ss_rpc_call_finish(s->call, text(msg), GRPC_STATUS_OK, NULL, NULL);
    return;
  }
  grpc_byte_buffer *bb = text(msg);
  ss_status st;
  if (!ss_rpc_call_send(s->call, bb, &st)) {
    grpc_byte_buffer_destroy(bb);
    ss_rpc_call_finish(s->call, NULL, st.code, st.msg, NULL);
  }
}

static void stream_sent(void *app, int ok) {
  stream_call *s = app;
  if (!ok) {
    ss_rpc_call_finish(s->call, NULL, GRPC_STATUS_CANCELLED, "client gone",
                       NULL);
    return;
  }
  ss_rpc_pool_submit(s->svc->pool, &s->job);
}

static const ss_rpc_call_ops kStreamOps = {.on_send_done = stream_sent,
                                           .on_cancel = stream_cancelled,
                                           .on_release = stream_released};

static void on_stream(void *ctx, ss_rpc_call *call) {
  service *svc = ctx;
  ss_buf req = {0};
  ss_rpc_buffer_read(ss_rpc_call_request(call), &req, NULL);
  ss_buf_nul_terminate(&req);
  stream_call *s = calloc(1, sizeof(*s));
  s->svc = svc;
  s->call = call;
  s->count = req.data != NULL ? atoi((const char *)req.data) : 0;
  ss_buf_cleanup(&req);
  ss_rpc_job_init(&s->job, stream_step, s);
  ss_rpc_call_set_ops(call, &kStreamOps, s);
  if (s->count <= 0) {
    ss_rpc_call_finish(call, NULL, GRPC_STATUS_INVALID_ARGUMENT,
                       "count must be positive", NULL);
    return;
  }
  ss_rpc_pool_submit(svc->pool, &s->job);
}

static void on_unary(void *ctx, ss_rpc_call *call) {
  (void)ctx;
  grpc_byte_buffer *req = ss_rpc_call_request(call);
  ss_rpc_call_finish(call, req != NULL ? grpc_byte_buffer_copy(req) : NULL,
                     GRPC_STATUS_OK, NULL, NULL);
}

static void on_fail(void *ctx, ss_rpc_call *call) {
  (void)ctx;
  ss_rpc_call_finish(call, NULL, GRPC_STATUS_INVALID_ARGUMENT,
                     "bad request: try again", NULL);
}

typedef struct hang_call {
  service *svc;
  ss_rpc_call *call;
} hang_call;

static void hang_cancelled(void *app) {
  hang_call *h = app;
  note(h->svc, &h->svc->cancels);
  ss_rpc_call_finish(h->call, NULL, GRPC_STATUS_CANCELLED, "cancelled", NULL);
}

static void hang_released(void *app) {
  hang_call *h = app;
  note(h->svc, &h->svc->releases);
  free(h);
}

static const ss_rpc_call_ops kHangOps = {.on_cancel = hang_cancelled,
                                         .on_release = hang_released};

static void on_hang(void *ctx, ss_rpc_call *call) {
  service *svc = ctx;
  hang_call *h = calloc(1, sizeof(*h));
  h->svc = svc;
  h->call = call;
  ss_rpc_call_set_ops(call, &kHangOps, h);
  int64_t deadline = ss_rpc_call_deadline_ms(call);
  pthread_mutex_lock(&svc->mu);
  svc->deadline_left_ms = deadline == 0 ? 0 : deadline - now_ms();
  pthread_mutex_unlock(&svc->mu);
  note(svc, &svc->hung);
}

static void queued_released(void *app) {
  service *svc = app;
  note(svc, &svc->releases);
}

static const ss_rpc_call_ops kQueuedOps = {.on_release = queued_released};

// on_queued sends one message and finishes at once, while that send is
// still in flight: the status must follow the message.
static void on_queued(void *ctx, ss_rpc_call *call) {
  service *svc = ctx;
  ss_rpc_call_set_ops(call, &kQueuedOps, svc);
  ss_status st;
  grpc_byte_buffer *first = text("first");
  if (!ss_rpc_call_send(call, first, &st)) {
    grpc_byte_buffer_destroy(first);
  }
  grpc_byte_buffer *second = text("second");
  ss_status_init(&st);
  if (!ss_rpc_call_send(call, second, &st)) {
    grpc_byte_buffer_destroy(second);
  }
  pthread_mutex_lock(&svc->mu);
  svc->second_send_code = st.code;
  pthread_mutex_unlock(&svc->mu);
  ss_rpc_call_finish(call, text("last"), GRPC_STATUS_OK, NULL, NULL);
}

static ss_rpc_server *start_server(service *svc,
                                   const ss_rpc_server_options *options) {
  ss_status st;
  ss_rpc_server *server = ss_rpc_server_new(options, &st);
  if (server == NULL) {
    print_error("server: %s\n", st.msg);
    return NULL;
  }
  if (!ss_rpc_server_add_method(server, UNARY, on_unary, svc, &st) ||
      !ss_rpc_server_add_method(server, STREAM, on_stream, svc, &st) ||
      !ss_rpc_server_add_method(server, HANG, on_hang, svc, &st) ||
      !ss_rpc_server_add_method(server, QUEUED, on_queued, svc, &st) ||
      !ss_rpc_server_add_method(server, FAIL, on_fail, svc, &st) ||
      !ss_rpc_server_start(server, &st)) {
    print_error("server: %s\n", st.msg);
    ss_rpc_server_free(server);
    return NULL;
  }
  return server;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  pthread_mutex_init(&f->svc.mu, NULL);
  pthread_cond_init(&f->svc.cv, NULL);
  ss_status st;
  f->svc.pool = ss_rpc_pool_new(2, "test-work", &st);
  ss_rpc_server_options options;
  ss_rpc_server_options_init(&options);
  options.listen_addr = "127.0.0.1:0";
  options.num_loops = 2;
  f->server = start_server(&f->svc, &options);
  if (f->svc.pool == NULL || f->server == NULL) {
    return -1;
  }
  f->channel = ss_test_channel_new(ss_rpc_server_port(f->server));
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  grpc_channel_destroy(f->channel);
  grpc_shutdown();
  ss_rpc_server_free(f->server);
  ss_rpc_pool_free(f->svc.pool);
  pthread_cond_destroy(&f->svc.cv);
  pthread_mutex_destroy(&f->svc.mu);
  free(f);
  return 0;
}

// --- tests ---------------------------------------------------------------

static void test_unary_call_echoes_the_request(void **state) {
  fixture *f = *state;
  assert_int_not_equal(ss_rpc_server_port(f->server), 0);
  ss_buf resp = {0};
  char details[128];
  assert_int_equal(ss_test_unary(f->channel, UNARY, "ping", 4, &resp, details,
                                 sizeof(details), 5000),
                   GRPC_STATUS_OK);
  assert_int_equal(resp.len, 4);
  assert_memory_equal(resp.data, "ping", 4);
  ss_buf_cleanup(&resp);
  assert_true(wait_no_live_calls(f->server));
}

static void test_handler_status_and_details_reach_the_client(void **state) {
  fixture *f = *state;
  ss_buf resp = {0};
  char details[128];
  assert_int_equal(ss_test_unary(f->channel, FAIL, "x", 1, &resp, details,
                                 sizeof(details), 5000),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(details, "bad request: try again");
  assert_int_equal(resp.len, 0);
  ss_buf_cleanup(&resp);
}

static void test_unknown_method_is_unimplemented(void **state) {
  fixture *f = *state;
  ss_buf resp = {0};
  char details[128];
  for (int i = 0; i < 3; i++) {  // the unregistered request is re-armed
    assert_int_equal(ss_test_unary(f->channel, "/test.Echo/Nope", "x", 1, &resp,
                                   details, sizeof(details), 5000),
                     GRPC_STATUS_UNIMPLEMENTED);
  }
  ss_buf_cleanup(&resp);
  assert_true(wait_no_live_calls(f->server));
}

static void test_stream_sends_every_message_in_order_from_workers(
    void **state) {
  fixture *f = *state;
  ss_test_call *call = ss_test_call_start(f->channel, STREAM, "50", 2, 5000);
  assert_non_null(call);
  ss_buf msg = {0};
  for (int i = 0; i < 50; i++) {
    assert_true(ss_test_call_recv(call, &msg));
    char want[32];
    int len = snprintf(want, sizeof(want), "message %d", i);
    assert_int_equal(msg.len, (size_t)len);
    assert_memory_equal(msg.data, want, (size_t)len);
  }
  assert_false(ss_test_call_recv(call, &msg));
  assert_int_equal(ss_test_call_status(call, NULL, 0), GRPC_STATUS_OK);
  ss_test_call_free(call);
  ss_buf_cleanup(&msg);
  assert_true(wait_count(&f->svc, &f->svc.releases, 1));
  assert_int_equal(f->svc.cancels, 0);
}

static void test_many_concurrent_streams_all_complete(void **state) {
  fixture *f = *state;
  enum { kCalls = 24 };
  ss_test_call *calls[kCalls];
  for (int i = 0; i < kCalls; i++) {
    calls[i] = ss_test_call_start(f->channel, STREAM, "20", 2, 10000);
    assert_non_null(calls[i]);
  }
  ss_buf msg = {0};
  for (int i = 0; i < kCalls; i++) {
    int n = 0;
    while (ss_test_call_recv(calls[i], &msg)) {
      n++;
    }
    assert_int_equal(n, 20);
    assert_int_equal(ss_test_call_status(calls[i], NULL, 0), GRPC_STATUS_OK);
    ss_test_call_free(calls[i]);
  }
  ss_buf_cleanup(&msg);
  assert_true(wait_count(&f->svc, &f->svc.releases, kCalls));
  assert_true(wait_no_live_calls(f->server));
}

static void test_status_given_during_a_send_follows_the_message(void **state) {
  fixture *f = *state;
  ss_test_call *call = ss_test_call_start(f->channel, QUEUED, "", 0, 5000);
  assert_non_null(call);
  ss_buf msg = {0};
  assert_true(ss_test_call_recv(call, &msg));
  assert_memory_equal(msg.data, "first", 5);
  assert_true(ss_test_call_recv(call, &msg));
  assert_memory_equal(msg.data, "last", 4);
  assert_false(ss_test_call_recv(call, &msg));
  assert_int_equal(ss_test_call_status(call, NULL, 0), GRPC_STATUS_OK);
  ss_test_call_free(call);
  ss_buf_cleanup(&msg);
  // The second send, started while the first was in flight, was refused.
  assert_int_equal(f->svc.second_send_code, GRPC_STATUS_FAILED_PRECONDITION);
  assert_true(wait_count(&f->svc, &f->svc.releases, 1));
}

static void test_client_cancel_is_reported_once_and_the_call_released(
    void **state) {
  fixture *f = *state;
  ss_test_call *call = ss_test_call_start(f->channel, HANG, "", 0, 0);
  assert_non_null(call);
  assert_true(wait_count(&f->svc, &f->svc.hung, 1));
  assert_int_equal(f->svc.deadline_left_ms, 0);  // no deadline was set
  ss_test_call_cancel(call);
  assert_int_equal(ss_test_call_status(call, NULL, 0), GRPC_STATUS_CANCELLED);
  ss_test_call_free(call);
  assert_true(wait_count(&f->svc, &f->svc.releases, 1));
  assert_int_equal(f->svc.cancels, 1);
  assert_true(wait_no_live_calls(f->server));
}

static void test_cancel_mid_stream_releases_the_call(void **state) {
  fixture *f = *state;
  f->svc.stream_delay_ms = 5;
  ss_test_call *call = ss_test_call_start(f->channel, STREAM, "100000", 6, 0);
  assert_non_null(call);
  ss_buf msg = {0};
  for (int i = 0; i < 3; i++) {
    assert_true(ss_test_call_recv(call, &msg));
  }
  ss_test_call_cancel(call);
  ss_test_call_free(call);
  ss_buf_cleanup(&msg);
  assert_true(wait_count(&f->svc, &f->svc.releases, 1));
  assert_true(wait_no_live_calls(f->server));
}

static void test_expired_deadline_cancels_the_call_on_the_server(void **state) {
  fixture *f = *state;
  int64_t start = now_ms();
  ss_test_call *call = ss_test_call_start(f->channel, HANG, "", 0, 300);
  assert_non_null(call);
  assert_true(wait_count(&f->svc, &f->svc.hung, 1));
  assert_true(f->svc.deadline_left_ms > 0);
  assert_true(f->svc.deadline_left_ms <= 300);
  assert_int_equal(ss_test_call_status(call, NULL, 0),
                   GRPC_STATUS_DEADLINE_EXCEEDED);
  assert_true(now_ms() - start >= 250);
  ss_test_call_free(call);
  assert_true(wait_count(&f->svc, &f->svc.cancels, 1));
  assert_true(wait_count(&f->svc, &f->svc.releases, 1));
}

static void test_shutdown_lets_a_running_stream_finish(void **state) {
  fixture *f = *state;
  f->svc.stream_delay_ms = 20;
  ss_test_call *call = ss_test_call_start(f->channel, STREAM, "10", 2, 10000);
  assert_non_null(call);
  ss_buf msg = {0};
  assert_true(ss_test_call_recv(call, &msg));
  ss_rpc_server_shutdown(f->server);
  ss_rpc_server_shutdown(f->server);  // idempotent
  assert_false(ss_rpc_server_wait(f->server, 10));
  int n = 1;
  while (ss_test_call_recv(call, &msg)) {
    n++;
  }
  assert_int_equal(n, 10);
  assert_int_equal(ss_test_call_status(call, NULL, 0), GRPC_STATUS_OK);
  ss_test_call_free(call);
  ss_buf_cleanup(&msg);
  assert_true(ss_rpc_server_wait(f->server, 5000));
  assert_int_equal(f->svc.cancels, 0);
}

static void test_cancel_all_ends_calls_that_outlive_the_drain(void **state) {
  fixture *f = *state;
  ss_test_call *call = ss_test_call_start(f->channel, HANG, "", 0, 0);
  assert_non_null(call);
  assert_true(wait_count(&f->svc, &f->svc.hung, 1));
  ss_rpc_server_shutdown(f->server);
  assert_false(ss_rpc_server_wait(f->server, 100));
  // New calls are refused while draining.
  grpc_channel *late = ss_test_channel_new(ss_rpc_server_port(f->server));
  ss_buf resp = {0};
  assert_int_not_equal(ss_test_unary(late, UNARY, "x", 1, &resp, NULL, 0, 2000),
                       GRPC_STATUS_OK);
  grpc_channel_destroy(late);
  grpc_shutdown();
  ss_buf_cleanup(&resp);
  ss_rpc_server_cancel_all(f->server);
  assert_true(ss_rpc_server_wait(f->server, 5000));
  assert_int_equal(f->svc.cancels, 1);
  assert_int_equal(f->svc.releases, 1);
  assert_int_not_equal(ss_test_call_status(call, NULL, 0), GRPC_STATUS_OK);
  ss_test_call_free(call);
}

static void test_server_new_refuses_bad_options(void **state) {
  fixture *f = *state;
  ss_rpc_server_options options;
  ss_status st;
  ss_rpc_server_options_init(&options);
  assert_null(ss_rpc_server_new(&options, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);

  options.listen_addr = "127.0.0.1:0";
  options.tls_cert_file = "/nonexistent/cert.pem";
  assert_null(ss_rpc_server_new(&options, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "certificate and a private key"));

  options.tls_key_file = "/nonexistent/key.pem";
  assert_null(ss_rpc_server_new(&options, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "/nonexistent/cert.pem"));

  ss_rpc_server_options_init(&options);
  options.listen_addr = "127.0.0.1:0";
  options.tls_client_ca_file = "/nonexistent/ca.pem";
  assert_null(ss_rpc_server_new(&options, &st));
  assert_non_null(strstr(st.msg, "client CA alone"));

  // The port of the running server is taken: no SO_REUSEPORT sharing.
  ss_rpc_server_options_init(&options);
  char addr[64];
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", ss_rpc_server_port(f->server));
  options.listen_addr = addr;
  assert_null(ss_rpc_server_new(&options, &st));
  assert_int_equal(st.code, GRPC_STATUS_UNAVAILABLE);

  options.listen_addr = "127.0.0.1:0";
  options.num_loops = SS_RPC_MAX_LOOPS + 1;
  assert_null(ss_rpc_server_new(&options, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_server_never_started_frees_cleanly(void **state) {
  (void)state;
  ss_rpc_server_options options;
  ss_rpc_server_options_init(&options);
  options.listen_addr = "127.0.0.1:0";
  ss_status st;
  ss_rpc_server *server = ss_rpc_server_new(&options, &st);
  assert_non_null(server);
  assert_true(ss_rpc_server_add_method(server, UNARY, on_unary, NULL, &st));
  assert_false(
      ss_rpc_server_add_method(server, "no-slash", on_unary, NULL, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_rpc_server_free(server);
  ss_rpc_server_free(NULL);
}

// --- TLS -------------------------------------------------------------------

// new_pki makes a CA, a "localhost" server certificate, a client
// certificate and an intruder's from another CA.
static ss_test_pki *new_pki(void) {
  ss_status st;
  ss_test_pki *p = ss_test_pki_new(&st);
  if (p == NULL) {
    fail_msg("%s", st.msg);
  }
  return p;
}

// NO_PEM, given to tls_ping for the certificate and key: present none.
#define NO_PEM SS_TEST_PKI_NUM_FILES

static grpc_status_code tls_ping(int port, const ss_test_pki *p,
                                 ss_test_pki_file cert, ss_test_pki_file key) {
  grpc_channel *channel = ss_test_channel_new_tls(
      port, ss_test_pki_pem(p, SS_TEST_PKI_CA_CERT),
      cert == NO_PEM ? NULL : ss_test_pki_pem(p, cert),
      key == NO_PEM ? NULL : ss_test_pki_pem(p, key), "localhost");
  ss_buf resp = {0};
  grpc_status_code code =
      ss_test_unary(channel, UNARY, "tls", 3, &resp, NULL, 0, 5000);
  if (code == GRPC_STATUS_OK &&
      (resp.len != 3 || memcmp(resp.data, "tls", 3) != 0)) {
    code = GRPC_STATUS_DATA_LOSS;
  }
  ss_buf_cleanup(&resp);
  grpc_channel_destroy(channel);
  grpc_shutdown();
  return code;
}

static void test_tls_server_serves_tls_clients_only(void **state) {
  fixture *f = *state;
  ss_test_pki *p = new_pki();
  ss_rpc_server_options options;
  ss_rpc_server_options_init(&options);
  options.listen_addr = "127.0.0.1:0";
  options.tls_cert_file = ss_test_pki_path(p, SS_TEST_PKI_SERVER_CERT);
  options.tls_key_file = ss_test_pki_path(p, SS_TEST_PKI_SERVER_KEY);
  ss_rpc_server *server = start_server(&f->svc, &options);
  assert_non_null(server);
  int port = ss_rpc_server_port(server);
  assert_int_equal(tls_ping(port, p, NO_PEM, NO_PEM), GRPC_STATUS_OK);
  grpc_channel *plain = ss_test_channel_new(port);
  ss_buf resp = {0};
  assert_int_equal(ss_test_unary(plain, UNARY, "x", 1, &resp, NULL, 0, 2000),
                   GRPC_STATUS_UNAVAILABLE);
  ss_buf_cleanup(&resp);
  grpc_channel_destroy(plain);
  grpc_shutdown();
  ss_rpc_server_free(server);

  // A key that does not match the certificate is named at start-up.
  options.tls_key_file = ss_test_pki_path(p, SS_TEST_PKI_CA_CERT);
  ss_status st;
  assert_null(ss_rpc_server_new(&options, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_test_pki_free(p);
}

static void test_mutual_tls_requires_a_client_certificate_from_the_ca(
    void **state) {
  fixture *f = *state;
  ss_test_pki *p = new_pki();
  ss_rpc_server_options options;
  ss_rpc_server_options_init(&options);
  options.listen_addr = "127.0.0.1:0";
  options.tls_cert_file = ss_test_pki_path(p, SS_TEST_PKI_SERVER_CERT);
  options.tls_key_file = ss_test_pki_path(p, SS_TEST_PKI_SERVER_KEY);
  options.tls_client_ca_file = ss_test_pki_path(p, SS_TEST_PKI_CA_CERT);
  ss_rpc_server *server = start_server(&f->svc, &options);
  assert_non_null(server);
  int port = ss_rpc_server_port(server);
  assert_int_equal(
      tls_ping(port, p, SS_TEST_PKI_CLIENT_CERT, SS_TEST_PKI_CLIENT_KEY),
      GRPC_STATUS_OK);
  assert_int_equal(tls_ping(port, p, NO_PEM, NO_PEM), GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(
      tls_ping(port, p, SS_TEST_PKI_INTRUDER_CERT, SS_TEST_PKI_INTRUDER_KEY),
      GRPC_STATUS_UNAVAILABLE);
  ss_rpc_server_free(server);
  ss_test_pki_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_unary_call_echoes_the_request, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_handler_status_and_details_reach_the_client, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_method_is_unimplemented,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_stream_sends_every_message_in_order_from_workers, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_many_concurrent_streams_all_complete,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_status_given_during_a_send_follows_the_message, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_client_cancel_is_reported_once_and_the_call_released, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_cancel_mid_stream_releases_the_call,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_expired_deadline_cancels_the_call_on_the_server, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_shutdown_lets_a_running_stream_finish, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_cancel_all_ends_calls_that_outlive_the_drain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_new_refuses_bad_options,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_never_started_frees_cleanly,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_server_serves_tls_clients_only,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_mutual_tls_requires_a_client_certificate_from_the_ca, setup,
          teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
