// sealstream client library: run a query on a sealstream server (directly or
// through a proxy) and read its results, decrypted batch by batch.
//
// The client makes an ephemeral key pair when it is created (never written
// to disk) and rotates it after a number of queries or seconds. Each query
// sends the public JWK; the server encrypts every message of the result
// stream to it. The client decrypts incrementally, holding one batch at a
// time, and checks that every message belongs to this query and arrives
// whole and in order: a dropped, reordered, duplicated, replayed, truncated
// or tampered message is an error with code DATA_LOSS, never wrong data.
//
// Thread safety: an ss_client may start queries from several threads; one
// ss_query is used by one thread at a time, except ss_query_cancel, which
// any thread may call.
#ifndef SEALSTREAM_CLIENT_H
#define SEALSTREAM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// An error: a gRPC status code (0 = OK, 3 = INVALID_ARGUMENT,
// 9 = FAILED_PRECONDITION, 14 = UNAVAILABLE, 15 = DATA_LOSS, ...) and a
// message a user can act on. Every function that can fail fills one.
typedef struct ss_error {
  int code;
  char message[512];
} ss_error;

// ss_error_code_name returns "DATA_LOSS" and the like for |code|.
const char *ss_error_code_name(int code);

typedef enum ss_key_type {
  SS_KEY_EC_P256 = 0,  // ECDH-ES+A256KW on P-256 (default)
  SS_KEY_X25519 = 1,   // ECDH-ES+A256KW on X25519
  SS_KEY_RSA_4096 = 2,  // RSA-OAEP-256 with a 4096-bit key (slow to make)
} ss_key_type;

typedef struct ss_client_options {
  const char *target;          // "host:port" of the server or proxy
  ss_key_type key_type;
  const char *content_alg;     // JWE "enc"; NULL: A256GCM
  int compact;                 // 1: ask for compact JWEs instead of parts
  int compress;                // 1: ask for "zip":"DEF"
  // TLS: off when tls_ca_file is NULL and use_tls is 0.
  int use_tls;                 // 1: TLS with the system roots or tls_ca_file
  const char *tls_ca_file;     // PEM roots to trust
  const char *tls_cert_file;   // PEM client certificate (mTLS); may be NULL
  const char *tls_key_file;    // PEM client key (mTLS); may be NULL
  const char *tls_server_name;  // override the name checked in the cert
  // Metadata for a proxy, sent with every query; NULL: not sent.
  const char *route;           // "x-sealstream-route"
  const char *auth_token;      // "authorization: Bearer <token>"
  uint32_t rotate_after_queries;  // new key pair after this many; 0: 1000
  uint32_t rotate_after_seconds;  // or after this long; 0: 3600
  size_t max_message_bytes;    // largest response accepted; 0: 64 MiB
} ss_client_options;

// ss_client_options_init sets |options| to the defaults (all zero/NULL).
void ss_client_options_init(ss_client_options *options);

typedef struct ss_client ss_client;

// ss_client_new makes a client for |options| (copied) with a fresh key
// pair. Returns NULL with |err| set (INVALID_ARGUMENT for bad options or
// unreadable TLS files).
ss_client *ss_client_new(const ss_client_options *options, ss_error *err);

// ss_client_free wipes the key pair and frees |client|. Queries it started
// must be freed first. NULL is ignored.
void ss_client_free(ss_client *client);

typedef struct ss_query_options {
  uint32_t max_rows_per_batch;   // 0: server default
  uint64_t max_bytes_per_batch;  // 0: server default
  uint64_t max_total_rows;       // 0: no limit
  int64_t timeout_ms;            // deadline for the whole query; 0: none
} ss_query_options;

typedef enum ss_column_type {
  SS_COLUMN_INT64 = 1,
  SS_COLUMN_DOUBLE = 2,
  SS_COLUMN_BOOL = 3,
  SS_COLUMN_STRING = 4,
  SS_COLUMN_BYTES = 5,
  SS_COLUMN_TIMESTAMP = 6,  // int64 nanoseconds since the Unix epoch, UTC
} ss_column_type;

typedef struct ss_query ss_query;

// ss_query_start sends |sql| and waits for the result's schema. |options|
// may be NULL. Returns a query (free with ss_query_free), or NULL with |err|
// set: the server's status (INVALID_ARGUMENT for bad SQL with SQLite's
// message, UNAVAILABLE when unreachable, ...) or DATA_LOSS.
ss_query *ss_query_start(ss_client *client, const char *sql,
                         const ss_query_options *options, ss_error *err);

// Schema of the result, valid for the query's lifetime.
size_t ss_query_num_columns(const ss_query *query);
const char *ss_query_column_name(const ss_query *query, size_t column);
ss_column_type ss_query_column_type(const ss_query *query, size_t column);

// ss_query_id returns the server's id for this query (for logs).
const char *ss_query_id(const ss_query *query);

typedef struct ss_batch ss_batch;

// ss_query_next reads, decrypts and checks the next batch. Returns 1 and
// sets |*out_batch| (borrowed; valid until the next call or ss_query_free);
// 0 at the end of the result, after the server's final message was checked;
// -1 with |err| set on any error.
int ss_query_next(ss_query *query, const ss_batch **out_batch, ss_error *err);

// ss_query_cancel stops the query: the server stops reading and frees it.
// Safe from any thread; a later ss_query_next returns -1 with CANCELLED
// (or 0 if the result had already ended).
void ss_query_cancel(ss_query *query);

// Totals the server reported in its final message (0 before the end).
uint64_t ss_query_total_rows(const ss_query *query);
uint64_t ss_query_total_batches(const ss_query *query);

// ss_query_bytes_received returns the bytes of (encrypted) response messages
// received so far, for progress and throughput reports.
uint64_t ss_query_bytes_received(const ss_query *query);

// ss_query_free cancels the query if it is still running and frees it.
// NULL is ignored.
void ss_query_free(ss_query *query);

// Batch accessors. |column| < ss_query_num_columns and |row| <
// ss_batch_num_rows; out-of-range indexes and accessors of the wrong type
// return 0/NULL. Strings and bytes are borrowed from the batch; strings are
// NUL-terminated and |*out_len| (when |out_len| is not NULL) is their length
// (a string cannot hold a NUL byte: protobuf-c carries strings as C
// strings). A null value reads as the zero value ("" for strings, an empty
// non-NULL pointer for bytes); check ss_batch_is_null.
size_t ss_batch_num_rows(const ss_batch *batch);
int ss_batch_is_null(const ss_batch *batch, size_t column, size_t row);
int64_t ss_batch_int64(const ss_batch *batch, size_t column, size_t row);
double ss_batch_double(const ss_batch *batch, size_t column, size_t row);
int ss_batch_bool(const ss_batch *batch, size_t column, size_t row);
const char *ss_batch_string(const ss_batch *batch, size_t column, size_t row,
                            size_t *out_len);
const uint8_t *ss_batch_bytes(const ss_batch *batch, size_t column, size_t row,
                              size_t *out_len);
int64_t ss_batch_timestamp(const ss_batch *batch, size_t column, size_t row);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_CLIENT_H
