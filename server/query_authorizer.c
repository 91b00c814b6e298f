// What a query may touch (see query_source_internal.h): the SQLite
// authorizer of a query source's connection. The SQL text is untrusted: its
// names are compared against allowlists, never quoted in messages.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/query_source_internal.h"

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

void ss__name_set_cleanup(name_set *set) {
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

// ss__query_authorize allows reading and nothing else. |arg1| and |arg2| come from
// the SQL text; they are compared, never quoted in a message.
int ss__query_authorize(void *arg, int action, const char *arg1,
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
    return ss__query_sqlite_error(qs, rc, st);
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
int ss__query_load_tables(ss_query_source *qs, ss_status *st) {
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
  ss__name_set_cleanup(&qs->modules);
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
