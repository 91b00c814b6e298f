// JWE key management (RFC 7518 section 4, X25519 from RFC 8037): the "alg"
// names, the checks that a key suits an alg, and the wrapping and unwrapping
// of the CEK with RSA-OAEP, ECDH-ES (direct or with AES key wrap), A*KW,
// A*GCMKW and dir. The AES key wrap and Concat KDF primitives are in
// keywrap.c. The encrypted key and the key-management header members come
// from untrusted messages; their lengths and types are checked here before
// use.
#include "lib/jose/jwe.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jose/content.h"
#include "lib/jose/json.h"
#include "lib/jose/jwe_internal.h"
#include "lib/jose/jwk_internal.h"
#include "lib/jose/keywrap.h"

// GCM key wrapping uses a 96-bit IV and a 128-bit tag (RFC 7518 4.7).
#define GCMKW_IV_LEN 12
#define GCMKW_TAG_LEN 16

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

const char *ss_jwe_supported_algs(void) { return kSupportedAlgs; }

const km_alg *ss__jwe_find_km_alg(const char *name, size_t name_len,
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

const ss_enc_alg *ss__jwe_find_enc_alg(const char *name, size_t name_len,
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

int ss__jwe_check_key_fits(const ss_jwk *key, const km_alg *km,
                           const ss_enc_alg *enc, ss_jwk_op op,
                           ss_status *st) {
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
    // ss__jwe_check_key_fits allows only 16, 24 and 32-byte keys here.
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

int ss__jwe_wrap_cek(json_t *header, ss_buf *encrypted_key, const km_alg *km,
                     const ss_enc_alg *content, const ss_jwk *key,
                     const ss_jwe_encrypt_opts *opts, uint8_t *cek,
                     size_t cek_len, ss_status *st) {
  switch (km->kind) {
    case KM_RSA_OAEP:
      return rsa_oaep_wrap(km, key, cek, cek_len, encrypted_key, st);
    case KM_DIR: {
      size_t key_len;
      const uint8_t *key_bytes = ss__jwk_oct(key, &key_len);
      // The length was checked in ss__jwe_check_key_fits.
      memcpy(cek, key_bytes, cek_len);
      return 1;
    }
    case KM_AES_KW: {
      size_t kek_len;
      const uint8_t *kek = ss__jwk_oct(key, &kek_len);
      uint8_t *dst;
      if (!ss_buf_reserve(encrypted_key, cek_len + 8, &dst)) {
        return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                             "JWE: out of memory wrapping the CEK");
      }
      if (!ss_aeskw_wrap(dst, kek, kek_len, cek, cek_len, st)) {
        return 0;
      }
      ss_buf_advance(encrypted_key, cek_len + 8);
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
      if (ok && !ss_buf_reserve(encrypted_key, cek_len, &dst)) {
        ok = ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "JWE: out of memory wrapping the CEK");
      }
      ok = ok && ss_aead_seal(wrapper, dst, tag, iv, NULL, 0, cek, cek_len, st);
      ss_aead_free(wrapper);
      if (!ok) {
        return 0;
      }
      ss_buf_advance(encrypted_key, cek_len);
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
               derive_ecdh_key(km, content, ephemeral, key, opts->apu,
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
        if (!ss_buf_reserve(encrypted_key, cek_len + 8, &dst)) {
          ok = ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                             "JWE: out of memory wrapping the CEK");
        } else if (!ss_aeskw_wrap(dst, kek, km->kek_len, cek, cek_len, st)) {
          ok = 0;
        } else {
          ss_buf_advance(encrypted_key, cek_len + 8);
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

int ss__jwe_unwrap_cek(const parsed_header *header, const ss_jwk *key,
                       const ss_jwe_parts *parts, uint8_t *cek,
                       ss_status *st) {
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
      // check_epk_is_public (jwe_decrypt.c) ran on every message, cached
      // or not.
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
