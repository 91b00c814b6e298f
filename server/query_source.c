// Query execution on a local SQLite database (see query_source.h), producing
// sealstream.v1 StreamPayload messages (protos/sealstream/v1/query.proto).
// The SQL text is untrusted: it runs on a connection opened read-only, with
// query_only, no ATTACH, no extension loading, defensive mode, and an
// authorizer that allows only reading. The database file is the server's own
// and trusted, but the values in it are still only data: text is checked for
// UTF-8 before it becomes a proto3 string, and error messages never quote a
// row.
#include "server/query_source.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sealstream/v1/query.pb-c.h"
#include "server/query_source_internal.h"

// The progress handler runs every this many virtual machine instructions:
// often enough to stop within a millisecond or so, rarely enough to cost
// nothing measurable.
#define PROGRESS_OPS 1000

// How long a step waits for another connection's write lock to clear.
#define BUSY_WAIT_MS 5000
#define BUSY_SLEEP_MS 10

// Upper bounds of the serialized bytes a batch needs beyond its values: a
// tag and a 10-byte varint length for the StreamPayload field and num_rows,
// and per column the Column, its nulls, its data oneof and the packed array
// inside it.
#define BATCH_OVERHEAD 22
#define COLUMN_OVERHEAD 44

// The first row capacity of a batch's arrays; they double from here up to
// the batch's row limit and keep their allocation for later batches.
#define MIN_ROW_CAP 256

// Values of empty BYTES point here: protobuf-c copies |len| bytes from
// |data|, and a NULL source is undefined even for a zero length.
static uint8_t kEmptyBytes[1];

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int deadline_passed(const ss_query_source *qs) {
  return qs->deadline_ms != 0 && now_us() / 1000 >= qs->deadline_ms;
}

// --- Handlers SQLite calls while it prepares and steps -------------------

// on_progress stops the running step (SQLITE_INTERRUPT) once the query is
// interrupted or past its deadline.
static int on_progress(void *arg) {
  ss_query_source *qs = arg;
  if (atomic_load(&qs->interrupted)) {
    return 1;
  }
  if (deadline_passed(qs)) {
    qs->deadline_hit = 1;
    return 1;
  }
  return 0;
}

// on_busy waits for another connection's write lock, up to BUSY_WAIT_MS and
// never past the deadline or an interrupt (sqlite3_busy_timeout would sleep
// through both).
static int on_busy(void *arg, int count) {
  ss_query_source *qs = arg;
  if (atomic_load(&qs->interrupted)) {
    return 0;
  }
  if (deadline_passed(qs)) {
    qs->deadline_hit = 1;
    return 0;
  }
  if (count >= BUSY_WAIT_MS / BUSY_SLEEP_MS) {
    return 0;
  }
  sqlite3_sleep(BUSY_SLEEP_MS);
  return 1;
}

// --- Errors ----------------------------------------------------------------

static int set_read_only_error(ss_status *st, const char *what) {
  return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "only read-only queries are allowed: %s is refused",
                       what);
}

// ss__query_sqlite_error sets |st| for |rc| from a call on |qs->db|. SQLite's
// messages name statements, columns and functions, never row values.
int ss__query_sqlite_error(ss_query_source *qs, int rc, ss_status *st) {
  if (atomic_load(&qs->interrupted)) {
    return ss_status_set(st, GRPC_STATUS_CANCELLED, "query cancelled");
  }
  if (qs->deadline_hit) {
    return ss_status_set(st, GRPC_STATUS_DEADLINE_EXCEEDED,
                         "query deadline exceeded");
  }
  if (qs->refused[0] != '\0') {
    return set_read_only_error(st, qs->refused);
  }
  const char *msg = sqlite3_errmsg(qs->db);
  switch (rc & 0xff) {
    case SQLITE_INTERRUPT:
      // Only our handlers interrupt, and both set a flag checked above.
      return ss_status_set(st, GRPC_STATUS_CANCELLED, "query interrupted");
    case SQLITE_AUTH:
    case SQLITE_READONLY:
      return set_read_only_error(st, "writing");
    case SQLITE_NOMEM:
    case SQLITE_TOOBIG:
    case SQLITE_FULL:
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "query: %s (values are limited to %d bytes)", msg,
                           SS_QUERY_MAX_BYTES_PER_BATCH);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
      return ss_status_set(st, GRPC_STATUS_UNAVAILABLE,
                           "database unavailable: %s", msg);
    default:
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "SQL error: %s",
                           msg);
  }
}

// --- Open and free ---------------------------------------------------------

// sql_tail_is_blank returns 1 if |sql| (|len| bytes) holds only whitespace,
// comments and semicolons: empty statements SQLite would skip.
static int sql_tail_is_blank(const char *sql, size_t len) {
  ss_cbs cbs;
  ss_cbs_init(&cbs, sql, len);
  uint8_t c;
  while (ss_cbs_get_u8(&cbs, &c)) {
    if (c == ' ' || (c >= '\t' && c <= '\r') || c == ';') {
      continue;
    }
    ss_cbs probe = cbs;
    uint8_t next;
    if (c == '-' && ss_cbs_get_u8(&probe, &next) && next == '-') {
      ss_cbs line;
      if (!ss_cbs_get_until(&probe, &line, '\n')) {
        return 1;  // the comment runs to the end
      }
      cbs = probe;
      continue;
    }
    if (c == '/' && ss_cbs_get_u8(&probe, &next) && next == '*') {
      // An unterminated block comment runs to the end, as in SQLite.
      uint8_t prev = 0;
      while (ss_cbs_get_u8(&probe, &next) && !(prev == '*' && next == '/')) {
        prev = next;
      }
      cbs = probe;
      continue;
    }
    return 0;
  }
  return 1;
}

static int check_limits(ss_query_source *qs, const ss_query_limits *limits,
                        ss_status *st) {
  ss_query_limits none = {0, 0, 0};
  if (limits == NULL) {
    limits = &none;
  }
  if (limits->max_rows_per_batch > SS_QUERY_MAX_ROWS_PER_BATCH) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "max_rows_per_batch is %u; at most %d allowed",
                         (unsigned)limits->max_rows_per_batch,
                         SS_QUERY_MAX_ROWS_PER_BATCH);
  }
  if (limits->max_bytes_per_batch > SS_QUERY_MAX_BYTES_PER_BATCH) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "max_bytes_per_batch is %llu; at most %d allowed",
                         (unsigned long long)limits->max_bytes_per_batch,
                         SS_QUERY_MAX_BYTES_PER_BATCH);
  }
  qs->max_rows = limits->max_rows_per_batch != 0
                     ? limits->max_rows_per_batch
                     : SS_QUERY_DEFAULT_ROWS_PER_BATCH;
  qs->max_bytes = limits->max_bytes_per_batch != 0
                      ? limits->max_bytes_per_batch
                      : SS_QUERY_DEFAULT_BYTES_PER_BATCH;
  qs->max_total_rows = limits->max_total_rows;
  return 1;
}

// open_db opens |db_path| read-only and locks the connection down before any
// untrusted SQL reaches it.
static int open_db(ss_query_source *qs, const char *db_path, ss_status *st) {
  // NOMUTEX: the connection belongs to this source and is used by one thread
  // at a time. The only cross-thread calls are sqlite3_interrupt, which
  // SQLite documents as safe from any thread, and the atomic flag the
  // handlers read; the connection mutex would buy nothing.
  const int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
  // Debian's SQLite is built with SQLITE_USE_URI: a path starting "file:"
  // would be parsed as a URI with options. "./" keeps it a plain file name.
  char *literal = NULL;
  if (strncmp(db_path, "file:", 5) == 0) {
    literal = sqlite3_mprintf("./%s", db_path);
    if (literal == NULL) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
  }
  // READONLY never creates a missing file.
  int rc = sqlite3_open_v2(literal != NULL ? literal : db_path, &qs->db, flags,
                           NULL);
  sqlite3_free(literal);
  if (rc != SQLITE_OK) {
    // The message names no path: the client must not learn server paths.
    return ss_status_set(
        st, GRPC_STATUS_UNAVAILABLE, "database unavailable: %s",
        qs->db != NULL ? sqlite3_errmsg(qs->db) : sqlite3_errstr(rc));
  }
  int off = 0;
  int on = 1;
  if (sqlite3_db_config(qs->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0,
                        &off) != SQLITE_OK ||
      sqlite3_db_config(qs->db, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0,
                        &off) != SQLITE_OK ||
      sqlite3_db_config(qs->db, SQLITE_DBCONFIG_DEFENSIVE, 1, &on) !=
          SQLITE_OK ||
      sqlite3_db_config(qs->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, &off) !=
          SQLITE_OK) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL,
                         "database: cannot restrict the connection: %s",
                         sqlite3_errmsg(qs->db));
  }
  sqlite3_limit(qs->db, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_limit(qs->db, SQLITE_LIMIT_LENGTH, SS_QUERY_MAX_BYTES_PER_BATCH);
  sqlite3_limit(qs->db, SQLITE_LIMIT_SQL_LENGTH, SS_QUERY_MAX_SQL_BYTES);
  rc = sqlite3_exec(qs->db, "PRAGMA query_only=1", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    return ss__query_sqlite_error(qs, rc, st);
  }
  if (!ss__query_load_tables(qs, st)) {
    return 0;
  }
  // Installed after our own statements, which the authorizer would refuse.
  sqlite3_set_authorizer(qs->db, ss__query_authorize, qs);
  sqlite3_progress_handler(qs->db, PROGRESS_OPS, on_progress, qs);
  sqlite3_busy_handler(qs->db, on_busy, qs);
  return 1;
}

static int prepare(ss_query_source *qs, const char *sql, size_t sql_len,
                   ss_status *st) {
  const char *tail = NULL;
  int rc = sqlite3_prepare_v2(qs->db, sql, (int)sql_len, &qs->stmt, &tail);
  if (rc != SQLITE_OK) {
    return ss__query_sqlite_error(qs, rc, st);
  }
  if (qs->stmt == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "the query is empty; send one SELECT statement");
  }
  // |tail| points into |sql|, at or before its end.
  size_t used = (size_t)(tail - sql);
  if (used > sql_len) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "SQLite misplaced the tail");
  }
  if (!sql_tail_is_blank(tail, sql_len - used)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "the query holds more than one statement; send one");
  }
  // VACUUM and writing PRAGMAs pass no authorizer action of their own.
  if (!sqlite3_stmt_readonly(qs->stmt)) {
    return set_read_only_error(st, "this statement");
  }
  return 1;
}

ss_query_source *ss_query_source_open(const char *db_path, const char *sql,
                                      const ss_query_limits *limits,
                                      int64_t deadline_ms, ss_status *st) {
  ss_query_source *qs = NULL;
  if (db_path == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "no database path");
    goto err;
  }
  if (sql == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "the query is empty; send one SELECT statement");
    goto err;
  }
  size_t sql_len = strnlen(sql, (size_t)SS_QUERY_MAX_SQL_BYTES + 1);
  if (sql_len > SS_QUERY_MAX_SQL_BYTES) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "the query is more than %d bytes long",
                  SS_QUERY_MAX_SQL_BYTES);
    goto err;
  }
  qs = calloc(1, sizeof(*qs));
  if (qs == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto err;
  }
  atomic_init(&qs->interrupted, 0);
  ss_buf_init(&qs->arena, 0);
  qs->start_us = now_us();
  qs->deadline_ms = deadline_ms;
  qs->state = STATE_SCHEMA;
  if (!check_limits(qs, limits, st) || !open_db(qs, db_path, st) ||
      !prepare(qs, sql, sql_len, st)) {
    goto err;
  }
  return qs;

err:
  ss_query_source_free(qs);
  return NULL;
}

static void column_cleanup(column *col) {
  free(col->name);
  free(col->nulls);
  free(col->ints);
  free(col->doubles);
  free(col->bools);
  free(col->offsets);
  free(col->strings);
  free(col->blobs);
}

void ss_query_source_free(ss_query_source *source) {
  if (source == NULL) {
    return;
  }
  sqlite3_finalize(source->stmt);
  sqlite3_close(source->db);
  for (int i = 0; i < source->num_cols; i++) {
    column_cleanup(&source->cols[i]);
  }
  free(source->cols);
  free(source->col_msgs);
  ss__name_set_cleanup(&source->tables);
  ss__name_set_cleanup(&source->modules);
  ss_buf_cleanup(&source->arena);
  free(source);
}

void ss_query_source_interrupt(ss_query_source *source) {
  atomic_store(&source->interrupted, 1);
  sqlite3_interrupt(source->db);
}

uint64_t ss_query_source_rows(const ss_query_source *source) {
  return source->total_rows;
}

uint64_t ss_query_source_batches(const ss_query_source *source) {
  return source->total_batches;
}

// --- Schema ----------------------------------------------------------------

static int has(const char *haystack, const char *needle) {
  return strstr(haystack, needle) != NULL;
}

// type_of chooses the type of column |i|: see the header.
static Sealstream__V1__ColumnType type_of(sqlite3_stmt *stmt, int i,
                                          int have_row) {
  const char *decl = sqlite3_column_decltype(stmt, i);
  if (decl != NULL) {
    char upper[64];
    size_t n = 0;
    for (; decl[n] != '\0' && n < sizeof(upper) - 1; n++) {
      char c = decl[n];
      upper[n] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    upper[n] = '\0';
    if (has(upper, "TIMESTAMP") || has(upper, "DATETIME")) {
      return SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_TIMESTAMP;
    }
    if (has(upper, "BOOL")) {
      return SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL;
    }
    if (has(upper, "INT")) {
      return SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64;
    }
    if (has(upper, "CHAR") || has(upper, "CLOB") || has(upper, "TEXT")) {
      return SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_STRING;
    }
    if (has(upper, "BLOB")) {
      return SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BYTES;
    }
    if (has(upper, "REAL") || has(upper, "FLOA") || has(upper, "DOUB")) {
      return SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_DOUBLE;
    }
  }
  switch (have_row ? sqlite3_column_type(stmt, i) : SQLITE_NULL) {
    case SQLITE_INTEGER:
      return SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64;
    case SQLITE_FLOAT:
      return SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_DOUBLE;
    case SQLITE_BLOB:
      return SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BYTES;
    default:
      return SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_STRING;
  }
}

// copy_name returns a newly allocated, NUL-terminated UTF-8 copy of |name|.
static char *copy_name(const char *name) {
  if (name == NULL) {
    name = "";
  }
  ss_buf buf;
  ss_buf_init(&buf, 0);
  size_t len;
  uint8_t *data;
  size_t data_len;
  if (!ss__copy_text(&buf, (const uint8_t *)name, strlen(name), &len) ||
      !ss_buf_release(&buf, &data, &data_len)) {
    ss_buf_cleanup(&buf);
    return NULL;
  }
  return (char *)data;
}

// setup_columns sizes the source for the statement's columns once the first
// step has fixed them (a schema change can re-prepare before that).
static int setup_columns(ss_query_source *qs, ss_status *st) {
  int n = sqlite3_column_count(qs->stmt);
  qs->num_cols = 0;
  qs->cols = calloc(n > 0 ? (size_t)n : 1, sizeof(*qs->cols));
  qs->col_msgs = calloc(n > 0 ? (size_t)n : 1, sizeof(*qs->col_msgs));
  if (qs->cols == NULL || qs->col_msgs == NULL) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  for (int i = 0; i < n; i++) {
    column *col = &qs->cols[i];
    qs->num_cols = i + 1;  // cleaned up from here on
    col->type = type_of(qs->stmt, i, qs->row_pending);
    col->name = copy_name(sqlite3_column_name(qs->stmt, i));
    if (col->name == NULL) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    sealstream__v1__column__init(&col->msg);
    switch (col->type) {
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64:
        sealstream__v1__int64_column__init(&col->data_msg.ints);
        col->msg.data_case = SEALSTREAM__V1__COLUMN__DATA_INT64_DATA;
        col->msg.int64_data = &col->data_msg.ints;
        break;
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_TIMESTAMP:
        sealstream__v1__int64_column__init(&col->data_msg.ints);
        col->msg.data_case = SEALSTREAM__V1__COLUMN__DATA_TIMESTAMP_DATA;
        col->msg.timestamp_data = &col->data_msg.ints;
        break;
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_DOUBLE:
        sealstream__v1__double_column__init(&col->data_msg.doubles);
        col->msg.data_case = SEALSTREAM__V1__COLUMN__DATA_DOUBLE_DATA;
        col->msg.double_data = &col->data_msg.doubles;
        break;
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL:
        sealstream__v1__bool_column__init(&col->data_msg.bools);
        col->msg.data_case = SEALSTREAM__V1__COLUMN__DATA_BOOL_DATA;
        col->msg.bool_data = &col->data_msg.bools;
        break;
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BYTES:
        sealstream__v1__bytes_column__init(&col->data_msg.blobs);
        col->msg.data_case = SEALSTREAM__V1__COLUMN__DATA_BYTES_DATA;
        col->msg.bytes_data = &col->data_msg.blobs;
        break;
      default:
        sealstream__v1__string_column__init(&col->data_msg.strings);
        col->msg.data_case = SEALSTREAM__V1__COLUMN__DATA_STRING_DATA;
        col->msg.string_data = &col->data_msg.strings;
        break;
    }
    qs->col_msgs[i] = &col->msg;
  }
  return 1;
}

// --- Output ----------------------------------------------------------------

// pack writes |payload| to |out| (reset first). Returns 1 or 0.
static int pack(ss_buf *out, const Sealstream__V1__StreamPayload *payload,
                ss_status *st) {
  ss_buf_reset(out);
  size_t len = sealstream__v1__stream_payload__get_packed_size(payload);
  uint8_t *dst;
  if (!ss_buf_reserve(out, len, &dst)) {
    ss_buf_reset(out);
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "a %zu-byte message does not fit the output buffer",
                         len);
  }
  size_t written = sealstream__v1__stream_payload__pack(payload, dst);
  if (written != len) {
    // protobuf-c packs exactly what it measured; handled all the same.
    ss_buf_reset(out);
    return ss_status_set(st, GRPC_STATUS_INTERNAL,
                         "protobuf-c packed %zu bytes, not %zu", written, len);
  }
  ss_buf_advance(out, len);
  return 1;
}

static int send_schema(ss_query_source *qs, ss_buf *out, ss_status *st) {
  size_t n = qs->num_cols > 0 ? (size_t)qs->num_cols : 1;
  Sealstream__V1__ColumnSchema *cols = calloc(n, sizeof(*cols));
  Sealstream__V1__ColumnSchema **ptrs = calloc(n, sizeof(*ptrs));
  int ok = 0;
  if (cols == NULL || ptrs == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  for (int i = 0; i < qs->num_cols; i++) {
    sealstream__v1__column_schema__init(&cols[i]);
    cols[i].name = qs->cols[i].name;
    cols[i].type = qs->cols[i].type;
    ptrs[i] = &cols[i];
  }
  Sealstream__V1__Schema schema = SEALSTREAM__V1__SCHEMA__INIT;
  schema.n_columns = (size_t)qs->num_cols;
  schema.columns = ptrs;
  Sealstream__V1__StreamPayload payload = SEALSTREAM__V1__STREAM_PAYLOAD__INIT;
  payload.payload_case = SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_SCHEMA;
  payload.schema = &schema;
  ok = pack(out, &payload, st);

done:
  free(cols);
  free(ptrs);
  return ok;
}

static int send_stats(ss_query_source *qs, ss_buf *out, ss_status *st) {
  Sealstream__V1__QueryStats stats = SEALSTREAM__V1__QUERY_STATS__INIT;
  stats.rows = qs->total_rows;
  stats.batches = qs->total_batches;
  stats.plaintext_bytes = qs->plaintext_bytes;
  int64_t elapsed = now_us() - qs->start_us;
  stats.duration_us = elapsed > 0 ? (uint64_t)elapsed : 0;
  Sealstream__V1__StreamPayload payload = SEALSTREAM__V1__STREAM_PAYLOAD__INIT;
  payload.payload_case = SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_STATS;
  payload.stats = &stats;
  return pack(out, &payload, st);
}

static int send_batch(ss_query_source *qs, ss_buf *out, ss_status *st) {
  size_t rows = qs->num_rows;
  char *arena = (char *)qs->arena.data;  // stable until the next batch
  for (int i = 0; i < qs->num_cols; i++) {
    column *col = &qs->cols[i];
    col->msg.n_nulls = col->num_nulls > 0 ? rows : 0;
    col->msg.nulls = col->nulls;
    switch (col->type) {
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64:
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_TIMESTAMP:
        col->data_msg.ints.n_data = rows;
        col->data_msg.ints.data = col->ints;
        break;
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_DOUBLE:
        col->data_msg.doubles.n_data = rows;
        col->data_msg.doubles.data = col->doubles;
        break;
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL:
        col->data_msg.bools.n_data = rows;
        col->data_msg.bools.data = col->bools;
        break;
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BYTES:
        for (size_t r = 0; r < rows; r++) {
          col->blobs[r].data = col->blobs[r].len > 0
                                   ? (uint8_t *)arena + col->offsets[r]
                                   : kEmptyBytes;
        }
        col->data_msg.blobs.n_data = rows;
        col->data_msg.blobs.data = col->blobs;
        break;
      default:
        // Every string value, even a null one, wrote at least its NUL.
        for (size_t r = 0; r < rows; r++) {
          col->strings[r] = arena + col->offsets[r];
        }
        col->data_msg.strings.n_data = rows;
        col->data_msg.strings.data = col->strings;
        break;
    }
  }
  Sealstream__V1__RowBatch batch = SEALSTREAM__V1__ROW_BATCH__INIT;
  batch.num_rows = rows;
  batch.n_columns = (size_t)qs->num_cols;
  batch.columns = qs->col_msgs;
  Sealstream__V1__StreamPayload payload = SEALSTREAM__V1__STREAM_PAYLOAD__INIT;
  payload.payload_case = SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_BATCH;
  payload.batch = &batch;
  if (!pack(out, &payload, st)) {
    return 0;
  }
  qs->total_batches++;
  qs->plaintext_bytes += out->len;
  return 1;
}

// --- Batches ---------------------------------------------------------------

static int grow(void **array, size_t cap, size_t elem) {
  void *grown = realloc(*array, cap * elem);
  if (grown == NULL) {
    return 0;
  }
  *array = grown;
  return 1;
}

// grow_rows makes room for one more row in every column's arrays.
static int grow_rows(ss_query_source *qs, ss_status *st) {
  size_t cap = qs->row_cap < MIN_ROW_CAP ? MIN_ROW_CAP : qs->row_cap * 2;
  if (cap > qs->max_rows) {
    cap = qs->max_rows;  // never below num_rows + 1: num_rows < max_rows
  }
  for (int i = 0; i < qs->num_cols; i++) {
    column *col = &qs->cols[i];
    int ok = grow((void **)&col->nulls, cap, sizeof(*col->nulls));
    switch (col->type) {
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64:
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_TIMESTAMP:
        ok = ok && grow((void **)&col->ints, cap, sizeof(*col->ints));
        break;
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_DOUBLE:
        ok = ok && grow((void **)&col->doubles, cap, sizeof(*col->doubles));
        break;
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL:
        ok = ok && grow((void **)&col->bools, cap, sizeof(*col->bools));
        break;
      case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BYTES:
        ok = ok && grow((void **)&col->offsets, cap, sizeof(*col->offsets)) &&
             grow((void **)&col->blobs, cap, sizeof(*col->blobs));
        break;
      default:
        ok = ok && grow((void **)&col->offsets, cap, sizeof(*col->offsets)) &&
             grow((void **)&col->strings, cap, sizeof(*col->strings));
        break;
    }
    if (!ok) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "out of memory for a batch of %zu rows", cap);
    }
  }
  qs->row_cap = cap;
  return 1;
}

static int out_of_memory(ss_status *st) {
  return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

// add_value writes column |i| of the current row to slot |r| and adds its
// serialized size (a tight upper bound) to |*cost|.
static int add_value(ss_query_source *qs, int i, size_t r, uint64_t *cost,
                     ss_status *st) {
  sqlite3_stmt *stmt = qs->stmt;
  column *col = &qs->cols[i];
  // Read first: after a conversion the storage class is undefined.
  int vtype = sqlite3_column_type(stmt, i);
  int is_null = vtype == SQLITE_NULL;
  switch (col->type) {
    case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64: {
      int64_t v = is_null ? 0 : sqlite3_column_int64(stmt, i);
      col->ints[r] = v;
      *cost += ss__varint_size((uint64_t)v);
      break;
    }
    case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_TIMESTAMP: {
      int64_t v = 0;
      if (!is_null && !ss__timestamp_value(stmt, i, vtype, &v)) {
        is_null = 1;
        v = 0;
      }
      col->ints[r] = v;
      *cost += ss__varint_size((uint64_t)v);
      break;
    }
    case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_DOUBLE:
      col->doubles[r] = is_null ? 0.0 : sqlite3_column_double(stmt, i);
      *cost += 8;
      break;
    case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL:
      if (is_null) {
        col->bools[r] = 0;
      } else if (vtype == SQLITE_FLOAT) {
        col->bools[r] = sqlite3_column_double(stmt, i) != 0.0;
      } else {
        col->bools[r] = sqlite3_column_int64(stmt, i) != 0;
      }
      *cost += 1;
      break;
    case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BYTES: {
      size_t len = 0;
      col->offsets[r] = qs->arena.len;
      if (!is_null) {
        const void *data = sqlite3_column_blob(stmt, i);
        len = (size_t)sqlite3_column_bytes(stmt, i);
        if (len > 0 &&
            (data == NULL || !ss_buf_append(&qs->arena, data, len))) {
          return out_of_memory(st);
        }
      }
      col->blobs[r].len = len;
      *cost += 1 + ss__varint_size(len) + len;
      break;
    }
    default: {
      size_t len = 0;
      col->offsets[r] = qs->arena.len;
      const uint8_t *text = NULL;
      size_t text_len = 0;
      if (!is_null) {
        text = sqlite3_column_text(stmt, i);
        text_len = (size_t)sqlite3_column_bytes(stmt, i);
        if (text == NULL) {
          // NULL is either an empty value or a failed conversion.
          if (sqlite3_errcode(qs->db) == SQLITE_NOMEM) {
            return out_of_memory(st);
          }
          text_len = 0;
        }
      }
      if (!ss__copy_text(&qs->arena, text, text_len, &len)) {
        return out_of_memory(st);
      }
      *cost += 1 + ss__varint_size(len) + len;
      break;
    }
  }
  col->nulls[r] = is_null;
  // The nulls array costs a byte per row of the batch, from the first null.
  if (col->num_nulls > 0) {
    *cost += 1;
  } else if (is_null) {
    *cost += r + 1;
  }
  return 1;
}

// add_row writes the statement's current row to slot |num_rows| and sets
// |*out_cost| to what it adds to the batch. The row counts only after
// commit_row, so one that does not fit is dropped by not committing it.
static int add_row(ss_query_source *qs, uint64_t *out_cost, ss_status *st) {
  if (qs->num_rows == qs->row_cap && !grow_rows(qs, st)) {
    return 0;
  }
  uint64_t cost = 0;
  for (int i = 0; i < qs->num_cols; i++) {
    if (!add_value(qs, i, qs->num_rows, &cost, st)) {
      return 0;
    }
    if (cost > SS_QUERY_MAX_BYTES_PER_BATCH) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "a result row is more than %d bytes",
                           SS_QUERY_MAX_BYTES_PER_BATCH);
    }
  }
  *out_cost = cost;
  return 1;
}

static void commit_row(ss_query_source *qs, uint64_t cost) {
  for (int i = 0; i < qs->num_cols; i++) {
    qs->cols[i].num_nulls += (size_t)qs->cols[i].nulls[qs->num_rows];
  }
  qs->num_rows++;
  qs->total_rows++;
  qs->batch_size += cost;
  qs->row_pending = 0;
}

// step moves the statement to its next row: |row_pending| or |exhausted|.
static int step(ss_query_source *qs, ss_status *st) {
  int rc = sqlite3_step(qs->stmt);
  if (rc == SQLITE_ROW) {
    qs->row_pending = 1;
    return 1;
  }
  if (rc == SQLITE_DONE) {
    qs->exhausted = 1;
    sqlite3_reset(qs->stmt);  // ends the read transaction now
    return 1;
  }
  return ss__query_sqlite_error(qs, rc, st);
}

// fill_batch reads rows into a new batch until it is full or no row is
// left; it may end with no row.
static int fill_batch(ss_query_source *qs, ss_status *st) {
  qs->num_rows = 0;
  qs->batch_size = BATCH_OVERHEAD + (uint64_t)qs->num_cols * COLUMN_OVERHEAD;
  ss_buf_reset(&qs->arena);
  for (int i = 0; i < qs->num_cols; i++) {
    qs->cols[i].num_nulls = 0;
  }
  for (;;) {
    if (!qs->row_pending) {
      if (qs->exhausted) {
        return 1;
      }
      if (qs->max_total_rows != 0 && qs->total_rows >= qs->max_total_rows) {
        qs->exhausted = 1;
        sqlite3_reset(qs->stmt);
        return 1;
      }
      if (!step(qs, st)) {
        return 0;
      }
      continue;
    }
    size_t mark = qs->arena.len;
    uint64_t cost = 0;
    if (!add_row(qs, &cost, st)) {
      return 0;
    }
    if (qs->num_rows > 0 && qs->batch_size + cost > qs->max_bytes) {
      qs->arena.len = mark;  // the row stays pending for the next batch
      return 1;
    }
    commit_row(qs, cost);
    if (qs->num_rows == qs->max_rows) {
      return 1;
    }
  }
}

static int next(ss_query_source *qs, ss_buf *out, int *out_final,
                ss_status *st) {
  if (atomic_load(&qs->interrupted)) {
    return ss_status_set(st, GRPC_STATUS_CANCELLED, "query cancelled");
  }
  if (deadline_passed(qs)) {
    return ss_status_set(st, GRPC_STATUS_DEADLINE_EXCEEDED,
                         "query deadline exceeded");
  }
  if (qs->state == STATE_SCHEMA) {
    // The first row decides the types of expression columns.
    if (!step(qs, st) || !setup_columns(qs, st) || !send_schema(qs, out, st)) {
      return 0;
    }
    qs->state = STATE_ROWS;
    return 1;
  }
  if (!fill_batch(qs, st)) {
    return 0;
  }
  if (qs->num_rows > 0) {
    return send_batch(qs, out, st);
  }
  if (!send_stats(qs, out, st)) {
    return 0;
  }
  qs->state = STATE_DONE;
  *out_final = 1;
  return 1;
}

int ss_query_source_next(ss_query_source *source, ss_buf *out, int *out_final,
                         ss_status *st) {
  *out_final = 0;
  ss_buf_reset(out);
  if (source->state == STATE_DONE) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "the query already sent its final message");
  }
  if (source->state == STATE_FAILED) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "the query already failed");
  }
  if (!next(source, out, out_final, st)) {
    source->state = STATE_FAILED;
    sqlite3_reset(source->stmt);
    ss_buf_reset(out);
    *out_final = 0;
    return 0;
  }
  return 1;
}
