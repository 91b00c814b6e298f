// Test support: the SQLite files end-to-end tests serve. http_events comes
// from the real sealstream-demo-data binary; all_types is added here and
// holds every column type the protocol has, with NULLs and edge values.
#ifndef SEALSTREAM_TESTS_SUPPORT_TEST_DB_H
#define SEALSTREAM_TESTS_SUPPORT_TEST_DB_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// all_types(id INTEGER PRIMARY KEY, i INTEGER, d REAL, b BOOLEAN, s TEXT,
// bl BLOB, ts TIMESTAMP): SS_TEST_DB_ALL_TYPES_ROWS rows; every column but
// id is NULL in some rows, one row is all NULL.
#define SS_TEST_DB_ALL_TYPES "all_types"
#define SS_TEST_DB_ALL_TYPES_ROWS 64

// text_edge(id INTEGER PRIMARY KEY, s TEXT): TEXT values that are not
// proto3 strings as stored: NUL bytes inside, invalid UTF-8. The server
// serves a string up to its first NUL, with each invalid byte as U+FFFD
// (server/query_source.h); |served| is what the client must return.
#define SS_TEST_DB_TEXT_EDGE "text_edge"
#define SS_TEST_DB_TEXT_EDGE_ROWS 9

typedef struct ss_test_db_text_edge {
  const char *stored;  // the TEXT value, |stored_len| bytes
  size_t stored_len;
  const char *served;  // NUL-terminated
} ss_test_db_text_edge;

// Row i (id i + 1) of text_edge.
extern const ss_test_db_text_edge
    ss_test_db_text_edges[SS_TEST_DB_TEXT_EDGE_ROWS];

// ss_test_db_create writes a new database at |path|: |rows| http_events rows
// from |demo_binary| (--seed |seed|), then all_types and text_edge. Returns 1,
// or 0 with |st| set.
int ss_test_db_create(const char *path, const char *demo_binary, uint64_t rows,
                      uint64_t seed, ss_status *st);

// ss_test_db_count sets |*out| to the number of rows of |table| in the
// database at |path|. Returns 1, or 0 with |st| set.
int ss_test_db_count(const char *path, const char *table, uint64_t *out,
                     ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_TESTS_SUPPORT_TEST_DB_H
