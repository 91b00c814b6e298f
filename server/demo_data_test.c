// The demo data generator: deterministic per seed, exact row counts, sane
// values and distributions, never overwrites a file, and prints its speed.
#include "server/demo_data.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#define PATH_MAX_LEN 4096

static char tmp_dir[PATH_MAX_LEN / 2];

static int group_setup(void **state) {
  (void)state;
  const char *dir = getenv("TEST_TMPDIR");
  snprintf(tmp_dir, sizeof(tmp_dir), "%s", dir != NULL ? dir : "/tmp");
  return 0;
}

// fresh_path names a file in the test directory and removes any old one.
static void fresh_path(char *out, const char *name) {
  snprintf(out, PATH_MAX_LEN, "%s/%s", tmp_dir, name);
  unlink(out);
}

static void generate(const char *path, uint64_t rows, uint64_t seed) {
  ss_status st;
  ss_status_init(&st);
  if (!ss_demo_data_generate(path, rows, seed, &st)) {
    fail_msg("generate: %s: %s", ss_status_code_name(st.code), st.msg);
  }
}

static uint8_t *read_all(const char *path, size_t *out_len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long len = ftell(f);
  assert_true(len >= 0);
  rewind(f);
  uint8_t *data = malloc((size_t)len + 1);
  assert_non_null(data);
  assert_int_equal(fread(data, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *out_len = (size_t)len;
  return data;
}

static sqlite3 *open_db(const char *path) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  return db;
}

static int64_t query_int(sqlite3 *db, const char *sql) {
  sqlite3_stmt *stmt;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return v;
}

static double query_double(sqlite3 *db, const char *sql) {
  sqlite3_stmt *stmt;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
  double v = sqlite3_column_double(stmt, 0);
  sqlite3_finalize(stmt);
  return v;
}

static int file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

static void test_same_seed_writes_identical_files(void **state) {
  (void)state;
  char a[PATH_MAX_LEN];
  char b[PATH_MAX_LEN];
  fresh_path(a, "same_a.db");
  fresh_path(b, "same_b.db");
  generate(a, 5000, 42);
  generate(b, 5000, 42);
  size_t a_len;
  size_t b_len;
  uint8_t *a_data = read_all(a, &a_len);
  uint8_t *b_data = read_all(b, &b_len);
  assert_int_equal(a_len, b_len);
  assert_memory_equal(a_data, b_data, a_len);
  free(a_data);
  free(b_data);
}

static void test_different_seeds_write_different_rows(void **state) {
  (void)state;
  char a[PATH_MAX_LEN];
  char b[PATH_MAX_LEN];
  fresh_path(a, "seed_1.db");
  fresh_path(b, "seed_2.db");
  generate(a, 2000, 1);
  generate(b, 2000, 2);
  sqlite3 *db = open_db(a);
  char sql[PATH_MAX_LEN + 256];
  snprintf(sql, sizeof(sql), "ATTACH '%s' AS other", b);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  int64_t same =
      query_int(db,
                "SELECT count(*) FROM http_events a JOIN other.http_events b "
                "ON a.rowid = b.rowid WHERE a.time = b.time OR "
                "a.latency_ms = b.latency_ms");
  int64_t pods_shared =
      query_int(db,
                "SELECT count(*) FROM (SELECT DISTINCT pod FROM http_events "
                "INTERSECT SELECT DISTINCT pod FROM other.http_events)");
  sqlite3_close(db);
  assert_true(same < 20);  // chance matches only
  assert_int_equal(pods_shared, 0);
}

static void test_row_count_is_exact(void **state) {
  (void)state;
  static const uint64_t kCounts[] = {0, 1, 4097};
  for (size_t i = 0; i < sizeof(kCounts) / sizeof(kCounts[0]); i++) {
    char path[PATH_MAX_LEN];
    fresh_path(path, "count.db");
    generate(path, kCounts[i], 7);
    sqlite3 *db = open_db(path);
    assert_int_equal(query_int(db, "SELECT count(*) FROM http_events"),
                     kCounts[i]);
    sqlite3_close(db);
  }
}

static void test_schema_has_declared_types_and_a_time_index(void **state) {
  (void)state;
  char path[PATH_MAX_LEN];
  fresh_path(path, "schema.db");
  generate(path, 10, 1);
  sqlite3 *db = open_db(path);
  sqlite3_stmt *stmt;
  assert_int_equal(
      sqlite3_prepare_v2(db,
                         "SELECT name, type FROM pragma_table_info("
                         "'http_events') ORDER BY cid",
                         -1, &stmt, NULL),
      SQLITE_OK);
  static const char *const kColumns[][2] = {
      {"time", "TIMESTAMP"},
      {"service", "TEXT"},
      {"pod", "TEXT"},
      {"method", "TEXT"},
      {"path", "TEXT"},
      {"status", "INTEGER"},
      {"latency_ms", "REAL"},
      {"request_bytes", "INTEGER"},
      {"response_bytes", "INTEGER"},
  };
  size_t n = 0;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    assert_true(n < 9);
    assert_string_equal(sqlite3_column_text(stmt, 0), kColumns[n][0]);
    assert_string_equal(sqlite3_column_text(stmt, 1), kColumns[n][1]);
    n++;
  }
  assert_int_equal(n, 9);
  sqlite3_finalize(stmt);
  assert_int_equal(
      query_int(db,
                "SELECT count(*) FROM sqlite_schema WHERE type = 'index' "
                "AND tbl_name = 'http_events'"),
      1);
  sqlite3_close(db);
}

static void test_values_and_distributions_are_sane(void **state) {
  (void)state;
  char path[PATH_MAX_LEN];
  fresh_path(path, "sane.db");
  const int64_t kRows = 50000;
  generate(path, (uint64_t)kRows, 3);
  sqlite3 *db = open_db(path);
  // Types as stored.
  assert_int_equal(
      query_int(db,
                "SELECT count(*) FROM http_events WHERE "
                "typeof(time) != 'integer' OR typeof(service) != 'text' "
                "OR typeof(pod) != 'text' OR typeof(method) != 'text' "
                "OR typeof(path) != 'text' OR typeof(status) != 'integer' "
                "OR typeof(latency_ms) != 'real' "
                "OR typeof(request_bytes) != 'integer' "
                "OR typeof(response_bytes) != 'integer'"),
      0);
  // Time: strictly increasing from the start, a few hours for 50k rows.
  assert_int_equal(
      query_int(db,
                "SELECT count(*) FROM http_events a JOIN http_events b "
                "ON b.rowid = a.rowid + 1 WHERE b.time <= a.time"),
      0);
  assert_true(query_int(db, "SELECT min(time) FROM http_events") >
              SS_DEMO_DATA_START_NS);
  int64_t span_s = query_int(db,
                             "SELECT (max(time) - min(time)) / 1000000000 FROM "
                             "http_events");
  assert_true(span_s > 60 * 5 && span_s < 3600 * 24);
  // Categories.
  assert_int_equal(
      query_int(db,
                "SELECT count(*) FROM http_events WHERE service NOT IN "
                "('frontend', 'catalog', 'cart', 'search', 'checkout', "
                "'auth') OR substr(pod, 1, length(service) + 1) != "
                "service || '-' OR method NOT IN ('GET', 'POST', 'PUT', "
                "'DELETE', 'PATCH') OR substr(path, 1, 1) != '/'"),
      0);
  assert_int_equal(query_int(db,
                             "SELECT count(DISTINCT service) FROM "
                             "http_events"),
                   6);
  int64_t pods = query_int(db, "SELECT count(DISTINCT pod) FROM http_events");
  assert_true(pods >= 18 && pods <= 36);
  assert_int_equal(
      query_int(db,
                "SELECT count(*) FROM http_events WHERE status NOT IN "
                "(200, 201, 204, 304, 400, 401, 403, 404, 429, 500, 502, "
                "503, 504)"),
      0);
  assert_int_equal(query_int(db,
                             "SELECT count(*) FROM http_events WHERE "
                             "path = '/healthz' AND status != 200"),
                   0);
  // Numbers.
  assert_int_equal(
      query_int(db,
                "SELECT count(*) FROM http_events WHERE latency_ms <= 0 "
                "OR latency_ms > 60000 OR request_bytes < 0 OR "
                "response_bytes < 0"),
      0);
  // Shares: mostly success, some client errors, few server errors.
  double ok = query_double(db, "SELECT avg(status < 400) FROM http_events");
  double client = query_double(
      db, "SELECT avg(status >= 400 AND status < 500) FROM http_events");
  double server = query_double(db,
                               "SELECT avg(status >= 500) FROM "
                               "http_events");
  double get = query_double(db, "SELECT avg(method = 'GET') FROM http_events");
  printf("demo data: %.1f%% 2xx/3xx, %.2f%% 4xx, %.2f%% 5xx, %.1f%% GET\n",
         ok * 100, client * 100, server * 100, get * 100);
  assert_true(ok > 0.9);
  assert_true(client > 0.01 && client < 0.08);
  assert_true(server > 0.001 && server < 0.02);
  assert_true(get > 0.5 && get < 0.9);
  // Latency is log-normal-ish: the median well below the mean, a long tail.
  double median =
      query_double(db,
                   "SELECT latency_ms FROM http_events ORDER BY latency_ms "
                   "LIMIT 1 OFFSET (SELECT count(*) / 2 FROM http_events)");
  double p99 = query_double(
      db,
      "SELECT latency_ms FROM http_events ORDER BY latency_ms "
      "LIMIT 1 OFFSET (SELECT count(*) * 99 / 100 FROM http_events)");
  double mean = query_double(db, "SELECT avg(latency_ms) FROM http_events");
  printf("demo data: latency median %.1f ms, mean %.1f ms, p99 %.1f ms\n",
         median, mean, p99);
  assert_true(median > 5 && median < 100);
  assert_true(mean > median);
  assert_true(p99 > 4 * median);
  assert_int_equal(query_int(db,
                             "SELECT count(*) FROM http_events WHERE "
                             "status = 504 AND latency_ms < 30000"),
                   0);
  sqlite3_close(db);
}

static void test_existing_file_is_refused_and_left_alone(void **state) {
  (void)state;
  char path[PATH_MAX_LEN];
  fresh_path(path, "existing.db");
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs("precious", f);
  fclose(f);
  ss_status st;
  assert_false(ss_demo_data_generate(path, 10, 1, &st));
  assert_int_equal(st.code, GRPC_STATUS_FAILED_PRECONDITION);
  assert_non_null(strstr(st.msg, "exists"));
  size_t len;
  uint8_t *data = read_all(path, &len);
  assert_int_equal(len, 8);
  assert_memory_equal(data, "precious", 8);
  free(data);
}

static void test_unwritable_path_is_unavailable_and_leaves_nothing(
    void **state) {
  (void)state;
  char path[PATH_MAX_LEN];
  snprintf(path, sizeof(path), "%s/no/such/dir/demo.db", tmp_dir);
  ss_status st;
  assert_false(ss_demo_data_generate(path, 10, 1, &st));
  assert_int_equal(st.code, GRPC_STATUS_UNAVAILABLE);
  assert_false(file_exists(path));
  assert_false(ss_demo_data_generate(NULL, 10, 1, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_generation_speed_is_printed(void **state) {
  (void)state;
  char path[PATH_MAX_LEN];
  fresh_path(path, "speed.db");
  const uint64_t kRows = 200000;
  struct timespec start;
  struct timespec end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  generate(path, kRows, 1);
  clock_gettime(CLOCK_MONOTONIC, &end);
  double s = (double)(end.tv_sec - start.tv_sec) +
             (double)(end.tv_nsec - start.tv_nsec) / 1e9;
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  printf("demo data: %llu rows in %.3f s: %.0f rows/s, %.1f MB\n",
         (unsigned long long)kRows, s, (double)kRows / s,
         (double)sb.st_size / 1e6);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_seed_writes_identical_files),
      cmocka_unit_test(test_different_seeds_write_different_rows),
      cmocka_unit_test(test_row_count_is_exact),
      cmocka_unit_test(test_schema_has_declared_types_and_a_time_index),
      cmocka_unit_test(test_values_and_distributions_are_sane),
      cmocka_unit_test(test_existing_file_is_refused_and_left_alone),
      cmocka_unit_test(test_unwritable_path_is_unavailable_and_leaves_nothing),
      cmocka_unit_test(test_generation_speed_is_printed),
  };
  return cmocka_run_group_tests(tests, group_setup, NULL);
}
