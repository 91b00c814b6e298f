// Client results against SQLite (see result_check.h). SQLite on the same file
// is the reference; the client's batches are what is under test.
#include "tests/support/result_check.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ss_result_check {
  sqlite3 *db;
  sqlite3_stmt *stmt;
  uint64_t rows;        // rows compared
  uint64_t data_bytes;  // see ss_result_check_data_bytes
};

ss_result_check *ss_result_check_new(const char *db_path, const char *sql,
                                     ss_status *st) {
  ss_result_check *check = calloc(1, sizeof(*check));
  if (check == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  if (sqlite3_open_v2(db_path, &check->db, SQLITE_OPEN_READONLY, NULL) !=
      SQLITE_OK) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "open %s: %s", db_path,
                  check->db != NULL ? sqlite3_errmsg(check->db) : "no memory");
    goto err;
  }
  if (sqlite3_prepare_v2(check->db, sql, -1, &check->stmt, NULL) != SQLITE_OK) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "reference query: %s",
                  sqlite3_errmsg(check->db));
    goto err;
  }
  return check;

err:
  ss_result_check_free(check);
  return NULL;
}

void ss_result_check_free(ss_result_check *check) {
  if (check == NULL) {
    return;
  }
  sqlite3_finalize(check->stmt);
  sqlite3_close(check->db);
  free(check);
}

int ss_result_check_schema(ss_result_check *check, const ss_query *query,
                           ss_status *st) {
  size_t num = (size_t)sqlite3_column_count(check->stmt);
  if (ss_query_num_columns(query) != num) {
    return ss_status_set(st, GRPC_STATUS_UNKNOWN,
                         "schema has %zu columns, SQLite %zu",
                         ss_query_num_columns(query), num);
  }
  for (size_t c = 0; c < num; c++) {
    const char *want = sqlite3_column_name(check->stmt, (int)c);
    const char *got = ss_query_column_name(query, c);
    if (got == NULL || want == NULL || strcmp(got, want) != 0) {
      return ss_status_set(
          st, GRPC_STATUS_UNKNOWN, "column %zu is named \"%s\", SQLite \"%s\"",
          c, got != NULL ? got : "(null)", want != NULL ? want : "(null)");
    }
  }
  return 1;
}

static int check_value(ss_result_check *check, const ss_query *query,
                       const ss_batch *batch, size_t col, size_t row,
                       ss_status *st) {
  sqlite3_stmt *stmt = check->stmt;
  int icol = (int)col;
  const char *name = ss_query_column_name(query, col);
  uint64_t at = check->rows;
  if (sqlite3_column_type(stmt, icol) == SQLITE_NULL) {
    if (!ss_batch_is_null(batch, col, row)) {
      return ss_status_set(st, GRPC_STATUS_UNKNOWN,
                           "row %" PRIu64
                           " column %zu (%s): SQLite has NULL, "
                           "the client a value",
                           at, col, name);
    }
    return 1;
  }
  if (ss_batch_is_null(batch, col, row)) {
    return ss_status_set(st, GRPC_STATUS_UNKNOWN,
                         "row %" PRIu64
                         " column %zu (%s): the client has "
                         "NULL, SQLite a value",
                         at, col, name);
  }
  ss_column_type type = ss_query_column_type(query, col);
  switch (type) {
    case SS_COLUMN_INT64:
    case SS_COLUMN_TIMESTAMP: {
      int64_t want = sqlite3_column_int64(stmt, icol);
      int64_t got = type == SS_COLUMN_INT64
                        ? ss_batch_int64(batch, col, row)
                        : ss_batch_timestamp(batch, col, row);
      check->data_bytes += 8;
      if (got != want) {
        return ss_status_set(st, GRPC_STATUS_UNKNOWN,
                             "row %" PRIu64 " column %zu (%s): %" PRId64
                             ", SQLite %" PRId64,
                             at, col, name, got, want);
      }
      return 1;
    }
    case SS_COLUMN_DOUBLE: {
      double want = sqlite3_column_double(stmt, icol);
      double got = ss_batch_double(batch, col, row);
      check->data_bytes += 8;
      // Bit for bit: -0.0 and 0.0 differ.
      if (memcmp(&got, &want, sizeof(got)) != 0) {
        return ss_status_set(st, GRPC_STATUS_UNKNOWN,
                             "row %" PRIu64
                             " column %zu (%s): %.17g, "
                             "SQLite %.17g",
                             at, col, name, got, want);
      }
      return 1;
    }
    case SS_COLUMN_BOOL: {
      int want = sqlite3_column_int64(stmt, icol) != 0;
      int got = ss_batch_bool(batch, col, row);
      check->data_bytes += 1;
      if (got != want) {
        return ss_status_set(st, GRPC_STATUS_UNKNOWN,
                             "row %" PRIu64 " column %zu (%s): %d, SQLite %d",
                             at, col, name, got, want);
      }
      return 1;
    }
    case SS_COLUMN_STRING: {
      const unsigned char *want = sqlite3_column_text(stmt, icol);
      size_t want_len = (size_t)sqlite3_column_bytes(stmt, icol);
      size_t got_len = 0;
      const char *got = ss_batch_string(batch, col, row, &got_len);
      check->data_bytes += want_len;
      if (got == NULL || got_len != want_len ||
          (want_len > 0 && memcmp(got, want, want_len) != 0)) {
        return ss_status_set(st, GRPC_STATUS_UNKNOWN,
                             "row %" PRIu64
                             " column %zu (%s): a %zu-byte "
                             "string, SQLite's has %zu bytes or others",
                             at, col, name, got_len, want_len);
      }
      if (got[got_len] != '\0') {
        return ss_status_set(st, GRPC_STATUS_UNKNOWN,
                             "row %" PRIu64
                             " column %zu (%s): string not "
                             "NUL-terminated",
                             at, col, name);
      }
      return 1;
    }
    case SS_COLUMN_BYTES: {
      const void *want = sqlite3_column_blob(stmt, icol);
      size_t want_len = (size_t)sqlite3_column_bytes(stmt, icol);
      size_t got_len = 0;
      const uint8_t *got = ss_batch_bytes(batch, col, row, &got_len);
      check->data_bytes += want_len;
      // A zero-length value may come back as NULL data; it must not be
      // reported as a NULL value, which was checked above.
      if (got_len != want_len ||
          (want_len > 0 && (got == NULL || memcmp(got, want, want_len) != 0))) {
        return ss_status_set(st, GRPC_STATUS_UNKNOWN,
                             "row %" PRIu64
                             " column %zu (%s): %zu bytes, "
                             "SQLite %zu bytes or others",
                             at, col, name, got_len, want_len);
      }
      return 1;
    }
  }
  return ss_status_set(st, GRPC_STATUS_UNKNOWN,
                       "column %zu (%s) has unknown type %d", col, name,
                       (int)type);
}

int ss_result_check_batch(ss_result_check *check, const ss_query *query,
                          const ss_batch *batch, ss_status *st) {
  size_t num_rows = ss_batch_num_rows(batch);
  size_t num_cols = ss_query_num_columns(query);
  for (size_t row = 0; row < num_rows; row++) {
    int rc = sqlite3_step(check->stmt);
    if (rc != SQLITE_ROW) {
      return ss_status_set(st, GRPC_STATUS_UNKNOWN,
                           "the client delivered row %" PRIu64
                           ", SQLite has no more (%s)",
                           check->rows, sqlite3_errstr(rc));
    }
    for (size_t col = 0; col < num_cols; col++) {
      if (!check_value(check, query, batch, col, row, st)) {
        return 0;
      }
    }
    check->rows++;
  }
  return 1;
}

int ss_result_check_end(ss_result_check *check, ss_status *st) {
  int rc = sqlite3_step(check->stmt);
  if (rc == SQLITE_ROW) {
    return ss_status_set(st, GRPC_STATUS_UNKNOWN,
                         "the client ended after %" PRIu64
                         " rows; SQLite has more",
                         check->rows);
  }
  if (rc != SQLITE_DONE) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "reference query: %s",
                         sqlite3_errmsg(check->db));
  }
  return 1;
}

uint64_t ss_result_check_rows(const ss_result_check *check) {
  return check->rows;
}

uint64_t ss_result_check_data_bytes(const ss_result_check *check) {
  return check->data_bytes;
}

static void set_mismatch(ss_check_outcome *out, const ss_status *st) {
  out->mismatch = 1;
  snprintf(out->mismatch_msg, sizeof(out->mismatch_msg), "%s", st->msg);
}

int ss_result_check_run(ss_check_outcome *out, ss_client *client,
                        const char *db_path, const char *sql,
                        const ss_query_options *options) {
  memset(out, 0, sizeof(*out));
  ss_status st;
  ss_status_init(&st);
  ss_query *query = NULL;
  int ok = 0;
  ss_result_check *check = ss_result_check_new(db_path, sql, &st);
  if (check == NULL) {
    set_mismatch(out, &st);
    goto done;
  }
  query = ss_query_start(client, sql, options, &out->error);
  if (query == NULL) {
    goto done;
  }
  if (!ss_result_check_schema(check, query, &st)) {
    set_mismatch(out, &st);
    goto done;
  }
  for (;;) {
    const ss_batch *batch = NULL;
    int rc = ss_query_next(query, &batch, &out->error);
    if (rc < 0) {
      goto done;
    }
    if (rc == 0) {
      break;
    }
    out->batches++;
    int same = ss_result_check_batch(check, query, batch, &st);
    out->rows = ss_result_check_rows(check);
    out->data_bytes = ss_result_check_data_bytes(check);
    if (!same) {
      set_mismatch(out, &st);
      goto done;
    }
  }
  out->error.code = 0;
  out->server_rows = ss_query_total_rows(query);
  out->server_batches = ss_query_total_batches(query);
  if (!ss_result_check_end(check, &st)) {
    set_mismatch(out, &st);
    goto done;
  }
  if (out->server_rows != out->rows) {
    ss_status_set(&st, GRPC_STATUS_UNKNOWN,
                  "the server reports %" PRIu64
                  " rows, the client got %" PRIu64,
                  out->server_rows, out->rows);
    set_mismatch(out, &st);
    goto done;
  }
  if (out->server_batches != out->batches) {
    ss_status_set(&st, GRPC_STATUS_UNKNOWN,
                  "the server reports %" PRIu64
                  " batches, the client got "
                  "%" PRIu64,
                  out->server_batches, out->batches);
    set_mismatch(out, &st);
    goto done;
  }
  ok = 1;

done:
  ss_query_free(query);
  ss_result_check_free(check);
  return ok;
}
