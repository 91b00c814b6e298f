// The result of a query (sealstream/client.h): the decoding of its opened
// StreamPayloads into the schema, row batches and final totals, and the
// accessors of the schema and of a batch.
//
// Trust: payloads reach here already authenticated and in place in the
// stream, yet their contents are still checked against the schema before
// any array is indexed, so a faulty server cannot make an accessor read out
// of bounds. Unpacked plaintext is wiped when it is freed.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "client/client_internal.h"
#include "lib/base/status.h"
#include "sealstream/client.h"
#include "sealstream/v1/query.pb-c.h"

// --- Unpacked plaintext is wiped when protobuf-c frees it. ---

// Header in front of each allocation: its size, padded to keep the
// allocation aligned as malloc's.
#define WIPE_HEADER _Alignof(max_align_t)
_Static_assert(_Alignof(max_align_t) >= sizeof(size_t),
               "the wiping allocator's header holds a size_t");

void *ss__wiping_alloc(void *data, size_t size) {
  (void)data;
  if (size > SIZE_MAX - WIPE_HEADER) {
    return NULL;
  }
  uint8_t *block = malloc(WIPE_HEADER + size);
  if (block == NULL) {
    return NULL;
  }
  memcpy(block, &size, sizeof(size));
  return block + WIPE_HEADER;
}

void ss__wiping_free(void *data, void *ptr) {
  (void)data;
  if (ptr == NULL) {
    return;
  }
  uint8_t *block = (uint8_t *)ptr - WIPE_HEADER;
  size_t size;
  memcpy(&size, block, sizeof(size));
  OPENSSL_cleanse(block, WIPE_HEADER + size);
  free(block);
}

// --- Decoding the stream's payloads ---

static Sealstream__V1__Column__DataCase data_case_for(ss_column_type type) {
  switch (type) {
    case SS_COLUMN_INT64:
      return SEALSTREAM__V1__COLUMN__DATA_INT64_DATA;
    case SS_COLUMN_DOUBLE:
      return SEALSTREAM__V1__COLUMN__DATA_DOUBLE_DATA;
    case SS_COLUMN_BOOL:
      return SEALSTREAM__V1__COLUMN__DATA_BOOL_DATA;
    case SS_COLUMN_STRING:
      return SEALSTREAM__V1__COLUMN__DATA_STRING_DATA;
    case SS_COLUMN_BYTES:
      return SEALSTREAM__V1__COLUMN__DATA_BYTES_DATA;
    case SS_COLUMN_TIMESTAMP:
      return SEALSTREAM__V1__COLUMN__DATA_TIMESTAMP_DATA;
  }
  return SEALSTREAM__V1__COLUMN__DATA__NOT_SET;
}

// column_values returns how many values |column| holds in the member its
// data case names, or SIZE_MAX when that member is missing.
static size_t column_values(const Sealstream__V1__Column *column) {
  switch (column->data_case) {
    case SEALSTREAM__V1__COLUMN__DATA_INT64_DATA:
      return column->int64_data != NULL ? column->int64_data->n_data
                                        : SIZE_MAX;
    case SEALSTREAM__V1__COLUMN__DATA_DOUBLE_DATA:
      return column->double_data != NULL ? column->double_data->n_data
                                         : SIZE_MAX;
    case SEALSTREAM__V1__COLUMN__DATA_BOOL_DATA:
      return column->bool_data != NULL ? column->bool_data->n_data
                                       : SIZE_MAX;
    case SEALSTREAM__V1__COLUMN__DATA_STRING_DATA:
      if (column->string_data == NULL) {
        return SIZE_MAX;
      }
      for (size_t i = 0; i < column->string_data->n_data; i++) {
        // protobuf-c fills every element; checked since accessors
        // dereference them.
        if (column->string_data->data[i] == NULL) {
          return SIZE_MAX;
        }
      }
      return column->string_data->n_data;
    case SEALSTREAM__V1__COLUMN__DATA_BYTES_DATA:
      return column->bytes_data != NULL ? column->bytes_data->n_data
                                        : SIZE_MAX;
    case SEALSTREAM__V1__COLUMN__DATA_TIMESTAMP_DATA:
      return column->timestamp_data != NULL ? column->timestamp_data->n_data
                                            : SIZE_MAX;
    default:
      return SIZE_MAX;
  }
}

static int check_schema(const Sealstream__V1__Schema *schema, ss_status *st) {
  if (schema == NULL) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "message 0: the schema is missing");
  }
  for (size_t i = 0; i < schema->n_columns; i++) {
    const Sealstream__V1__ColumnSchema *column = schema->columns[i];
    if (column == NULL || column->name == NULL) {
      return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                           "message 0: schema column %zu is missing", i);
    }
    if (data_case_for((ss_column_type)column->type) ==
        SEALSTREAM__V1__COLUMN__DATA__NOT_SET) {
      return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                           "message 0: schema column %zu has unknown type "
                           "%d; the server speaks a newer protocol",
                           i, (int)column->type);
    }
  }
  return 1;
}

// check_batch checks that every column of |rows| holds num_rows values of
// the schema's type (and num_rows null flags, or none), so accessors can
// index by row without further checks.
static int check_batch(const ss_query *query,
                       const Sealstream__V1__RowBatch *rows,
                       unsigned long long position, ss_status *st) {
  const Sealstream__V1__Schema *schema = query->schema->schema;
  if (rows == NULL) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "message %llu: the batch is missing", position);
  }
  if (rows->n_columns != schema->n_columns) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "message %llu: the batch has %zu columns; the "
                         "schema has %zu",
                         position, rows->n_columns, schema->n_columns);
  }
  if (rows->num_rows > SIZE_MAX ||
      (schema->n_columns == 0 && rows->num_rows != 0)) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "message %llu: the batch claims %llu rows that its "
                         "columns do not hold",
                         position, (unsigned long long)rows->num_rows);
  }
  size_t num_rows = (size_t)rows->num_rows;
  for (size_t i = 0; i < rows->n_columns; i++) {
    const Sealstream__V1__Column *column = rows->columns[i];
    if (column == NULL) {
      return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                           "message %llu: column %zu is missing", position,
                           i);
    }
    ss_column_type type = (ss_column_type)schema->columns[i]->type;
    if (column->data_case != data_case_for(type)) {
      return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                           "message %llu: column %zu holds data of another "
                           "type than its schema's (%d)",
                           position, i, (int)type);
    }
    size_t values = column_values(column);
    if (values != num_rows) {
      if (values == SIZE_MAX) {
        return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                             "message %llu: column %zu has no values",
                             position, i);
      }
      return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                           "message %llu: column %zu holds %zu values for "
                           "%zu rows",
                           position, i, values, num_rows);
    }
    if (column->n_nulls != 0 && column->n_nulls != num_rows) {
      return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                           "message %llu: column %zu has %zu null flags for "
                           "%zu rows",
                           position, i, column->n_nulls, num_rows);
    }
  }
  return 1;
}

void ss__query_release_current(ss_query *query) {
  if (query->current != NULL) {
    sealstream__v1__stream_payload__free_unpacked(query->current,
                                                  &query->allocator);
    query->current = NULL;
  }
  memset(&query->batch, 0, sizeof(query->batch));
}

int ss__query_take_payload(ss_query *query, const uint8_t *payload,
                           size_t payload_len, int final,
                           const ss_batch **out_batch, ss_status *st) {
  *out_batch = NULL;
  ss__query_release_current(query);
  unsigned long long position = (unsigned long long)query->messages++;
  Sealstream__V1__StreamPayload *msg = sealstream__v1__stream_payload__unpack(
      &query->allocator, payload_len, payload);
  if (msg == NULL) {
    ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                  "message %llu: the plaintext is not a StreamPayload",
                  position);
    return -1;
  }
  if (query->schema == NULL) {
    if (msg->payload_case != SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_SCHEMA) {
      ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                    "message %llu: expected the schema, got payload kind %d",
                    position, (int)msg->payload_case);
      goto err;
    }
    if (final) {
      ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                    "message %llu: the stream ended at its schema, without "
                    "the server's totals",
                    position);
      goto err;
    }
    if (!check_schema(msg->schema, st)) {
      goto err;
    }
    query->schema = msg;
    return 1;
  }
  switch (msg->payload_case) {
    case SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_BATCH:
      if (final) {
        ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                      "message %llu: the final message is a batch, not the "
                      "server's totals",
                      position);
        goto err;
      }
      if (!check_batch(query, msg->batch, position, st)) {
        goto err;
      }
      query->current = msg;
      query->batch.rows = msg->batch;
      query->batch.schema = query->schema->schema;
      query->batch.num_rows = (size_t)msg->batch->num_rows;
      query->batch.num_columns = msg->batch->n_columns;
      query->rows += msg->batch->num_rows;
      query->batches++;
      *out_batch = &query->batch;
      return 1;
    case SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_STATS: {
      const Sealstream__V1__QueryStats *stats = msg->stats;
      if (!final) {
        ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                      "message %llu: the server's totals came before the "
                      "end of the stream",
                      position);
        goto err;
      }
      if (stats == NULL || stats->rows != query->rows ||
          stats->batches != query->batches) {
        ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                      "message %llu: the server reports %llu rows in %llu "
                      "batches; %llu rows in %llu batches arrived",
                      position,
                      stats != NULL ? (unsigned long long)stats->rows : 0ULL,
                      stats != NULL ? (unsigned long long)stats->batches
                                    : 0ULL,
                      (unsigned long long)query->rows,
                      (unsigned long long)query->batches);
        goto err;
      }
      query->total_rows = stats->rows;
      query->total_batches = stats->batches;
      sealstream__v1__stream_payload__free_unpacked(msg, &query->allocator);
      return 0;
    }
    case SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_SCHEMA:
      ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                    "message %llu: a second schema", position);
      goto err;
    default:
      ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                    "message %llu: the payload is empty", position);
      goto err;
  }

err:
  sealstream__v1__stream_payload__free_unpacked(msg, &query->allocator);
  return -1;
}

// --- Schema accessors ---

size_t ss_query_num_columns(const ss_query *query) {
  return query != NULL && query->schema != NULL
             ? query->schema->schema->n_columns
             : 0;
}

const char *ss_query_column_name(const ss_query *query, size_t column) {
  if (column >= ss_query_num_columns(query)) {
    return NULL;
  }
  return query->schema->schema->columns[column]->name;
}

ss_column_type ss_query_column_type(const ss_query *query, size_t column) {
  if (column >= ss_query_num_columns(query)) {
    return (ss_column_type)0;
  }
  return (ss_column_type)query->schema->schema->columns[column]->type;
}

// --- Batch accessors: check_batch made every index below in range. ---

static const Sealstream__V1__Column *column_at(const ss_batch *batch,
                                               size_t column, size_t row,
                                               ss_column_type type) {
  if (batch == NULL || batch->rows == NULL || column >= batch->num_columns ||
      row >= batch->num_rows) {
    return NULL;
  }
  if (type != 0 && (ss_column_type)batch->schema->columns[column]->type !=
                       type) {
    return NULL;
  }
  return batch->rows->columns[column];
}

size_t ss_batch_num_rows(const ss_batch *batch) {
  return batch != NULL ? batch->num_rows : 0;
}

int ss_batch_is_null(const ss_batch *batch, size_t column, size_t row) {
  const Sealstream__V1__Column *c =
      column_at(batch, column, row, (ss_column_type)0);
  return c != NULL && c->n_nulls != 0 && c->nulls[row] != 0;
}

int64_t ss_batch_int64(const ss_batch *batch, size_t column, size_t row) {
  const Sealstream__V1__Column *c =
      column_at(batch, column, row, SS_COLUMN_INT64);
  return c != NULL ? c->int64_data->data[row] : 0;
}

double ss_batch_double(const ss_batch *batch, size_t column, size_t row) {
  const Sealstream__V1__Column *c =
      column_at(batch, column, row, SS_COLUMN_DOUBLE);
  return c != NULL ? c->double_data->data[row] : 0.0;
}

int ss_batch_bool(const ss_batch *batch, size_t column, size_t row) {
  const Sealstream__V1__Column *c =
      column_at(batch, column, row, SS_COLUMN_BOOL);
  return c != NULL && c->bool_data->data[row] != 0;
}

const char *ss_batch_string(const ss_batch *batch, size_t column, size_t row,
                            size_t *out_len) {
  if (out_len != NULL) {
    *out_len = 0;
  }
  const Sealstream__V1__Column *c =
      column_at(batch, column, row, SS_COLUMN_STRING);
  if (c == NULL) {
    return NULL;
  }
  const char *s = c->string_data->data[row];
  if (out_len != NULL) {
    *out_len = strlen(s);
  }
  return s;
}

const uint8_t *ss_batch_bytes(const ss_batch *batch, size_t column, size_t row,
                              size_t *out_len) {
  static const uint8_t kEmpty[1] = {0};
  if (out_len != NULL) {
    *out_len = 0;
  }
  const Sealstream__V1__Column *c =
      column_at(batch, column, row, SS_COLUMN_BYTES);
  if (c == NULL) {
    return NULL;
  }
  const ProtobufCBinaryData *value = &c->bytes_data->data[row];
  if (out_len != NULL) {
    *out_len = value->len;
  }
  // protobuf-c leaves an empty value's pointer NULL; NULL means an error
  // here.
  return value->len > 0 && value->data != NULL ? value->data : kEmpty;
}

int64_t ss_batch_timestamp(const ss_batch *batch, size_t column, size_t row) {
  const Sealstream__V1__Column *c =
      column_at(batch, column, row, SS_COLUMN_TIMESTAMP);
  return c != NULL ? c->timestamp_data->data[row] : 0;
}
