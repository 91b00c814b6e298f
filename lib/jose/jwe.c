// JWE encryption and decryption (RFC 7516) with the key management and
// content algorithms of RFC 7518 and RFC 8037, and the stream form that wraps
// one CEK per stream. Everything handed to a decryptor is untrusted: headers
// are size-capped and parsed strictly, every length is checked before use, and
// a failed message changes no decryptor state.
#include "lib/jose/jwe.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lib/jose/b64url.h"
#include "lib/jose/content.h"
#include "lib/jose/json.h"
#include "lib/jose/jwk_internal.h"
#include "lib/jose/keywrap.h"

// The longest CEK of any "enc" (A256CBC-HS512).
#define MAX_CEK_LEN 64
// GCM key wrapping uses a 96-bit IV and a 128-bit tag (RFC 7518 4.7).
#define GCMKW_IV_LEN 12
#define GCMKW_TAG_LEN 16
// The stream IV for GCM: a random per-stream prefix, then a message counter.
#define STREAM_IV_PREFIX_LEN 4
#define STREAM_MAX_MESSAGES (UINT64_C(1) << 32)

typedef enum km_kind {
  KM_RSA_OAEP,
  KM_ECDH_ES,     // direct key agreement (kek_len 0) or with AES key wrap
  KM_AES_KW,
  KM_AES_GCM_KW,
  KM_DIR,
} km_kind;

typedef struct km_alg {
  const char *name;
  km_kind kind;
  size_t kek_len;  // AES key wrap / GCM wrap key bytes; 0 when none
  int oaep_sha256;  // RSA-OAEP-256 rather than RSA-OAEP (SHA-1)
} km_alg;

static const km_alg kKeyManagementAlgs[] = {
    {"RSA-OAEP", KM_RSA_OAEP, 0, 0},
    {"RSA-OAEP-256", KM_RSA_OAEP, 0, 1},
    {"ECDH-ES", KM_ECDH_ES, 0, 0},
    {"ECDH-ES+A128KW", KM_ECDH_ES, 16, 0},
    {"ECDH-ES+A192KW", KM_ECDH_ES, 24, 0},
    {"ECDH-ES+A256KW", KM_ECDH_ES, 32, 0},
    {"A128KW", KM_AES_KW, 16, 0},
    {"A192KW", KM_AES_KW, 24, 0},
    {"A256KW", KM_AES_KW, 32, 0},
    {"A128GCMKW", KM_AES_GCM_KW, 16, 0},
    {"A192GCMKW", KM_AES_GCM_KW, 24, 0},
    {"A256GCMKW", KM_AES_GCM_KW, 32, 0},
    {"dir", KM_DIR, 0, 0},
};

static const char kSupportedAlgs[] =
    "RSA-OAEP, RSA-OAEP-256, ECDH-ES, ECDH-ES+A128KW, ECDH-ES+A192KW, "
    "ECDH-ES+A256KW, A128KW, A192KW, A256KW, A128GCMKW, A192GCMKW, "
    "A256GCMKW, dir (when enabled)";

// Header members the JWE layer owns; callers cannot set them.
static const char *const kReservedMembers[] = {
    "alg", "enc", "zip", "epk", "apu", "apv", "iv",  "tag", "kid", "crit",
    "p2s", "p2c", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty",
};

const char *ss_jwe_supported_algs(void) { return kSupportedAlgs; }

// find_km_alg looks up |name| and explains a refusal for the names that are
// known but deliberately unsupported.
static const km_alg *find_km_alg(const char *name, size_t name_len,
                                 ss_status *st) {
  for (size_t i = 0; i < sizeof(kKeyManagementAlgs) / sizeof(kKeyManagementAlgs[0]);
       i++) {
    const km_alg *alg = &kKeyManagementAlgs[i];
    if (strlen(alg->name) == name_len && memcmp(alg->name, name, name_len) == 0) {
      return alg;
    }
  }
  ss_cbs cbs;
  ss_cbs_init(&cbs, name, name_len);
  if (ss_cbs_equal_str(&cbs, "none")) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWE: alg \"none\" is refused: it provides no protection; "
                  "supported: %s", kSupportedAlgs);
  } else if (ss_cbs_equal_str(&cbs, "RSA1_5")) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWE: alg \"RSA1_5\" is refused: PKCS#1 v1.5 encryption is "
                  "open to padding-oracle attacks; use RSA-OAEP-256");
  } else if (name_len >= 6 && memcmp(name, "PBES2-", 6) == 0) {
    char shown[SS_STATUS_SHOWN_MAX + 4];
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWE: password-based alg \"%s\" is refused; supported: %s",
                  ss_status_shown(shown, name, name_len), kSupportedAlgs);
  } else {
    char shown[SS_STATUS_SHOWN_MAX + 4];
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWE: unsupported alg \"%s\"; supported: %s",
                  ss_status_shown(shown, name, name_len), kSupportedAlgs);
  }
  return NULL;
}

static const ss_enc_alg *find_enc_alg(const char *name, size_t name_len,
                                      ss_status *st) {
  const ss_enc_alg *enc = ss_enc_alg_find(name, name_len);
  if (enc == NULL) {
    char shown[SS_STATUS_SHOWN_MAX + 4];
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWE: unsupported enc \"%s\"; supported: %s",
                  ss_status_shown(shown, name, name_len),
                  ss_enc_alg_supported_names());
  }
  return enc;
}

// check_key_fits refuses a key whose type or size does not suit |km| with
// |enc|, and one whose own use/key_ops/alg forbid |op|.
static int check_key_fits(const ss_jwk *key, const km_alg *km,
                          const ss_enc_alg *enc, ss_jwk_op op, ss_status *st) {
  ss_kty kty = ss_jwk_kty(key);
  size_t oct_len = 0;
  switch (km->kind) {
    case KM_RSA_OAEP:
      if (kty != SS_KTY_RSA) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "JWE: alg %s needs an RSA key", km->name);
      }
      break;
    case KM_ECDH_ES:
      if (kty != SS_KTY_EC && kty != SS_KTY_OKP) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "JWE: alg %s needs an EC or OKP (X25519) key",
                             km->name);
      }
      break;
    case KM_AES_KW:
    case KM_AES_GCM_KW:
      if (kty != SS_KTY_OCT || ss__jwk_oct(key, &oct_len) == NULL ||
          oct_len != km->kek_len) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "JWE: alg %s needs an oct key of %zu bits",
                             km->name, km->kek_len * 8);
      }
      break;
    case KM_DIR:
      if (kty != SS_KTY_OCT || ss__jwk_oct(key, &oct_len) == NULL ||
          oct_len != ss_enc_alg_key_len(enc)) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "JWE: alg dir with enc %s needs an oct key of %zu "
                             "bits",
                             ss_enc_alg_name(enc), ss_enc_alg_key_len(enc) * 8);
      }
      break;
  }
  if (op == SS_JWK_OP_DECRYPT && !ss_jwk_is_private(key)) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "JWE: decryption needs a private key; kid \"%s\" is "
                         "public",
                         ss_jwk_kid(key));
  }
  // A key used with "dir" is the CEK itself, so its own "alg" may name the
  // content algorithm (RFC 7520 section 5.6) rather than "dir".
  const char *key_alg = ss_jwk_alg(key);
  if (km->kind == KM_DIR && key_alg != NULL &&
      strcmp(key_alg, ss_enc_alg_name(enc)) == 0) {
    return ss_jwk_check_use(key, key_alg, op, st);
  }
  return ss_jwk_check_use(key, km->name, op, st);
}

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

static size_t parts_total_len(const ss_jwe_parts *parts) {
  // Each length is bounded by the memory holding it, so the sum of five
  // cannot overflow size_t.
  return parts->protected_b64.len + parts->encrypted_key.len + parts->iv.len +
         parts->ciphertext.len + parts->tag.len;
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

struct ss_jwe_header {
  json_t *members;  // owned JSON object
};

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

// oaep_ctx returns a context for RSA-OAEP (SHA-1) or RSA-OAEP-256 with
// |key|, set up to encrypt or decrypt; NULL on failure.
static EVP_PKEY_CTX *oaep_ctx(const km_alg *km, const ss_jwk *key,
                              int decrypt) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(ss__jwk_pkey(key), NULL);
  const EVP_MD *md = km->oaep_sha256 ? EVP_sha256() : EVP_sha1();
  if (ctx == NULL ||
      (decrypt ? EVP_PKEY_decrypt_init(ctx) : EVP_PKEY_encrypt_init(ctx)) <=
          0 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0) {
    EVP_PKEY_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

static int rsa_oaep_wrap(const km_alg *km, const ss_jwk *key,
                         const uint8_t *cek, size_t cek_len, ss_buf *out,
                         ss_status *st) {
  EVP_PKEY_CTX *ctx = oaep_ctx(km, key, 0);
  size_t out_len = 0;
  uint8_t *dst;
  int ok = ctx != NULL &&
           EVP_PKEY_encrypt(ctx, NULL, &out_len, cek, cek_len) > 0 &&
           ss_buf_reserve(out, out_len, &dst) &&
           EVP_PKEY_encrypt(ctx, dst, &out_len, cek, cek_len) > 0;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL,
                         "JWE: RSA-OAEP encryption of the CEK failed");
  }
  ss_buf_advance(out, out_len);
  return 1;
}

// gcm_wrapper returns an AES-GCM context under the A*GCMKW key |key|.
static ss_aead *gcm_wrapper(const ss_jwk *key, ss_status *st) {
  size_t kek_len;
  const uint8_t *kek = ss__jwk_oct(key, &kek_len);
  char gcm_name[16];
  int name_len = snprintf(gcm_name, sizeof(gcm_name), "A%zuGCM", kek_len * 8);
  const ss_enc_alg *gcm = ss_enc_alg_find(gcm_name, (size_t)name_len);
  if (gcm == NULL) {
    // check_key_fits allows only 16, 24 and 32-byte keys here.
    ss_status_set(st, GRPC_STATUS_INTERNAL, "JWE: no GCM for a %zu-byte key",
                  kek_len);
    return NULL;
  }
  return ss_aead_new(gcm, kek, kek_len, st);
}

// derive_ecdh_key runs ECDH-ES between |priv| and |peer| and the Concat KDF,
// writing |out_len| bytes: the CEK for direct ECDH-ES, else the KEK.
static int derive_ecdh_key(const km_alg *km, const ss_enc_alg *enc,
                           const ss_jwk *priv, const ss_jwk *peer,
                           const uint8_t *apu, size_t apu_len,
                           const uint8_t *apv, size_t apv_len, uint8_t *out,
                           size_t out_len, ss_status *st) {
  ss_buf shared;
  ss_buf_init(&shared, 0);
  int ok = ss__jwk_ecdh(priv, peer, &shared, st) &&
           ss_concat_kdf(out, out_len, shared.data, shared.len,
                         km->kek_len == 0 ? ss_enc_alg_name(enc) : km->name,
                         apu, apu_len, apv, apv_len, st);
  ss_buf_cleanup(&shared);
  return ok;
}

// wrap_cek fills in |enc|'s encrypted key and key-management header members
// (epk, apu, apv, iv, tag) for |cek|, or for ECDH-ES and dir sets |cek|
// itself.
static int wrap_cek(ss_jwe_encryptor *enc, const km_alg *km, const ss_jwk *key,
                    const ss_jwe_encrypt_opts *opts, uint8_t *cek,
                    size_t cek_len, ss_status *st) {
  json_t *header = enc->stream_header;
  switch (km->kind) {
    case KM_RSA_OAEP:
      return rsa_oaep_wrap(km, key, cek, cek_len, &enc->encrypted_key, st);
    case KM_DIR: {
      size_t key_len;
      const uint8_t *key_bytes = ss__jwk_oct(key, &key_len);
      memcpy(cek, key_bytes, cek_len);  // length checked in check_key_fits
      return 1;
    }
    case KM_AES_KW: {
      size_t kek_len;
      const uint8_t *kek = ss__jwk_oct(key, &kek_len);
      uint8_t *dst;
      if (!ss_buf_reserve(&enc->encrypted_key, cek_len + 8, &dst)) {
        return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                             "JWE: out of memory wrapping the CEK");
      }
      if (!ss_aeskw_wrap(dst, kek, kek_len, cek, cek_len, st)) {
        return 0;
      }
      ss_buf_advance(&enc->encrypted_key, cek_len + 8);
      return 1;
    }
    case KM_AES_GCM_KW: {
      uint8_t iv[GCMKW_IV_LEN], tag[GCMKW_TAG_LEN];
      uint8_t *dst;
      ss_aead *wrapper = gcm_wrapper(key, st);
      int ok = wrapper != NULL;
      if (ok && RAND_bytes(iv, sizeof(iv)) != 1) {
        ok = ss_status_set(st, GRPC_STATUS_INTERNAL, "JWE: no randomness");
      }
      if (ok && !ss_buf_reserve(&enc->encrypted_key, cek_len, &dst)) {
        ok = ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "JWE: out of memory wrapping the CEK");
      }
      ok = ok && ss_aead_seal(wrapper, dst, tag, iv, NULL, 0, cek, cek_len, st);
      ss_aead_free(wrapper);
      if (!ok) {
        return 0;
      }
      ss_buf_advance(&enc->encrypted_key, cek_len);
      return ss_json_set_b64(header, "iv", iv, sizeof(iv), st) &&
             ss_json_set_b64(header, "tag", tag, sizeof(tag), st);
    }
    case KM_ECDH_ES: {
      ss_jwk *ephemeral = ss_jwk_generate(
          ss_jwk_kty(key) == SS_KTY_EC ? "EC" : "OKP", ss_jwk_crv(key), 0, st);
      if (ephemeral == NULL) {
        return 0;
      }
      uint8_t kek[32];
      size_t derived_len = km->kek_len == 0 ? cek_len : km->kek_len;
      uint8_t *derived = km->kek_len == 0 ? cek : kek;
      json_t *epk = ss__jwk_to_json_object(ephemeral, 0, st);
      int ok = epk != NULL &&
               derive_ecdh_key(km, enc->enc, ephemeral, key, opts->apu,
                               opts->apu_len, opts->apv, opts->apv_len,
                               derived, derived_len, st);
      if (ok) {
        // The epk carries only what a recipient needs: not the generated kid.
        json_object_del(epk, "kid");
        if (json_object_set(header, "epk", epk) != 0) {
          ok = ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                             "JWE: out of memory building the header");
        }
      }
      if (ok && opts->apu != NULL) {
        ok = ss_json_set_b64(header, "apu", opts->apu, opts->apu_len, st);
      }
      if (ok && opts->apv != NULL) {
        ok = ss_json_set_b64(header, "apv", opts->apv, opts->apv_len, st);
      }
      if (ok && km->kek_len != 0) {
        uint8_t *dst;
        if (!ss_buf_reserve(&enc->encrypted_key, cek_len + 8, &dst)) {
          ok = ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                             "JWE: out of memory wrapping the CEK");
        } else if (!ss_aeskw_wrap(dst, kek, km->kek_len, cek, cek_len, st)) {
          ok = 0;
        } else {
          ss_buf_advance(&enc->encrypted_key, cek_len + 8);
        }
      }
      OPENSSL_cleanse(kek, sizeof(kek));
      json_decref(epk);
      ss_jwk_free(ephemeral);
      return ok;
    }
  }
  return ss_status_set(st, GRPC_STATUS_INTERNAL, "JWE: unknown alg kind");
}

ss_jwe_encryptor *ss_jwe_encryptor_new(const ss_jwk *key,
                                       const ss_jwe_encrypt_opts *opts,
                                       ss_status *st) {
  if (opts->alg == NULL || opts->enc == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWE: alg and enc are required");
    return NULL;
  }
  const km_alg *km = find_km_alg(opts->alg, strlen(opts->alg), st);
  const ss_enc_alg *content =
      km != NULL ? find_enc_alg(opts->enc, strlen(opts->enc), st) : NULL;
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
  if (!check_key_fits(key, km, content, SS_JWK_OP_ENCRYPT, st)) {
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
  ok = ok && wrap_cek(enc, km, key, opts, cek, cek_len, st);
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
    ok = (text != NULL &&
          ss_buf_append(&enc->stream_text, text, strlen(text) - 1)) ||
         ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                       "JWE: out of memory building the header");
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

static void store_be64(uint8_t *out, uint64_t value) {
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
    store_be64(iv + STREAM_IV_PREFIX_LEN, enc->sealed);
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

// ---------------------------------------------------------------------------
// Decryption.

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

// A parsed, checked protected header.
typedef struct parsed_header {
  json_t *json;  // owned
  const km_alg *km;
  const ss_enc_alg *enc;
  int zip;
  const char *kid;  // borrowed from |json|; NULL when absent
} parsed_header;

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
           (out->km = find_km_alg(alg, alg_len, st)) != NULL &&
           (out->enc = find_enc_alg(enc, enc_len, st)) != NULL;
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
  store_be64(prefix, len);
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
    store_be64(marker, member == NULL ? UINT64_MAX : UINT64_MAX - 1);
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

static int rsa_oaep_unwrap(const km_alg *km, const ss_jwk *key,
                           const ss_cbs *encrypted_key, uint8_t *cek,
                           size_t cek_len) {
  EVP_PKEY_CTX *ctx = oaep_ctx(km, key, 1);
  uint8_t *out = NULL;
  size_t out_len = 0;
  int ok = ctx != NULL &&
           EVP_PKEY_decrypt(ctx, NULL, &out_len, encrypted_key->data,
                            encrypted_key->len) > 0 &&
           (out = malloc(out_len)) != NULL &&
           EVP_PKEY_decrypt(ctx, out, &out_len, encrypted_key->data,
                            encrypted_key->len) > 0 &&
           out_len == cek_len;
  if (ok) {
    memcpy(cek, out, cek_len);
  }
  if (out != NULL) {
    OPENSSL_cleanse(out, out_len);
    free(out);
  }
  EVP_PKEY_CTX_free(ctx);
  return ok;
}

// unwrap_cek recovers the CEK of one message into |cek| (the enc's key
// length). For RSA-OAEP a failed unwrap yields a random CEK instead (RFC 7516
// section 11.5), so that the failure is indistinguishable from a bad tag.
// encrypted_key_len returns the length the encrypted key must have for
// |km| and a CEK of |cek_len| bytes, or SIZE_MAX when it depends on the key
// (RSA).
static size_t encrypted_key_len(const km_alg *km, size_t cek_len) {
  switch (km->kind) {
    case KM_RSA_OAEP:
      return SIZE_MAX;
    case KM_DIR:
      return 0;
    case KM_AES_KW:
      return cek_len + 8;
    case KM_AES_GCM_KW:
      return cek_len;
    case KM_ECDH_ES:
      return km->kek_len == 0 ? 0 : cek_len + 8;
  }
  return 0;  // not reached: every kind is handled above
}

static int unwrap_cek(const parsed_header *header, const ss_jwk *key,
                      const ss_jwe_parts *parts, uint8_t *cek, ss_status *st) {
  const km_alg *km = header->km;
  size_t cek_len = ss_enc_alg_key_len(header->enc);
  const ss_cbs *ek = &parts->encrypted_key;
  size_t want = encrypted_key_len(km, cek_len);
  if (want != SIZE_MAX && ek->len != want) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWE: encrypted key is %zu bytes; %s with %s needs "
                         "%zu",
                         ek->len, km->name, ss_enc_alg_name(header->enc), want);
  }
  switch (km->kind) {
    case KM_RSA_OAEP:
      if (!rsa_oaep_unwrap(km, key, ek, cek, cek_len) &&
          RAND_bytes(cek, (int)cek_len) != 1) {
        return ss_status_set(st, GRPC_STATUS_INTERNAL, "JWE: no randomness");
      }
      return 1;
    case KM_DIR: {
      size_t key_len;
      memcpy(cek, ss__jwk_oct(key, &key_len), cek_len);
      return 1;
    }
    case KM_AES_KW: {
      size_t kek_len;
      const uint8_t *kek = ss__jwk_oct(key, &kek_len);
      return ss_aeskw_unwrap(cek, kek, kek_len, ek->data, ek->len, st);
    }
    case KM_AES_GCM_KW: {
      ss_buf iv = {0}, tag = {0};
      ss_aead *wrapper = NULL;
      size_t out_len = 0;
      int ok = ss_json_get_b64(header->json, "iv", 1, "JWE protected header",
                               &iv, NULL, st) &&
               ss_json_get_b64(header->json, "tag", 1, "JWE protected header",
                               &tag, NULL, st) &&
               (wrapper = gcm_wrapper(key, st)) != NULL &&
               ss_aead_open(wrapper, cek, &out_len, iv.data, iv.len, NULL, 0,
                        ek->data, ek->len, tag.data, tag.len, st);
      if (!ok) {
        ss_status_prefix(st, "JWE key unwrap: ");
      }
      ss_aead_free(wrapper);
      ss_buf_cleanup(&iv);
      ss_buf_cleanup(&tag);
      return ok;
    }
    case KM_ECDH_ES: {
      // check_epk_is_public ran on every message, cached or not.
      json_t *epk_json = json_object_get(header->json, "epk");
      ss_buf apu = {0}, apv = {0};
      uint8_t kek[32];
      ss_jwk *epk = ss__jwk_from_json(epk_json, "JWE epk", st);
      int ok = epk != NULL &&
           ss_json_get_b64(header->json, "apu", 0, "JWE protected header",
                           &apu, NULL, st) &&
           ss_json_get_b64(header->json, "apv", 0, "JWE protected header",
                           &apv, NULL, st) &&
           derive_ecdh_key(km, header->enc, key, epk, apu.data, apu.len,
                           apv.data, apv.len, km->kek_len == 0 ? cek : kek,
                           km->kek_len == 0 ? cek_len : km->kek_len, st);
      if (ok && km->kek_len != 0) {
        ok = ss_aeskw_unwrap(cek, kek, km->kek_len, ek->data, ek->len, st);
      }
      OPENSSL_cleanse(kek, sizeof(kek));
      ss_buf_cleanup(&apu);
      ss_buf_cleanup(&apv);
      ss_jwk_free(epk);
      return ok;
    }
  }
  return ss_status_set(st, GRPC_STATUS_INTERNAL, "JWE: unknown alg kind");
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

// open_with_key decrypts |parts| with |key|, reusing the cached CEK when the
// key-management inputs match. On success the cache holds this message's CEK.
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

static int open_with_key(ss_jwe_decryptor *dec, ss_buf *out,
                         const parsed_header *header, const ss_jwk *key,
                         const ss_jwe_parts *parts, ss_status *st) {
  if (!check_key_fits(key, header->km, header->enc, SS_JWK_OP_DECRYPT, st) ||
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
    int ok = unwrap_cek(header, key, parts, cek, st);
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
      if (check_key_fits(ss_jwks_get(dec->keys, i), header.km, header.enc,
                         SS_JWK_OP_DECRYPT, &attempt)) {
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
