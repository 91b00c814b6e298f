// Internals of the sealstream client, shared by client.c (options, client,
// query call), client_keys.c (key pairs and their rotation) and
// client_batch.c (payload decoding and batch accessors), and by the tests,
// which reach the key rotation step and the payload decoder without a
// server. Not part of the public API.
#ifndef SEALSTREAM_CLIENT_CLIENT_INTERNAL_H
#define SEALSTREAM_CLIENT_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "lib/jose/jwk.h"
#include "lib/protocol/stream.h"
#include "lib/rpc/sync_call.h"
#include "sealstream/client.h"
#include "sealstream/v1/query.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

// Bytes of the random client_request_id sent with each query.
#define SS__REQUEST_ID_LEN 16

// Defaults for ss_client_options fields left 0.
#define SS__DEFAULT_ROTATE_AFTER_QUERIES 1000
#define SS__DEFAULT_ROTATE_AFTER_SECONDS 3600
#define SS__DEFAULT_MAX_MESSAGE_BYTES (64u * 1024 * 1024)

// Largest route or token sent as metadata.
#define SS__MAX_METADATA_VALUE 4096

// One generation of a client's key pair, shared (refcounted) by the client,
// while it is current, and by every query started with it.
typedef struct ss__client_key ss__client_key;

struct ss_client {
  grpc_channel *channel;  // owned
  int grpc_initialized;   // this client holds one grpc_init reference
  ss_key_type key_type;
  char *content_alg;      // owned
  int compact;
  int compress;
  char *route;            // owned; NULL: not sent
  char *authorization;    // owned "Bearer <token>"; NULL: not sent
  uint32_t rotate_after_queries;
  uint32_t rotate_after_seconds;
  size_t max_message_bytes;
  int mu_initialized;
  pthread_mutex_t mu;     // guards |key| and its |uses|
  ss__client_key *key;    // current key pair; one reference owned
};

struct ss_batch {
  const Sealstream__V1__RowBatch *rows;  // borrowed from the query's message
  const Sealstream__V1__Schema *schema;  // borrowed from the query
  size_t num_rows;                       // checked against every column
  size_t num_columns;                    // equal to the schema's
};

typedef enum query_state {
  QUERY_RUNNING,
  QUERY_DONE,    // the final message and an OK status were checked
  QUERY_FAILED,  // |error| holds the reason; returned by every later call
} query_state;

struct ss_query {
  ss_client *client;           // borrowed; outlives the query
  ss__client_key *key;         // one reference; the opener borrows its jwk
  ss_stream_opener *opener;    // owned
  ss_sync_call *call;          // owned; one batch in flight at most
  grpc_metadata_array initial_md;
  grpc_metadata_array trailing_md;
  grpc_status_code status;
  grpc_slice status_details;   // owned
  int status_received;
  atomic_int cancelled;        // set by ss_query_cancel, from any thread
  query_state state;
  ss_status error;             // valid in QUERY_FAILED
  ss_buf plaintext;            // the last opened message; wiped on free
  ProtobufCAllocator allocator;  // wipes unpacked plaintext on free
  uint64_t messages;           // StreamPayloads taken, for error messages
  Sealstream__V1__StreamPayload *schema;   // message 0; owned
  Sealstream__V1__StreamPayload *current;  // the batch handed out; owned
  ss_batch batch;              // view of |current|
  uint64_t rows;               // rows received
  uint64_t batches;            // batches received
  uint64_t total_rows;         // the server's totals, once final
  uint64_t total_batches;
  uint64_t bytes_received;     // response message bytes
};

// ss__client_key_new makes a key pair of |type| with one reference, for the
// caller, created at |now_s| (seconds on a monotonic clock). Returns NULL
// with |st| set if it cannot be made.
ss__client_key *ss__client_key_new(ss_key_type type, int64_t now_s,
                                   ss_status *st);

// ss__client_acquire_key returns the client's current key with a reference
// taken for the caller, counting one use; it first makes a new key pair when
// the current one has served rotate_after_queries queries or is
// rotate_after_seconds old at |now_s| (seconds on a monotonic clock). Returns
// NULL with |st| set if a new key pair cannot be made.
ss__client_key *ss__client_acquire_key(ss_client *client, int64_t now_s,
                                       ss_status *st);

// ss__client_key_release drops a reference; the last one wipes the private
// key. NULL is ignored.
void ss__client_key_release(ss__client_key *key);

// ss__client_key_jwk returns the private key, borrowed from |key|.
const ss_jwk *ss__client_key_jwk(const ss__client_key *key);

// ss__client_key_public_json returns the public JWK's JSON text, borrowed
// from |key|.
const char *ss__client_key_public_json(const ss__client_key *key);

// ss__client_key_alg returns the JWE "alg" requested for |key|.
const char *ss__client_key_alg(const ss__client_key *key);

// ss__wiping_alloc and ss__wiping_free are a query's ProtobufCAllocator
// functions: freed blocks are wiped, since unpacked payloads hold plaintext.
void *ss__wiping_alloc(void *data, size_t size);
void ss__wiping_free(void *data, void *ptr);

// ss__query_release_current frees the batch last handed out by |query|, if
// any, so that at most one batch is held in memory.
void ss__query_release_current(ss_query *query);

// ss__query_new_detached makes a query with no call and no key, which only
// decodes payloads given to ss__query_take_payload: the decoder of a real
// query, reachable from tests. Free with ss_query_free.
ss_query *ss__query_new_detached(ss_status *st);

// ss__query_take_payload decodes one decrypted, already-authenticated
// message (a serialized StreamPayload) as the next of the stream; |final| is
// the message's final marker. The first must be the Schema (returns 1 with
// |*out_batch| NULL), then RowBatches (returns 1 with |*out_batch| set, valid
// until the next call), then the final QueryStats (returns 0). Anything else,
// or a batch that does not match the schema, returns -1 with DATA_LOSS.
int ss__query_take_payload(ss_query *query, const uint8_t *payload,
                           size_t payload_len, int final,
                           const ss_batch **out_batch, ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_CLIENT_CLIENT_INTERNAL_H
