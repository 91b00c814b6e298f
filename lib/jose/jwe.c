// JWE (RFC 7516) compact serialization, header member sets and encryption:
// the stream encryptor wraps one CEK per stream and seals each message under
// it. Key management (the "alg" side) is in jwe_keys.c and decryption in
// jwe_decrypt.c. Compact input to ss_jwe_compact_to_parts is untrusted: its
// length is capped and every part is decoded strictly.
#include "lib/jose/jwe.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lib/jose/b64url.h"
#include "lib/jose/content.h"
#include "lib/jose/jwe_internal.h"

// The stream IV for GCM: a random per-stream prefix, then a message counter.
#define STREAM_IV_PREFIX_LEN 4
#define STREAM_MAX_MESSAGES (UINT64_C(1) << 32)

// Header members the JWE layer owns; callers cannot set them.
static const char *const kReservedMembers[] = {
    "alg", "enc", "zip", "epk", "apu", "apv", "iv",  "tag", "kid", "crit",
    "p2s", "p2c", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty",
};

// ---------------------------------------------------------------------------
// Parts and compact serialization.

void ss_jwe_msg_init(ss_jwe_msg *msg) {
  memset(msg, 0, sizeof(*msg));
  ss_buf_init(&msg->storage, 0);
}

void ss_jwe_msg_cleanup(ss_jwe_msg *msg) {
  ss_buf_cleanup(&msg->storage);
  memset(&msg->parts, 0, sizeof(msg->parts));
}

int ss_jwe_parts_to_compact(ss_buf *out, const ss_jwe_parts *parts,
                            ss_status *st) {
  int ok = ss_buf_append(out, parts->protected_b64.data,
                         parts->protected_b64.len) &&
           ss_buf_append_u8(out, '.') &&
           ss_b64url_encode_to(out, parts->encrypted_key.data,
                               parts->encrypted_key.len, st) &&
           ss_buf_append_u8(out, '.') &&
           ss_b64url_encode_to(out, parts->iv.data, parts->iv.len, st) &&
           ss_buf_append_u8(out, '.') &&
           ss_b64url_encode_to(out, parts->ciphertext.data,
                               parts->ciphertext.len, st) &&
           ss_buf_append_u8(out, '.') &&
           ss_b64url_encode_to(out, parts->tag.data, parts->tag.len, st);
  if (!ok) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: out of memory serializing compact form");
  }
  return 1;
}

int ss_jwe_compact_to_parts(ss_jwe_msg *msg, const char *compact, size_t len,
                            size_t max_len, ss_status *st) {
  static const char *const kPartNames[5] = {
      "protected header", "encrypted key", "IV", "ciphertext", "tag"};
  memset(&msg->parts, 0, sizeof(msg->parts));
  ss_buf_reset(&msg->storage);
  if (max_len == 0) {
    max_len = SS_JWE_DEFAULT_MAX_LEN;
  }
  if (len > max_len) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: %zu bytes exceeds the limit of %zu", len,
                         max_len);
  }
  ss_cbs input, fields[5];
  ss_cbs_init(&input, compact, len);
  int count = 0;
  for (; count < 4; count++) {
    if (!ss_cbs_get_until(&input, &fields[count], '.')) {
      break;
    }
  }
  if (count < 4 || ss_cbs_contains(&input, '.')) {
    int dots = count;
    for (size_t i = 0; i < input.len; i++) {
      dots += input.data[i] == '.';
    }
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE: compact serialization needs 5 parts separated "
                         "by '.', found %d",
                         dots + 1);
  }
  fields[4] = input;
  if (fields[0].len == 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE: the protected header is empty");
  }
  // One allocation holds the header text and every decoded part, so the
  // views stay valid.
  size_t need = fields[0].len;
  for (int i = 1; i < 5; i++) {
    size_t decoded = ss_b64url_decoded_len(fields[i].len);
    if (decoded == SIZE_MAX) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "JWE %s: invalid base64url length %zu",
                           kPartNames[i], fields[i].len);
    }
    need += decoded;
  }
  uint8_t *dst;
  if (!ss_buf_reserve(&msg->storage, need, &dst)) {
    ss_buf_reset(&msg->storage);
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: out of memory decoding %zu bytes", len);
  }
  memcpy(dst, fields[0].data, fields[0].len);
  ss_cbs views[5];
  ss_cbs_init(&views[0], dst, fields[0].len);
  size_t used = fields[0].len;
  for (int i = 1; i < 5; i++) {
    size_t out_len;
    if (!ss_b64url_decode(dst + used, &out_len, (const char *)fields[i].data,
                          fields[i].len, st)) {
      ss_buf_reset(&msg->storage);
      return ss_status_prefix(st, "JWE %s: ", kPartNames[i]);
    }
    ss_cbs_init(&views[i], dst + used, out_len);
    used += out_len;
  }
  ss_buf_advance(&msg->storage, used);
  msg->parts.protected_b64 = views[0];
  msg->parts.encrypted_key = views[1];
  msg->parts.iv = views[2];
  msg->parts.ciphertext = views[3];
  msg->parts.tag = views[4];
  return 1;
}

// ---------------------------------------------------------------------------
// Header member sets.

ss_jwe_header *ss_jwe_header_new(ss_status *st) {
  ss_jwe_header *header = calloc(1, sizeof(*header));
  if (header != NULL) {
    header->members = json_object();
  }
  if (header == NULL || header->members == NULL) {
    free(header);
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "JWE: out of memory making a header");
    return NULL;
  }
  return header;
}

void ss_jwe_header_free(ss_jwe_header *header) {
  if (header == NULL) {
    return;
  }
  json_decref(header->members);
  free(header);
}

static int is_reserved_member(const char *name) {
  for (size_t i = 0; i < sizeof(kReservedMembers) / sizeof(kReservedMembers[0]);
       i++) {
    if (strcmp(kReservedMembers[i], name) == 0) {
      return 1;
    }
  }
  return 0;
}

// check_members refuses caller members the JWE layer owns, and members
// |stream_header| (may be NULL) already has: a duplicate would make the
// header invalid JSON for strict parsers. A header read back from a
// decryptor holds reserved members, so this is checked wherever caller
// members enter a header, not only in the setters.
static int check_members(const json_t *members, const json_t *stream_header,
                         ss_status *st) {
  const char *name;
  json_t *value;
  json_object_foreach((json_t *)members, name, value) {
    if (is_reserved_member(name)) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "JWE: header member \"%s\" is reserved", name);
    }
    if (stream_header != NULL && json_object_get(stream_header, name) != NULL) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "JWE: header member \"%s\" is already set for the "
                           "stream",
                           name);
    }
  }
  return 1;
}

static int header_set(ss_jwe_header *header, const char *name, json_t *value,
                      ss_status *st) {
  if (value == NULL) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: out of memory setting header member");
  }
  if (name[0] == '\0' || is_reserved_member(name)) {
    json_decref(value);
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE: header member \"%s\" is reserved", name);
  }
  if (json_object_set_new(header->members, name, value) != 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE: cannot set header member \"%s\" (not UTF-8?)",
                         name);
  }
  return 1;
}

int ss_jwe_header_set_string(ss_jwe_header *header, const char *name,
                             const char *value, ss_status *st) {
  if (value == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE: header member \"%s\" needs a value", name);
  }
  json_t *json_value = json_string(value);
  if (json_value == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE: header member \"%s\" must be UTF-8 text", name);
  }
  return header_set(header, name, json_value, st);
}

int ss_jwe_header_set_int(ss_jwe_header *header, const char *name,
                          int64_t value, ss_status *st) {
  return header_set(header, name, json_integer((json_int_t)value), st);
}

int ss_jwe_header_get_string(const ss_jwe_header *header, const char *name,
                             const char **out, ss_status *st) {
  *out = NULL;
  json_t *value = json_object_get(header->members, name);
  if (value == NULL) {
    return ss_status_set(st, GRPC_STATUS_NOT_FOUND,
                         "JWE header has no \"%s\"", name);
  }
  if (!json_is_string(value)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE header \"%s\" is not a string", name);
  }
  *out = json_string_value(value);
  return 1;
}

int ss_jwe_header_get_int(const ss_jwe_header *header, const char *name,
                          int64_t *out, ss_status *st) {
  *out = 0;
  json_t *value = json_object_get(header->members, name);
  if (value == NULL) {
    return ss_status_set(st, GRPC_STATUS_NOT_FOUND,
                         "JWE header has no \"%s\"", name);
  }
  if (!json_is_integer(value)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE header \"%s\" is not an integer", name);
  }
  *out = (int64_t)json_integer_value(value);
  return 1;
}

int ss_jwe_header_has(const ss_jwe_header *header, const char *name) {
  return json_object_get(header->members, name) != NULL;
}

// ---------------------------------------------------------------------------
// Encryption.

struct ss_jwe_encryptor {
  const ss_enc_alg *enc;
  ss_aead *aead;          // holds the CEK
  int zip;
  int counter_ivs;        // IVs from prefix + counter rather than random
  uint8_t iv_prefix[STREAM_IV_PREFIX_LEN];
  uint64_t sealed;        // messages sealed so far
  ss_buf encrypted_key;   // the wrapped CEK, identical in every message
  json_t *stream_header;  // alg, enc, zip, kid, epk, apu, apv, iv, tag, extra
  ss_buf stream_text;     // |stream_header| as JSON without its closing '}'
  ss_buf header_text;     // scratch: the JSON of one message's header
  ss_buf compressed;      // scratch: deflated plaintext
  z_stream deflater;
  int deflater_ready;
};

void ss_jwe_encryptor_free(ss_jwe_encryptor *enc) {
  if (enc == NULL) {
    return;
  }
  ss_aead_free(enc->aead);
  ss_buf_cleanup(&enc->encrypted_key);
  ss_buf_cleanup(&enc->stream_text);
  ss_buf_cleanup(&enc->header_text);
  ss_buf_cleanup(&enc->compressed);
  json_decref(enc->stream_header);
  if (enc->deflater_ready) {
    deflateEnd(&enc->deflater);
  }
  OPENSSL_cleanse(enc, sizeof(*enc));
  free(enc);
}

static int set_header_string(json_t *header, const char *name,
                             const char *value, ss_status *st) {
  json_t *json_value = json_string(value);
  if (json_value == NULL || json_object_set_new(header, name, json_value) != 0) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: out of memory building the header");
  }
  return 1;
}

ss_jwe_encryptor *ss_jwe_encryptor_new(const ss_jwk *key,
                                       const ss_jwe_encrypt_opts *opts,
                                       ss_status *st) {
  if (opts->alg == NULL || opts->enc == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWE: alg and enc are required");
    return NULL;
  }
  const km_alg *km = ss__jwe_find_km_alg(opts->alg, strlen(opts->alg), st);
  const ss_enc_alg *content =
      km != NULL ? ss__jwe_find_enc_alg(opts->enc, strlen(opts->enc), st)
                  : NULL;
  if (content == NULL) {
    return NULL;
  }
  if (km->kind == KM_DIR && !opts->allow_dir) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWE: alg \"dir\" is disabled; enable it explicitly to "
                  "use a shared key as the CEK");
    return NULL;
  }
  if (km->kind != KM_ECDH_ES && (opts->apu != NULL || opts->apv != NULL)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWE: apu and apv apply only to ECDH-ES algorithms");
    return NULL;
  }
  if (!ss__jwe_check_key_fits(key, km, content, SS_JWK_OP_ENCRYPT, st)) {
    return NULL;
  }
  ss_jwe_encryptor *enc = calloc(1, sizeof(*enc));
  if (enc == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "JWE: out of memory making an encryptor");
    return NULL;
  }
  enc->enc = content;
  enc->zip = opts->zip;
  // Counter IVs are unique only under a CEK made for this stream; with "dir"
  // the key outlives the stream, so its IVs are drawn at random.
  enc->counter_ivs = ss_enc_alg_is_gcm(content) && km->kind != KM_DIR;
  ss_buf_init(&enc->encrypted_key, 0);
  ss_buf_init(&enc->stream_text, SS_JWE_MAX_HEADER);
  ss_buf_init(&enc->header_text, SS_JWE_MAX_HEADER);
  ss_buf_init(&enc->compressed, 0);
  uint8_t cek[MAX_CEK_LEN];
  size_t cek_len = ss_enc_alg_key_len(content);
  enc->stream_header = json_object();
  int ok = enc->stream_header != NULL ||
           ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: out of memory building the header");
  ok = ok && set_header_string(enc->stream_header, "alg", km->name, st) &&
       set_header_string(enc->stream_header, "enc", ss_enc_alg_name(content),
                         st) &&
       (!opts->zip ||
        set_header_string(enc->stream_header, "zip", "DEF", st)) &&
       set_header_string(enc->stream_header, "kid", ss_jwk_kid(key), st);
  if (ok && (RAND_bytes(cek, (int)cek_len) != 1 ||
             RAND_bytes(enc->iv_prefix, sizeof(enc->iv_prefix)) != 1)) {
    ok = ss_status_set(st, GRPC_STATUS_INTERNAL,
                       "JWE: no randomness for the CEK");
  }
  ok = ok && ss__jwe_wrap_cek(enc->stream_header, &enc->encrypted_key, km,
                            content, key, opts, cek, cek_len, st);
  if (ok && opts->extra != NULL) {
    ok = check_members(opts->extra->members, NULL, st);
    if (ok && json_object_update(enc->stream_header, opts->extra->members) !=
                  0) {
      ok = ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: out of memory building the header");
    }
  }
  if (ok) {
    // Serialized once: every message's header starts with these members.
    char *text = json_dumps(enc->stream_header,
                            JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL) {
      ok = ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: out of memory building the header");
    } else if (strlen(text) > SS_JWE_MAX_HEADER) {
      // Most of the header is fixed by the algorithms; only the key's kid
      // and the caller's members can grow it past what a recipient reads.
      ok = ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: protected header would be %zu bytes, over the "
                         "limit of %d (the key's kid is %zu bytes)",
                         strlen(text), SS_JWE_MAX_HEADER,
                         strlen(ss_jwk_kid(key)));
    } else {
      ok = ss_buf_append(&enc->stream_text, text, strlen(text) - 1) ||
           ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: out of memory building the header");
    }
    free(text);
  }
  if (ok) {
    enc->aead = ss_aead_new(content, cek, cek_len, st);
    ok = enc->aead != NULL;
  }
  if (ok && opts->zip) {
    ok = deflateInit2(&enc->deflater, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                      Z_DEFAULT_STRATEGY) == Z_OK ||
         ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                       "JWE: cannot start DEFLATE");
    enc->deflater_ready = ok;
  }
  OPENSSL_cleanse(cek, sizeof(cek));
  if (!ok) {
    ss_jwe_encryptor_free(enc);
    return NULL;
  }
  return enc;
}

// deflate_plaintext compresses |pt| into enc->compressed as raw DEFLATE
// (RFC 1951), the format "zip":"DEF" names.
static int deflate_plaintext(ss_jwe_encryptor *enc, const uint8_t *pt,
                             size_t pt_len, ss_status *st) {
  ss_buf_reset(&enc->compressed);
  if (deflateReset(&enc->deflater) != Z_OK) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "JWE: DEFLATE reset failed");
  }
  size_t bound =
      pt_len > UINT32_MAX ? SIZE_MAX : deflateBound(&enc->deflater, pt_len);
  uint8_t *dst;
  // zlib counts in uInt: the whole output must fit one call.
  if (bound > UINT32_MAX || !ss_buf_reserve(&enc->compressed, bound, &dst)) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: %zu bytes too large to compress", pt_len);
  }
  enc->deflater.next_in = (Bytef *)(uintptr_t)pt;
  enc->deflater.avail_in = (uInt)pt_len;
  enc->deflater.next_out = dst;
  enc->deflater.avail_out = (uInt)bound;
  if (deflate(&enc->deflater, Z_FINISH) != Z_STREAM_END) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "JWE: DEFLATE failed");
  }
  ss_buf_advance(&enc->compressed, bound - enc->deflater.avail_out);
  return 1;
}

// append_members appends ,"name":value for each member of |members|.
static int append_members(ss_buf *out, const json_t *stream_header,
                          const json_t *members, ss_status *st) {
  if (!check_members(members, stream_header, st)) {
    return 0;
  }
  const char *name;
  json_t *value;
  json_object_foreach((json_t *)members, name, value) {
    json_t *key = json_string(name);
    char *key_text = key != NULL ? json_dumps(key, JSON_ENCODE_ANY) : NULL;
    char *value_text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
    int ok = key_text != NULL && value_text != NULL &&
             ss_buf_append_u8(out, ',') && ss_buf_append_str(out, key_text) &&
             ss_buf_append_u8(out, ':') && ss_buf_append_str(out, value_text);
    free(key_text);
    free(value_text);
    json_decref(key);
    if (!ok) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "JWE: protected header exceeds %d bytes",
                           SS_JWE_MAX_HEADER);
    }
  }
  return 1;
}

void ss__jwe_store_be64(uint8_t *out, uint64_t value) {
  for (int i = 7; i >= 0; i--) {
    out[i] = (uint8_t)value;
    value >>= 8;
  }
}

int ss_jwe_encryptor_seal(ss_jwe_encryptor *enc, ss_jwe_msg *msg,
                          const ss_jwe_header *members, const uint8_t *pt,
                          size_t pt_len, ss_status *st) {
  memset(&msg->parts, 0, sizeof(msg->parts));
  ss_buf_reset(&msg->storage);
  if (enc->sealed >= STREAM_MAX_MESSAGES) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: stream reached %llu messages; start a new one",
                         (unsigned long long)STREAM_MAX_MESSAGES);
  }
  if (enc->zip) {
    if (!deflate_plaintext(enc, pt, pt_len, st)) {
      return 0;
    }
    pt = enc->compressed.data;
    pt_len = enc->compressed.len;
  }
  // Per-message members follow the stream's members in the same object.
  ss_buf *text = &enc->header_text;
  ss_buf_reset(text);
  if (!ss_buf_append(text, enc->stream_text.data, enc->stream_text.len)) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: out of memory building the header");
  }
  if (members != NULL &&
      !append_members(text, enc->stream_header, members->members, st)) {
    return 0;
  }
  if (!ss_buf_append_u8(text, '}')) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: protected header exceeds %d bytes",
                         SS_JWE_MAX_HEADER);
  }
  size_t iv_len = ss_enc_alg_iv_len(enc->enc);
  size_t tag_len = ss_enc_alg_tag_len(enc->enc);
  size_t ct_len = ss_enc_alg_ciphertext_len(enc->enc, pt_len);
  size_t header_b64_len = ss_b64url_encoded_len(text->len);
  size_t ek_len = enc->encrypted_key.len;
  if (ct_len == SIZE_MAX ||
      ct_len > SIZE_MAX - header_b64_len - ek_len - iv_len - tag_len) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: plaintext of %zu bytes is too large", pt_len);
  }
  uint8_t *dst;
  if (!ss_buf_reserve(&msg->storage,
                      header_b64_len + ek_len + iv_len + ct_len + tag_len,
                      &dst)) {
    ss_buf_reset(&msg->storage);
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: out of memory for a %zu-byte message", pt_len);
  }
  uint8_t *header_b64 = dst;
  uint8_t *ek = header_b64 + header_b64_len;
  uint8_t *iv = ek + ek_len;
  uint8_t *ct = iv + iv_len;
  uint8_t *tag = ct + ct_len;
  ss_b64url_encode((char *)header_b64, text->data, text->len);
  if (ek_len > 0) {
    memcpy(ek, enc->encrypted_key.data, ek_len);
  }
  if (enc->counter_ivs) {
    memcpy(iv, enc->iv_prefix, STREAM_IV_PREFIX_LEN);
    ss__jwe_store_be64(iv + STREAM_IV_PREFIX_LEN, enc->sealed);
  } else if (RAND_bytes(iv, (int)iv_len) != 1) {
    ss_buf_reset(&msg->storage);
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "JWE: no randomness for IV");
  }
  if (!ss_aead_seal(enc->aead, ct, tag, iv, header_b64, header_b64_len, pt,
                    pt_len, st)) {
    ss_buf_reset(&msg->storage);
    return 0;
  }
  ss_buf_advance(&msg->storage,
                 header_b64_len + ek_len + iv_len + ct_len + tag_len);
  ss_cbs_init(&msg->parts.protected_b64, header_b64, header_b64_len);
  ss_cbs_init(&msg->parts.encrypted_key, ek, ek_len);
  ss_cbs_init(&msg->parts.iv, iv, iv_len);
  ss_cbs_init(&msg->parts.ciphertext, ct, ct_len);
  ss_cbs_init(&msg->parts.tag, tag, tag_len);
  enc->sealed++;
  return 1;
}

int ss_jwe_encrypt_compact(ss_buf *out, const ss_jwk *key,
                           const ss_jwe_encrypt_opts *opts, const uint8_t *pt,
                           size_t pt_len, ss_status *st) {
  ss_jwe_encryptor *enc = ss_jwe_encryptor_new(key, opts, st);
  if (enc == NULL) {
    return 0;
  }
  ss_jwe_msg msg;
  ss_jwe_msg_init(&msg);
  int ok = ss_jwe_encryptor_seal(enc, &msg, NULL, pt, pt_len, st) &&
           ss_jwe_parts_to_compact(out, &msg.parts, st);
  ss_jwe_msg_cleanup(&msg);
  ss_jwe_encryptor_free(enc);
  return ok;
}
