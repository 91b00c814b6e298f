// Query execution on a local SQLite database, producing the plaintext
// messages of a sealstream.v1 result stream: a serialized StreamPayload with
// the Schema, then one per RowBatch, then one with the QueryStats.
//
// The database is opened read-only for each query: SQLITE_OPEN_READONLY,
// PRAGMA query_only, no ATTACH, no extension loading, and an authorizer that
// refuses anything but reading. A progress handler stops a statement at its
// deadline or when ss_query_source_interrupt is called. SQL text is untrusted.
//
// Column types come from each result column's declared type, matched as
// SQLite matches affinities: TIMESTAMP or DATETIME is TIMESTAMP, BOOL is
// BOOL, INT is INT64, CHAR, CLOB or TEXT is STRING, BLOB is BYTES, REAL, FLOA
// or DOUB is DOUBLE. A column with no declared type (an expression) or
// another one (NUMERIC) takes the storage class of its value in the first
// row: INTEGER INT64, REAL DOUBLE, TEXT STRING, BLOB BYTES, NULL STRING.
// Values of another storage class are converted as sqlite3_column_int64,
// _double, _text and _blob convert them (text "12ab" is 12, a real is
// truncated toward zero); BOOL is whether the number is nonzero. TIMESTAMP
// values are nanoseconds since the Unix epoch: a number as is, ISO 8601 text
// ("2024-05-01 12:00:00.250Z", "2024-05-01T12:00:00+02:00") converted, other
// text and blobs null. STRING values end at their first NUL byte and invalid
// UTF-8 becomes U+FFFD, as proto3 strings must be UTF-8.
#ifndef SEALSTREAM_SERVER_QUERY_SOURCE_H
#define SEALSTREAM_SERVER_QUERY_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// Server-side caps on what a request may ask for.
// By default batches are bounded by bytes: on a long network path each
// batch costs about one and a half round trips (see client.c), so bigger
// batches mean more throughput, at one batch of memory per stream.
#define SS_QUERY_DEFAULT_ROWS_PER_BATCH 65536
#define SS_QUERY_MAX_ROWS_PER_BATCH 1000000
#define SS_QUERY_DEFAULT_BYTES_PER_BATCH (1024 * 1024)
#define SS_QUERY_MAX_BYTES_PER_BATCH (16 * 1024 * 1024)
#define SS_QUERY_MAX_SQL_BYTES (64 * 1024)

typedef struct ss_query_limits {
  uint32_t max_rows_per_batch;   // 0: default
  uint64_t max_bytes_per_batch;  // serialized batch bytes; 0: default
  uint64_t max_total_rows;       // 0: no limit
} ss_query_limits;

typedef struct ss_query_source ss_query_source;

// ss_query_source_open opens |db_path| read-only and prepares |sql| with
// |limits| (checked: a limit above the caps above is RESOURCE_EXHAUSTED
// naming the cap). |deadline_ms| is an absolute CLOCK_MONOTONIC time in
// milliseconds after which any step fails with DEADLINE_EXCEEDED (0: none).
// Bad SQL is INVALID_ARGUMENT with SQLite's message; a statement that would
// write, ATTACH, or load an extension is INVALID_ARGUMENT saying only
// read-only queries run; more than one statement is INVALID_ARGUMENT; an
// unreadable database is UNAVAILABLE. Returns NULL on failure.
ss_query_source *ss_query_source_open(const char *db_path, const char *sql,
                                      const ss_query_limits *limits,
                                      int64_t deadline_ms, ss_status *st);

// ss_query_source_free finalizes the statement, closes the database and
// frees |source|. NULL is ignored.
void ss_query_source_free(ss_query_source *source);

// ss_query_source_next appends the next plaintext message to |out| (reset
// first): the Schema on the first call, then RowBatches of at most the
// limits' rows and bytes (a single row larger than the byte limit is sent
// alone), then the QueryStats, for which |*out_final| is set to 1. Rows are
// read as they are sent: memory is bounded by one batch. Errors: the
// statement's failure (INVALID_ARGUMENT with SQLite's message at run time),
// DEADLINE_EXCEEDED, CANCELLED after ss_query_source_interrupt,
// RESOURCE_EXHAUSTED for a value or row of more than
// SS_QUERY_MAX_BYTES_PER_BATCH bytes. After a failure, or after the final
// message, every call fails with FAILED_PRECONDITION; only free remains.
int ss_query_source_next(ss_query_source *source, ss_buf *out, int *out_final,
                         ss_status *st);

// ss_query_source_interrupt makes the running or next step fail with
// CANCELLED. Safe to call from any thread while another uses |source|.
void ss_query_source_interrupt(ss_query_source *source);

// Running totals for the request log line.
uint64_t ss_query_source_rows(const ss_query_source *source);
uint64_t ss_query_source_batches(const ss_query_source *source);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_SERVER_QUERY_SOURCE_H
