// End to end: a query cancelled mid-stream, freed while running, cancelled
// from another thread, past its deadline or past the server's
// --max-query-time ends with the right status, and the server stops working
// on it: its CPU use drops to idle, it keeps serving, and at SIGTERM it
// drains and exits 0, also with a stream stalled on flow control (under
// AddressSanitizer its own leak check at exit covers what the cancelled
// calls held). A server killed mid-stream is UNAVAILABLE to the client.
//
// Usage (from Bazel): cancel_test SERVER_BINARY DEMO_DATA_BINARY
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sealstream/client.h"
#include "sealstream/v1/query.pb-c.h"
#include "tests/support/fixture.h"
#include "tests/support/proc_stats.h"
#include "tests/support/raw_call.h"
#include "tests/support/result_check.h"
#include "tests/support/server_process.h"

#define EVENT_ROWS 5000
// Server CPU allowed over one idle second: gRPC's own timers use a little.
#define IDLE_CPU_MS 300
#define CANCELLED 1
#define DEADLINE_EXCEEDED 4

// 25 million rows, produced as fast as the client reads.
static const char kEndless[] =
    "SELECT a.rowid AS r1, b.rowid AS r2, a.path FROM http_events a, "
    "http_events b";
// One row at once, then a computation that never ends in practice.
static const char kStalls[] =
    "SELECT 1 AS x UNION ALL SELECT count(*) FROM http_events a, "
    "http_events b, http_events c";
// No row for a very long time.
static const char kNoRow[] =
    "SELECT count(*) FROM http_events a, http_events b, http_events c";

static const char *server_binary;
static const char *demo_binary;
static char db_path[4096];
static ss_test_server *server;
static ss_client *client;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static ss_client *new_client(void) {
  return ss_test_fixture_client(ss_test_server_target(server), 0);
}

static int group_setup(void **state) {
  (void)state;
  ss_test_server_options options = {.binary = server_binary,
                                    .drain_timeout_s = 3};
  server = ss_test_fixture_start(db_path, sizeof(db_path), "cancel.db",
                                 demo_binary, EVENT_ROWS, 5, &options);
  if (server == NULL) {
    return -1;
  }
  client = new_client();
  return client == NULL;
}

static int group_teardown(void **state) {
  (void)state;
  ss_client_free(client);
  client = NULL;
  ss_test_server_kill(server);
  server = NULL;
  return 0;
}

// expect_server_idle fails unless the server uses almost no CPU for a
// second once |settle_ms| have passed: a query still running would keep a
// core busy.
static void expect_server_idle(long settle_ms) {
  sleep_ms(settle_ms);
  ss_status st;
  uint64_t before;
  uint64_t after;
  assert_true(ss_proc_cpu_ms(ss_test_server_pid(server), &before, &st));
  sleep_ms(1000);
  assert_true(ss_proc_cpu_ms(ss_test_server_pid(server), &after, &st));
  if (after - before > IDLE_CPU_MS) {
    fail_msg("the server used %" PRIu64
             " ms of CPU in the second after the "
             "query ended: it is still running it",
             after - before);
  }
}

static void expect_still_serving(void) {
  ss_check_outcome out;
  if (!ss_result_check_run(&out, client, db_path,
                           "SELECT * FROM all_types ORDER BY id", NULL)) {
    fail_msg("good query afterwards: %s",
             out.mismatch ? out.mismatch_msg : out.error.message);
  }
}

static ss_query *start(ss_client *c, const char *sql,
                       const ss_query_options *options) {
  ss_error err;
  ss_query *query = ss_query_start(c, sql, options, &err);
  if (query == NULL) {
    fail_msg("%s: %s: %s", sql, ss_error_code_name(err.code), err.message);
  }
  return query;
}

static void read_batches(ss_query *query, int n) {
  for (int i = 0; i < n; i++) {
    const ss_batch *batch;
    ss_error err;
    int rc = ss_query_next(query, &batch, &err);
    if (rc != 1) {
      fail_msg("batch %d: %d, %s: %s", i, rc, ss_error_code_name(err.code),
               err.message);
    }
  }
}

static void test_cancel_mid_stream_stops_the_server(void **state) {
  (void)state;
  ss_query_options options = {.max_rows_per_batch = 1000};
  ss_query *query = start(client, kEndless, &options);
  read_batches(query, 3);
  ss_query_cancel(query);
  const ss_batch *batch;
  ss_error err;
  // Batches already received may still be handed out; then CANCELLED.
  int rc;
  int extra = 0;
  while ((rc = ss_query_next(query, &batch, &err)) == 1 && extra < 100000) {
    extra++;
  }
  assert_int_equal(rc, -1);
  assert_int_equal(err.code, CANCELLED);
  assert_true(err.message[0] != '\0');
  // A cancelled query stays cancelled.
  assert_int_equal(ss_query_next(query, &batch, &err), -1);
  assert_int_equal(err.code, CANCELLED);
  ss_query_free(query);
  expect_server_idle(300);
  expect_still_serving();
}

static void test_freeing_a_running_query_stops_the_server(void **state) {
  (void)state;
  for (int i = 0; i < 5; i++) {
    ss_query_options options = {.max_rows_per_batch = 500};
    ss_query *query = start(client, kEndless, &options);
    read_batches(query, 1 + i);
    ss_query_free(query);
  }
  expect_server_idle(300);
  expect_still_serving();
}

typedef struct canceller {
  ss_query *query;
  long delay_ms;
} canceller;

static void *cancel_later(void *arg) {
  canceller *c = arg;
  sleep_ms(c->delay_ms);
  ss_query_cancel(c->query);
  return NULL;
}

static void test_cancel_from_another_thread_wakes_a_waiting_reader(
    void **state) {
  (void)state;
  ss_query_options options = {.max_rows_per_batch = 1};
  ss_query *query = start(client, kStalls, &options);
  read_batches(query, 1);
  canceller c = {.query = query, .delay_ms = 300};
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, cancel_later, &c), 0);
  double t0 = now_s();
  const ss_batch *batch;
  ss_error err;
  int rc = ss_query_next(query, &batch, &err);
  double waited = now_s() - t0;
  pthread_join(thread, NULL);
  assert_int_equal(rc, -1);
  assert_int_equal(err.code, CANCELLED);
  if (waited > 10.0) {
    fail_msg("ss_query_next returned %.1f s after the cancel", waited - 0.3);
  }
  ss_query_free(query);
  expect_server_idle(300);
  expect_still_serving();
}

static void test_deadline_before_the_first_row_is_deadline_exceeded(
    void **state) {
  (void)state;
  ss_query_options options = {.timeout_ms = 500};
  ss_error err;
  double t0 = now_s();
  ss_query *query = ss_query_start(client, kNoRow, &options, &err);
  double took = now_s() - t0;
  if (query != NULL) {
    const ss_batch *batch;
    int rc = ss_query_next(query, &batch, &err);
    took = now_s() - t0;
    ss_query_free(query);
    assert_int_equal(rc, -1);
  }
  if (err.code != DEADLINE_EXCEEDED) {
    fail_msg("%s: %s, expected DEADLINE_EXCEEDED", ss_error_code_name(err.code),
             err.message);
  }
  assert_true(err.message[0] != '\0');
  if (took > 10.0) {
    fail_msg("a 500 ms deadline took %.1f s to fire", took);
  }
  expect_server_idle(300);
  expect_still_serving();
}

static void test_deadline_mid_stream_is_deadline_exceeded(void **state) {
  (void)state;
  ss_query_options options = {.max_rows_per_batch = 1, .timeout_ms = 700};
  ss_query *query = start(client, kStalls, &options);
  read_batches(query, 1);
  const ss_batch *batch;
  ss_error err;
  int rc = ss_query_next(query, &batch, &err);
  assert_int_equal(rc, -1);
  if (err.code != DEADLINE_EXCEEDED) {
    fail_msg("%s: %s, expected DEADLINE_EXCEEDED", ss_error_code_name(err.code),
             err.message);
  }
  ss_query_free(query);
  expect_server_idle(300);
  expect_still_serving();
}

static void test_raw_cancel_after_some_messages_stops_the_server(void **state) {
  (void)state;
  ss_status st;
  // Any valid public key will do: the messages are never decrypted here.
  static const char kJwk[] =
      "{\"kty\":\"OKP\",\"crv\":\"X25519\","
      "\"x\":\"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo\"}";
  Sealstream__V1__QueryRequest req = SEALSTREAM__V1__QUERY_REQUEST__INIT;
  Sealstream__V1__EncryptionOptions enc =
      SEALSTREAM__V1__ENCRYPTION_OPTIONS__INIT;
  Sealstream__V1__QueryLimits limits = SEALSTREAM__V1__QUERY_LIMITS__INIT;
  static const uint8_t kId[16] = {1};
  req.query = (char *)kEndless;
  req.client_request_id.data = (uint8_t *)kId;
  req.client_request_id.len = sizeof(kId);
  enc.public_jwk = (char *)kJwk;
  req.encryption = &enc;
  limits.max_rows_per_batch = 100;
  req.limits = &limits;
  for (size_t n = 1; n <= 4; n++) {
    ss_raw_call_options options = {.cancel_after = n};
    ss_raw_result out;
    ss_raw_result_init(&out);
    assert_true(
        ss_raw_query(&out, ss_test_server_target(server), &req, &options, &st));
    assert_int_equal(out.code, GRPC_STATUS_CANCELLED);
    assert_int_equal(out.num_messages, n);
    ss_raw_result_cleanup(&out);
  }
  expect_server_idle(300);
  expect_still_serving();
}

static void test_many_cancelled_queries_leave_the_server_serving(void **state) {
  (void)state;
  uint64_t rss_before = 0;
  ss_status st;
  for (int round = 0; round < 40; round++) {
    ss_query_options options = {.max_rows_per_batch = 200};
    ss_query *query = start(client, kEndless, &options);
    read_batches(query, 1);
    if (round % 2 == 0) {
      ss_query_cancel(query);
    }
    ss_query_free(query);
    if (round == 9) {
      assert_true(
          ss_proc_peak_rss_kb(ss_test_server_pid(server), &rss_before, &st));
    }
  }
  uint64_t rss_after = 0;
  assert_true(ss_proc_peak_rss_kb(ss_test_server_pid(server), &rss_after, &st));
  // 30 more cancelled queries may not add up: nothing is kept per query.
  if (rss_after > rss_before + 16 * 1024) {
    fail_msg("server peak RSS grew from %" PRIu64 " to %" PRIu64
             " KiB over 30 cancelled queries",
             rss_before, rss_after);
  }
  expect_server_idle(300);
  expect_still_serving();
}

static void test_server_max_query_time_stops_queries_without_deadline(
    void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  ss_test_server_options options = {
      .binary = server_binary, .db_path = db_path, .max_query_time_s = 1};
  ss_test_server *s = ss_test_fixture_server(&options);
  assert_non_null(s);
  ss_client *c = ss_test_fixture_client(ss_test_server_target(s), 0);
  assert_non_null(c);
  ss_error err;
  static const char *const kSlow[] = {kNoRow, kStalls};
  for (size_t i = 0; i < 2; i++) {
    double t0 = now_s();
    ss_query_options query_options = {.max_rows_per_batch = 1};
    ss_query *query = ss_query_start(c, kSlow[i], &query_options, &err);
    int rc = -1;
    if (query != NULL) {
      const ss_batch *batch;
      while ((rc = ss_query_next(query, &batch, &err)) == 1) {
      }
      ss_query_free(query);
    }
    double took = now_s() - t0;
    assert_int_equal(rc, -1);
    if (err.code != DEADLINE_EXCEEDED) {
      fail_msg("%s: %s: %s, expected DEADLINE_EXCEEDED", kSlow[i],
               ss_error_code_name(err.code), err.message);
    }
    if (took < 0.9 || took > 10.0) {
      fail_msg("--max-query-time 1 ended the query after %.1f s", took);
    }
  }
  ss_client_free(c);
  if (!ss_test_server_stop(s, 60, &st)) {
    fail_msg("%s", st.msg);
  }
}

static void test_server_killed_mid_stream_is_unavailable(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  ss_test_server_options options = {.binary = server_binary,
                                    .db_path = db_path};
  ss_test_server *s = ss_test_fixture_server(&options);
  assert_non_null(s);
  ss_client *c = ss_test_fixture_client(ss_test_server_target(s), 0);
  assert_non_null(c);
  ss_error err;
  ss_query_options query_options = {.max_rows_per_batch = 100};
  ss_query *query = start(c, kEndless, &query_options);
  read_batches(query, 2);
  ss_test_server_kill(s);
  const ss_batch *batch;
  int rc;
  long more = 0;
  // What gRPC had buffered may still come; then the broken connection.
  while ((rc = ss_query_next(query, &batch, &err)) == 1) {
    more++;
  }
  assert_int_equal(rc, -1);
  if (err.code != 14) {  // UNAVAILABLE
    fail_msg("after %ld more batches: %s: %s, expected UNAVAILABLE", more,
             ss_error_code_name(err.code), err.message);
  }
  ss_query_free(query);
  // Nobody listens there now.
  query = ss_query_start(c, "SELECT 1", NULL, &err);
  assert_null(query);
  assert_int_equal(err.code, 14);
  assert_true(err.message[0] != '\0');
  ss_client_free(c);
}

typedef struct reader {
  ss_query *query;
  atomic_int slow;  // 1: pause between batches so the server must wait
  int rc;           // last ss_query_next result
  int code;         // its error code when -1
  long batches;
} reader;

static void *read_slowly(void *arg) {
  reader *r = arg;
  const ss_batch *batch;
  ss_error err;
  for (;;) {
    r->rc = ss_query_next(r->query, &batch, &err);
    if (r->rc != 1) {
      r->code = err.code;
      return NULL;
    }
    r->batches++;
    if (atomic_load(&r->slow)) {
      sleep_ms(20);
    }
  }
}

// drain_with_a_query_running streams an endless query from |s| (NULL: a new
// server with a 3 s drain timeout) to a reader that is fast or stays slow
// (then the server's sends wait on flow control), sends SIGTERM, and checks
// that the server exits 0 in time and the query ends with an error. |s| is
// stopped and freed.
static void drain_with_a_query_running(ss_test_server *s, int stay_slow) {
  ss_status st;
  ss_status_init(&st);
  if (s == NULL) {
    ss_test_server_options server_options = {
        .binary = server_binary, .db_path = db_path, .drain_timeout_s = 3};
    s = ss_test_fixture_server(&server_options);
    assert_non_null(s);
  }
  ss_client *c = ss_test_fixture_client(ss_test_server_target(s), 0);
  assert_non_null(c);
  ss_query_options options = {.max_rows_per_batch = 100};
  ss_query *query = start(c, kEndless, &options);
  reader r = {.query = query};
  atomic_init(&r.slow, 1);
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, read_slowly, &r), 0);
  sleep_ms(300);
  if (!stay_slow) {
    // The reader now takes what gRPC has buffered (megabytes) at once, so
    // it sees the end of the call when the server ends it.
    atomic_store(&r.slow, 0);
  }
  double t0 = now_s();
  int stopped = ss_test_server_stop(s, 30, &st);
  double took = now_s() - t0;
  // A slow reader still has gRPC's buffered messages to go through.
  atomic_store(&r.slow, 0);
  pthread_join(thread, NULL);
  ss_query_free(query);
  ss_client_free(c);
  if (!stopped) {
    fail_msg("%s", st.msg);
  }
  assert_int_equal(r.rc, -1);
  assert_true(r.batches > 0);
  fprintf(stderr, "server drained in %.1f s; the running query ended with %s\n",
          took, ss_error_code_name(r.code));
  if (took > 15.0) {
    fail_msg("the server took %.1f s to exit with a 3 s drain timeout", took);
  }
}

static void test_sigterm_with_a_query_running_drains_and_exits_zero(
    void **state) {
  (void)state;
  drain_with_a_query_running(NULL, 0);
}

static void test_sigterm_with_a_stalled_stream_drains_and_exits_zero(
    void **state) {
  (void)state;
  drain_with_a_query_running(NULL, 1);
}

// The server that served every test above, stopped with a stalled stream.
static void test_server_exits_zero_on_sigterm_after_all_of_it(void **state) {
  (void)state;
  ss_test_server *s = server;
  server = NULL;
  drain_with_a_query_running(s, 1);
}

int main(int argc, char **argv) {
  if (!ss_test_fixture_args(argc, argv, &server_binary, &demo_binary)) {
    return 2;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cancel_mid_stream_stops_the_server),
      cmocka_unit_test(test_freeing_a_running_query_stops_the_server),
      cmocka_unit_test(test_cancel_from_another_thread_wakes_a_waiting_reader),
      cmocka_unit_test(test_deadline_before_the_first_row_is_deadline_exceeded),
      cmocka_unit_test(test_deadline_mid_stream_is_deadline_exceeded),
      cmocka_unit_test(test_raw_cancel_after_some_messages_stops_the_server),
      cmocka_unit_test(test_many_cancelled_queries_leave_the_server_serving),
      cmocka_unit_test(
          test_server_max_query_time_stops_queries_without_deadline),
      cmocka_unit_test(test_server_killed_mid_stream_is_unavailable),
      cmocka_unit_test(test_sigterm_with_a_query_running_drains_and_exits_zero),
      cmocka_unit_test(
          test_sigterm_with_a_stalled_stream_drains_and_exits_zero),
      cmocka_unit_test(test_server_exits_zero_on_sigterm_after_all_of_it),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
