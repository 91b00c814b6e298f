// Test support: compares what the client library delivers with what SQLite
// itself returns for the same SQL on the same file, value by value, as the
// batches arrive (so a million-row result is checked in bounded memory).
#ifndef SEALSTREAM_TESTS_SUPPORT_RESULT_CHECK_H
#define SEALSTREAM_TESTS_SUPPORT_RESULT_CHECK_H

#include <stdint.h>

#include "sealstream/client.h"
#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ss_result_check ss_result_check;

// ss_result_check_new opens |db_path| read-only and prepares |sql| as the
// reference. Returns NULL with |st| set.
ss_result_check *ss_result_check_new(const char *db_path, const char *sql,
                                     ss_status *st);

// ss_result_check_free finalizes and frees |check|. NULL is ignored.
void ss_result_check_free(ss_result_check *check);

// ss_result_check_schema checks that |query| has SQLite's column count and
// names. Returns 1, or 0 with |st| saying what differs.
int ss_result_check_schema(ss_result_check *check, const ss_query *query,
                           ss_status *st);

// ss_result_check_batch compares every row of |batch| with SQLite's next
// rows: NULLs where SQLite has NULL, and otherwise the value SQLite gives
// for the column's type (doubles bit for bit, strings and bytes with their
// lengths). Returns 1, or 0 with |st| naming the row and column.
int ss_result_check_batch(ss_result_check *check, const ss_query *query,
                          const ss_batch *batch, ss_status *st);

// ss_result_check_end checks that SQLite has no rows left. Returns 1, or 0
// with |st| set.
int ss_result_check_end(ss_result_check *check, ss_status *st);

// Rows compared so far and their size: 8 bytes per number or timestamp, 1
// per bool, the length of each string or byte string.
uint64_t ss_result_check_rows(const ss_result_check *check);
uint64_t ss_result_check_data_bytes(const ss_result_check *check);

typedef struct ss_check_outcome {
  ss_error error;  // the client's error; code 0 when the query ended
  int mismatch;    // 1: the client delivered something SQLite did not
  char mismatch_msg[SS_STATUS_MSG_MAX];
  uint64_t rows;            // rows delivered (and compared)
  uint64_t batches;         // batches delivered
  uint64_t data_bytes;      // see ss_result_check_data_bytes
  uint64_t server_rows;     // ss_query_total_rows at the end
  uint64_t server_batches;  // ss_query_total_batches at the end
} ss_check_outcome;

// ss_result_check_run runs |sql| through |client| with |options| (may be
// NULL) and compares everything delivered with SQLite's result on
// |db_path|, stopping at the client's first error. Returns 1 if the query
// completed with every row, the schema and the totals matching; else 0,
// with |out| saying whether the client failed (|out->error|) or delivered
// something wrong (|out->mismatch|).
int ss_result_check_run(ss_check_outcome *out, ss_client *client,
                        const char *db_path, const char *sql,
                        const ss_query_options *options);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_TESTS_SUPPORT_RESULT_CHECK_H
