// End to end: the real sealstream-server on a real SQLite file on loopback,
// queried through the client library, every value compared with what SQLite
// returns for the same SQL on the same file. Covers every client key type,
// both serializations, compression, every content algorithm, every column
// type with NULLs and edge values, text that is no proto3 string, values of
// several megabytes and rows over the 16 MiB cap, concurrent queries and key
// rotation.
//
// Usage (from Bazel): query_results_test SERVER_BINARY DEMO_DATA_BINARY
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sealstream/client.h"
#include "tests/support/fixture.h"
#include "tests/support/result_check.h"
#include "tests/support/server_process.h"
#include "tests/support/test_db.h"

#define EVENT_ROWS 20000
#define EVENT_ROWS_PER_BATCH 1000
#define NUM_THREADS 4
#define QUERIES_PER_THREAD 5

static const char *server_binary;
static const char *demo_binary;
static char db_path[4096];
static ss_test_server *server;

// One client configuration under test.
typedef struct client_case {
  ss_key_type key_type;
  int compact;
  int compress;
  const char *content_alg;  // NULL: the default
  ss_client *client;        // made by the test's setup, freed by teardown
} client_case;

static int group_setup(void **state) {
  (void)state;
  ss_test_server_options options = {.binary = server_binary};
  server = ss_test_fixture_start(db_path, sizeof(db_path), "query_results.db",
                                 demo_binary, EVENT_ROWS, 7, &options);
  return server != NULL ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  // Normally stopped by the last test; this is for a run that failed first.
  ss_test_server_kill(server);
  server = NULL;
  return 0;
}

static ss_client *new_client(const client_case *c) {
  ss_client_options options;
  ss_client_options_init(&options);
  options.target = ss_test_server_target(server);
  options.key_type = c->key_type;
  options.compact = c->compact;
  options.compress = c->compress;
  options.content_alg = c->content_alg;
  ss_error err;
  ss_client *client = ss_client_new(&options, &err);
  if (client == NULL) {
    fprintf(stderr, "ss_client_new: %s: %s\n", ss_error_code_name(err.code),
            err.message);
  }
  return client;
}

static int client_setup(void **state) {
  client_case *c = *state;
  if (server == NULL) {
    return -1;
  }
  c->client = new_client(c);
  return c->client == NULL;
}

static int client_teardown(void **state) {
  client_case *c = *state;
  ss_client_free(c->client);
  c->client = NULL;
  return 0;
}

// expect_match runs |sql| and fails the test unless every row matches
// SQLite. Returns the outcome for further checks.
static ss_check_outcome expect_match(ss_client *client, const char *sql,
                                     const ss_query_options *options) {
  ss_check_outcome out;
  if (!ss_result_check_run(&out, client, db_path, sql, options)) {
    if (out.mismatch) {
      fail_msg("%s: wrong result: %s", sql, out.mismatch_msg);
    }
    fail_msg("%s: %s: %s", sql, ss_error_code_name(out.error.code),
             out.error.message);
  }
  return out;
}

// check_all_queries is the body of every client configuration's test.
static void check_all_queries(ss_client *client) {
  ss_query_options options;
  memset(&options, 0, sizeof(options));

  ss_check_outcome out =
      expect_match(client, "SELECT * FROM all_types ORDER BY id", NULL);
  assert_int_equal(out.rows, SS_TEST_DB_ALL_TYPES_ROWS);

  // Small batches put NULL patterns and long values across batch borders.
  options.max_rows_per_batch = 7;
  out = expect_match(client, "SELECT * FROM all_types ORDER BY id", &options);
  assert_int_equal(out.rows, SS_TEST_DB_ALL_TYPES_ROWS);
  assert_int_equal(out.batches, (SS_TEST_DB_ALL_TYPES_ROWS + 6) / 7);

  options.max_rows_per_batch = EVENT_ROWS_PER_BATCH;
  out = expect_match(client, "SELECT * FROM http_events ORDER BY rowid",
                     &options);
  assert_int_equal(out.rows, EVENT_ROWS);
  assert_int_equal(out.batches, EVENT_ROWS / EVENT_ROWS_PER_BATCH);

  // A byte limit splits the result into more batches than the row limit.
  options.max_rows_per_batch = 0;
  options.max_bytes_per_batch = 64 * 1024;
  out = expect_match(client, "SELECT * FROM http_events ORDER BY rowid",
                     &options);
  assert_int_equal(out.rows, EVENT_ROWS);
  assert_true(out.batches > 1);

  out = expect_match(client, "SELECT * FROM http_events WHERE 0", NULL);
  assert_int_equal(out.rows, 0);
}

static void test_results_match_sqlite(void **state) {
  client_case *c = *state;
  check_all_queries(c->client);
}

static void test_every_content_algorithm_round_trips(void **state) {
  (void)state;
  static const char *const kEncs[] = {"A128GCM",       "A192GCM",
                                      "A256GCM",       "A128CBC-HS256",
                                      "A192CBC-HS384", "A256CBC-HS512"};
  for (size_t i = 0; i < sizeof(kEncs) / sizeof(kEncs[0]); i++) {
    for (int compact = 0; compact <= 1; compact++) {
      client_case c = {.key_type = SS_KEY_EC_P256,
                       .compact = compact,
                       .compress = (int)(i % 2),
                       .content_alg = kEncs[i]};
      ss_client *client = new_client(&c);
      assert_non_null(client);
      ss_query_options options = {.max_rows_per_batch = 9};
      ss_check_outcome out =
          expect_match(client, "SELECT * FROM all_types ORDER BY id", &options);
      assert_int_equal(out.rows, SS_TEST_DB_ALL_TYPES_ROWS);
      ss_client_free(client);
    }
  }
}

static void expect_schema(ss_client *client, const char *sql,
                          const char *const *names, const ss_column_type *types,
                          size_t num) {
  ss_error err;
  ss_query *query = ss_query_start(client, sql, NULL, &err);
  if (query == NULL) {
    fail_msg("%s: %s: %s", sql, ss_error_code_name(err.code), err.message);
  }
  assert_int_equal(ss_query_num_columns(query), num);
  for (size_t i = 0; i < num; i++) {
    assert_string_equal(ss_query_column_name(query, i), names[i]);
    if (ss_query_column_type(query, i) != types[i]) {
      fail_msg("%s: column %s has type %d, expected %d", sql, names[i],
               (int)ss_query_column_type(query, i), (int)types[i]);
    }
  }
  assert_non_null(ss_query_id(query));
  assert_true(ss_query_id(query)[0] != '\0');
  ss_query_free(query);
}

static void test_schema_types_follow_declared_column_types(void **state) {
  client_case *c = *state;
  static const char *const kAllNames[] = {"id", "i", "d", "b", "s", "bl", "ts"};
  static const ss_column_type kAllTypes[] = {
      SS_COLUMN_INT64,  SS_COLUMN_INT64, SS_COLUMN_DOUBLE,   SS_COLUMN_BOOL,
      SS_COLUMN_STRING, SS_COLUMN_BYTES, SS_COLUMN_TIMESTAMP};
  expect_schema(c->client, "SELECT * FROM all_types", kAllNames, kAllTypes, 7);
  static const char *const kEventNames[] = {
      "time",   "service",    "pod",           "method",        "path",
      "status", "latency_ms", "request_bytes", "response_bytes"};
  static const ss_column_type kEventTypes[] = {
      SS_COLUMN_TIMESTAMP, SS_COLUMN_STRING, SS_COLUMN_STRING,
      SS_COLUMN_STRING,    SS_COLUMN_STRING, SS_COLUMN_INT64,
      SS_COLUMN_DOUBLE,    SS_COLUMN_INT64,  SS_COLUMN_INT64};
  expect_schema(c->client, "SELECT * FROM http_events", kEventNames,
                kEventTypes, 9);
}

static void test_expressions_and_aggregates_match_sqlite(void **state) {
  client_case *c = *state;
  expect_match(c->client,
               "SELECT 1 AS a, 2.5 AS b, 'x' AS c, x'00ff' AS d, NULL AS e",
               NULL);
  ss_check_outcome out = expect_match(
      c->client,
      "SELECT service, count(*) AS n, sum(response_bytes) AS bytes, "
      "min(latency_ms) AS fastest FROM http_events GROUP BY service "
      "ORDER BY service",
      NULL);
  assert_true(out.rows > 0);
  out = expect_match(c->client,
                     "SELECT status, method, count(*) AS n FROM http_events "
                     "WHERE status >= 400 GROUP BY 1, 2 ORDER BY 1, 2",
                     NULL);
  out = expect_match(c->client,
                     "SELECT time, path FROM http_events WHERE rowid % 997 = 0 "
                     "ORDER BY time DESC, rowid",
                     NULL);
  assert_true(out.rows > 0);
}

// TEXT that is no proto3 string as stored comes back as the server's
// contract says: cut at the first NUL, invalid UTF-8 bytes as U+FFFD.
static void test_text_with_nul_or_invalid_utf8_is_served_as_documented(
    void **state) {
  client_case *c = *state;
  ss_error err;
  ss_query *query = ss_query_start(
      c->client, "SELECT s FROM text_edge ORDER BY id", NULL, &err);
  if (query == NULL) {
    fail_msg("%s: %s", ss_error_code_name(err.code), err.message);
  }
  assert_int_equal(ss_query_column_type(query, 0), SS_COLUMN_STRING);
  size_t row = 0;
  const ss_batch *batch;
  int rc;
  while ((rc = ss_query_next(query, &batch, &err)) == 1) {
    for (size_t r = 0; r < ss_batch_num_rows(batch); r++, row++) {
      assert_true(row < SS_TEST_DB_TEXT_EDGE_ROWS);
      const char *want = ss_test_db_text_edges[row].served;
      size_t len = 0;
      const char *got = ss_batch_string(batch, 0, r, &len);
      assert_non_null(got);
      if (len != strlen(want) || memcmp(got, want, len) != 0) {
        fail_msg("row %zu: %zu bytes served, expected %zu", row, len,
                 strlen(want));
      }
      assert_int_equal(got[len], '\0');
    }
  }
  assert_int_equal(rc, 0);
  assert_int_equal(row, SS_TEST_DB_TEXT_EDGE_ROWS);
  ss_query_free(query);
}

static void test_max_total_rows_caps_the_result(void **state) {
  client_case *c = *state;
  ss_query_options options = {.max_rows_per_batch = 100, .max_total_rows = 250};
  ss_error err;
  ss_query *query = ss_query_start(
      c->client, "SELECT * FROM http_events ORDER BY rowid", &options, &err);
  if (query == NULL) {
    fail_msg("%s: %s", ss_error_code_name(err.code), err.message);
  }
  uint64_t rows = 0;
  const ss_batch *batch;
  int rc;
  while ((rc = ss_query_next(query, &batch, &err)) == 1) {
    rows += ss_batch_num_rows(batch);
  }
  // The cap either ends the result after 250 rows or fails it with
  // RESOURCE_EXHAUSTED; it never lets more rows through.
  assert_true(rows <= 250);
  if (rc == 0) {
    assert_int_equal(rows, 250);
    assert_int_equal(ss_query_total_rows(query), 250);
  } else {
    assert_int_equal(err.code, 8);  // RESOURCE_EXHAUSTED
    assert_true(err.message[0] != '\0');
  }
  ss_query_free(query);
}

// Values of several megabytes: each makes a batch of its own, larger than
// gRPC's default 4 MiB message cap, which both ends must lift.
static void test_multi_megabyte_values_round_trip(void **state) {
  client_case *c = *state;
  ss_check_outcome out = expect_match(
      c->client,
      "SELECT zeroblob(5000000) AS z, hex(zeroblob(3000000)) AS h, "
      "length(zeroblob(7)) AS n",
      NULL);
  assert_int_equal(out.rows, 1);
  // Just under the 16 MiB row cap: in compact form with base64 on top, and
  // inflated from a few kilobytes when compressed.
  out = expect_match(c->client, "SELECT zeroblob(16000000) AS z", NULL);
  assert_int_equal(out.rows, 1);
  ss_query_options options = {.max_bytes_per_batch = 1000};
  out =
      expect_match(c->client, "SELECT * FROM all_types ORDER BY id", &options);
  assert_int_equal(out.rows, SS_TEST_DB_ALL_TYPES_ROWS);
  assert_true(out.batches > 1);

  // A row larger than the byte limit goes alone: id 3 holds a 70000-byte
  // blob, its neighbours a few hundred bytes.
  ss_error err;
  ss_query *query = ss_query_start(
      c->client, "SELECT id, bl FROM all_types WHERE id <= 4 ORDER BY id",
      &options, &err);
  if (query == NULL) {
    fail_msg("%s: %s", ss_error_code_name(err.code), err.message);
  }
  const ss_batch *batch;
  int found = 0;
  while (ss_query_next(query, &batch, &err) == 1) {
    for (size_t r = 0; r < ss_batch_num_rows(batch); r++) {
      if (ss_batch_int64(batch, 0, r) == 3) {
        found = 1;
        assert_int_equal(ss_batch_num_rows(batch), 1);
      }
    }
  }
  assert_int_equal(err.code, 0);
  assert_true(found);
  ss_query_free(query);
}

// A single row above the 16 MiB batch cap: the server either sends it whole
// or refuses it with RESOURCE_EXHAUSTED; the client never turns it into
// DATA_LOSS or wrong data.
static void test_row_above_the_batch_cap_is_sent_or_refused(void **state) {
  client_case *c = *state;
  static const char kSql[] =
      "SELECT zeroblob(12000000) AS a, zeroblob(12000000) AS b";
  ss_check_outcome out;
  if (ss_result_check_run(&out, c->client, db_path, kSql, NULL)) {
    assert_int_equal(out.rows, 1);
    fprintf(stderr, "a 24 MB row was sent whole\n");
    return;
  }
  fprintf(stderr, "a 24 MB row: %s: %s\n", ss_error_code_name(out.error.code),
          out.error.message);
  if (out.mismatch) {
    fail_msg("wrong result: %s", out.mismatch_msg);
  }
  if (out.error.code != 8) {  // RESOURCE_EXHAUSTED
    fail_msg("%s: %s, expected the row or RESOURCE_EXHAUSTED",
             ss_error_code_name(out.error.code), out.error.message);
  }
}

typedef struct thread_job {
  ss_client *client;
  int index;
  char failure[1024];  // empty when every query matched
} thread_job;

static void *run_thread(void *arg) {
  thread_job *job = arg;
  job->failure[0] = '\0';
  for (int i = 0; i < QUERIES_PER_THREAD; i++) {
    char sql[160];
    snprintf(sql, sizeof(sql),
             "SELECT * FROM http_events WHERE rowid %% %d = %d ORDER BY rowid",
             NUM_THREADS, job->index);
    ss_query_options options = {.max_rows_per_batch = 333};
    ss_check_outcome out;
    if (!ss_result_check_run(&out, job->client, db_path, sql, &options)) {
      snprintf(job->failure, sizeof(job->failure), "%s: %s", sql,
               out.mismatch ? out.mismatch_msg : out.error.message);
      break;
    }
    if (out.rows != EVENT_ROWS / NUM_THREADS) {
      snprintf(job->failure, sizeof(job->failure), "%s: %llu rows", sql,
               (unsigned long long)out.rows);
      break;
    }
  }
  return NULL;
}

static void test_one_client_serves_concurrent_queries(void **state) {
  client_case *c = *state;
  pthread_t threads[NUM_THREADS];
  thread_job jobs[NUM_THREADS];
  for (int i = 0; i < NUM_THREADS; i++) {
    jobs[i].client = c->client;
    jobs[i].index = i;
    assert_int_equal(pthread_create(&threads[i], NULL, run_thread, &jobs[i]),
                     0);
  }
  for (int i = 0; i < NUM_THREADS; i++) {
    pthread_join(threads[i], NULL);
  }
  for (int i = 0; i < NUM_THREADS; i++) {
    if (jobs[i].failure[0] != '\0') {
      fail_msg("thread %d: %s", i, jobs[i].failure);
    }
  }
}

static void test_rotated_keys_keep_queries_working(void **state) {
  (void)state;
  ss_client_options options;
  ss_client_options_init(&options);
  options.target = ss_test_server_target(server);
  options.key_type = SS_KEY_X25519;
  options.rotate_after_queries = 2;
  ss_error err;
  ss_client *client = ss_client_new(&options, &err);
  assert_non_null(client);
  for (int i = 0; i < 7; i++) {
    expect_match(client, "SELECT * FROM all_types ORDER BY id", NULL);
  }
  ss_client_free(client);
}

static void test_server_exits_zero_on_sigterm(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  if (!ss_test_fixture_stop(&server, &st)) {
    fail_msg("%s", st.msg);
  }
}

#define CLIENT_TEST(name, fn, c) \
  { name, fn, client_setup, client_teardown, c }

int main(int argc, char **argv) {
  if (!ss_test_fixture_args(argc, argv, &server_binary, &demo_binary)) {
    return 2;
  }

  static client_case p256_parts = {.key_type = SS_KEY_EC_P256};
  static client_case p256_compact = {.key_type = SS_KEY_EC_P256, .compact = 1};
  static client_case p256_parts_deflate = {.key_type = SS_KEY_EC_P256,
                                           .compress = 1};
  static client_case p256_compact_deflate = {
      .key_type = SS_KEY_EC_P256, .compact = 1, .compress = 1};
  static client_case x25519_parts = {.key_type = SS_KEY_X25519};
  static client_case x25519_compact = {.key_type = SS_KEY_X25519, .compact = 1};
  static client_case x25519_parts_deflate = {.key_type = SS_KEY_X25519,
                                             .compress = 1};
  static client_case x25519_compact_deflate = {
      .key_type = SS_KEY_X25519, .compact = 1, .compress = 1};
  // RSA-4096 key generation takes seconds: two clients cover both
  // serializations, with and without compression.
  static client_case rsa_parts = {.key_type = SS_KEY_RSA_4096};
  static client_case rsa_compact_deflate = {
      .key_type = SS_KEY_RSA_4096, .compact = 1, .compress = 1};
  static client_case shared = {.key_type = SS_KEY_EC_P256};

  const struct CMUnitTest tests[] = {
      CLIENT_TEST("test_p256_parts_results_match_sqlite",
                  test_results_match_sqlite, &p256_parts),
      CLIENT_TEST("test_p256_compact_results_match_sqlite",
                  test_results_match_sqlite, &p256_compact),
      CLIENT_TEST("test_p256_parts_deflate_results_match_sqlite",
                  test_results_match_sqlite, &p256_parts_deflate),
      CLIENT_TEST("test_p256_compact_deflate_results_match_sqlite",
                  test_results_match_sqlite, &p256_compact_deflate),
      CLIENT_TEST("test_x25519_parts_results_match_sqlite",
                  test_results_match_sqlite, &x25519_parts),
      CLIENT_TEST("test_x25519_compact_results_match_sqlite",
                  test_results_match_sqlite, &x25519_compact),
      CLIENT_TEST("test_x25519_parts_deflate_results_match_sqlite",
                  test_results_match_sqlite, &x25519_parts_deflate),
      CLIENT_TEST("test_x25519_compact_deflate_results_match_sqlite",
                  test_results_match_sqlite, &x25519_compact_deflate),
      CLIENT_TEST("test_rsa4096_parts_results_match_sqlite",
                  test_results_match_sqlite, &rsa_parts),
      CLIENT_TEST("test_rsa4096_compact_deflate_results_match_sqlite",
                  test_results_match_sqlite, &rsa_compact_deflate),
      cmocka_unit_test(test_every_content_algorithm_round_trips),
      CLIENT_TEST("test_schema_types_follow_declared_column_types",
                  test_schema_types_follow_declared_column_types, &shared),
      CLIENT_TEST("test_expressions_and_aggregates_match_sqlite",
                  test_expressions_and_aggregates_match_sqlite, &shared),
      CLIENT_TEST("test_text_with_nul_or_invalid_utf8_is_served_as_documented",
                  test_text_with_nul_or_invalid_utf8_is_served_as_documented,
                  &shared),
      CLIENT_TEST("test_p256_parts_multi_megabyte_values_round_trip",
                  test_multi_megabyte_values_round_trip, &p256_parts),
      CLIENT_TEST("test_p256_compact_deflate_multi_megabyte_values_round_trip",
                  test_multi_megabyte_values_round_trip, &p256_compact_deflate),
      CLIENT_TEST("test_x25519_parts_row_above_the_batch_cap",
                  test_row_above_the_batch_cap_is_sent_or_refused,
                  &x25519_parts),
      CLIENT_TEST("test_x25519_compact_row_above_the_batch_cap",
                  test_row_above_the_batch_cap_is_sent_or_refused,
                  &x25519_compact),
      CLIENT_TEST("test_x25519_parts_deflate_row_above_the_batch_cap",
                  test_row_above_the_batch_cap_is_sent_or_refused,
                  &x25519_parts_deflate),
      CLIENT_TEST("test_max_total_rows_caps_the_result",
                  test_max_total_rows_caps_the_result, &shared),
      CLIENT_TEST("test_one_client_serves_concurrent_queries",
                  test_one_client_serves_concurrent_queries, &shared),
      cmocka_unit_test(test_rotated_keys_keep_queries_working),
      cmocka_unit_test(test_server_exits_zero_on_sigterm),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
