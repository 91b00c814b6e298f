// JWE decryption (RFC 7516): the decryptor, its checks of the protected
// header and the CEK cache that lets a stream's messages share one unwrap.
// Everything handed to a decryptor is untrusted: headers are size-capped and
// parsed strictly, every length is checked before use, and a failed message
// changes no decryptor state. Unwrapping the CEK is in jwe_keys.c.
#include "lib/jose/jwe.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lib/jose/b64url.h"
#include "lib/jose/content.h"
#include "lib/jose/json.h"
#include "lib/jose/jwe_internal.h"

static size_t parts_total_len(const ss_jwe_parts *parts) {
  // Each length is bounded by the memory holding it, so the sum of five
  // cannot overflow size_t.
  return parts->protected_b64.len + parts->encrypted_key.len + parts->iv.len +
         parts->ciphertext.len + parts->tag.len;
}

struct ss_jwe_decryptor {
  const ss_jwk *key;    // borrowed; NULL when |keys| is used
  const ss_jwks *keys;  // borrowed
  size_t max_len;
  size_t max_inflate;
  int allow_dir;
  // The CEK cache: |cached_aead| holds the CEK unwrapped for the inputs
  // recorded in |cached_id| (alg, enc, key, encrypted key and key-management
  // header members).
  ss_buf cached_id;
  ss_aead *cached_aead;
  uint64_t unwraps;
  ss_jwe_header last_header;  // members NULL until a message opened
  ss_buf header_json;         // scratch: decoded protected header
  ss_buf candidate_id;        // scratch: the current message's cache id
  ss_buf compressed;          // scratch: decrypted, still-deflated plaintext
  ss_jwe_msg compact_msg;     // scratch: decoded compact input
  z_stream inflater;
  int inflater_ready;
};

ss_jwe_decryptor *ss_jwe_decryptor_new(const ss_jwk *key, const ss_jwks *keys,
                                       const ss_jwe_decrypt_opts *opts,
                                       ss_status *st) {
  if (key == NULL && keys == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWE: a decryptor needs a key or a key set");
    return NULL;
  }
  ss_jwe_decryptor *dec = calloc(1, sizeof(*dec));
  if (dec == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "JWE: out of memory making a decryptor");
    return NULL;
  }
  dec->key = key;
  dec->keys = key == NULL ? keys : NULL;
  dec->max_len = opts != NULL && opts->max_len != 0 ? opts->max_len
                                                    : SS_JWE_DEFAULT_MAX_LEN;
  dec->max_inflate = opts != NULL && opts->max_inflate != 0
                         ? opts->max_inflate
                         : SS_JWE_DEFAULT_MAX_INFLATE;
  dec->allow_dir = opts != NULL && opts->allow_dir;
  ss_buf_init(&dec->cached_id, 0);
  ss_buf_init(&dec->header_json, SS_JWE_MAX_HEADER);
  ss_buf_init(&dec->candidate_id, 0);
  ss_buf_init(&dec->compressed, 0);
  ss_jwe_msg_init(&dec->compact_msg);
  return dec;
}

void ss_jwe_decryptor_free(ss_jwe_decryptor *dec) {
  if (dec == NULL) {
    return;
  }
  ss_aead_free(dec->cached_aead);
  ss_buf_cleanup(&dec->cached_id);
  ss_buf_cleanup(&dec->header_json);
  ss_buf_cleanup(&dec->candidate_id);
  ss_buf_cleanup(&dec->compressed);
  ss_jwe_msg_cleanup(&dec->compact_msg);
  json_decref(dec->last_header.members);
  if (dec->inflater_ready) {
    inflateEnd(&dec->inflater);
  }
  free(dec);
}

const ss_jwe_header *ss_jwe_decryptor_header(const ss_jwe_decryptor *dec) {
  return dec->last_header.members != NULL ? &dec->last_header : NULL;
}

uint64_t ss_jwe_decryptor_unwrap_count(const ss_jwe_decryptor *dec) {
  return dec->unwraps;
}

static int check_crit(const json_t *header, ss_status *st) {
  json_t *crit = json_object_get(header, "crit");
  if (crit == NULL) {
    return 1;
  }
  if (!json_is_array(crit) || json_array_size(crit) == 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE: \"crit\" must be a non-empty array of names");
  }
  // No extension is understood, so any critical member is refused.
  json_t *first = json_array_get(crit, 0);
  if (!json_is_string(first)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE: \"crit\" must hold member names");
  }
  char shown[SS_STATUS_SHOWN_MAX + 4];
  return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "JWE: unsupported critical header member \"%s\"",
                       ss_status_shown(shown, json_string_value(first),
                                       json_string_length(first)));
}

static int parse_header(ss_jwe_decryptor *dec, const ss_cbs *protected_b64,
                        parsed_header *out, ss_status *st) {
  memset(out, 0, sizeof(*out));
  ss_buf_reset(&dec->header_json);
  if (protected_b64->len == 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE: the protected header is empty");
  }
  if (protected_b64->len > ss_b64url_encoded_len(SS_JWE_MAX_HEADER)) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: protected header exceeds %d bytes",
                         SS_JWE_MAX_HEADER);
  }
  if (!ss_b64url_decode_to(&dec->header_json,
                           (const char *)protected_b64->data,
                           protected_b64->len, st)) {
    return ss_status_prefix(st, "JWE protected header: ");
  }
  out->json = ss_json_parse_object((const char *)dec->header_json.data,
                                   dec->header_json.len, SS_JWE_MAX_HEADER,
                                   "JWE protected header", st);
  if (out->json == NULL) {
    return 0;
  }
  const char *alg, *enc, *zip, *kid;
  size_t alg_len, enc_len, zip_len, kid_len;
  int ok = ss_json_get_string(out->json, "alg", 1, "JWE protected header",
                              &alg, &alg_len, st) &&
           ss_json_get_string(out->json, "enc", 1, "JWE protected header",
                              &enc, &enc_len, st) &&
           ss_json_get_string(out->json, "zip", 0, "JWE protected header",
                              &zip, &zip_len, st) &&
           ss_json_get_string(out->json, "kid", 0, "JWE protected header",
                              &kid, &kid_len, st) &&
           check_crit(out->json, st) &&
           (out->km = ss__jwe_find_km_alg(alg, alg_len, st)) != NULL &&
           (out->enc = ss__jwe_find_enc_alg(enc, enc_len, st)) != NULL;
  if (ok && zip != NULL) {
    ss_cbs zip_cbs;
    ss_cbs_init(&zip_cbs, zip, zip_len);
    char shown[SS_STATUS_SHOWN_MAX + 4];
    ok = ss_cbs_equal_str(&zip_cbs, "DEF") ||
         ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "JWE: unsupported zip \"%s\"; only DEF is supported",
                       ss_status_shown(shown, zip, zip_len));
    out->zip = 1;
  }
  if (ok && out->km->kind == KM_DIR && !dec->allow_dir) {
    ok = ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "JWE: alg \"dir\" is disabled for this decryptor");
  }
  if (!ok) {
    json_decref(out->json);
    out->json = NULL;
    return 0;
  }
  out->kid = kid;
  return 1;
}

// append_id_field appends a length-prefixed field to a cache id, so that
// distinct inputs can never produce the same id.
static int append_id_field(ss_buf *id, const void *data, size_t len) {
  uint8_t prefix[8];
  ss__jwe_store_be64(prefix, len);
  return ss_buf_append(id, prefix, sizeof(prefix)) &&
         ss_buf_append(id, data, len);
}

// append_id_member appends a header member the CEK depends on: a string
// member's text, or for "epk" the members that define the public key.
// Serializing with jansson instead would cost more than the rest of a small
// message's decryption.
static int append_id_member(ss_buf *id, const json_t *header,
                            const char *name) {
  json_t *member = json_object_get(header, name);
  if (json_is_string(member)) {
    return append_id_field(id, json_string_value(member),
                           json_string_length(member));
  }
  if (!json_is_object(member)) {
    // Absent, or of a type the unwrap will refuse: a length no string can
    // have marks each, so neither matches any string value.
    uint8_t marker[8];
    ss__jwe_store_be64(marker, member == NULL ? UINT64_MAX : UINT64_MAX - 1);
    return ss_buf_append(id, marker, sizeof(marker));
  }
  static const char *const kKeyMembers[] = {"kty", "crv", "x", "y"};
  for (size_t i = 0; i < sizeof(kKeyMembers) / sizeof(kKeyMembers[0]); i++) {
    json_t *value = json_object_get(member, kKeyMembers[i]);
    const char *text = json_is_string(value) ? json_string_value(value) : "";
    size_t len = json_is_string(value) ? json_string_length(value) : 0;
    if (!append_id_field(id, text, len)) {
      return 0;
    }
  }
  return 1;
}

// build_cache_id records every input the CEK depends on.
static int build_cache_id(ss_buf *id, const parsed_header *header,
                          const ss_jwk *key, const ss_jwe_parts *parts,
                          ss_status *st) {
  ss_buf_reset(id);
  const char *enc_name = ss_enc_alg_name(header->enc);
  int ok = append_id_field(id, &key, sizeof(key)) &&
           append_id_field(id, header->km->name, strlen(header->km->name)) &&
           append_id_field(id, enc_name, strlen(enc_name)) &&
           append_id_field(id, parts->encrypted_key.data,
                           parts->encrypted_key.len) &&
           append_id_member(id, header->json, "epk") &&
           append_id_member(id, header->json, "apu") &&
           append_id_member(id, header->json, "apv") &&
           append_id_member(id, header->json, "iv") &&
           append_id_member(id, header->json, "tag");
  if (!ok) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: out of memory");
  }
  return 1;
}

static int inflate_plaintext(ss_jwe_decryptor *dec, ss_buf *out,
                             const uint8_t *in, size_t in_len, ss_status *st) {
  if (!dec->inflater_ready) {
    if (inflateInit2(&dec->inflater, -15) != Z_OK) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "JWE: cannot start INFLATE");
    }
    dec->inflater_ready = 1;
  } else if (inflateReset(&dec->inflater) != Z_OK) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "JWE: INFLATE reset failed");
  }
  if (in_len > UINT32_MAX) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: compressed plaintext too large");
  }
  z_stream *zs = &dec->inflater;
  zs->next_in = (Bytef *)(uintptr_t)in;
  zs->avail_in = (uInt)in_len;
  for (;;) {
    // Grow in bounded steps so a decompression bomb stops at the cap rather
    // than after an allocation of its claimed size.
    size_t room = dec->max_inflate - out->len;
    size_t step = room < 65536 ? room : 65536;
    uint8_t *dst;
    if (!ss_buf_reserve(out, step + 1, &dst)) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "JWE: out of memory inflating");
    }
    // One byte beyond the cap is offered so that exceeding it is detected.
    zs->next_out = dst;
    zs->avail_out = (uInt)(step + 1);
    int rc = inflate(zs, Z_NO_FLUSH);
    ss_buf_advance(out, step + 1 - zs->avail_out);
    if (out->len > dec->max_inflate) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "JWE: inflated plaintext exceeds the limit of %zu "
                           "bytes",
                           dec->max_inflate);
    }
    if (rc == Z_STREAM_END) {
      if (zs->avail_in != 0) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "JWE: trailing bytes after the DEFLATE stream");
      }
      return 1;
    }
    if (rc != Z_OK) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "JWE: invalid DEFLATE data in plaintext");
    }
    if (zs->avail_in == 0 && zs->avail_out != 0) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "JWE: truncated DEFLATE data in plaintext");
    }
  }
}

// check_epk_is_public refuses an ECDH-ES message without an "epk" object or
// with private members in it. It runs before the CEK cache is consulted, so
// a warm decryptor refuses what a fresh one refuses.
static int check_epk_is_public(const parsed_header *header, ss_status *st) {
  if (header->km->kind != KM_ECDH_ES) {
    return 1;
  }
  json_t *epk = json_object_get(header->json, "epk");
  if (!json_is_object(epk)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE: alg %s needs an \"epk\" object",
                         header->km->name);
  }
  if (json_object_get(epk, "d") != NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE: epk must be a public key");
  }
  return 1;
}

// open_with_key decrypts |parts| with |key|, reusing the cached CEK when the
// key-management inputs match. On success the cache holds this message's CEK.
static int open_with_key(ss_jwe_decryptor *dec, ss_buf *out,
                         const parsed_header *header, const ss_jwk *key,
                         const ss_jwe_parts *parts, ss_status *st) {
  if (!ss__jwe_check_key_fits(key, header->km, header->enc, SS_JWK_OP_DECRYPT,
                              st) ||
      !check_epk_is_public(header, st) ||
      !build_cache_id(&dec->candidate_id, header, key, parts, st)) {
    return 0;
  }
  ss_aead *aead = NULL;
  int fresh = 0;
  if (dec->cached_aead != NULL && ss_aead_alg(dec->cached_aead) == header->enc &&
      dec->cached_id.len == dec->candidate_id.len &&
      memcmp(dec->cached_id.data, dec->candidate_id.data,
             dec->cached_id.len) == 0) {
    aead = dec->cached_aead;
  } else {
    uint8_t cek[MAX_CEK_LEN];
    size_t cek_len = ss_enc_alg_key_len(header->enc);
    int ok = ss__jwe_unwrap_cek(header, key, parts, cek, st);
    if (ok) {
      aead = ss_aead_new(header->enc, cek, cek_len, st);
    }
    OPENSSL_cleanse(cek, sizeof(cek));
    if (aead == NULL) {
      return 0;
    }
    fresh = 1;
  }
  ss_buf *target = header->zip ? &dec->compressed : out;
  ss_buf_reset(target);
  uint8_t *dst;
  size_t pt_len = 0;
  int ok = ss_buf_reserve(target, parts->ciphertext.len, &dst) ||
           ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: out of memory for %zu bytes",
                         parts->ciphertext.len);
  ok = ok && ss_aead_open(aead, dst, &pt_len, parts->iv.data, parts->iv.len,
                          parts->protected_b64.data, parts->protected_b64.len,
                          parts->ciphertext.data, parts->ciphertext.len,
                          parts->tag.data, parts->tag.len, st);
  if (ok) {
    ss_buf_advance(target, pt_len);
    if (header->zip) {
      ok = inflate_plaintext(dec, out, dec->compressed.data,
                             dec->compressed.len, st);
      ss_buf_wipe(&dec->compressed);
    }
  }
  if (!ok) {
    // Authenticated plaintext may already be in |out| (a failed inflate).
    ss_buf_wipe(target);
    ss_buf_wipe(out);
    if (fresh) {
      ss_aead_free(aead);
    }
    return 0;
  }
  if (fresh) {
    dec->unwraps++;
    ss_aead_free(dec->cached_aead);
    dec->cached_aead = aead;
    ss_buf tmp = dec->cached_id;
    dec->cached_id = dec->candidate_id;
    dec->candidate_id = tmp;
  }
  return 1;
}

int ss_jwe_decryptor_open(ss_jwe_decryptor *dec, ss_buf *out,
                          const ss_jwe_parts *parts, ss_status *st) {
  ss_buf_reset(out);
  if (parts_total_len(parts) > dec->max_len) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "JWE: %zu bytes exceeds the limit of %zu",
                         parts_total_len(parts), dec->max_len);
  }
  parsed_header header;
  if (!parse_header(dec, &parts->protected_b64, &header, st)) {
    return 0;
  }
  int ok = 0;
  if (dec->key != NULL) {
    ok = open_with_key(dec, out, &header, dec->key, parts, st);
  } else if (header.kid != NULL) {
    const ss_jwk *key = ss_jwks_find(dec->keys, header.kid, st);
    ok = key != NULL && open_with_key(dec, out, &header, key, parts, st);
  } else {
    // Without a kid, the set must hold exactly one key that fits: trying
    // several would let one message cost many private-key operations.
    const ss_jwk *key = NULL;
    size_t fitting = 0;
    for (size_t i = 0; i < ss_jwks_count(dec->keys); i++) {
      ss_status attempt;
      ss_status_init(&attempt);
      if (ss__jwe_check_key_fits(ss_jwks_get(dec->keys, i), header.km,
                                 header.enc, SS_JWK_OP_DECRYPT, &attempt)) {
        key = ss_jwks_get(dec->keys, i);
        fitting++;
      }
    }
    if (fitting == 1) {
      ok = open_with_key(dec, out, &header, key, parts, st);
    } else {
      ss_status_set(st, GRPC_STATUS_NOT_FOUND,
                    "JWE: no kid in the header and %zu keys in the set fit "
                    "alg %s; exactly one must",
                    fitting, header.km->name);
    }
  }
  if (!ok) {
    json_decref(header.json);
    return 0;
  }
  json_decref(dec->last_header.members);
  dec->last_header.members = header.json;
  return 1;
}

int ss_jwe_decryptor_open_compact(ss_jwe_decryptor *dec, ss_buf *out,
                                  const char *compact, size_t len,
                                  ss_status *st) {
  ss_buf_reset(out);
  if (!ss_jwe_compact_to_parts(&dec->compact_msg, compact, len, dec->max_len,
                               st)) {
    return 0;
  }
  int ok = ss_jwe_decryptor_open(dec, out, &dec->compact_msg.parts, st);
  ss_buf_reset(&dec->compact_msg.storage);
  return ok;
}
