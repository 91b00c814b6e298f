// The encrypted query stream of sealstream.v1 (protos/sealstream/v1/
// query.proto), both ends: the server's sealer turns serialized
// StreamPayloads into QueryResponses, and the client's opener turns them back
// while checking that the stream is the one it asked for, whole and in order.
//
// Every message's protected header carries "qid" (query id), "rid" (client
// request id, base64url), "seq" (0, 1, 2, ...) and, on the last message only,
// "fin": 1. The header is the JWE's AAD, so none of it can be changed without
// failing authentication. Responses reaching the opener are untrusted.
#ifndef SEALSTREAM_LIB_PROTOCOL_STREAM_H
#define SEALSTREAM_LIB_PROTOCOL_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "lib/jose/jwk.h"
#include "sealstream/v1/query.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

// Header member names.
#define SS_STREAM_HDR_QUERY_ID "qid"
#define SS_STREAM_HDR_REQUEST_ID "rid"
#define SS_STREAM_HDR_SEQ "seq"
#define SS_STREAM_HDR_FINAL "fin"

// Defaults when EncryptionOptions leave the algorithms empty.
#define SS_STREAM_DEFAULT_KEY_ALG "ECDH-ES+A256KW"
#define SS_STREAM_DEFAULT_CONTENT_ALG "A256GCM"

// Limits on what a request may carry.
#define SS_STREAM_MAX_REQUEST_ID 64
#define SS_STREAM_MAX_QUERY_ID 64

typedef struct ss_stream_sealer ss_stream_sealer;

// ss_stream_sealer_new parses the client's public JWK and options from
// |options| and makes one JWE stream encryptor for the whole response
// stream. Errors are INVALID_ARGUMENT saying what is wrong: a malformed or
// weak key ("public_jwk: JWK: RSA modulus is 1024 bits; at least 2048
// required"), a private key sent by mistake, an unsupported alg or enc
// (naming the supported ones), a request id longer than
// SS_STREAM_MAX_REQUEST_ID. |query_id| and |request_id| are copied.
ss_stream_sealer *ss_stream_sealer_new(
    const Sealstream__V1__EncryptionOptions *options, const char *query_id,
    const uint8_t *request_id, size_t request_id_len, ss_status *st);

// ss_stream_sealer_free wipes the stream's CEK and frees |sealer|. NULL is
// ignored.
void ss_stream_sealer_free(ss_stream_sealer *sealer);

// ss_stream_sealer_seal encrypts one serialized StreamPayload as the next
// message of the stream and fills |response| (query_id and the JWE, in parts
// or compact form as the client asked). |response| borrows memory from
// |sealer|, valid until the next seal; pack it before that. |final| marks
// the last message; sealing after it is an error (FAILED_PRECONDITION).
// Returns 1, or 0 with |st| set.
int ss_stream_sealer_seal(ss_stream_sealer *sealer, const uint8_t *payload,
                          size_t payload_len, int final,
                          Sealstream__V1__QueryResponse *response,
                          ss_status *st);

// ss_stream_sealer_sealed returns how many messages were sealed.
uint64_t ss_stream_sealer_sealed(const ss_stream_sealer *sealer);

typedef struct ss_stream_opener ss_stream_opener;

// ss_stream_opener_new makes an opener for one request, decrypting with
// |private_key| (borrowed; must outlive the opener) and expecting
// |request_id| (copied) in every message. |max_inflate| caps the size of a
// compressed message's plaintext (0: the JWE default).
ss_stream_opener *ss_stream_opener_new(const ss_jwk *private_key,
                                       const uint8_t *request_id,
                                       size_t request_id_len,
                                       size_t max_inflate, ss_status *st);

void ss_stream_opener_free(ss_stream_opener *opener);

// ss_stream_opener_open decrypts and checks the next response and appends
// its plaintext (a serialized StreamPayload) to |out| (reset first). It
// checks that the message decrypts under the stream's key, that its header
// names the same query id as the response and as every earlier message, the
// expected request id and the next sequence number, and that no message
// follows the final one. Any failure is DATA_LOSS with a message saying
// which check failed ("message 3: sequence number 5, expected 3: a message
// was dropped or reordered"); |*out_final| is set to 1 on the final
// message. Every message after the first must reuse the first one's CEK: a
// message encrypted to the client's public key by anyone else is refused.
// After a failure the stream cannot continue: every later call fails. A
// plaintext response is refused like any other tampering.
int ss_stream_opener_open(ss_stream_opener *opener,
                          const Sealstream__V1__QueryResponse *response,
                          ss_buf *out, int *out_final, ss_status *st);

// ss_stream_opener_expect_algs makes the opener refuse (DATA_LOSS) any
// message whose "alg" or "enc" differs from what the client asked for.
// Returns 1, or 0 (INVALID_ARGUMENT) for names too long to be real.
int ss_stream_opener_expect_algs(ss_stream_opener *opener,
                                 const char *key_alg, const char *content_alg,
                                 ss_status *st);

// ss_stream_opener_finish checks the end of a stream the server closed with
// OK: DATA_LOSS if the final message never came (the stream was truncated).
int ss_stream_opener_finish(const ss_stream_opener *opener, ss_status *st);

// ss_stream_opener_query_id returns the stream's query id once the first
// message was opened, else NULL. Borrowed from |opener|.
const char *ss_stream_opener_query_id(const ss_stream_opener *opener);

// ss_stream_opener_unwrap_count returns how many times the CEK was
// unwrapped (1 for a whole stream from one server).
uint64_t ss_stream_opener_unwrap_count(const ss_stream_opener *opener);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_PROTOCOL_STREAM_H
