// Internal to server/: the query source's state, shared by query_source.c
// (opening, stepping, batches), query_authorizer.c (what a query may touch)
// and query_values.c (converting values).
#ifndef SEALSTREAM_SERVER_QUERY_SOURCE_INTERNAL_H
#define SEALSTREAM_SERVER_QUERY_SOURCE_INTERNAL_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "sealstream/v1/query.pb-c.h"
#include "server/query_source.h"

#ifdef __cplusplus
extern "C" {
#endif

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

// ss__query_authorize is the connection's SQLite authorizer (|arg| is the
// source): reading the schema's tables and views, allowed pragmas and SQL
// functions from an allowlist, nothing else. What it refuses first is
// recorded in |refused| for the error message.
int ss__query_authorize(void *arg, int action, const char *arg1,
                        const char *arg2, const char *db_name,
                        const char *trigger);

// ss__query_load_tables fills |qs->tables| and |qs->modules| for the
// authorizer. Returns 1, or 0 with |st| set.
int ss__query_load_tables(ss_query_source *qs, ss_status *st);

// ss__name_set_cleanup frees the names of |set| and empties it.
void ss__name_set_cleanup(name_set *set);

// ss__varint_size returns the bytes of |v| as a protobuf varint.
size_t ss__varint_size(uint64_t v);

// ss__copy_text appends |s| (|n| bytes) to |arena| as a NUL-terminated UTF-8
// string: it ends at the first NUL byte and each invalid byte becomes U+FFFD.
// Sets |*out_len| to the bytes written before the NUL. Returns 1, or 0 when
// memory is short.
int ss__copy_text(ss_buf *arena, const uint8_t *s, size_t n, size_t *out_len);

// ss__timestamp_value converts the value of column |i| of |stmt| (of storage
// class |vtype|) to nanoseconds since the epoch. Returns 0 when it is to be
// null.
int ss__timestamp_value(sqlite3_stmt *stmt, int i, int vtype, int64_t *out_ns);

// ss__query_sqlite_error sets |st| from SQLite's result |rc| on |qs|'s
// connection, naming what the authorizer refused if it did. Returns 0.
int ss__query_sqlite_error(ss_query_source *qs, int rc, ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_SERVER_QUERY_SOURCE_INTERNAL_H
