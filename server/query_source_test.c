// ss_query_source against real SQLite files in $TEST_TMPDIR: every column
// type round-trips and matches a direct SQLite read, batches respect their
// limits, every way a query could write or reach outside the database is
// refused with the right code, and the database file stays unchanged.
#include "server/query_source.h"

#include <pthread.h>
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

#include "sealstream/v1/query.pb-c.h"

#define NUM_NUMS 10000  // rows of the nums table
#define PATH_MAX_LEN 4096

#define SLOW_QUERY                                                        \
  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE " \
  "x < 1000000000) SELECT count(*) FROM c"

static char tmp_dir[PATH_MAX_LEN / 2];
static char db_path[PATH_MAX_LEN];  // the fixture every test reads
static uint8_t *db_bytes;           // the fixture as created
static size_t db_len;
static struct timespec db_mtime;

static const char kFixture[] =
    "CREATE TABLE every_type(i INTEGER, d REAL, b BOOLEAN, s TEXT, y BLOB, "
    "  ts TIMESTAMP);"
    "INSERT INTO every_type VALUES"
    "  (1, 1.5, 1, 'hello', x'00ff00', 1700000000123456789),"
    "  (NULL, NULL, NULL, NULL, NULL, NULL),"
    "  (-9223372036854775808, -0.0, 0, '', x'', 0),"
    "  (9223372036854775807, 1e308, 1, 'h\xc3\xa9llo \xe2\x9c\x93 "
    "\xf0\x9d\x84\x9e', x'000000', -1),"
    "  (0, 3.25, 0, 'tab\tand\nnewline', x'0102030405', 86400000000000);"
    "CREATE TABLE nums(n INTEGER, label TEXT);"
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "  WHERE x < 10000)"
    "INSERT INTO nums SELECT x, 'row-' || x FROM c;"
    "CREATE INDEX nums_n ON nums(n);"
    "CREATE TABLE times(t TIMESTAMP, note TEXT);"
    "INSERT INTO times VALUES"
    "  ('1970-01-01', 'epoch'),"
    "  ('2024-05-01T12:00:00Z', 'utc'),"
    "  ('2024-05-01 12:00:00.250', 'fraction'),"
    "  ('2024-05-01T14:00:00+02:00', 'offset'),"
    "  ('1969-12-31T23:59:59.5Z', 'before epoch'),"
    "  ('2024-02-30T00:00:00Z', 'no such day'),"
    "  ('yesterday', 'not a time'),"
    "  (1.5e9, 'real'),"
    "  (x'00', 'blob');"
    "CREATE TABLE flags(f BOOLEAN);"
    "INSERT INTO flags VALUES (0.25), (0.0), ('3'), ('abc'), (2), (NULL);";

// --- Helpers -----------------------------------------------------------

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int read_file(const char *path, uint8_t **out, size_t *out_len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    return 0;
  }
  size_t cap = 1 << 16;
  size_t len = 0;
  uint8_t *data = malloc(cap);
  size_t n;
  while (data != NULL && (n = fread(data + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) {
      cap *= 2;
      uint8_t *grown = realloc(data, cap);
      if (grown == NULL) {
        free(data);
      }
      data = grown;
    }
  }
  fclose(f);
  *out = data;
  *out_len = len;
  return data != NULL;
}

static int write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) {
    return 0;
  }
  int ok = fwrite(data, 1, len, f) == len;
  return fclose(f) == 0 && ok;
}

static void tmp_path(char *out, const char *name) {
  snprintf(out, PATH_MAX_LEN, "%s/%s", tmp_dir, name);
}

static int group_setup(void **state) {
  (void)state;
  const char *dir = getenv("TEST_TMPDIR");
  snprintf(tmp_dir, sizeof(tmp_dir), "%s", dir != NULL ? dir : "/tmp");
  tmp_path(db_path, "query_source_test.db");
  unlink(db_path);
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      NULL) != SQLITE_OK ||
      sqlite3_exec(db, kFixture, NULL, NULL, NULL) != SQLITE_OK) {
    fprintf(stderr, "fixture: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    return 1;
  }
  sqlite3_close(db);
  struct stat sb;
  if (stat(db_path, &sb) != 0 || !read_file(db_path, &db_bytes, &db_len)) {
    return 1;
  }
  db_mtime = sb.st_mtim;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  free(db_bytes);
  return 0;
}

// A whole result stream, unpacked.
typedef struct result {
  Sealstream__V1__StreamPayload **msgs;
  size_t *sizes;  // packed bytes of each message
  size_t num_msgs;
  uint64_t rows;  // ss_query_source_rows at the end
  uint64_t batches;
} result;

static void result_cleanup(result *r) {
  for (size_t i = 0; i < r->num_msgs; i++) {
    sealstream__v1__stream_payload__free_unpacked(r->msgs[i], NULL);
  }
  free(r->msgs);
  free(r->sizes);
  memset(r, 0, sizeof(*r));
}

// run_query runs |sql| to its final message, checking the stream's shape
// (Schema, RowBatches, QueryStats last and only last). Returns 1, or 0 with
// |st| set when open or a next call fails.
static int run_query(const char *path, const char *sql,
                     const ss_query_limits *limits, result *out,
                     ss_status *st) {
  memset(out, 0, sizeof(*out));
  ss_query_source *qs = ss_query_source_open(path, sql, limits, 0, st);
  if (qs == NULL) {
    return 0;
  }
  ss_buf buf;
  ss_buf_init(&buf, 0);
  int final = 0;
  int ok = 1;
  while (!final) {
    if (!ss_query_source_next(qs, &buf, &final, st)) {
      assert_int_equal(buf.len, 0);
      assert_int_equal(final, 0);
      ok = 0;
      break;
    }
    Sealstream__V1__StreamPayload *msg =
        sealstream__v1__stream_payload__unpack(NULL, buf.len, buf.data);
    assert_non_null(msg);
    out->msgs = realloc(out->msgs, (out->num_msgs + 1) * sizeof(*out->msgs));
    out->sizes = realloc(out->sizes, (out->num_msgs + 1) * sizeof(*out->sizes));
    assert_non_null(out->msgs);
    assert_non_null(out->sizes);
    out->msgs[out->num_msgs] = msg;
    out->sizes[out->num_msgs] = buf.len;
    Sealstream__V1__StreamPayload__PayloadCase want =
        out->num_msgs == 0 ? SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_SCHEMA
        : final            ? SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_STATS
                           : SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_BATCH;
    assert_int_equal(msg->payload_case, want);
    out->num_msgs++;
  }
  out->rows = ss_query_source_rows(qs);
  out->batches = ss_query_source_batches(qs);
  ss_buf_cleanup(&buf);
  ss_query_source_free(qs);
  return ok;
}

static void must_run(const char *sql, const ss_query_limits *limits,
                     result *out) {
  ss_status st;
  ss_status_init(&st);
  if (!run_query(db_path, sql, limits, out, &st)) {
    fail_msg("%s: %s: %s", sql, ss_status_code_name(st.code), st.msg);
  }
}

static const Sealstream__V1__Schema *schema_of(const result *r) {
  return r->msgs[0]->schema;
}

static const Sealstream__V1__QueryStats *stats_of(const result *r) {
  return r->msgs[r->num_msgs - 1]->stats;
}

static size_t num_batches(const result *r) { return r->num_msgs - 2; }

static const Sealstream__V1__RowBatch *batch_at(const result *r, size_t i) {
  return r->msgs[i + 1]->batch;
}

// cell finds row |row| of the result: its column |col| and index in it.
static const Sealstream__V1__Column *cell(const result *r, size_t row,
                                          size_t col, size_t *out_index) {
  for (size_t b = 0; b < num_batches(r); b++) {
    const Sealstream__V1__RowBatch *batch = batch_at(r, b);
    if (row < batch->num_rows) {
      assert_true(col < batch->n_columns);
      *out_index = row;
      return batch->columns[col];
    }
    row -= batch->num_rows;
  }
  fail_msg("row out of range");
  return NULL;
}

static int cell_is_null(const Sealstream__V1__Column *c, size_t i) {
  return c->n_nulls > 0 && c->nulls[i];
}

// check_columns_are_whole checks every batch column has num_rows values and
// nulls either empty or num_rows long with at least one set.
static void check_columns_are_whole(const result *r) {
  for (size_t b = 0; b < num_batches(r); b++) {
    const Sealstream__V1__RowBatch *batch = batch_at(r, b);
    assert_true(batch->num_rows > 0);
    assert_int_equal(batch->n_columns, schema_of(r)->n_columns);
    for (size_t c = 0; c < batch->n_columns; c++) {
      const Sealstream__V1__Column *col = batch->columns[c];
      size_t n = 0;
      switch (col->data_case) {
        case SEALSTREAM__V1__COLUMN__DATA_INT64_DATA:
          n = col->int64_data->n_data;
          break;
        case SEALSTREAM__V1__COLUMN__DATA_TIMESTAMP_DATA:
          n = col->timestamp_data->n_data;
          break;
        case SEALSTREAM__V1__COLUMN__DATA_DOUBLE_DATA:
          n = col->double_data->n_data;
          break;
        case SEALSTREAM__V1__COLUMN__DATA_BOOL_DATA:
          n = col->bool_data->n_data;
          break;
        case SEALSTREAM__V1__COLUMN__DATA_STRING_DATA:
          n = col->string_data->n_data;
          break;
        case SEALSTREAM__V1__COLUMN__DATA_BYTES_DATA:
          n = col->bytes_data->n_data;
          break;
        default:
          fail_msg("column %zu has no data", c);
      }
      assert_int_equal(n, batch->num_rows);
      if (col->n_nulls > 0) {
        assert_int_equal(col->n_nulls, batch->num_rows);
        int any = 0;
        for (size_t i = 0; i < col->n_nulls; i++) {
          any |= col->nulls[i];
        }
        assert_true(any);
      }
    }
  }
}

// compare_with_sqlite reads |sql| directly and checks every value of |r|
// against it, converted as the header describes.
static void compare_with_sqlite(const result *r, const char *sql) {
  check_columns_are_whole(r);
  sqlite3 *db;
  sqlite3_stmt *stmt;
  assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
  const Sealstream__V1__Schema *schema = schema_of(r);
  assert_int_equal(schema->n_columns, (size_t)sqlite3_column_count(stmt));
  size_t row = 0;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    for (size_t c = 0; c < schema->n_columns; c++) {
      assert_string_equal(schema->columns[c]->name,
                          sqlite3_column_name(stmt, (int)c));
      size_t i;
      const Sealstream__V1__Column *col = cell(r, row, c, &i);
      int vtype = sqlite3_column_type(stmt, (int)c);
      assert_int_equal(cell_is_null(col, i), vtype == SQLITE_NULL);
      if (vtype == SQLITE_NULL) {
        continue;
      }
      switch (schema->columns[c]->type) {
        case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64:
          assert_int_equal(col->data_case,
                           SEALSTREAM__V1__COLUMN__DATA_INT64_DATA);
          assert_true(col->int64_data->data[i] ==
                      sqlite3_column_int64(stmt, (int)c));
          break;
        case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_TIMESTAMP:
          assert_int_equal(col->data_case,
                           SEALSTREAM__V1__COLUMN__DATA_TIMESTAMP_DATA);
          assert_int_equal(vtype, SQLITE_INTEGER);
          assert_true(col->timestamp_data->data[i] ==
                      sqlite3_column_int64(stmt, (int)c));
          break;
        case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_DOUBLE: {
          assert_int_equal(col->data_case,
                           SEALSTREAM__V1__COLUMN__DATA_DOUBLE_DATA);
          double want = sqlite3_column_double(stmt, (int)c);
          assert_memory_equal(&col->double_data->data[i], &want, sizeof(want));
          break;
        }
        case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL:
          assert_int_equal(col->data_case,
                           SEALSTREAM__V1__COLUMN__DATA_BOOL_DATA);
          assert_int_equal(col->bool_data->data[i],
                           sqlite3_column_int64(stmt, (int)c) != 0);
          break;
        case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_STRING:
          assert_int_equal(col->data_case,
                           SEALSTREAM__V1__COLUMN__DATA_STRING_DATA);
          assert_string_equal(col->string_data->data[i],
                              (const char *)sqlite3_column_text(stmt, (int)c));
          break;
        case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BYTES: {
          assert_int_equal(col->data_case,
                           SEALSTREAM__V1__COLUMN__DATA_BYTES_DATA);
          const void *want = sqlite3_column_blob(stmt, (int)c);
          size_t len = (size_t)sqlite3_column_bytes(stmt, (int)c);
          assert_int_equal(col->bytes_data->data[i].len, len);
          if (len > 0) {
            assert_memory_equal(col->bytes_data->data[i].data, want, len);
          }
          break;
        }
        default:
          fail_msg("column %zu has no type", c);
      }
    }
    row++;
  }
  assert_int_equal(stats_of(r)->rows, row);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

// expect_failure runs |sql| and expects open or a next call to fail with
// |code| and a message containing |text|.
static void expect_failure_at(const char *path, const char *sql,
                              const ss_query_limits *limits,
                              grpc_status_code code, const char *text) {
  ss_status st;
  ss_status_init(&st);
  result r;
  if (run_query(path, sql, limits, &r, &st)) {
    fail_msg("%s: ran to the end", sql);
  }
  if (st.code != code || strstr(st.msg, text) == NULL) {
    fail_msg("%s: got %s \"%s\", want %s \"...%s...\"", sql,
             ss_status_code_name(st.code), st.msg, ss_status_code_name(code),
             text);
  }
  result_cleanup(&r);
}

static void expect_failure(const char *sql, grpc_status_code code,
                           const char *text) {
  expect_failure_at(db_path, sql, NULL, code, text);
}

static void expect_read_only_refusal(const char *sql) {
  expect_failure(sql, GRPC_STATUS_INVALID_ARGUMENT,
                 "only read-only queries are allowed");
}

static int file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

// --- Values --------------------------------------------------------------

static void test_every_column_type_round_trips(void **state) {
  (void)state;
  const char *sql = "SELECT * FROM every_type";
  result r;
  must_run(sql, NULL, &r);
  const Sealstream__V1__Schema *schema = schema_of(&r);
  static const Sealstream__V1__ColumnType kTypes[] = {
      SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64,
      SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_DOUBLE,
      SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL,
      SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_STRING,
      SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BYTES,
      SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_TIMESTAMP,
  };
  static const char *const kNames[] = {"i", "d", "b", "s", "y", "ts"};
  assert_int_equal(schema->n_columns, 6);
  for (size_t i = 0; i < 6; i++) {
    assert_string_equal(schema->columns[i]->name, kNames[i]);
    assert_int_equal(schema->columns[i]->type, kTypes[i]);
  }
  assert_int_equal(num_batches(&r), 1);
  assert_int_equal(batch_at(&r, 0)->num_rows, 5);
  compare_with_sqlite(&r, sql);
  result_cleanup(&r);
}

static void test_nulls_are_flagged_only_in_columns_that_hold_them(
    void **state) {
  (void)state;
  const char *sql =
      "SELECT n, CASE WHEN n % 3 = 0 THEN NULL ELSE label END AS maybe "
      "FROM nums WHERE n <= 9";
  result r;
  must_run(sql, NULL, &r);
  compare_with_sqlite(&r, sql);
  const Sealstream__V1__RowBatch *batch = batch_at(&r, 0);
  assert_int_equal(batch->columns[0]->n_nulls, 0);
  assert_int_equal(batch->columns[1]->n_nulls, 9);
  for (size_t i = 0; i < 9; i++) {
    assert_int_equal(batch->columns[1]->nulls[i], (i + 1) % 3 == 0);
    if ((i + 1) % 3 == 0) {
      assert_string_equal(batch->columns[1]->string_data->data[i], "");
    }
  }
  result_cleanup(&r);
}

static void test_empty_strings_and_blobs_with_nul_bytes_round_trip(
    void **state) {
  (void)state;
  const char *sql = "SELECT s, y FROM every_type WHERE i IS NOT NULL";
  result r;
  must_run(sql, NULL, &r);
  compare_with_sqlite(&r, sql);
  const Sealstream__V1__RowBatch *batch = batch_at(&r, 0);
  assert_string_equal(batch->columns[0]->string_data->data[1], "");
  assert_int_equal(batch->columns[1]->bytes_data->data[1].len, 0);
  assert_int_equal(batch->columns[1]->bytes_data->data[0].len, 3);
  assert_memory_equal(batch->columns[1]->bytes_data->data[0].data,
                      "\x00\xff\x00", 3);
  assert_int_equal(batch->columns[1]->bytes_data->data[2].len, 3);
  assert_memory_equal(batch->columns[1]->bytes_data->data[2].data,
                      "\x00\x00\x00", 3);
  result_cleanup(&r);
}

static void test_expression_columns_take_the_storage_class_of_the_first_row(
    void **state) {
  (void)state;
  const char *sql =
      "SELECT 7 AS i, 2.5 AS d, 'x' AS s, x'00' AS y, NULL AS n, "
      "i + 1 AS sum, upper(s) AS up FROM every_type WHERE i = 1";
  result r;
  must_run(sql, NULL, &r);
  const Sealstream__V1__Schema *schema = schema_of(&r);
  static const Sealstream__V1__ColumnType kTypes[] = {
      SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64,
      SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_DOUBLE,
      SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_STRING,
      SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BYTES,
      SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_STRING,
      SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64,
      SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_STRING,
  };
  assert_int_equal(schema->n_columns, 7);
  for (size_t i = 0; i < 7; i++) {
    assert_int_equal(schema->columns[i]->type, kTypes[i]);
  }
  compare_with_sqlite(&r, sql);
  result_cleanup(&r);
}

static void test_later_values_of_another_class_are_converted(void **state) {
  (void)state;
  // The first row fixes INT64; the others are converted as SQLite converts.
  const char *sql =
      "SELECT v FROM (SELECT 1 AS k, 5 AS v UNION ALL SELECT 2, 2.75 "
      "UNION ALL SELECT 3, '12ab' UNION ALL SELECT 4, NULL) ORDER BY k";
  result r;
  must_run(sql, NULL, &r);
  assert_int_equal(schema_of(&r)->columns[0]->type,
                   SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64);
  const Sealstream__V1__Column *col = batch_at(&r, 0)->columns[0];
  assert_int_equal(col->int64_data->n_data, 4);
  assert_int_equal(col->int64_data->data[0], 5);
  assert_int_equal(col->int64_data->data[1], 2);
  assert_int_equal(col->int64_data->data[2], 12);
  assert_int_equal(col->int64_data->data[3], 0);
  assert_int_equal(col->n_nulls, 4);
  assert_true(col->nulls[3] && !col->nulls[0]);
  result_cleanup(&r);

  // A first row of text makes the column STRING; numbers become text.
  must_run(
      "SELECT v FROM (SELECT 1 AS k, 'a' AS v UNION ALL SELECT 2, 42 "
      "UNION ALL SELECT 3, 0.5) ORDER BY k",
      NULL, &r);
  col = batch_at(&r, 0)->columns[0];
  assert_string_equal(col->string_data->data[0], "a");
  assert_string_equal(col->string_data->data[1], "42");
  assert_string_equal(col->string_data->data[2], "0.5");
  result_cleanup(&r);

  // A BOOLEAN column holding reals, text and integers.
  must_run("SELECT f FROM flags", NULL, &r);
  assert_int_equal(schema_of(&r)->columns[0]->type,
                   SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL);
  col = batch_at(&r, 0)->columns[0];
  static const protobuf_c_boolean kFlags[] = {1, 0, 1, 0, 1, 0};
  assert_int_equal(col->bool_data->n_data, 6);
  assert_memory_equal(col->bool_data->data, kFlags, sizeof(kFlags));
  assert_int_equal(col->n_nulls, 6);
  assert_true(col->nulls[5] && !col->nulls[4]);
  result_cleanup(&r);
}

static void test_timestamp_text_is_read_as_iso8601(void **state) {
  (void)state;
  result r;
  must_run("SELECT t, note FROM times", NULL, &r);
  assert_int_equal(schema_of(&r)->columns[0]->type,
                   SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_TIMESTAMP);
  const Sealstream__V1__Column *col = batch_at(&r, 0)->columns[0];
  const int64_t kMay1Noon = 1714564800LL * 1000000000LL;
  static const struct {
    int is_null;
    int64_t ns;
  } kWant[] = {
      {0, 0},
      {0, 1714564800LL * 1000000000LL},
      {0, 1714564800LL * 1000000000LL + 250000000},
      {0, 1714564800LL * 1000000000LL},
      {0, -500000000},
      {1, 0},
      {1, 0},
      {0, 1500000000},
      {1, 0},
  };
  assert_int_equal(kWant[1].ns, kMay1Noon);
  assert_int_equal(col->timestamp_data->n_data, 9);
  for (size_t i = 0; i < 9; i++) {
    assert_int_equal(cell_is_null(col, i), kWant[i].is_null);
    assert_true(col->timestamp_data->data[i] == kWant[i].ns);
  }
  result_cleanup(&r);
}

static void test_text_is_cut_at_nul_and_invalid_utf8_is_replaced(void **state) {
  (void)state;
  result r;
  must_run(
      "SELECT CAST(x'61006263' AS TEXT) AS nul, "
      "CAST(x'61ff62c0afed' AS TEXT) AS bad, "
      "CAST(x'f09f9880' AS TEXT) AS good, 1 AS \"n\xff\"",
      NULL, &r);
  const Sealstream__V1__RowBatch *batch = batch_at(&r, 0);
  assert_string_equal(batch->columns[0]->string_data->data[0], "a");
  assert_string_equal(batch->columns[1]->string_data->data[0],
                      "a\xef\xbf\xbd"
                      "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  assert_string_equal(batch->columns[2]->string_data->data[0],
                      "\xf0\x9f\x98\x80");
  assert_string_equal(schema_of(&r)->columns[3]->name, "n\xef\xbf\xbd");
  result_cleanup(&r);
}

static void test_empty_result_still_sends_schema_and_stats(void **state) {
  (void)state;
  result r;
  must_run("SELECT n, label FROM nums WHERE n < 0", NULL, &r);
  assert_int_equal(r.num_msgs, 2);
  assert_int_equal(schema_of(&r)->n_columns, 2);
  assert_int_equal(schema_of(&r)->columns[0]->type,
                   SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64);
  assert_int_equal(stats_of(&r)->rows, 0);
  assert_int_equal(stats_of(&r)->batches, 0);
  assert_int_equal(stats_of(&r)->plaintext_bytes, 0);
  result_cleanup(&r);
}

// --- Batching ------------------------------------------------------------

static void check_nums_in_order(const result *r, uint64_t want_rows) {
  uint64_t next = 1;
  for (size_t b = 0; b < num_batches(r); b++) {
    const Sealstream__V1__RowBatch *batch = batch_at(r, b);
    for (size_t i = 0; i < batch->num_rows; i++) {
      assert_int_equal(batch->columns[0]->int64_data->data[i], next);
      next++;
    }
  }
  assert_int_equal(next - 1, want_rows);
  assert_int_equal(stats_of(r)->rows, want_rows);
  assert_int_equal(r->rows, want_rows);
  assert_int_equal(stats_of(r)->batches, num_batches(r));
  assert_int_equal(r->batches, num_batches(r));
}

static void test_batches_close_at_max_rows_per_batch(void **state) {
  (void)state;
  ss_query_limits limits = {.max_rows_per_batch = 1000};
  result r;
  must_run("SELECT n, label FROM nums ORDER BY n", &limits, &r);
  assert_int_equal(num_batches(&r), 10);
  for (size_t b = 0; b < 10; b++) {
    assert_int_equal(batch_at(&r, b)->num_rows, 1000);
  }
  check_nums_in_order(&r, NUM_NUMS);
  result_cleanup(&r);

  limits.max_rows_per_batch = 3;
  must_run("SELECT n FROM nums WHERE n <= 10 ORDER BY n", &limits, &r);
  assert_int_equal(num_batches(&r), 4);
  assert_int_equal(batch_at(&r, 3)->num_rows, 1);
  check_nums_in_order(&r, 10);
  result_cleanup(&r);

  // The default is SS_QUERY_DEFAULT_ROWS_PER_BATCH (small integers stay far
  // below the default byte limit).
  must_run(
      "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
      "WHERE n < 70000) SELECT n FROM c",
      NULL, &r);
  assert_int_equal(num_batches(&r), 2);
  assert_int_equal(batch_at(&r, 0)->num_rows, SS_QUERY_DEFAULT_ROWS_PER_BATCH);
  assert_int_equal(batch_at(&r, 1)->num_rows,
                   70000 - SS_QUERY_DEFAULT_ROWS_PER_BATCH);
  result_cleanup(&r);
}

static void test_batches_close_before_max_bytes_per_batch(void **state) {
  (void)state;
  for (uint64_t max = 1024; max <= 65536; max *= 8) {
    ss_query_limits limits = {.max_bytes_per_batch = max};
    result r;
    must_run(
        "SELECT n, label, CASE WHEN n % 7 = 0 THEN NULL ELSE n * 0.5 END "
        "AS half FROM nums ORDER BY n",
        &limits, &r);
    check_nums_in_order(&r, NUM_NUMS);
    check_columns_are_whole(&r);
    assert_true(num_batches(&r) > 1);
    for (size_t b = 0; b + 1 < num_batches(&r); b++) {
      size_t size = r.sizes[b + 1];
      assert_true(size <= max);
      // The estimate is an upper bound, but not a loose one: the slack is
      // the overhead estimate (154 bytes here) and one row.
      assert_true(size >= max - 256);
    }
    result_cleanup(&r);
  }
}

static void test_a_row_larger_than_max_bytes_is_sent_alone(void **state) {
  (void)state;
  ss_query_limits limits = {.max_bytes_per_batch = 1000};
  result r;
  must_run(
      "SELECT n, CASE WHEN n = 5 THEN zeroblob(10000) ELSE x'01' END "
      "FROM nums WHERE n <= 40 ORDER BY n",
      &limits, &r);
  check_nums_in_order(&r, 40);
  int alone = 0;
  for (size_t b = 0; b < num_batches(&r); b++) {
    const Sealstream__V1__RowBatch *batch = batch_at(&r, b);
    if (batch->columns[0]->int64_data->data[0] == 5) {
      assert_int_equal(batch->num_rows, 1);
      assert_int_equal(batch->columns[1]->bytes_data->data[0].len, 10000);
      alone = 1;
    } else {
      assert_true(r.sizes[b + 1] <= 1000);
    }
  }
  assert_true(alone);
  result_cleanup(&r);
}

static void test_max_total_rows_stops_the_stream(void **state) {
  (void)state;
  ss_query_limits limits = {.max_rows_per_batch = 10, .max_total_rows = 25};
  result r;
  must_run("SELECT n FROM nums ORDER BY n", &limits, &r);
  assert_int_equal(num_batches(&r), 3);
  assert_int_equal(batch_at(&r, 2)->num_rows, 5);
  check_nums_in_order(&r, 25);
  result_cleanup(&r);

  // Exactly a batch's worth, and more than the result holds.
  limits.max_total_rows = 20;
  must_run("SELECT n FROM nums ORDER BY n", &limits, &r);
  check_nums_in_order(&r, 20);
  result_cleanup(&r);
  limits.max_total_rows = 1000000;
  limits.max_rows_per_batch = 0;
  must_run("SELECT n FROM nums ORDER BY n", &limits, &r);
  check_nums_in_order(&r, NUM_NUMS);
  result_cleanup(&r);
}

static void test_stats_count_rows_batches_and_bytes(void **state) {
  (void)state;
  ss_query_limits limits = {.max_rows_per_batch = 777};
  result r;
  int64_t start = now_ms();
  must_run("SELECT * FROM nums", &limits, &r);
  int64_t elapsed_us = (now_ms() - start + 1) * 1000;
  const Sealstream__V1__QueryStats *stats = stats_of(&r);
  assert_int_equal(stats->rows, NUM_NUMS);
  assert_int_equal(stats->batches, (NUM_NUMS + 776) / 777);
  uint64_t bytes = 0;
  for (size_t b = 0; b < num_batches(&r); b++) {
    bytes += r.sizes[b + 1];
  }
  assert_int_equal(stats->plaintext_bytes, bytes);
  assert_true(stats->duration_us <= (uint64_t)elapsed_us);
  result_cleanup(&r);
}

// --- Refusals ------------------------------------------------------------

static void test_write_statements_are_refused(void **state) {
  (void)state;
  char vacuum_path[PATH_MAX_LEN];
  char vacuum_sql[PATH_MAX_LEN + 64];
  tmp_path(vacuum_path, "vacuum_into.db");
  snprintf(vacuum_sql, sizeof(vacuum_sql), "VACUUM INTO '%s'", vacuum_path);
  const char *const kWrites[] = {
      "INSERT INTO nums VALUES (1, 'x')",
      "INSERT INTO nums SELECT * FROM nums RETURNING n",
      "REPLACE INTO nums VALUES (1, 'x')",
      "UPDATE nums SET n = 0",
      "UPDATE nums SET n = n RETURNING *",
      "DELETE FROM nums",
      "WITH x AS (SELECT 1) INSERT INTO nums SELECT 1, 'a' FROM x",
      "CREATE TABLE t2(x)",
      "CREATE TEMP TABLE t3(x)",
      "CREATE TABLE t4 AS SELECT * FROM nums",
      "CREATE INDEX i2 ON nums(label)",
      "CREATE VIEW v AS SELECT 1",
      "CREATE TRIGGER tr AFTER INSERT ON nums BEGIN SELECT 1; END",
      "CREATE VIRTUAL TABLE f USING fts5(x)",
      "DROP TABLE nums",
      "DROP INDEX nums_n",
      "ALTER TABLE nums ADD COLUMN z",
      "ALTER TABLE nums RENAME TO m",
      "VACUUM",
      vacuum_sql,
      "REINDEX",
      "ANALYZE",
      "BEGIN",
      "BEGIN IMMEDIATE",
      "COMMIT",
      "ROLLBACK",
      "SAVEPOINT s",
      "RELEASE s",
  };
  for (size_t i = 0; i < sizeof(kWrites) / sizeof(kWrites[0]); i++) {
    expect_read_only_refusal(kWrites[i]);
  }
  assert_false(file_exists(vacuum_path));
  // Defensive mode refuses these before the authorizer sees them.
  expect_failure("UPDATE sqlite_master SET sql = 'x'",
                 GRPC_STATUS_INVALID_ARGUMENT, "may not be modified");
  expect_failure("DELETE FROM sqlite_schema", GRPC_STATUS_INVALID_ARGUMENT,
                 "may not be modified");
}

static void test_attach_and_detach_are_refused(void **state) {
  (void)state;
  char other[PATH_MAX_LEN];
  char sql[PATH_MAX_LEN + 64];
  tmp_path(other, "attached.db");
  snprintf(sql, sizeof(sql), "ATTACH DATABASE '%s' AS other", other);
  expect_read_only_refusal(sql);
  expect_read_only_refusal("ATTACH ':memory:' AS mem");
  expect_read_only_refusal("DETACH DATABASE main");
  expect_read_only_refusal("DETACH other");
  assert_false(file_exists(other));
}

static void test_pragmas_that_could_change_the_connection_are_refused(
    void **state) {
  (void)state;
  const char *const kPragmas[] = {
      "PRAGMA writable_schema = 1",
      "PRAGMA writable_schema",
      "PRAGMA query_only = 0",
      "PRAGMA query_only",
      "PRAGMA journal_mode = WAL",
      "PRAGMA journal_mode",
      "PRAGMA user_version = 7",
      "PRAGMA schema_version = 1",
      "PRAGMA trusted_schema = 1",
      "PRAGMA cache_size = 1",
      "PRAGMA database_list",
      "PRAGMA integrity_check",
      "PRAGMA temp_store_directory = '/tmp'",
      "PRAGMA main.user_version = 7",
      "SELECT * FROM pragma_journal_mode",
      "SELECT * FROM pragma_query_only",
  };
  for (size_t i = 0; i < sizeof(kPragmas) / sizeof(kPragmas[0]); i++) {
    expect_read_only_refusal(kPragmas[i]);
  }
  // A pragma function's argument never becomes a value to set.
  expect_failure("SELECT * FROM pragma_user_version(7)",
                 GRPC_STATUS_INVALID_ARGUMENT, "too many arguments");
}

static void test_schema_pragmas_are_allowed(void **state) {
  (void)state;
  result r;
  must_run("PRAGMA table_info(nums)", NULL, &r);
  assert_int_equal(stats_of(&r)->rows, 2);
  result_cleanup(&r);
  must_run("SELECT name, type FROM pragma_table_info('every_type')", NULL, &r);
  assert_int_equal(stats_of(&r)->rows, 6);
  result_cleanup(&r);
  must_run("SELECT * FROM pragma_index_list('nums')", NULL, &r);
  assert_int_equal(stats_of(&r)->rows, 1);
  result_cleanup(&r);
  must_run("PRAGMA user_version", NULL, &r);
  assert_int_equal(stats_of(&r)->rows, 1);
  result_cleanup(&r);
  must_run("SELECT name FROM sqlite_schema WHERE type = 'table'", NULL, &r);
  assert_int_equal(stats_of(&r)->rows, 4);
  result_cleanup(&r);
}

static void test_table_valued_functions_are_allowed(void **state) {
  (void)state;
  result r;
  must_run("SELECT key, value FROM json_each('[1, 2, 3]')", NULL, &r);
  assert_int_equal(stats_of(&r)->rows, 3);
  result_cleanup(&r);
  must_run("SELECT fullkey FROM json_tree('{\"a\": [1, 2]}')", NULL, &r);
  assert_int_equal(stats_of(&r)->rows, 4);
  result_cleanup(&r);
}

static void test_functions_on_the_allowlist_work(void **state) {
  (void)state;
  // A representative call from each group of the allowlist.
  static const char *const kQueries[] = {
      "SELECT abs(-1), char(65), coalesce(NULL, 1), hex('a'), ifnull(NULL, 2),"
      " iif(1, 'y', 'n'), instr('abc', 'b'), length('abc'), lower('A'),"
      " ltrim(' a'), max(1, 2), min(1, 2), nullif(1, 2), printf('%d', 3),"
      " quote('x'), random() IS NOT NULL, length(randomblob(4)),"
      " replace('aa', 'a', 'b'), round(1.5), rtrim('a '), soundex('abc'),"
      " substr('abc', 2), trim(' a '), typeof(1), unicode('A'), upper('a'),"
      " length(zeroblob(3)), likely(1), unlikely(0), likelihood(1, 0.5),"
      " 'ab' LIKE 'a%', 'ab' GLOB 'a*'",
      "SELECT count(*), sum(n), avg(n), total(n), min(n), max(n),"
      " length(group_concat(label)) FROM nums",
      "SELECT n, row_number() OVER w, rank() OVER w, dense_rank() OVER w,"
      " percent_rank() OVER w, cume_dist() OVER w, ntile(2) OVER w,"
      " lag(n) OVER w, lead(n) OVER w, first_value(n) OVER w,"
      " last_value(n) OVER w, nth_value(n, 2) OVER w FROM nums"
      " WHERE n <= 3 WINDOW w AS (ORDER BY n)",
      "SELECT date('2024-05-01'), time('12:00'), datetime(0, 'unixepoch'),"
      " julianday('2024-05-01'), unixepoch('2024-05-01'),"
      " strftime('%Y', '2024-05-01'), current_date IS NOT NULL,"
      " current_time IS NOT NULL, current_timestamp IS NOT NULL",
      "SELECT json('{}'), json_array(1, 2), json_array_length('[1]'),"
      " json_extract('{\"a\": 1}', '$.a'), json_insert('{}', '$.b', 2),"
      " json_object('a', 1), json_patch('{}', '{}'), json_quote('x'),"
      " json_remove('[1]', '$[0]'), json_replace('{}', '$.a', 1),"
      " json_set('{}', '$.a', 1), json_type('1'), json_valid('{}'),"
      " '{\"a\": 1}' -> '$.a', '{\"a\": 1}' ->> '$.a',"
      " (SELECT json_group_array(n) FROM nums WHERE n < 3),"
      " (SELECT json_group_object(label, n) FROM nums WHERE n < 3)",
      "SELECT acos(1), asin(0), atan(0), atan2(0, 1), ceil(1.5), cos(0),"
      " degrees(pi()), exp(0), floor(1.5), ln(1), log(100), log10(10),"
      " log2(8), mod(7, 3), pow(2, 3), power(2, 3), radians(180), sin(0),"
      " sqrt(4), tan(0), trunc(1.5), cosh(0), sinh(0), tanh(0), acosh(1),"
      " asinh(0), atanh(0), ceiling(1.5)",
  };
  for (size_t i = 0; i < sizeof(kQueries) / sizeof(kQueries[0]); i++) {
    result r;
    must_run(kQueries[i], NULL, &r);
    assert_true(stats_of(&r)->rows >= 1);
    result_cleanup(&r);
  }
}

static void test_functions_off_the_allowlist_are_refused_by_name(
    void **state) {
  (void)state;
  static const struct {
    const char *sql;
    const char *name;
  } kCases[] = {
      {"SELECT sqlite_compileoption_get(0)", "sqlite_compileoption_get"},
      {"SELECT sqlite_compileoption_used('THREADSAFE')",
       "sqlite_compileoption_used"},
      {"SELECT SQLITE_SOURCE_ID()", "sqlite_source_id"},
      {"SELECT sqlite_version()", "sqlite_version"},
      {"SELECT sqlite_log(1, 'x')", "sqlite_log"},
      {"SELECT changes()", "changes"},
      {"SELECT total_changes()", "total_changes"},
      {"SELECT last_insert_rowid()", "last_insert_rowid"},
      {"SELECT load_extension('x')", "load_extension"},
      {"SELECT fts3_tokenizer('simple')", "fts3_tokenizer"},
      // Hidden in a filter, a subquery and a window.
      {"SELECT n FROM nums WHERE n = 1 AND sqlite_version() <> ''",
       "sqlite_version"},
      {"SELECT (SELECT sqlite_source_id()) FROM nums LIMIT 1",
       "sqlite_source_id"},
  };
  for (size_t i = 0; i < sizeof(kCases) / sizeof(kCases[0]); i++) {
    char want[128];
    snprintf(want, sizeof(want), "the SQL function %s is refused",
             kCases[i].name);
    expect_failure(kCases[i].sql, GRPC_STATUS_INVALID_ARGUMENT, want);
  }
}

static void test_virtual_tables_off_the_allowlist_are_refused(void **state) {
  (void)state;
  expect_failure("SELECT name FROM dbstat WHERE name = 'nums'",
                 GRPC_STATUS_INVALID_ARGUMENT,
                 "the virtual table dbstat is refused");
  expect_failure("SELECT count(*) FROM dbstat", GRPC_STATUS_INVALID_ARGUMENT,
                 "the virtual table dbstat is refused");
  expect_failure("SELECT * FROM sqlite_stmt", GRPC_STATUS_INVALID_ARGUMENT,
                 "the virtual table sqlite_stmt is refused");
  // Pragmas that tell about the build, the server's files or the connection.
  static const char *const kPragmaTables[] = {
      "SELECT * FROM pragma_compile_options",
      "SELECT * FROM pragma_function_list",
      "SELECT * FROM pragma_module_list",
      "SELECT * FROM pragma_database_list",
  };
  for (size_t i = 0; i < sizeof(kPragmaTables) / sizeof(kPragmaTables[0]);
       i++) {
    expect_read_only_refusal(kPragmaTables[i]);
  }
  // A common table expression no column is read from is not taken for a
  // virtual table; one named like a virtual table module is refused.
  result r;
  must_run("WITH c(x) AS (SELECT 1 UNION ALL SELECT 2) SELECT count(*) FROM c",
           NULL, &r);
  assert_int_equal(stats_of(&r)->rows, 1);
  result_cleanup(&r);
  must_run("SELECT count(*) FROM json_each('[1, 2]')", NULL, &r);
  result_cleanup(&r);
  expect_failure("WITH dbstat(x) AS (SELECT 1) SELECT count(*) FROM dbstat",
                 GRPC_STATUS_INVALID_ARGUMENT,
                 "the virtual table dbstat is refused");
  // The database's own tables, views and schema stay readable.
  must_run("SELECT count(*) FROM sqlite_master", NULL, &r);
  result_cleanup(&r);
  must_run("SELECT count(*) FROM nums", NULL, &r);
  result_cleanup(&r);
}

static void test_load_extension_is_refused(void **state) {
  (void)state;
  expect_read_only_refusal("SELECT load_extension('/nonexistent/ext.so')");
  expect_read_only_refusal("SELECT LOAD_EXTENSION('x', 'sqlite3_x_init')");
  expect_read_only_refusal(
      "SELECT n FROM nums WHERE n = 1 OR load_extension('x') IS NULL");
  expect_read_only_refusal("SELECT fts3_tokenizer('simple')");
  expect_failure("SELECT load_extension('x')", GRPC_STATUS_INVALID_ARGUMENT,
                 "load_extension");
}

static void test_multiple_statements_are_refused(void **state) {
  (void)state;
  const char *const kMultiple[] = {
      "SELECT 1; SELECT 2",
      "SELECT 1; DROP TABLE nums",
      "SELECT 1; /* c */ SELECT 2",
      "SELECT 1;\n-- c\nSELECT 2;",
      "SELECT 1; x",
  };
  for (size_t i = 0; i < sizeof(kMultiple) / sizeof(kMultiple[0]); i++) {
    expect_failure(kMultiple[i], GRPC_STATUS_INVALID_ARGUMENT,
                   "more than one statement");
  }
  // Trailing semicolons and comments are not statements.
  const char *const kSingle[] = {
      "SELECT 1;",
      "SELECT 1;;  ;",
      "SELECT 1; -- done",
      "SELECT 1 /* c */ ;\n\t",
      "SELECT 1; /* unterminated",
  };
  for (size_t i = 0; i < sizeof(kSingle) / sizeof(kSingle[0]); i++) {
    result r;
    must_run(kSingle[i], NULL, &r);
    assert_int_equal(stats_of(&r)->rows, 1);
    result_cleanup(&r);
  }
}

static void test_empty_sql_is_refused(void **state) {
  (void)state;
  const char *const kEmpty[] = {"",      "   \n\t", "-- nothing",
                                "/* */", ";",       ";;"};
  for (size_t i = 0; i < sizeof(kEmpty) / sizeof(kEmpty[0]); i++) {
    expect_failure(kEmpty[i], GRPC_STATUS_INVALID_ARGUMENT, "empty");
  }
  ss_status st;
  assert_null(ss_query_source_open(db_path, NULL, NULL, 0, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_bad_sql_is_invalid_argument_with_sqlite_message(void **state) {
  (void)state;
  expect_failure("SELEKT 1", GRPC_STATUS_INVALID_ARGUMENT, "syntax error");
  expect_failure("SELECT nope FROM nums", GRPC_STATUS_INVALID_ARGUMENT,
                 "no such column: nope");
  expect_failure("SELECT * FROM missing_table", GRPC_STATUS_INVALID_ARGUMENT,
                 "no such table: missing_table");
  expect_failure("SELECT no_such_function(1)", GRPC_STATUS_INVALID_ARGUMENT,
                 "no such function");
}

static void test_runtime_error_is_invalid_argument_without_row_data(
    void **state) {
  (void)state;
  ss_status st;
  result r;
  assert_false(run_query(db_path, "SELECT json(s) FROM every_type WHERE i = 1",
                         NULL, &r, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "malformed JSON"));
  assert_null(strstr(st.msg, "hello"));
  result_cleanup(&r);

  // A failure after some batches.
  ss_query_limits limits = {.max_rows_per_batch = 10};
  assert_false(run_query(db_path,
                         "SELECT n, CASE WHEN n < 50 THEN label ELSE "
                         "json(label) END FROM nums",
                         &limits, &r, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "malformed JSON"));
  assert_null(strstr(st.msg, "row-50"));
  assert_int_equal(r.num_msgs, 1 + 4);  // schema and rows 1..40
  result_cleanup(&r);
}

static void test_missing_database_is_unavailable_and_not_created(void **state) {
  (void)state;
  char path[PATH_MAX_LEN];
  tmp_path(path, "missing.db");
  unlink(path);
  expect_failure_at(path, "SELECT 1", NULL, GRPC_STATUS_UNAVAILABLE,
                    "unable to open");
  assert_false(file_exists(path));
  char dir_path[PATH_MAX_LEN];
  tmp_path(dir_path, "no/such/dir.db");
  expect_failure_at(dir_path, "SELECT 1", NULL, GRPC_STATUS_UNAVAILABLE,
                    "database unavailable");
  // The message must not reveal the server's path.
  ss_status st;
  assert_null(ss_query_source_open(path, "SELECT 1", NULL, 0, &st));
  assert_null(strstr(st.msg, tmp_dir));
}

static void test_file_that_is_not_a_database_is_unavailable(void **state) {
  (void)state;
  char path[PATH_MAX_LEN];
  tmp_path(path, "not_a_database.db");
  char text[1024];
  memset(text, 'x', sizeof(text));
  assert_true(write_file(path, text, sizeof(text)));
  expect_failure_at(path, "SELECT 1 FROM sqlite_schema", NULL,
                    GRPC_STATUS_UNAVAILABLE, "not a database");
}

static void test_uri_like_path_is_a_plain_file_name(void **state) {
  (void)state;
  char cwd[PATH_MAX_LEN];
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  assert_int_equal(chdir(tmp_dir), 0);
  // As a URI this would name "uri.db" opened read-write-create.
  const char *name = "file:uri.db?mode=rwc";
  assert_true(write_file(name, db_bytes, db_len));
  result r;
  ss_status st;
  int ok = run_query(name, "SELECT count(*) FROM nums", NULL, &r, &st);
  int created = file_exists("uri.db");
  unlink(name);
  assert_int_equal(chdir(cwd), 0);
  if (!ok) {
    fail_msg("%s", st.msg);
  }
  assert_false(created);
  assert_int_equal(batch_at(&r, 0)->columns[0]->int64_data->data[0], NUM_NUMS);
  result_cleanup(&r);
}

static void test_limits_above_the_caps_are_resource_exhausted(void **state) {
  (void)state;
  ss_query_limits limits = {.max_rows_per_batch =
                                SS_QUERY_MAX_ROWS_PER_BATCH + 1};
  expect_failure_at(db_path, "SELECT 1", &limits,
                    GRPC_STATUS_RESOURCE_EXHAUSTED, "max_rows_per_batch");
  limits.max_rows_per_batch = SS_QUERY_MAX_ROWS_PER_BATCH;
  limits.max_bytes_per_batch = (uint64_t)SS_QUERY_MAX_BYTES_PER_BATCH + 1;
  expect_failure_at(db_path, "SELECT 1", &limits,
                    GRPC_STATUS_RESOURCE_EXHAUSTED, "16777216");
  limits.max_bytes_per_batch = UINT64_MAX;
  expect_failure_at(db_path, "SELECT 1", &limits,
                    GRPC_STATUS_RESOURCE_EXHAUSTED, "max_bytes_per_batch");
  // The caps themselves are allowed.
  limits.max_bytes_per_batch = SS_QUERY_MAX_BYTES_PER_BATCH;
  limits.max_total_rows = UINT64_MAX;
  result r;
  ss_status st;
  assert_true(run_query(db_path, "SELECT 1", &limits, &r, &st));
  result_cleanup(&r);
}

static void test_sql_longer_than_the_cap_is_resource_exhausted(void **state) {
  (void)state;
  size_t len = SS_QUERY_MAX_SQL_BYTES + 1;
  char *sql = malloc(len + 1);
  assert_non_null(sql);
  memset(sql, ' ', len);
  memcpy(sql, "SELECT 1", 8);
  sql[len] = '\0';
  expect_failure(sql, GRPC_STATUS_RESOURCE_EXHAUSTED, "65536");
  sql[len - 1] = '\0';  // exactly the cap
  result r;
  must_run(sql, NULL, &r);
  result_cleanup(&r);
  free(sql);
}

static void test_values_larger_than_the_cap_are_resource_exhausted(
    void **state) {
  (void)state;
  expect_failure("SELECT zeroblob(16777217)", GRPC_STATUS_RESOURCE_EXHAUSTED,
                 "too big");
  expect_failure("SELECT zeroblob(9000000), zeroblob(9000000)",
                 GRPC_STATUS_RESOURCE_EXHAUSTED, "row");
}

// --- Deadlines and interrupts ----------------------------------------------

static void test_deadline_in_the_past_fails_at_once(void **state) {
  (void)state;
  ss_status st;
  ss_query_source *qs =
      ss_query_source_open(db_path, SLOW_QUERY, NULL, now_ms() - 1, &st);
  assert_non_null(qs);
  ss_buf buf;
  ss_buf_init(&buf, 0);
  int final = 1;
  int64_t start = now_ms();
  assert_false(ss_query_source_next(qs, &buf, &final, &st));
  assert_true(now_ms() - start < 1000);
  assert_int_equal(st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
  assert_int_equal(final, 0);
  assert_int_equal(buf.len, 0);
  ss_buf_cleanup(&buf);
  ss_query_source_free(qs);
}

static void test_deadline_stops_a_slow_step(void **state) {
  (void)state;
  ss_status st;
  int64_t start = now_ms();
  ss_query_source *qs =
      ss_query_source_open(db_path, SLOW_QUERY, NULL, start + 200, &st);
  assert_non_null(qs);
  ss_buf buf;
  ss_buf_init(&buf, 0);
  int final;
  assert_false(ss_query_source_next(qs, &buf, &final, &st));
  int64_t elapsed = now_ms() - start;
  assert_int_equal(st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
  assert_true(elapsed >= 200);
  assert_true(elapsed < 3000);
  // The source stays failed.
  assert_false(ss_query_source_next(qs, &buf, &final, &st));
  assert_int_equal(st.code, GRPC_STATUS_FAILED_PRECONDITION);
  ss_buf_cleanup(&buf);
  ss_query_source_free(qs);
}

static void *interrupt_later(void *arg) {
  struct timespec delay = {0, 200 * 1000 * 1000};
  nanosleep(&delay, NULL);
  ss_query_source_interrupt(arg);
  return NULL;
}

static void test_interrupt_from_another_thread_cancels_a_long_step(
    void **state) {
  (void)state;
  ss_status st;
  ss_query_source *qs = ss_query_source_open(db_path, SLOW_QUERY, NULL, 0, &st);
  assert_non_null(qs);
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, interrupt_later, qs), 0);
  ss_buf buf;
  ss_buf_init(&buf, 0);
  int final;
  int64_t start = now_ms();
  int ok = ss_query_source_next(qs, &buf, &final, &st);
  int64_t elapsed = now_ms() - start;
  pthread_join(thread, NULL);
  assert_false(ok);
  assert_int_equal(st.code, GRPC_STATUS_CANCELLED);
  assert_true(elapsed < 3000);
  ss_buf_cleanup(&buf);
  ss_query_source_free(qs);
}

static void test_interrupt_between_messages_cancels_the_next(void **state) {
  (void)state;
  ss_status st;
  ss_query_limits limits = {.max_rows_per_batch = 10};
  ss_query_source *qs =
      ss_query_source_open(db_path, "SELECT n FROM nums", &limits, 0, &st);
  assert_non_null(qs);
  ss_buf buf;
  ss_buf_init(&buf, 0);
  int final;
  assert_true(ss_query_source_next(qs, &buf, &final, &st));  // schema
  assert_true(ss_query_source_next(qs, &buf, &final, &st));  // batch
  ss_query_source_interrupt(qs);
  assert_false(ss_query_source_next(qs, &buf, &final, &st));
  assert_int_equal(st.code, GRPC_STATUS_CANCELLED);
  assert_int_equal(ss_query_source_rows(qs), 10);
  ss_buf_cleanup(&buf);
  ss_query_source_free(qs);
}

static void test_next_after_the_final_message_is_refused(void **state) {
  (void)state;
  ss_status st;
  ss_query_source *qs = ss_query_source_open(db_path, "SELECT 1", NULL, 0, &st);
  assert_non_null(qs);
  ss_buf buf;
  ss_buf_init(&buf, 0);
  int final = 0;
  while (!final) {
    assert_true(ss_query_source_next(qs, &buf, &final, &st));
  }
  assert_false(ss_query_source_next(qs, &buf, &final, &st));
  assert_int_equal(st.code, GRPC_STATUS_FAILED_PRECONDITION);
  assert_int_equal(buf.len, 0);
  assert_int_equal(final, 0);
  ss_buf_cleanup(&buf);
  ss_query_source_free(qs);
  ss_query_source_free(NULL);
}

// --- Throughput ----------------------------------------------------------

static void test_large_results_stream_quickly(void **state) {
  (void)state;
  const uint64_t kRows = 300000;
  char sql[512];
  snprintf(sql, sizeof(sql),
           "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
           "WHERE x < %llu) SELECT x, x * 1.5, 'service-' || (x %% 7), "
           "x'0102030405', x * 1000000 FROM c",
           (unsigned long long)kRows);
  ss_status st;
  ss_query_source *qs = ss_query_source_open(db_path, sql, NULL, 0, &st);
  assert_non_null(qs);
  ss_buf buf;
  ss_buf_init(&buf, 0);
  int final = 0;
  uint64_t bytes = 0;
  int64_t start = now_ms();
  while (!final) {
    assert_true(ss_query_source_next(qs, &buf, &final, &st));
    bytes += buf.len;
  }
  int64_t elapsed = now_ms() - start;
  assert_int_equal(ss_query_source_rows(qs), kRows);
  printf("query_source: %llu rows, %.1f MB in %lld ms: %.0f rows/s\n",
         (unsigned long long)kRows, (double)bytes / 1e6, (long long)elapsed,
         (double)kRows * 1000.0 / (double)(elapsed > 0 ? elapsed : 1));
  ss_buf_cleanup(&buf);
  ss_query_source_free(qs);
}

// Runs last: nothing above may have changed the fixture.
static void test_database_file_is_unchanged(void **state) {
  (void)state;
  uint8_t *now = NULL;
  size_t len = 0;
  struct stat sb;
  assert_int_equal(stat(db_path, &sb), 0);
  assert_true(read_file(db_path, &now, &len));
  assert_int_equal(len, db_len);
  assert_memory_equal(now, db_bytes, len);
  assert_int_equal(sb.st_mtim.tv_sec, db_mtime.tv_sec);
  assert_int_equal(sb.st_mtim.tv_nsec, db_mtime.tv_nsec);
  char journal[PATH_MAX_LEN + 16];
  snprintf(journal, sizeof(journal), "%s-journal", db_path);
  assert_false(file_exists(journal));
  snprintf(journal, sizeof(journal), "%s-wal", db_path);
  assert_false(file_exists(journal));
  free(now);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_column_type_round_trips),
      cmocka_unit_test(test_nulls_are_flagged_only_in_columns_that_hold_them),
      cmocka_unit_test(test_empty_strings_and_blobs_with_nul_bytes_round_trip),
      cmocka_unit_test(
          test_expression_columns_take_the_storage_class_of_the_first_row),
      cmocka_unit_test(test_later_values_of_another_class_are_converted),
      cmocka_unit_test(test_timestamp_text_is_read_as_iso8601),
      cmocka_unit_test(test_text_is_cut_at_nul_and_invalid_utf8_is_replaced),
      cmocka_unit_test(test_empty_result_still_sends_schema_and_stats),
      cmocka_unit_test(test_batches_close_at_max_rows_per_batch),
      cmocka_unit_test(test_batches_close_before_max_bytes_per_batch),
      cmocka_unit_test(test_a_row_larger_than_max_bytes_is_sent_alone),
      cmocka_unit_test(test_max_total_rows_stops_the_stream),
      cmocka_unit_test(test_stats_count_rows_batches_and_bytes),
      cmocka_unit_test(test_write_statements_are_refused),
      cmocka_unit_test(test_attach_and_detach_are_refused),
      cmocka_unit_test(
          test_pragmas_that_could_change_the_connection_are_refused),
      cmocka_unit_test(test_schema_pragmas_are_allowed),
      cmocka_unit_test(test_table_valued_functions_are_allowed),
      cmocka_unit_test(test_load_extension_is_refused),
      cmocka_unit_test(test_functions_on_the_allowlist_work),
      cmocka_unit_test(test_functions_off_the_allowlist_are_refused_by_name),
      cmocka_unit_test(test_virtual_tables_off_the_allowlist_are_refused),
      cmocka_unit_test(test_multiple_statements_are_refused),
      cmocka_unit_test(test_empty_sql_is_refused),
      cmocka_unit_test(test_bad_sql_is_invalid_argument_with_sqlite_message),
      cmocka_unit_test(test_runtime_error_is_invalid_argument_without_row_data),
      cmocka_unit_test(test_missing_database_is_unavailable_and_not_created),
      cmocka_unit_test(test_file_that_is_not_a_database_is_unavailable),
      cmocka_unit_test(test_uri_like_path_is_a_plain_file_name),
      cmocka_unit_test(test_limits_above_the_caps_are_resource_exhausted),
      cmocka_unit_test(test_sql_longer_than_the_cap_is_resource_exhausted),
      cmocka_unit_test(test_values_larger_than_the_cap_are_resource_exhausted),
      cmocka_unit_test(test_deadline_in_the_past_fails_at_once),
      cmocka_unit_test(test_deadline_stops_a_slow_step),
      cmocka_unit_test(test_interrupt_from_another_thread_cancels_a_long_step),
      cmocka_unit_test(test_interrupt_between_messages_cancels_the_next),
      cmocka_unit_test(test_next_after_the_final_message_is_refused),
      cmocka_unit_test(test_large_results_stream_quickly),
      cmocka_unit_test(test_database_file_is_unchanged),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
