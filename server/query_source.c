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

enum {
  STATE_SCHEMA,  // next sends the Schema
  STATE_ROWS,    // next sends a RowBatch, or the QueryStats when no row is left
  STATE_DONE,    // the QueryStats was sent
  STATE_FAILED,  // a call failed; only free remains
};

typedef struct column {
  Sealstream__V1__ColumnType type;
  char *name;  // owned; valid UTF-8
  // The batch being built: slot i of each array holds row i. Only the arrays
  // |type| needs are allocated, with room for the source's |row_cap| rows.
  protobuf_c_boolean *nulls;   // 1 for a null row
  size_t num_nulls;            // rows of the batch that are null
  int64_t *ints;               // INT64, TIMESTAMP
  double *doubles;             // DOUBLE
  protobuf_c_boolean *bools;   // BOOL
  size_t *offsets;             // STRING, BYTES: where the value starts in arena
  char **strings;              // STRING: set from |offsets| when packing
  ProtobufCBinaryData *blobs;  // BYTES: |len| at once, |data| when packing
  // Messages that view the arrays above when the batch is packed.
  Sealstream__V1__Column msg;
  union {
    Sealstream__V1__Int64Column ints;
    Sealstream__V1__DoubleColumn doubles;
    Sealstream__V1__BoolColumn bools;
    Sealstream__V1__StringColumn strings;
    Sealstream__V1__BytesColumn blobs;
  } data_msg;
} column;

// name_set is a sorted (sqlite3_stricmp) set of names, for the authorizer.
typedef struct name_set {
  char **names;  // owned, |num| of them, each owned
  size_t num;
} name_set;

struct ss_query_source {
  sqlite3 *db;
  sqlite3_stmt *stmt;
  int64_t deadline_ms;      // CLOCK_MONOTONIC milliseconds; 0: none
  int64_t start_us;         // CLOCK_MONOTONIC microseconds at open
  atomic_int interrupted;   // set by ss_query_source_interrupt, any thread
  int deadline_hit;         // a handler stopped SQLite at the deadline
  char refused[96];         // what the authorizer refused first; "" if none
  name_set tables;          // the schema's tables and views
  name_set modules;         // the connection's virtual table modules
  uint32_t max_rows;        // rows per batch
  uint64_t max_bytes;       // estimated serialized bytes per batch
  uint64_t max_total_rows;  // 0: no limit
  int state;
  int row_pending;  // the statement holds a stepped row not yet in a batch
  int exhausted;    // no row is left: SQLITE_DONE or max_total_rows reached
  int num_cols;
  column *cols;                       // num_cols
  Sealstream__V1__Column **col_msgs;  // num_cols views of cols[i].msg
  size_t num_rows;                    // rows in the batch being built
  size_t row_cap;                     // rows every column's arrays hold
  uint64_t batch_size;  // estimated serialized size of the batch so far
  ss_buf arena;         // STRING (NUL-terminated) and BYTES values of the batch
  uint64_t total_rows;
  uint64_t total_batches;
  uint64_t plaintext_bytes;  // serialized batch payloads sent
};

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

// SQL functions a query may call: an allowlist, reviewed for SQLite 3.40
// (Debian 12) and later. A function is on it only if it computes a value from
// its arguments, the rows or the clock, and touches nothing else: no file, no
// connection state, no build or server detail, no code loading. Cost is
// bounded elsewhere (SQLITE_LIMIT_LENGTH on every value, the progress
// handler and the query deadline). Anything not listed is refused by name,
// including functions a later SQLite adds, until someone reviews them.
//
// Listed:
// - core scalar functions (lang_corefunc.html), without the ones below;
// - aggregates and window functions (lang_aggfunc.html, windowfunctions.html);
// - date and time functions (lang_datefunc.html);
// - JSON functions (json1.html) where compiled in, including -> and ->>;
// - math functions (lang_mathfunc.html) where SQLITE_ENABLE_MATH_FUNCTIONS;
// - the query-planner hints likely, unlikely and likelihood;
// - the full-text search auxiliaries (match, snippet, highlight, bm25,
//   offsets, matchinfo), which only read the FTS table being queried.
//
// Left out on purpose:
// - load_extension: loads and runs a shared library;
// - fts3_tokenizer: with two arguments it takes a raw C pointer;
// - sqlite_compileoption_get, sqlite_compileoption_used, sqlite_source_id,
//   sqlite_version, fts5_source_id: build details, of use only to an
//   attacker picking an exploit;
// - sqlite_log: writes to the server's error log;
// - changes, total_changes, last_insert_rowid: connection state, meaningless
//   on a read-only connection;
// - rtreecheck, rtreenode, rtreedepth: R-tree debugging internals;
// - readfile, writefile, edit and the like: shell extensions a build might
//   register, touching files or running an editor.
static const char *const kAllowedFunctions[] = {
    // Core scalar functions.
    "abs", "char", "coalesce", "concat", "concat_ws", "format", "glob", "hex",
    "ifnull", "iif", "instr", "length", "like", "lower", "ltrim", "max",
    "min", "nullif", "octet_length", "printf", "quote", "random",
    "randomblob", "replace", "round", "rtrim", "sign", "soundex", "substr",
    "substring", "trim", "typeof", "unhex", "unicode", "upper", "zeroblob",
    "likely", "unlikely", "likelihood",
    // Aggregates and window functions.
    "avg", "count", "group_concat", "string_agg", "sum", "total",
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile",
    "lag", "lead", "first_value", "last_value", "nth_value",
    // Date and time.
    "date", "time", "datetime", "julianday", "unixepoch", "strftime",
    "timediff", "current_date", "current_time", "current_timestamp",
    // JSON.
    "json", "json_array", "json_array_length", "json_error_position",
    "json_extract", "json_insert", "json_object", "json_patch", "json_pretty",
    "json_quote", "json_remove", "json_replace", "json_set", "json_type",
    "json_valid", "json_group_array", "json_group_object", "->", "->>",
    // Math.
    "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil",
    "ceiling", "cos", "cosh", "degrees", "exp", "floor", "ln", "log", "log10",
    "log2", "mod", "pi", "pow", "power", "radians", "sin", "sinh", "sqrt",
    "tan", "tanh", "trunc",
    // Full-text search auxiliaries.
    "match", "snippet", "highlight", "bm25", "offsets", "matchinfo",
};

// Virtual tables a query may read besides the database's own tables and
// views: SQLite's schema table and the JSON table-valued functions, which
// compute rows from their arguments only. Pragma table-valued functions
// (pragma_table_info, ...) are judged by the PRAGMA action SQLite asks about
// for them, so the pragma lists below decide. Any other eponymous virtual
// table is refused by name: dbstat (page-level layout of the whole file, and
// a scan of all of it), sqlite_stmt (the connection's statements),
// sqlite_dbpage (raw pages), and whatever a later SQLite adds.
static const char *const kAllowedVirtualTables[] = {
    "sqlite_master", "sqlite_schema",  "sqlite_temp_master",
    "sqlite_temp_schema", "json_each", "json_tree",
};

// Pragmas that only read and that a client may reasonably use to look at the
// schema. Everything else, including any pragma that can change the
// connection (query_only, writable_schema, journal_mode), is refused.
static const char *const kSchemaPragmas[] = {
    "table_info", "table_xinfo", "table_list",       "index_list",
    "index_info", "index_xinfo", "foreign_key_list",
};
// Pragmas that read a value without an argument and set it with one.
static const char *const kValuePragmas[] = {
    "user_version",   "application_id", "page_count",   "page_size",
    "freelist_count", "encoding",       "data_version",
};

static int in_list(const char *name, const char *const *list, size_t n) {
  if (name == NULL) {
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (sqlite3_stricmp(name, list[i]) == 0) {
      return 1;
    }
  }
  return 0;
}

// refuse records the first refused action in |qs| and denies it.
static int refuse(ss_query_source *qs, const char *what) {
  if (qs->refused[0] == '\0') {
    snprintf(qs->refused, sizeof(qs->refused), "%s", what);
  }
  return SQLITE_DENY;
}

// refuse_named is refuse for "|kind| |name|". |name| is SQLite's own name
// of a function or table that exists (unknown names fail earlier, in the
// parser), but it is shown only as letters, digits and a few symbols, cut
// short, in case a build registers something odd.
static int refuse_named(ss_query_source *qs, const char *kind,
                        const char *name) {
  char shown[48];
  size_t n = 0;
  for (; name != NULL && name[n] != '\0' && n < sizeof(shown) - 1; n++) {
    char c = name[n];
    int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '>';
    shown[n] = plain ? c : '?';
  }
  shown[n] = '\0';
  char what[sizeof(qs->refused)];
  snprintf(what, sizeof(what), "%s %s", kind, shown);
  return refuse(qs, what);
}

static int compare_names(const void *a, const void *b) {
  return sqlite3_stricmp(*(const char *const *)a, *(const char *const *)b);
}

static int name_set_contains(const name_set *set, const char *name) {
  return name != NULL && set->num > 0 &&
         bsearch(&name, set->names, set->num, sizeof(set->names[0]),
                 compare_names) != NULL;
}

static void name_set_cleanup(name_set *set) {
  for (size_t i = 0; i < set->num; i++) {
    free(set->names[i]);
  }
  free(set->names);
  set->names = NULL;
  set->num = 0;
}

// may_read returns 1 if a query may read |column_name| of the table or
// virtual table |table|. SQLite also asks with the column "" for each FROM item no
// column is read from, naming the item as written: then |table| may be a
// common table expression, which the authorizer cannot tell from a table,
// so only the names of virtual table modules are refused.
static int may_read(const ss_query_source *qs, const char *table,
                    const char *column_name) {
  if (table == NULL) {
    return 0;  // SQLite always names the table; handled all the same
  }
  if (name_set_contains(&qs->tables, table) ||
      in_list(table, kAllowedVirtualTables,
              sizeof(kAllowedVirtualTables) / sizeof(kAllowedVirtualTables[0]))) {
    return 1;
  }
  // Pragma table-valued functions come with their own PRAGMA action.
  if (sqlite3_strnicmp(table, "pragma_", 7) == 0) {
    return 1;
  }
  return column_name != NULL && column_name[0] == '\0' &&
         !name_set_contains(&qs->modules, table);
}

// on_authorize allows reading and nothing else. |arg1| and |arg2| come from
// the SQL text; they are compared, never quoted in a message.
static int on_authorize(void *arg, int action, const char *arg1,
                        const char *arg2, const char *db_name,
                        const char *trigger) {
  (void)db_name;
  (void)trigger;
  ss_query_source *qs = arg;
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    case SQLITE_READ:
      if (may_read(qs, arg1, arg2)) {
        return SQLITE_OK;
      }
      return refuse_named(qs, "the virtual table", arg1);
    case SQLITE_FUNCTION:
      if (in_list(arg2, kAllowedFunctions,
                  sizeof(kAllowedFunctions) / sizeof(kAllowedFunctions[0]))) {
        return SQLITE_OK;
      }
      return refuse_named(qs, "the SQL function", arg2);
    case SQLITE_PRAGMA:
      if (in_list(arg1, kSchemaPragmas,
                  sizeof(kSchemaPragmas) / sizeof(kSchemaPragmas[0])) ||
          (arg2 == NULL &&
           in_list(arg1, kValuePragmas,
                   sizeof(kValuePragmas) / sizeof(kValuePragmas[0])))) {
        return SQLITE_OK;
      }
      return refuse(qs, "this PRAGMA");
    case SQLITE_UPDATE:
      // Declaring an eponymous virtual table (json_each, pragma_table_info)
      // runs SQLite's schema bookkeeping, which asks to update these
      // columns; nothing is written. A user's UPDATE of the schema table
      // fails to prepare ("may not be modified"), a CREATE is refused by its
      // own action first, and sqlite3_stmt_readonly and the read-only file
      // still stand behind this.
      if (arg1 != NULL && (sqlite3_stricmp(arg1, "sqlite_master") == 0 ||
                           sqlite3_stricmp(arg1, "sqlite_temp_master") == 0)) {
        return SQLITE_OK;
      }
      return refuse(qs, "writing");
    case SQLITE_INSERT:
    case SQLITE_DELETE:
      return refuse(qs, "writing");
    case SQLITE_ATTACH:
      return refuse(qs, "ATTACH");
    case SQLITE_DETACH:
      return refuse(qs, "DETACH");
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
      return refuse(qs, "transaction control");
    case SQLITE_CREATE_INDEX:
    case SQLITE_CREATE_TABLE:
    case SQLITE_CREATE_TEMP_INDEX:
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_TEMP_VIEW:
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_VIEW:
    case SQLITE_CREATE_VTABLE:
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_TEMP_INDEX:
    case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_DROP_TEMP_TRIGGER:
    case SQLITE_DROP_TEMP_VIEW:
    case SQLITE_DROP_TRIGGER:
    case SQLITE_DROP_VIEW:
    case SQLITE_DROP_VTABLE:
    case SQLITE_ALTER_TABLE:
    case SQLITE_REINDEX:
    case SQLITE_ANALYZE:
      return refuse(qs, "changing the schema");
    default:
      return refuse(qs, "this statement");
  }
}

// --- Errors ----------------------------------------------------------------

static int set_read_only_error(ss_status *st, const char *what) {
  return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "only read-only queries are allowed: %s is refused",
                       what);
}

// set_sqlite_error sets |st| for |rc| from a call on |qs->db|. SQLite's
// messages name statements, columns and functions, never row values.
static int set_sqlite_error(ss_query_source *qs, int rc, ss_status *st) {
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

// Virtual table modules of SQLite itself, for a build without
// pragma_module_list.
static const char *const kKnownModules[] = {
    "dbstat", "sqlite_dbpage", "sqlite_stmt", "json_each", "json_tree",
    "fts3", "fts3tokenize", "fts4", "fts4aux", "fts5", "fts5vocab",
    "rtree", "rtree_i32", "geopoly", "generate_series", "carray",
    "completion", "csv", "series", "zipfile", "fsdir",
};

// load_names runs |sql|, which yields one text column, and puts the values
// into |set|, sorted. Returns 1, or 0 with |st| set; |set| then holds what
// was read and is freed with the source.
static int load_names(ss_query_source *qs, const char *sql, name_set *set,
                      ss_status *st) {
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2(qs->db, sql, -1, &stmt, NULL);
  size_t cap = 0;
  while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    rc = SQLITE_OK;
    const char *name = (const char *)sqlite3_column_text(stmt, 0);
    if (name == NULL) {
      continue;  // a damaged schema row names nothing to allow
    }
    if (set->num == cap) {
      size_t new_cap = cap == 0 ? 16 : 2 * cap;
      char **grown = realloc(set->names, new_cap * sizeof(*grown));
      if (grown == NULL) {
        rc = SQLITE_NOMEM;
        break;
      }
      set->names = grown;
      cap = new_cap;
    }
    if ((set->names[set->num] = strdup(name)) == NULL) {
      rc = SQLITE_NOMEM;
      break;
    }
    set->num++;
  }
  sqlite3_finalize(stmt);
  if (rc == SQLITE_NOMEM) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (rc != SQLITE_DONE) {
    return set_sqlite_error(qs, rc, st);
  }
  if (set->num > 0) {
    qsort(set->names, set->num, sizeof(set->names[0]), compare_names);
  }
  return 1;
}

// load_tables fills |qs->tables| and |qs->modules| for the authorizer: reads
// of the schema's tables and views are allowed, and the modules tell a
// virtual table from a common table expression where SQLite names a FROM
// item without a column (see may_read).
static int load_tables(ss_query_source *qs, ss_status *st) {
  if (!load_names(qs,
                  "SELECT name FROM sqlite_master WHERE type IN "
                  "('table', 'view')",
                  &qs->tables, st)) {
    return 0;
  }
  ss_status ignored;
  if (load_names(qs, "SELECT name FROM pragma_module_list", &qs->modules,
                 &ignored)) {
    return 1;
  }
  // Built without the introspection pragmas: SQLite's own modules stand in.
  name_set_cleanup(&qs->modules);
  for (size_t i = 0; i < sizeof(kKnownModules) / sizeof(kKnownModules[0]);
       i++) {
    name_set *set = &qs->modules;
    char **grown = realloc(set->names, (set->num + 1) * sizeof(*grown));
    if (grown == NULL) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    set->names = grown;
    if ((set->names[set->num] = strdup(kKnownModules[i])) == NULL) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    set->num++;
  }
  qsort(qs->modules.names, qs->modules.num, sizeof(qs->modules.names[0]),
        compare_names);
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
    return set_sqlite_error(qs, rc, st);
  }
  if (!load_tables(qs, st)) {
    return 0;
  }
  // Installed after our own statements, which the authorizer would refuse.
  sqlite3_set_authorizer(qs->db, on_authorize, qs);
  sqlite3_progress_handler(qs->db, PROGRESS_OPS, on_progress, qs);
  sqlite3_busy_handler(qs->db, on_busy, qs);
  return 1;
}

static int prepare(ss_query_source *qs, const char *sql, size_t sql_len,
                   ss_status *st) {
  const char *tail = NULL;
  int rc = sqlite3_prepare_v2(qs->db, sql, (int)sql_len, &qs->stmt, &tail);
  if (rc != SQLITE_OK) {
    return set_sqlite_error(qs, rc, st);
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
  name_set_cleanup(&source->tables);
  name_set_cleanup(&source->modules);
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

// --- Values ----------------------------------------------------------------

static size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

// utf8_valid_len returns the length of the valid UTF-8 sequence at the start
// of |s| (|n| > 0 bytes), or 0 if it is invalid (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
static size_t utf8_valid_len(const uint8_t *s, size_t n) {
  uint8_t c = s[0];
  if (c < 0x80) {
    return 1;
  }
  size_t len;
  uint8_t lo = 0x80;
  uint8_t hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    lo = c == 0xe0 ? 0xa0 : 0x80;
    hi = c == 0xed ? 0x9f : 0xbf;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    lo = c == 0xf0 ? 0x90 : 0x80;
    hi = c == 0xf4 ? 0x8f : 0xbf;
  } else {
    return 0;
  }
  if (n < len || s[1] < lo || s[1] > hi) {
    return 0;
  }
  for (size_t i = 2; i < len; i++) {
    if (s[i] < 0x80 || s[i] > 0xbf) {
      return 0;
    }
  }
  return len;
}

// utf8_valid returns 1 if all |n| bytes of |s| are valid UTF-8.
static int utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (n - i >= 8) {
      uint64_t word;
      memcpy(&word, s + i, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    size_t len = utf8_valid_len(s + i, n - i);
    if (len == 0) {
      return 0;
    }
    i += len;
  }
  return 1;
}

// copy_text appends |s| (|n| bytes) to |arena| as a NUL-terminated UTF-8
// string: it ends at the first NUL byte and each invalid byte becomes U+FFFD.
// Sets |*out_len| to the bytes written before the NUL. Returns 1, or 0 when
// memory is short.
static int copy_text(ss_buf *arena, const uint8_t *s, size_t n,
                     size_t *out_len) {
  const uint8_t *nul = n > 0 ? memchr(s, 0, n) : NULL;
  if (nul != NULL) {
    n = (size_t)(nul - s);
  }
  uint8_t *dst;
  if (utf8_valid(s, n)) {
    if (!ss_buf_reserve(arena, n + 1, &dst)) {
      return 0;
    }
    if (n > 0) {
      memcpy(dst, s, n);
    }
    dst[n] = '\0';
    ss_buf_advance(arena, n + 1);
    *out_len = n;
    return 1;
  }
  // Each invalid byte grows to the 3 bytes of U+FFFD.
  if (n > (SIZE_MAX - 1) / 3 || !ss_buf_reserve(arena, 3 * n + 1, &dst)) {
    return 0;
  }
  size_t w = 0;
  size_t i = 0;
  while (i < n) {
    size_t len = utf8_valid_len(s + i, n - i);
    if (len == 0) {
      dst[w++] = 0xef;
      dst[w++] = 0xbf;
      dst[w++] = 0xbd;
      i++;
      continue;
    }
    memcpy(dst + w, s + i, len);
    w += len;
    i += len;
  }
  dst[w] = '\0';
  ss_buf_advance(arena, w + 1);
  *out_len = w;
  return 1;
}

// get_number reads exactly |digits| decimal digits from |cbs|.
static int get_number(ss_cbs *cbs, int digits, int *out) {
  int v = 0;
  for (int i = 0; i < digits; i++) {
    uint8_t c;
    if (!ss_cbs_get_u8(cbs, &c) || c < '0' || c > '9') {
      return 0;
    }
    v = v * 10 + (c - '0');
  }
  *out = v;
  return 1;
}

// get_digit reads one decimal digit from |cbs|; on anything else |cbs| is
// unchanged.
static int get_digit(ss_cbs *cbs, int *out) {
  ss_cbs probe = *cbs;
  uint8_t c;
  if (!ss_cbs_get_u8(&probe, &c) || c < '0' || c > '9') {
    return 0;
  }
  *out = c - '0';
  *cbs = probe;
  return 1;
}

// get_char reads one byte equal to |want| from |cbs|; on a mismatch |cbs| is
// unchanged.
static int get_char(ss_cbs *cbs, uint8_t want) {
  ss_cbs probe = *cbs;
  uint8_t c;
  if (!ss_cbs_get_u8(&probe, &c) || c != want) {
    return 0;
  }
  *cbs = probe;
  return 1;
}

// days_from_civil returns the days from 1970-01-01 to the proleptic
// Gregorian date |y|-|m|-|d| (H. Hinnant's algorithm).
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
  static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// parse_iso8601 converts "YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]]][Z|(+|-)HH:MM]"
// to nanoseconds since the Unix epoch. Returns 1, or 0 for anything else or
// a time outside int64 nanoseconds (years 1678 to 2261).
static int parse_iso8601(const uint8_t *text, size_t len, int64_t *out_ns) {
  ss_cbs cbs;
  ss_cbs_init(&cbs, text, len);
  int year, month, day, hour = 0, minute = 0, second = 0;
  int64_t nanos = 0;
  int64_t offset_s = 0;
  if (!get_number(&cbs, 4, &year) || !get_char(&cbs, '-') ||
      !get_number(&cbs, 2, &month) || !get_char(&cbs, '-') ||
      !get_number(&cbs, 2, &day) || month < 1 || month > 12 || day < 1 ||
      day > days_in_month(year, month)) {
    return 0;
  }
  if (get_char(&cbs, 'T') || get_char(&cbs, ' ')) {
    if (!get_number(&cbs, 2, &hour) || !get_char(&cbs, ':') ||
        !get_number(&cbs, 2, &minute) || hour > 23 || minute > 59) {
      return 0;
    }
    if (get_char(&cbs, ':')) {
      if (!get_number(&cbs, 2, &second) || second > 59) {
        return 0;
      }
      if (get_char(&cbs, '.')) {
        // Digits past nanoseconds are dropped.
        int digits = 0;
        int64_t scale = 100000000;
        int d;
        while (get_digit(&cbs, &d)) {
          nanos += d * scale;
          scale /= 10;
          digits++;
        }
        if (digits == 0) {
          return 0;
        }
      }
    }
    if (get_char(&cbs, 'Z')) {
      offset_s = 0;
    } else {
      int sign = get_char(&cbs, '+') ? 1 : get_char(&cbs, '-') ? -1 : 0;
      if (sign != 0) {
        int oh, om;
        if (!get_number(&cbs, 2, &oh) || !get_char(&cbs, ':') ||
            !get_number(&cbs, 2, &om) || oh > 23 || om > 59) {
          return 0;
        }
        offset_s = sign * (oh * 3600 + om * 60);
      }
    }
  }
  if (cbs.len != 0) {
    return 0;
  }
  int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 +
                    minute * 60 + second - offset_s;
  // INT64_MAX nanoseconds is 9223372036.85 seconds.
  if (seconds > INT64_MAX / 1000000000 - 1 ||
      seconds < INT64_MIN / 1000000000 + 1) {
    return 0;
  }
  *out_ns = seconds * 1000000000 + nanos;
  return 1;
}

// timestamp_value converts the value of column |i| (of storage class
// |vtype|) to nanoseconds. Returns 0 when it is to be null.
static int timestamp_value(sqlite3_stmt *stmt, int i, int vtype,
                           int64_t *out_ns) {
  if (vtype == SQLITE_INTEGER) {
    *out_ns = sqlite3_column_int64(stmt, i);
    return 1;
  }
  if (vtype == SQLITE_FLOAT) {
    double d = sqlite3_column_double(stmt, i);
    // -2^63 is exact as a double; 2^63 is the first value out of range.
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
      return 0;
    }
    *out_ns = (int64_t)d;
    return 1;
  }
  if (vtype == SQLITE_TEXT) {
    const uint8_t *text = sqlite3_column_text(stmt, i);
    int len = sqlite3_column_bytes(stmt, i);
    return text != NULL && parse_iso8601(text, (size_t)len, out_ns);
  }
  return 0;
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
  if (!copy_text(&buf, (const uint8_t *)name, strlen(name), &len) ||
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
      *cost += varint_size((uint64_t)v);
      break;
    }
    case SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_TIMESTAMP: {
      int64_t v = 0;
      if (!is_null && !timestamp_value(stmt, i, vtype, &v)) {
        is_null = 1;
        v = 0;
      }
      col->ints[r] = v;
      *cost += varint_size((uint64_t)v);
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
      *cost += 1 + varint_size(len) + len;
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
      if (!copy_text(&qs->arena, text, text_len, &len)) {
        return out_of_memory(st);
      }
      *cost += 1 + varint_size(len) + len;
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
  return set_sqlite_error(qs, rc, st);
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
