// Internals of the sealstream client shared by client.c and client_test.c:
// the key rotation step and the payload decoder, reachable without a server.
// Not part of the public API.
#ifndef SEALSTREAM_CLIENT_CLIENT_INTERNAL_H
#define SEALSTREAM_CLIENT_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"
#include "lib/jose/jwk.h"
#include "sealstream/client.h"

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
