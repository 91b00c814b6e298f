// Test databases (see test_db.h): the demo data from sealstream-demo-data,
// plus tables written here through the SQLite C API with bound values, so
// edge values (INT64_MIN, -0.0, infinities, empty blobs, NUL bytes in text)
// are stored exactly.
#include "tests/support/test_db.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/server_process.h"

#define LONG_TEXT_LEN 10000
#define LONG_BLOB_LEN 70000

static int db_error(sqlite3 *db, const char *what, ss_status *st) {
  return ss_status_set(st, GRPC_STATUS_INTERNAL, "%s: %s", what,
                       db != NULL ? sqlite3_errmsg(db) : "out of memory");
}

// Bind helpers: value |k| of a column, or NULL when the column's pattern
// says so. Each column is NULL on a different residue so every combination
// of NULL and non-NULL neighbours occurs.
static int bind_int(sqlite3_stmt *stmt, int col, int k) {
  static const int64_t kSpecial[] = {
      INT64_MIN, INT64_MAX, 0, -1, 1, (int64_t)1 << 53, -((int64_t)1 << 31)};
  if (k % 7 == 3) {
    return sqlite3_bind_null(stmt, col);
  }
  size_t n = sizeof(kSpecial) / sizeof(kSpecial[0]);
  int64_t v = (size_t)k < n ? kSpecial[k] : (int64_t)k * 1000003 - 5000000;
  return sqlite3_bind_int64(stmt, col, v);
}

static int bind_double(sqlite3_stmt *stmt, int col, int k) {
  const double special[] = {
      0.0,      -0.0,     1.5,       -2.25,  DBL_MAX,          DBL_MIN,
      4.9e-324, INFINITY, -INFINITY, 1e-300, 3.141592653589793};
  if (k % 5 == 2) {
    return sqlite3_bind_null(stmt, col);
  }
  size_t n = sizeof(special) / sizeof(special[0]);
  double v = (size_t)k < n ? special[k] : (double)k / 7.0 - 3.0;
  return sqlite3_bind_double(stmt, col, v);
}

static int bind_bool(sqlite3_stmt *stmt, int col, int k) {
  if (k % 6 == 4) {
    return sqlite3_bind_null(stmt, col);
  }
  return sqlite3_bind_int(stmt, col, k % 3 == 0);
}

static int bind_text(sqlite3_stmt *stmt, int col, int k,
                     const char *long_text) {
  static const char *const kSpecial[] = {
      "",
      "a",
      "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9d\x84\x9e",
      NULL,  // the long text
      "quote ' \" \\ tab\t newline\n end",
      "    leading and trailing spaces    ",
  };
  if (k % 4 == 1) {
    return sqlite3_bind_null(stmt, col);
  }
  size_t n = sizeof(kSpecial) / sizeof(kSpecial[0]);
  if ((size_t)k < n) {
    if (kSpecial[k] == NULL) {
      return sqlite3_bind_text(stmt, col, long_text, LONG_TEXT_LEN,
                               SQLITE_STATIC);
    }
    return sqlite3_bind_text(stmt, col, kSpecial[k], -1, SQLITE_STATIC);
  }
  char buf[64];
  snprintf(buf, sizeof(buf), "row %d of all_types", k);
  return sqlite3_bind_text(stmt, col, buf, -1, SQLITE_TRANSIENT);
}

static int bind_blob(sqlite3_stmt *stmt, int col, int k,
                     const uint8_t *long_blob) {
  if (k % 9 == 5) {
    return sqlite3_bind_null(stmt, col);
  }
  switch (k) {
    case 0:
      // A zero-length BLOB (a non-NULL pointer with length 0), not NULL.
      return sqlite3_bind_blob(stmt, col, "", 0, SQLITE_STATIC);
    case 1: {
      uint8_t all[256];
      for (int i = 0; i < 256; i++) {
        all[i] = (uint8_t)i;
      }
      return sqlite3_bind_blob(stmt, col, all, sizeof(all), SQLITE_TRANSIENT);
    }
    case 2:
      return sqlite3_bind_blob(stmt, col, long_blob, LONG_BLOB_LEN,
                               SQLITE_STATIC);
    default: {
      uint8_t small[8];
      for (int i = 0; i < 8; i++) {
        small[i] = (uint8_t)(k * 31 + i * 7);
      }
      return sqlite3_bind_blob(stmt, col, small, (int)(k % 8) + 1,
                               SQLITE_TRANSIENT);
    }
  }
}

static int bind_timestamp(sqlite3_stmt *stmt, int col, int k) {
  static const int64_t kSpecial[] = {0,
                                     -1,
                                     INT64_MAX,
                                     INT64_MIN,
                                     INT64_C(1700000000123456789),
                                     INT64_C(-86400000000000)};
  if (k % 8 == 6) {
    return sqlite3_bind_null(stmt, col);
  }
  size_t n = sizeof(kSpecial) / sizeof(kSpecial[0]);
  int64_t v = (size_t)k < n ? kSpecial[k]
                            : INT64_C(1600000000000000000) + (int64_t)k * 1000;
  return sqlite3_bind_int64(stmt, col, v);
}

static int add_all_types(sqlite3 *db, ss_status *st) {
  if (sqlite3_exec(db,
                   "CREATE TABLE all_types(id INTEGER PRIMARY KEY, i INTEGER, "
                   "d REAL, b BOOLEAN, s TEXT, bl BLOB, ts TIMESTAMP)",
                   NULL, NULL, NULL) != SQLITE_OK) {
    return db_error(db, "CREATE TABLE all_types", st);
  }
  char *long_text = malloc(LONG_TEXT_LEN);
  uint8_t *long_blob = malloc(LONG_BLOB_LEN);
  sqlite3_stmt *stmt = NULL;
  int ok = 0;
  if (long_text == NULL || long_blob == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < LONG_TEXT_LEN; i++) {
    long_text[i] = (char)('a' + i % 26);
  }
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < LONG_BLOB_LEN; i++) {
    // xorshift32: arbitrary bytes, NULs included.
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    long_blob[i] = (uint8_t)x;
  }
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO all_types(id, i, d, b, s, bl, ts) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         -1, &stmt, NULL) != SQLITE_OK) {
    db_error(db, "prepare INSERT all_types", st);
    goto done;
  }
  for (int k = 0; k < SS_TEST_DB_ALL_TYPES_ROWS; k++) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    int rc = sqlite3_bind_int(stmt, 1, k + 1);
    // The last row is NULL in every column but the key.
    if (k != SS_TEST_DB_ALL_TYPES_ROWS - 1) {
      rc |= bind_int(stmt, 2, k);
      rc |= bind_double(stmt, 3, k);
      rc |= bind_bool(stmt, 4, k);
      rc |= bind_text(stmt, 5, k, long_text);
      rc |= bind_blob(stmt, 6, k, long_blob);
      rc |= bind_timestamp(stmt, 7, k);
    }
    if (rc != SQLITE_OK || sqlite3_step(stmt) != SQLITE_DONE) {
      db_error(db, "INSERT all_types", st);
      goto done;
    }
  }
  ok = 1;

done:
  sqlite3_finalize(stmt);
  free(long_text);
  free(long_blob);
  return ok;
}

#define U_FFFD "\xef\xbf\xbd"

const ss_test_db_text_edge ss_test_db_text_edges[SS_TEST_DB_TEXT_EDGE_ROWS] = {
    {"a\0b", 3, "a"},
    {"\0", 1, ""},
    {"abc\0\0def", 8, "abc"},
    {"trailing\0", 9, "trailing"},
    {"\xff", 1, U_FFFD},
    {"a\xc3", 2, "a" U_FFFD},                   // cut-off sequence
    {"\xc0\xaf", 2, U_FFFD U_FFFD},             // overlong '/'
    {"\xed\xa0\x80", 3, U_FFFD U_FFFD U_FFFD},  // a surrogate
    {"ok \xe2\x9c\x93\xfe", 7, "ok \xe2\x9c\x93" U_FFFD},
};

static int add_text_edge(sqlite3 *db, ss_status *st) {
  if (sqlite3_exec(db, "CREATE TABLE text_edge(id INTEGER PRIMARY KEY, s TEXT)",
                   NULL, NULL, NULL) != SQLITE_OK) {
    return db_error(db, "CREATE TABLE text_edge", st);
  }
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2(db, "INSERT INTO text_edge(s) VALUES (?)", -1, &stmt,
                         NULL) != SQLITE_OK) {
    return db_error(db, "prepare INSERT text_edge", st);
  }
  int ok = 1;
  for (size_t i = 0; i < SS_TEST_DB_TEXT_EDGE_ROWS; i++) {
    const ss_test_db_text_edge *row = &ss_test_db_text_edges[i];
    sqlite3_reset(stmt);
    // Bound as TEXT with its length: SQLite stores the bytes as given.
    if (sqlite3_bind_text(stmt, 1, row->stored, (int)row->stored_len,
                          SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_DONE) {
      ok = db_error(db, "INSERT text_edge", st);
      break;
    }
  }
  sqlite3_finalize(stmt);
  return ok;
}

int ss_test_db_create(const char *path, const char *demo_binary, uint64_t rows,
                      uint64_t seed, ss_status *st) {
  char rows_arg[32];
  char seed_arg[32];
  char log_path[4096];
  snprintf(rows_arg, sizeof(rows_arg), "%" PRIu64, rows);
  snprintf(seed_arg, sizeof(seed_arg), "%" PRIu64, seed);
  if (!ss_test_tmp_path(log_path, sizeof(log_path), "demo-data.log", st)) {
    return 0;
  }
  unlink(path);
  char *argv[] = {(char *)demo_binary,
                  "--out",
                  (char *)path,
                  "--rows",
                  rows_arg,
                  "--seed",
                  seed_arg,
                  NULL};
  if (!ss_test_run_program(argv, log_path, st)) {
    return 0;
  }
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    db_error(db, path, st);
    sqlite3_close(db);
    return 0;
  }
  int ok = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK &&
           add_all_types(db, st) && add_text_edge(db, st);
  if (ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    ok = db_error(db, "COMMIT", st);
  }
  if (sqlite3_close(db) != SQLITE_OK && ok) {
    ok = ss_status_set(st, GRPC_STATUS_INTERNAL, "sqlite3_close failed");
  }
  return ok;
}

int ss_test_db_count(const char *path, const char *table, uint64_t *out,
                     ss_status *st) {
  *out = 0;
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  int ok = 0;
  char sql[128];
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", table);
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
    db_error(db, sql, st);
    goto done;
  }
  if (sqlite3_step(stmt) != SQLITE_ROW) {
    db_error(db, sql, st);
    goto done;
  }
  *out = (uint64_t)sqlite3_column_int64(stmt, 0);
  ok = 1;

done:
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return ok;
}
