// sealstream-proxy operations end to end: its limits (--max-streams,
// --max-streams-per-token, --max-metadata-bytes, --idle-timeout), reload on
// SIGHUP (a bad tokens file keeps the running configuration; a good one
// swaps tokens while running streams finish), the metrics page, and the
// drain on SIGTERM. Each test starts its own proxy in front of one real
// server and stops it with SIGTERM, which must exit 0 with a clean log.
// Plain TCP on both hops, so that raw calls can send what the client
// library never would (TLS is covered by proxy_e2e_test).
//
// Usage (from Bazel): proxy_ops_test SERVER DEMO_DATA PROXY
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sealstream/client.h"
#include "tests/proxy/proxy_fixture.h"
#include "tests/support/fixture.h"
#include "tests/support/raw_call.h"
#include "tests/support/result_check.h"
#include "tests/support/server_process.h"
#include "tests/support/test_db.h"

#define EVENT_ROWS 20000
#define UNAUTHENTICATED 16
#define RESOURCE_EXHAUSTED 8
#define UNAVAILABLE 14

// 400 million rows, produced as fast as the client reads.
static const char kEndless[] =
    "SELECT a.rowid AS r1, b.rowid AS r2, a.path FROM http_events a, "
    "http_events b";
static const char kEvents[] = "SELECT * FROM http_events ORDER BY rowid";
static const char kGood[] = "SELECT * FROM all_types ORDER BY id";

static ss_proxy_test_binaries bin;
static char db_path[4096];
static char tokens_path[4200];
static char main_route[64];
static char *tokens_text;  // alice and bob, every route
static char *alice_token;
static char *bob_token;
static char *carol_token;  // in no file until the good reload
static char *carol_line;   // carol's tokens-file line
static ss_test_server *server;
static ss_test_server *proxy;  // the current test's

static int group_setup(void **state) {
  (void)state;
  ss_test_server_options options = {.binary = bin.server};
  server = ss_test_fixture_start(db_path, sizeof(db_path), "proxy_ops.db",
                                 bin.demo, EVENT_ROWS, 17, &options);
  if (server == NULL) {
    return -1;
  }
  snprintf(main_route, sizeof(main_route), "main=%s",
           ss_test_server_target(server));
  ss_status st;
  ss_status_init(&st);
  alice_token = ss_test_token(&tokens_text, "alice", "*", &st);
  bob_token =
      alice_token != NULL ? ss_test_token(&tokens_text, "bob", "*", &st) : NULL;
  carol_token = bob_token != NULL
                    ? ss_test_token(&carol_line, "carol", "main", &st)
                    : NULL;
  if (carol_token == NULL || !ss_test_tmp_path(tokens_path, sizeof(tokens_path),
                                               "proxy_ops.tokens", &st)) {
    fprintf(stderr, "tokens: %s\n", st.msg);
    return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  int ok = ss_test_stop_daemon(&server, "server");
  free(tokens_text);
  free(alice_token);
  free(bob_token);
  free(carol_token);
  free(carol_line);
  return ok ? 0 : -1;
}

// Each test's proxy: SIGTERM and exit 0 are checked here.
static int test_teardown(void **state) {
  (void)state;
  return ss_test_stop_daemon(&proxy, "proxy") ? 0 : -1;
}

// start_proxy writes the alice-and-bob tokens file and starts a proxy with
// route "main" and |options| (routes, tokens and binary filled in here).
static void start_proxy(ss_test_proxy_options options) {
  ss_status st;
  if (!ss_test_write_file(tokens_path, tokens_text, &st)) {
    fail_msg("%s", st.msg);
  }
  options.binary = bin.proxy;
  options.routes[0] = main_route;
  options.num_routes = 1;
  options.tokens_file = tokens_path;
  proxy = ss_test_proxy_start(&options, &st);
  if (proxy == NULL) {
    fail_msg("proxy: %s", st.msg);
  }
}

static ss_client *new_client(const char *token) {
  ss_status st;
  ss_client *c = ss_test_proxy_client(ss_test_server_target(proxy), NULL,
                                      "main", token, SS_KEY_EC_P256, 0, &st);
  if (c == NULL) {
    fail_msg("%s", st.msg);
  }
  return c;
}

static ss_query *start(ss_client *c, const char *sql, uint32_t batch_rows) {
  ss_query_options options = {.max_rows_per_batch = batch_rows};
  ss_error err;
  ss_query *query = ss_query_start(c, sql, &options, &err);
  if (query == NULL) {
    fail_msg("%s: %s: %s", sql, ss_error_code_name(err.code), err.message);
  }
  return query;
}

static void read_one(ss_query *query) {
  const ss_batch *batch;
  ss_error err;
  int rc = ss_query_next(query, &batch, &err);
  if (rc != 1) {
    fail_msg("batch: %d, %s: %s", rc, ss_error_code_name(err.code),
             err.message);
  }
}

// expect_start_refused checks that starting a query on |c| fails with
// |code| and a message containing |needle|.
static void expect_start_refused(ss_client *c, int code, const char *needle) {
  ss_error err;
  ss_query *query = ss_query_start(c, kGood, NULL, &err);
  if (query != NULL) {
    ss_query_free(query);
    fail_msg("query started, expected %s", ss_error_code_name(code));
  }
  if (err.code != code || strstr(err.message, needle) == NULL) {
    fail_msg("%s (%s), expected %s naming \"%s\"", ss_error_code_name(err.code),
             err.message, ss_error_code_name(code), needle);
  }
}

static int good_query(ss_client *c, ss_check_outcome *out) {
  return ss_result_check_run(out, c, db_path, kGood, NULL);
}

static void expect_good_query(ss_client *c) {
  ss_check_outcome out;
  if (!good_query(c, &out)) {
    fail_msg("good query: %s",
             out.mismatch ? out.mismatch_msg : out.error.message);
  }
}

// expect_good_query_soon runs the good query until it succeeds, for up to
// 5 s: a stream freed by the client is released by the proxy a moment
// later.
static void expect_good_query_soon(ss_client *c) {
  ss_check_outcome out;
  for (int i = 0; i < 250; i++) {
    if (good_query(c, &out)) {
      return;
    }
    ss_test_sleep_ms(20);
  }
  fail_msg("good query within 5 s: %s",
           out.mismatch ? out.mismatch_msg : out.error.message);
}

static void test_max_streams_refuses_the_second_stream_naming_the_flag(
    void **state) {
  (void)state;
  start_proxy((ss_test_proxy_options){.max_streams = 1});
  ss_client *c = new_client(alice_token);
  // Held open: read once, then not read.
  ss_query *held = start(c, kEndless, 1000);
  read_one(held);
  expect_start_refused(c, RESOURCE_EXHAUSTED, "--max-streams");
  ss_query_free(held);
  expect_good_query_soon(c);
  ss_client_free(c);
}

static void test_max_streams_per_token_refuses_only_that_token(void **state) {
  (void)state;
  start_proxy((ss_test_proxy_options){.max_streams_per_token = 1});
  ss_client *alice = new_client(alice_token);
  ss_client *bob = new_client(bob_token);
  ss_query *held = start(alice, kEndless, 1000);
  read_one(held);
  expect_start_refused(alice, RESOURCE_EXHAUSTED, "--max-streams-per-token");
  expect_good_query(bob);
  ss_query_free(held);
  expect_good_query_soon(alice);
  ss_client_free(alice);
  ss_client_free(bob);
}

static void test_metadata_over_the_limit_is_refused_naming_the_flag(
    void **state) {
  (void)state;
  start_proxy((ss_test_proxy_options){0});
  static char padding[20 * 1024 + 1];
  memset(padding, 'p', sizeof(padding) - 1);
  ss_raw_call_options options = {.timeout_ms = 10000,
                                 .metadata_key = "x-padding",
                                 .metadata_value = padding};
  ss_raw_result out;
  ss_raw_result_init(&out);
  ss_status st;
  if (!ss_raw_call(&out, ss_test_server_target(proxy),
                   "/sealstream.v1.QueryService/ExecuteQuery",
                   (const uint8_t *)"", 0, &options, &st)) {
    fail_msg("raw call: %s", st.msg);
  }
  if (out.code != GRPC_STATUS_RESOURCE_EXHAUSTED ||
      strstr(out.details, "--max-metadata-bytes") == NULL) {
    fail_msg(
        "20 KiB header: %s (%s), expected RESOURCE_EXHAUSTED naming "
        "--max-metadata-bytes",
        ss_status_code_name(out.code), out.details);
  }
  ss_raw_result_cleanup(&out);
  ss_client *c = new_client(alice_token);
  expect_good_query(c);
  ss_client_free(c);
}

static void test_idle_timeout_cancels_a_stalled_stream(void **state) {
  (void)state;
  start_proxy((ss_test_proxy_options){.idle_timeout_s = 1});
  ss_client *c = new_client(alice_token);
  ss_query *query = start(c, kEndless, 1000);
  read_one(query);
  // Not read any more: once the flow-control windows are full, no message
  // moves either way, and the proxy must cancel the call. Its access-log
  // line is the event that it ended the call.
  if (!ss_test_wait_log(proxy, "access route=main", 10000)) {
    fail_msg("the proxy did not end a stalled stream within 10 s");
  }
  const ss_batch *batch;
  ss_error err;
  int rc;
  while ((rc = ss_query_next(query, &batch, &err)) == 1) {
  }
  assert_int_equal(rc, -1);
  if (err.code != RESOURCE_EXHAUSTED ||
      strstr(err.message, "--idle-timeout") == NULL) {
    fail_msg(
        "stalled stream: %s (%s), expected RESOURCE_EXHAUSTED naming "
        "--idle-timeout",
        ss_error_code_name(err.code), err.message);
  }
  if (!ss_test_log_has_line(proxy, "code=RESOURCE_EXHAUSTED",
                            "--idle-timeout")) {
    fail_msg(
        "the proxy's access log does not show the idle-timeout cancel "
        "as RESOURCE_EXHAUSTED naming --idle-timeout");
  }
  ss_query_free(query);
  expect_good_query(c);
  ss_client_free(c);
}

static void test_idle_timeout_spares_a_slow_stream_that_keeps_moving(
    void **state) {
  (void)state;
  start_proxy((ss_test_proxy_options){.idle_timeout_s = 1});
  ss_client *c = new_client(alice_token);
  ss_status st;
  ss_result_check *check = ss_result_check_new(db_path, kEvents, &st);
  assert_non_null(check);
  // 1,000-row batches, about 100 KiB each: more than the 64 KiB flow-control
  // window, so each batch the client reads lets the proxy forward the next
  // one. (With batches far smaller than the window, a slow reader empties
  // buffers the proxy cannot see, and no message moves at the proxy for as
  // long as a window lasts: the idle timeout counts what the proxy
  // forwards.)
  ss_query *query = start(c, kEvents, 1000);
  assert_true(ss_result_check_schema(check, query, &st));
  const ss_batch *batch;
  ss_error err;
  int rc;
  // One batch every 0.5 s for 3 s, then the rest at full speed.
  double begin = ss_test_now_s();
  while (ss_test_now_s() - begin < 3.0) {
    rc = ss_query_next(query, &batch, &err);
    if (rc != 1) {
      fail_msg("slow reader cancelled after %.1f s: %s (%s)",
               ss_test_now_s() - begin, ss_error_code_name(err.code),
               err.message);
    }
    assert_true(ss_result_check_batch(check, query, batch, &st));
    ss_test_sleep_ms(500);
  }
  while ((rc = ss_query_next(query, &batch, &err)) == 1) {
    if (!ss_result_check_batch(check, query, batch, &st)) {
      fail_msg("%s", st.msg);
    }
  }
  if (rc != 0) {
    fail_msg("slow reader: %s (%s)", ss_error_code_name(err.code), err.message);
  }
  assert_true(ss_result_check_end(check, &st));
  assert_int_equal(ss_result_check_rows(check), EVENT_ROWS);
  ss_result_check_free(check);
  ss_query_free(query);
  ss_client_free(c);
}

static void test_bad_tokens_file_on_reload_keeps_the_previous_configuration(
    void **state) {
  (void)state;
  start_proxy((ss_test_proxy_options){0});
  ss_client *alice = new_client(alice_token);
  expect_good_query(alice);
  ss_status st;
  if (!ss_test_write_file(tokens_path, "alice not-a-hash main\n", &st)) {
    fail_msg("%s", st.msg);
  }
  assert_int_equal(kill(ss_test_server_pid(proxy), SIGHUP), 0);
  if (!ss_test_wait_log(proxy, "still serving the previous configuration",
                        10000)) {
    fail_msg(
        "no \"still serving the previous configuration\" after a bad "
        "reload");
  }
  assert_false(ss_test_server_log_contains(proxy, "configuration reloaded"));
  expect_good_query(alice);
  ss_client_free(alice);
}

static void test_good_reload_swaps_tokens_and_running_streams_finish(
    void **state) {
  (void)state;
  start_proxy((ss_test_proxy_options){0});
  ss_client *alice = new_client(alice_token);
  ss_client *carol = new_client(carol_token);
  expect_start_refused(carol, UNAUTHENTICATED, "");
  ss_query *running = start(alice, kEvents, 500);
  const ss_batch *first;
  ss_error err;
  assert_int_equal(ss_query_next(running, &first, &err), 1);
  // Only carol from now on.
  ss_status st;
  if (!ss_test_write_file(tokens_path, carol_line, &st)) {
    fail_msg("%s", st.msg);
  }
  assert_int_equal(kill(ss_test_server_pid(proxy), SIGHUP), 0);
  if (!ss_test_wait_log(proxy, "SIGHUP: configuration reloaded", 10000)) {
    fail_msg("no \"SIGHUP: configuration reloaded\" after a good reload");
  }
  expect_good_query(carol);
  expect_start_refused(alice, UNAUTHENTICATED, "");
  // The stream alice started before the reload completes.
  ss_result_check *check = ss_result_check_new(db_path, kEvents, &st);
  assert_non_null(check);
  assert_true(ss_result_check_schema(check, running, &st));
  assert_true(ss_result_check_batch(check, running, first, &st));
  const ss_batch *batch;
  int rc;
  while ((rc = ss_query_next(running, &batch, &err)) == 1) {
    if (!ss_result_check_batch(check, running, batch, &st)) {
      fail_msg("%s", st.msg);
    }
  }
  if (rc != 0) {
    fail_msg("stream started before the reload: %s (%s)",
             ss_error_code_name(err.code), err.message);
  }
  assert_int_equal(ss_result_check_rows(check), EVENT_ROWS);
  ss_result_check_free(check);
  ss_query_free(running);
  ss_client_free(alice);
  ss_client_free(carol);
}

// metrics_line returns 1 if a line of |page| starts with |name| and holds
// every one of the NULL-terminated |parts|.
static int metrics_line(const char *page, const char *name,
                        const char *const *parts) {
  const char *line = page;
  while (line != NULL && *line != '\0') {
    const char *end = strchr(line, '\n');
    size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
    char buf[1024];
    if (len < sizeof(buf)) {
      memcpy(buf, line, len);
      buf[len] = '\0';
      int all = strncmp(buf, name, strlen(name)) == 0;
      for (size_t i = 0; all && parts[i] != NULL; i++) {
        all = strstr(buf, parts[i]) != NULL;
      }
      if (all) {
        return 1;
      }
    }
    line = end != NULL ? end + 1 : NULL;
  }
  return 0;
}

static void test_metrics_count_calls_by_route_and_code(void **state) {
  (void)state;
  int port = ss_test_free_port();
  assert_true(port > 0);
  char addr[64];
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
  start_proxy((ss_test_proxy_options){.metrics = addr});
  ss_client *alice = new_client(alice_token);
  expect_good_query(alice);
  expect_good_query(alice);
  ss_client *intruder = new_client("sst_not-a-real-token");
  expect_start_refused(intruder, UNAUTHENTICATED, "");
  static char page[256 * 1024];
  ss_status st;
  if (!ss_test_http_get(port, "/metrics", page, sizeof(page), &st)) {
    fail_msg("GET /metrics: %s", st.msg);
  }
  assert_non_null(strstr(page, " 200"));
  static const char *const kOk[] = {"route=\"main\"", "code=\"OK\"", " 2",
                                    NULL};
  if (!metrics_line(page, "sealstream_proxy_calls_total{", kOk)) {
    fail_msg("no calls_total for route main, code OK, 2 calls:\n%s", page);
  }
  static const char *const kUnauth[] = {"code=\"UNAUTHENTICATED\"", NULL};
  if (!metrics_line(page, "sealstream_proxy_calls_total{", kUnauth)) {
    fail_msg("no calls_total for code UNAUTHENTICATED:\n%s", page);
  }
  static const char *const kNone[] = {NULL};
  assert_true(metrics_line(page, "sealstream_proxy_streams_active", kNone));
  assert_true(
      metrics_line(page, "sealstream_proxy_forwarded_bytes_total", kNone));
  // Prometheus' conventional name, with or without the proxy's prefix.
  assert_true(metrics_line(page, "process_resident_memory_bytes", kNone) ||
              metrics_line(page,
                           "sealstream_proxy_process_resident_memory_bytes",
                           kNone));
  ss_client_free(alice);
  ss_client_free(intruder);
}

typedef struct drain_reader {
  ss_query *query;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  int first_read;  // the reader has its first batch
  int go;          // the main thread has sent SIGTERM
  uint64_t rows;
  int rc;
  ss_error err;
  int mismatch;
  char mismatch_msg[SS_STATUS_MSG_MAX];
} drain_reader;

static void *drain_read(void *arg) {
  drain_reader *r = arg;
  ss_status st;
  ss_result_check *check = ss_result_check_new(db_path, kEvents, &st);
  const ss_batch *batch;
  int rc = check != NULL && ss_result_check_schema(check, r->query, &st)
               ? ss_query_next(r->query, &batch, &r->err)
               : -1;
  if (rc == 1 && !ss_result_check_batch(check, r->query, batch, &st)) {
    rc = -1;
    r->mismatch = 1;
  }
  pthread_mutex_lock(&r->mu);
  r->first_read = 1;
  pthread_cond_broadcast(&r->cond);
  while (!r->go) {
    pthread_cond_wait(&r->cond, &r->mu);
  }
  pthread_mutex_unlock(&r->mu);
  while (rc == 1 && (rc = ss_query_next(r->query, &batch, &r->err)) == 1) {
    if (!ss_result_check_batch(check, r->query, batch, &st)) {
      rc = -1;
      r->mismatch = 1;
    }
  }
  if (rc == 0 && !ss_result_check_end(check, &st)) {
    rc = -1;
    r->mismatch = 1;
  }
  if (r->mismatch || check == NULL) {
    snprintf(r->mismatch_msg, sizeof(r->mismatch_msg), "%s", st.msg);
  }
  r->rows = check != NULL ? ss_result_check_rows(check) : 0;
  r->rc = rc;
  ss_result_check_free(check);
  return NULL;
}

// sigterm_drain starts a stream, sends the proxy SIGTERM once the stream
// has its first batch, and reads the stream to its end, which must bring
// every row. With |new_call|, a new client's call made while the proxy
// drains must be refused with UNAVAILABLE.
static void sigterm_drain(int new_call) {
  start_proxy((ss_test_proxy_options){.drain_timeout_s = 20});
  ss_client *c = new_client(alice_token);
  drain_reader r;
  memset(&r, 0, sizeof(r));
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.cond, NULL);
  r.query = start(c, kEvents, 200);
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, drain_read, &r), 0);
  pthread_mutex_lock(&r.mu);
  while (!r.first_read) {
    pthread_cond_wait(&r.cond, &r.mu);
  }
  pthread_mutex_unlock(&r.mu);

  assert_int_equal(kill(ss_test_server_pid(proxy), SIGTERM), 0);
  int draining = ss_test_wait_log(
      proxy, "SIGTERM: stopped accepting; draining 1 stream", 10000);
  // Once the proxy says so, a new connection is refused (a load balancer
  // then picks another replica), while the stream in flight goes on. A new
  // client of this process would share the connection the proxy has told
  // to go away, so the check is a plain TCP connect.
  int connect_errno = 0;
  if (draining && new_call) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons(
                                   (uint16_t)ss_test_server_port(proxy)),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
      connect_errno = errno;
    }
    close(fd);
  }
  pthread_mutex_lock(&r.mu);
  r.go = 1;
  pthread_cond_broadcast(&r.cond);
  pthread_mutex_unlock(&r.mu);
  pthread_join(thread, NULL);
  pthread_mutex_destroy(&r.mu);
  pthread_cond_destroy(&r.cond);
  ss_query_free(r.query);
  ss_client_free(c);

  if (!draining) {
    fail_msg("no \"SIGTERM: stopped accepting; draining 1 stream\" in the "
             "proxy's log");
  }
  if (new_call && connect_errno != ECONNREFUSED) {
    fail_msg("a new connection while draining: %s, expected it refused",
             connect_errno == 0 ? "accepted" : strerror(connect_errno));
  }
  if (r.rc != 0) {
    fail_msg("the stream in flight after %" PRIu64 " rows: %s", r.rows,
             r.mismatch ? r.mismatch_msg : r.err.message);
  }
  assert_int_equal(r.rows, EVENT_ROWS);
  // test_teardown checks the proxy exits 0.
}

static void test_sigterm_drains_the_stream_in_flight_with_every_row(
    void **state) {
  (void)state;
  sigterm_drain(0);
}

static void test_a_new_connection_while_the_proxy_drains_is_refused(
    void **state) {
  (void)state;
  sigterm_drain(1);
}

#define PROXY_TEST(f) cmocka_unit_test_teardown(f, test_teardown)

int main(int argc, char **argv) {
  if (!ss_proxy_test_args(argc, argv, &bin)) {
    return 2;
  }
  const struct CMUnitTest tests[] = {
      PROXY_TEST(test_max_streams_refuses_the_second_stream_naming_the_flag),
      PROXY_TEST(test_max_streams_per_token_refuses_only_that_token),
      PROXY_TEST(
          test_bad_tokens_file_on_reload_keeps_the_previous_configuration),
      PROXY_TEST(test_good_reload_swaps_tokens_and_running_streams_finish),
      PROXY_TEST(test_metrics_count_calls_by_route_and_code),
      PROXY_TEST(test_sigterm_drains_the_stream_in_flight_with_every_row),
      PROXY_TEST(test_metadata_over_the_limit_is_refused_naming_the_flag),
      PROXY_TEST(test_idle_timeout_cancels_a_stalled_stream),
      PROXY_TEST(test_idle_timeout_spares_a_slow_stream_that_keeps_moving),
      PROXY_TEST(test_a_new_connection_while_the_proxy_drains_is_refused),
  };
  if (getenv("SS_TEST_FILTER") != NULL) {
    cmocka_set_test_filter(getenv("SS_TEST_FILTER"));
  }
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
