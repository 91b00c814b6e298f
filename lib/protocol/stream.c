// The sealstream.v1 encrypted stream (see stream.h). The sealer trusts its
// inputs only after ss_jwk_parse checked the client's key; the opener trusts
// nothing in a response until the JWE authenticated it, and even then checks
// that the authenticated header belongs to this stream at this position.
#include "lib/protocol/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jose/b64url.h"
#include "lib/jose/jwe.h"

// base64url of a request id of SS_STREAM_MAX_REQUEST_ID bytes, plus NUL.
#define REQUEST_ID_TEXT_MAX 90

struct ss_stream_sealer {
  ss_jwe_encryptor *encryptor;
  int compact;
  int finished;                 // the final message was sealed
  int64_t seq;                  // sequence number of the next message
  char query_id[SS_STREAM_MAX_QUERY_ID + 1];
  ss_jwe_header *members;       // per-message members: seq
  ss_jwe_header *final_members;  // of the final message: seq, fin
  ss_jwe_msg msg;               // the current message's JWE
  ss_buf compact_text;          // the current message in compact form
  Sealstream__V1__JweParts parts;  // views into |msg|
};

static void encode_request_id(char out[REQUEST_ID_TEXT_MAX],
                              const uint8_t *request_id, size_t len) {
  ss_b64url_encode(out, request_id, len);
  out[ss_b64url_encoded_len(len)] = '\0';
}

ss_stream_sealer *ss_stream_sealer_new(
    const Sealstream__V1__EncryptionOptions *options, const char *query_id,
    const uint8_t *request_id, size_t request_id_len, ss_status *st) {
  if (request_id_len > SS_STREAM_MAX_REQUEST_ID) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "client_request_id is %zu bytes; at most %d allowed",
                  request_id_len, SS_STREAM_MAX_REQUEST_ID);
    return NULL;
  }
  if (strlen(query_id) > SS_STREAM_MAX_QUERY_ID) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "query id too long");
    return NULL;
  }
  const char *jwk_text = options->public_jwk != NULL ? options->public_jwk : "";
  if (jwk_text[0] == '\0') {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "encryption.public_jwk is empty; send the client's public "
                  "JWK");
    return NULL;
  }
  ss_jwk *key = ss_jwk_parse(jwk_text, strlen(jwk_text), st);
  if (key == NULL) {
    ss_status_prefix(st, "encryption.public_jwk: ");
    return NULL;
  }
  ss_stream_sealer *sealer = NULL;
  ss_jwe_header *extra = NULL;
  if (ss_jwk_is_private(key)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "encryption.public_jwk holds a private key; send only the "
                  "public key");
    goto err;
  }
  sealer = calloc(1, sizeof(*sealer));
  if (sealer == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto err;
  }
  ss_jwe_msg_init(&sealer->msg);
  ss_buf_init(&sealer->compact_text, 0);
  snprintf(sealer->query_id, sizeof(sealer->query_id), "%s", query_id);
  sealer->compact =
      options->serialization == SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_COMPACT;
  char rid[REQUEST_ID_TEXT_MAX];
  encode_request_id(rid, request_id, request_id_len);
  extra = ss_jwe_header_new(st);
  sealer->members = ss_jwe_header_new(st);
  sealer->final_members = ss_jwe_header_new(st);
  if (extra == NULL || sealer->members == NULL ||
      sealer->final_members == NULL ||
      !ss_jwe_header_set_int(sealer->final_members, SS_STREAM_HDR_FINAL, 1,
                             st) ||
      !ss_jwe_header_set_string(extra, SS_STREAM_HDR_QUERY_ID, query_id, st) ||
      !ss_jwe_header_set_string(extra, SS_STREAM_HDR_REQUEST_ID, rid, st)) {
    goto err;
  }
  ss_jwe_encrypt_opts opts = {
      .alg = options->key_alg != NULL && options->key_alg[0] != '\0'
                 ? options->key_alg
                 : SS_STREAM_DEFAULT_KEY_ALG,
      .enc = options->content_alg != NULL && options->content_alg[0] != '\0'
                 ? options->content_alg
                 : SS_STREAM_DEFAULT_CONTENT_ALG,
      .zip = options->compression ==
             SEALSTREAM__V1__COMPRESSION__COMPRESSION_DEFLATE,
      .extra = extra,
  };
  sealer->encryptor = ss_jwe_encryptor_new(key, &opts, st);
  if (sealer->encryptor == NULL) {
    ss_status_prefix(st, "encryption: ");
    goto err;
  }
  ss_jwe_header_free(extra);
  ss_jwk_free(key);
  return sealer;

err:
  ss_jwe_header_free(extra);
  ss_stream_sealer_free(sealer);
  ss_jwk_free(key);
  return NULL;
}

void ss_stream_sealer_free(ss_stream_sealer *sealer) {
  if (sealer == NULL) {
    return;
  }
  ss_jwe_encryptor_free(sealer->encryptor);
  ss_jwe_header_free(sealer->members);
  ss_jwe_header_free(sealer->final_members);
  ss_jwe_msg_cleanup(&sealer->msg);
  ss_buf_cleanup(&sealer->compact_text);
  free(sealer);
}

uint64_t ss_stream_sealer_sealed(const ss_stream_sealer *sealer) {
  return (uint64_t)sealer->seq;
}

int ss_stream_sealer_seal(ss_stream_sealer *sealer, const uint8_t *payload,
                          size_t payload_len, int final,
                          Sealstream__V1__QueryResponse *response,
                          ss_status *st) {
  sealstream__v1__query_response__init(response);
  if (sealer->finished) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "the stream already sent its final message");
  }
  // The final message's members live apart, so a failed final seal leaves
  // nothing behind for the next attempt.
  ss_jwe_header *members = final ? sealer->final_members : sealer->members;
  if (!ss_jwe_header_set_int(members, SS_STREAM_HDR_SEQ, sealer->seq, st) ||
      !ss_jwe_encryptor_seal(sealer->encryptor, &sealer->msg, members, payload,
                             payload_len, st)) {
    return 0;
  }
  response->query_id = sealer->query_id;
  const ss_jwe_parts *jwe = &sealer->msg.parts;
  if (sealer->compact) {
    ss_buf_reset(&sealer->compact_text);
    if (!ss_jwe_parts_to_compact(&sealer->compact_text, jwe, st)) {
      return 0;
    }
    if (!ss_buf_nul_terminate(&sealer->compact_text)) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    response->message_case =
        SEALSTREAM__V1__QUERY_RESPONSE__MESSAGE_JWE_COMPACT;
    response->jwe_compact = (char *)sealer->compact_text.data;
  } else {
    // protected_header must be a NUL-terminated string for protobuf-c; the
    // base64url text is copied into the compact buffer for that.
    ss_buf_reset(&sealer->compact_text);
    if (!ss_buf_append(&sealer->compact_text, jwe->protected_b64.data,
                       jwe->protected_b64.len) ||
        !ss_buf_nul_terminate(&sealer->compact_text)) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "out of memory");
    }
    sealstream__v1__jwe_parts__init(&sealer->parts);
    sealer->parts.protected_header = (char *)sealer->compact_text.data;
    sealer->parts.encrypted_key.data = (uint8_t *)jwe->encrypted_key.data;
    sealer->parts.encrypted_key.len = jwe->encrypted_key.len;
    sealer->parts.iv.data = (uint8_t *)jwe->iv.data;
    sealer->parts.iv.len = jwe->iv.len;
    sealer->parts.ciphertext.data = (uint8_t *)jwe->ciphertext.data;
    sealer->parts.ciphertext.len = jwe->ciphertext.len;
    sealer->parts.tag.data = (uint8_t *)jwe->tag.data;
    sealer->parts.tag.len = jwe->tag.len;
    response->message_case = SEALSTREAM__V1__QUERY_RESPONSE__MESSAGE_JWE_PARTS;
    response->jwe_parts = &sealer->parts;
  }
  sealer->seq++;
  sealer->finished = final;
  return 1;
}

struct ss_stream_opener {
  ss_jwe_decryptor *decryptor;
  char key_alg[32];      // the "alg" every message must use; "" for any
  char content_alg[32];  // the "enc" every message must use; "" for any
  int failed;            // a message failed: the stream cannot go on
  char request_id[REQUEST_ID_TEXT_MAX];  // base64url, as in the header
  char query_id[SS_STREAM_MAX_QUERY_ID + 1];  // empty until message 0
  int64_t next_seq;
  int finished;
};

ss_stream_opener *ss_stream_opener_new(const ss_jwk *private_key,
                                       const uint8_t *request_id,
                                       size_t request_id_len,
                                       size_t max_inflate, ss_status *st) {
  if (request_id_len > SS_STREAM_MAX_REQUEST_ID) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "request id is %zu bytes; at most %d allowed",
                  request_id_len, SS_STREAM_MAX_REQUEST_ID);
    return NULL;
  }
  ss_stream_opener *opener = calloc(1, sizeof(*opener));
  if (opener == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  encode_request_id(opener->request_id, request_id, request_id_len);
  ss_jwe_decrypt_opts opts = {.max_inflate = max_inflate};
  opener->decryptor = ss_jwe_decryptor_new(private_key, NULL, &opts, st);
  if (opener->decryptor == NULL) {
    free(opener);
    return NULL;
  }
  return opener;
}

void ss_stream_opener_free(ss_stream_opener *opener) {
  if (opener == NULL) {
    return;
  }
  ss_jwe_decryptor_free(opener->decryptor);
  free(opener);
}

int ss_stream_opener_expect_algs(ss_stream_opener *opener,
                                 const char *key_alg, const char *content_alg,
                                 ss_status *st) {
  if (strlen(key_alg) >= sizeof(opener->key_alg) ||
      strlen(content_alg) >= sizeof(opener->content_alg)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "algorithm name too long");
  }
  snprintf(opener->key_alg, sizeof(opener->key_alg), "%s", key_alg);
  snprintf(opener->content_alg, sizeof(opener->content_alg), "%s",
           content_alg);
  return 1;
}

const char *ss_stream_opener_query_id(const ss_stream_opener *opener) {
  return opener->query_id[0] != '\0' ? opener->query_id : NULL;
}

uint64_t ss_stream_opener_unwrap_count(const ss_stream_opener *opener) {
  return ss_jwe_decryptor_unwrap_count(opener->decryptor);
}

// decrypt_response opens the JWE of |response| in whichever form it came.
static int decrypt_response(ss_stream_opener *opener,
                            const Sealstream__V1__QueryResponse *response,
                            ss_buf *out, ss_status *st) {
  switch (response->message_case) {
    case SEALSTREAM__V1__QUERY_RESPONSE__MESSAGE_JWE_COMPACT: {
      const char *compact =
          response->jwe_compact != NULL ? response->jwe_compact : "";
      return ss_jwe_decryptor_open_compact(opener->decryptor, out, compact,
                                           strlen(compact), st);
    }
    case SEALSTREAM__V1__QUERY_RESPONSE__MESSAGE_JWE_PARTS: {
      const Sealstream__V1__JweParts *in = response->jwe_parts;
      const char *header =
          in->protected_header != NULL ? in->protected_header : "";
      ss_jwe_parts parts;
      ss_cbs_init(&parts.protected_b64, header, strlen(header));
      ss_cbs_init(&parts.encrypted_key, in->encrypted_key.data,
                  in->encrypted_key.len);
      ss_cbs_init(&parts.iv, in->iv.data, in->iv.len);
      ss_cbs_init(&parts.ciphertext, in->ciphertext.data, in->ciphertext.len);
      ss_cbs_init(&parts.tag, in->tag.data, in->tag.len);
      return ss_jwe_decryptor_open(opener->decryptor, out, &parts, st);
    }
    case SEALSTREAM__V1__QUERY_RESPONSE__MESSAGE_PLAINTEXT:
      // The server never answers an encrypted request in clear: someone on
      // the way did.
      return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                           "a plaintext message in an encrypted stream");
    default:
      return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                           "response carries no message");
  }
}

// check_header verifies that the authenticated header of the message just
// opened places it in this stream, at the expected position.
static int check_header(ss_stream_opener *opener,
                        const Sealstream__V1__QueryResponse *response,
                        int *out_final, ss_status *st) {
  const ss_jwe_header *header = ss_jwe_decryptor_header(opener->decryptor);
  const char *qid, *rid;
  const char *alg, *enc;
  int64_t seq, fin = 0;
  ss_status member;
  ss_status_init(&member);
  if (!ss_jwe_header_get_string(header, "alg", &alg, &member) ||
      !ss_jwe_header_get_string(header, "enc", &enc, &member) ||
      !ss_jwe_header_get_string(header, SS_STREAM_HDR_QUERY_ID, &qid,
                                &member) ||
      !ss_jwe_header_get_string(header, SS_STREAM_HDR_REQUEST_ID, &rid,
                                &member) ||
      !ss_jwe_header_get_int(header, SS_STREAM_HDR_SEQ, &seq, &member)) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "not a sealstream message: %s", member.msg);
  }
  if (ss_jwe_header_has(header, SS_STREAM_HDR_FINAL) &&
      (!ss_jwe_header_get_int(header, SS_STREAM_HDR_FINAL, &fin, &member) ||
       fin != 1)) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "the final marker is malformed");
  }
  if ((opener->key_alg[0] != '\0' && strcmp(alg, opener->key_alg) != 0) ||
      (opener->content_alg[0] != '\0' &&
       strcmp(enc, opener->content_alg) != 0)) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "the message uses other algorithms than requested");
  }
  // One stream, one CEK: a message that needed a new unwrap was encrypted
  // by someone else, who only needed the public key to do it.
  if (opener->next_seq > 0 && ss_jwe_decryptor_unwrap_count(
                                  opener->decryptor) > 1) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "the stream's key changed: a message from another "
                         "stream was spliced in");
  }
  if (strcmp(rid, opener->request_id) != 0) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "the message belongs to another request: a stream "
                         "was replayed");
  }
  const char *clear_qid = response->query_id != NULL ? response->query_id : "";
  if (strcmp(qid, clear_qid) != 0) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "the query id in clear does not match the encrypted "
                         "one");
  }
  if (opener->query_id[0] == '\0') {
    if (strlen(qid) == 0 || strlen(qid) > SS_STREAM_MAX_QUERY_ID) {
      return ss_status_set(st, GRPC_STATUS_DATA_LOSS, "invalid query id");
    }
    snprintf(opener->query_id, sizeof(opener->query_id), "%s", qid);
  } else if (strcmp(qid, opener->query_id) != 0) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "the message belongs to another query: streams "
                         "were mixed");
  }
  if (seq != opener->next_seq) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "sequence number %lld, expected %lld: a message was "
                         "dropped, duplicated or reordered",
                         (long long)seq, (long long)opener->next_seq);
  }
  *out_final = fin == 1;
  return 1;
}

int ss_stream_opener_open(ss_stream_opener *opener,
                          const Sealstream__V1__QueryResponse *response,
                          ss_buf *out, int *out_final, ss_status *st) {
  *out_final = 0;
  ss_buf_reset(out);
  long long position = (long long)opener->next_seq;
  if (opener->failed) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "message %lld: the stream already failed", position);
  }
  if (opener->finished) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "message %lld: a message followed the final one",
                         position);
  }
  if (!decrypt_response(opener, response, out, st)) {
    opener->failed = 1;
    if (st != NULL) {
      // Whatever the JWE layer found, the stream was altered in transit.
      st->code = GRPC_STATUS_DATA_LOSS;
    }
    return ss_status_prefix(st, "message %lld: ", position);
  }
  if (!check_header(opener, response, out_final, st)) {
    opener->failed = 1;
    ss_buf_wipe(out);
    return ss_status_prefix(st, "message %lld: ", position);
  }
  opener->next_seq++;
  opener->finished = *out_final;
  return 1;
}

int ss_stream_opener_finish(const ss_stream_opener *opener, ss_status *st) {
  if (!opener->finished) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                         "the stream ended after %lld messages without its "
                         "final message: it was truncated",
                         (long long)opener->next_seq);
  }
  return 1;
}
