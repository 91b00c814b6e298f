// query_example: the smallest complete use of the sealstream client library.
// It connects to a server (or proxy), runs one query, prints each row as
// tab-separated text and reports errors with their gRPC code. Copy it as a
// starting point; see README.md beside it for building and running.
//
//   query_example HOST:PORT "SELECT id, name FROM events LIMIT 10"
#include <inttypes.h>
#include <stdio.h>

#include "sealstream/client.h"

// print_value prints one cell; bytes and timestamps are kept short here
// (sealstream-query shows the full formatting: base64, RFC 3339).
static void print_value(const ss_query *query, const ss_batch *batch,
                        size_t column, size_t row) {
  if (ss_batch_is_null(batch, column, row)) {
    fputs("NULL", stdout);
    return;
  }
  size_t len;
  switch (ss_query_column_type(query, column)) {
    case SS_COLUMN_INT64:
      printf("%" PRId64, ss_batch_int64(batch, column, row));
      break;
    case SS_COLUMN_DOUBLE:
      printf("%.15g", ss_batch_double(batch, column, row));
      break;
    case SS_COLUMN_BOOL:
      fputs(ss_batch_bool(batch, column, row) ? "true" : "false", stdout);
      break;
    case SS_COLUMN_STRING: {
      const char *s = ss_batch_string(batch, column, row, &len);
      fwrite(s, 1, len, stdout);
      break;
    }
    case SS_COLUMN_BYTES:
      ss_batch_bytes(batch, column, row, &len);
      printf("<%zu bytes>", len);
      break;
    case SS_COLUMN_TIMESTAMP:
      printf("%" PRId64 "ns", ss_batch_timestamp(batch, column, row));
      break;
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s HOST:PORT SQL\n", argv[0]);
    return 2;
  }

  // 1. A client: a channel plus an ephemeral key pair (P-256 by default).
  ss_client_options options;
  ss_client_options_init(&options);
  options.target = argv[1];
  // For TLS: options.tls_ca_file = "ca.pem"; for a proxy: options.route,
  // options.auth_token.
  ss_error err;
  ss_client *client = ss_client_new(&options, &err);
  if (client == NULL) {
    fprintf(stderr, "client: %s: %s\n", ss_error_code_name(err.code),
            err.message);
    return 1;
  }

  // 2. Start the query; this waits for the schema, so bad SQL fails here.
  ss_query_options query_options = {.max_rows_per_batch = 1000,
                                    .timeout_ms = 60000};
  ss_query *query = ss_query_start(client, argv[2], &query_options, &err);
  if (query == NULL) {
    fprintf(stderr, "query: %s: %s\n", ss_error_code_name(err.code),
            err.message);
    ss_client_free(client);
    return 1;
  }

  size_t num_columns = ss_query_num_columns(query);
  for (size_t c = 0; c < num_columns; c++) {
    printf("%s%s", c > 0 ? "\t" : "", ss_query_column_name(query, c));
  }
  putchar('\n');

  // 3. Read batch by batch. Each batch is decrypted and checked before it
  // is returned; it stays valid until the next call.
  const ss_batch *batch;
  int got;
  while ((got = ss_query_next(query, &batch, &err)) == 1) {
    for (size_t row = 0; row < ss_batch_num_rows(batch); row++) {
      for (size_t c = 0; c < num_columns; c++) {
        if (c > 0) {
          putchar('\t');
        }
        print_value(query, batch, c, row);
      }
      putchar('\n');
    }
  }
  int status = 0;
  if (got < 0) {
    // DATA_LOSS means the stream was tampered with or cut short in transit;
    // rows printed before it were authentic, but the result is incomplete.
    fprintf(stderr, "query: %s: %s\n", ss_error_code_name(err.code),
            err.message);
    status = 1;
  } else {
    fprintf(stderr, "%" PRIu64 " rows in %" PRIu64 " batches (query %s)\n",
            ss_query_total_rows(query), ss_query_total_batches(query),
            ss_query_id(query));
  }

  // 4. Free the query before its client.
  ss_query_free(query);
  ss_client_free(client);
  return status;
}
