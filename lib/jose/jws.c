// JWS compact serialization (RFC 7515 section 7.1) with ECDSA (RFC 7518
// section 3.4) and Ed25519 (RFC 8037 section 3.1). Compact text and its
// protected header are untrusted; keys and the signer's extra header members
// are trusted. ECDSA signatures travel as fixed-length r||s and are turned
// into DER (ECDSA_SIG) only at the library boundary.
#include "lib/jose/jws.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jose/b64url.h"
#include "lib/jose/json.h"
#include "lib/jose/jwk_internal.h"
#include "lib/jose/jws_internal.h"

// The longest JWS signature: ES512's two 66-byte values.
#define SS_JWS_MAX_SIG 132

typedef struct jws_alg {
  const char *name;
  const char *crv;            // the key's curve
  const EVP_MD *(*md)(void);  // NULL for EdDSA, which hashes internally
  size_t sig_len;             // bytes of the JWS signature
} jws_alg;

static const jws_alg kAlgs[] = {
    {"ES256", "P-256", EVP_sha256, 64},
    {"ES384", "P-384", EVP_sha384, 96},
    {"ES512", "P-521", EVP_sha512, 132},
    {"EdDSA", "Ed25519", NULL, 64},
};
#define SS_NUM_ALGS (sizeof(kAlgs) / sizeof(kAlgs[0]))

// Header parameters registered by RFC 7515 and RFC 7518 (JWS and JWE),
// which "crit" may not name (RFC 7515 section 4.1.11).
static const char *const kRegistered[] = {
    "alg",  "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty",
    "crit", "enc", "zip", "epk", "apu", "apv", "iv",  "tag",      "p2s", "p2c",
};

static int oom(ss_status *st) {
  return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                       "JWS: out of memory");
}

static int in_list(const char *const *list, size_t num, const char *name) {
  for (size_t i = 0; i < num; i++) {
    if (strcmp(list[i], name) == 0) {
      return 1;
    }
  }
  return 0;
}

// find_alg returns the entry for |name|, or NULL with INVALID_ARGUMENT that
// says why an alg is refused.
static const jws_alg *find_alg(const char *name, size_t len, ss_status *st) {
  for (size_t i = 0; i < SS_NUM_ALGS; i++) {
    if (strlen(kAlgs[i].name) == len && memcmp(kAlgs[i].name, name, len) == 0) {
      return &kAlgs[i];
    }
  }
  char shown[SS_STATUS_SHOWN_MAX + 4];
  ss_status_shown(shown, name, len);
  if (len == 4 && memcmp(name, "none", 4) == 0) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWS: alg \"none\" (unsecured JWS) is refused");
  } else if (len >= 2 && memcmp(name, "HS", 2) == 0) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWS: HMAC alg \"%s\" is not supported; use ES256, ES384, "
                  "ES512 or EdDSA",
                  shown);
  } else {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWS: unsupported alg \"%s\"; supported: ES256, ES384, "
                  "ES512, EdDSA",
                  shown);
  }
  return NULL;
}

// check_key checks that |key| fits |alg| for |op|: its type and curve, then
// ss_jwk_check_use. Failures carry |code|.
static int check_key(const ss_jwk *key, const jws_alg *alg, ss_jwk_op op,
                     grpc_status_code code, ss_status *st) {
  const char *crv = ss_jwk_crv(key);
  if (crv == NULL || strcmp(crv, alg->crv) != 0) {
    return ss_status_set(st, code,
                         "JWS: alg %s needs a%s %s key; kid \"%s\" "
                         "is %s",
                         alg->name, alg->md != NULL ? "n EC" : "n OKP",
                         alg->crv, ss_jwk_kid(key),
                         crv != NULL ? crv : "RSA or oct");
  }
  if (op == SS_JWK_OP_SIGN && !ss_jwk_is_private(key)) {
    return ss_status_set(st, code,
                         "JWS: signing needs a private key; kid \"%s\" is "
                         "public",
                         ss_jwk_kid(key));
  }
  if (!ss_jwk_check_use(key, alg->name, op, st)) {
    st->code = code;
    return 0;
  }
  return 1;
}

// check_crit applies RFC 7515 section 4.1.11 to the "crit" of |header|.
// |understood| lists what the caller processes (NULL-terminated, or NULL);
// when |all_understood|, every well-formed name is taken as understood.
static int check_crit(const json_t *header, const char *const *understood,
                      int all_understood, ss_status *st) {
  const json_t *crit = json_object_get(header, "crit");
  if (crit == NULL) {
    return 1;
  }
  if (!json_is_array(crit) || json_array_size(crit) == 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWS: \"crit\" must be a non-empty array of names");
  }
  size_t i, j;
  const json_t *name;
  json_array_foreach(crit, i, name) {
    if (!json_is_string(name)) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "JWS: \"crit\" must be a non-empty array of names");
    }
    const char *text = json_string_value(name);
    char shown[SS_STATUS_SHOWN_MAX + 4];
    ss_status_shown(shown, text, json_string_length(name));
    for (j = 0; j < i; j++) {
      if (json_equal(json_array_get(crit, j), name)) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "JWS: \"crit\" names \"%s\" twice", shown);
      }
    }
    if (in_list(kRegistered, sizeof(kRegistered) / sizeof(kRegistered[0]),
                text)) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "JWS: \"crit\" may not name the registered header "
                           "parameter \"%s\"",
                           shown);
    }
    if (strcmp(text, "b64") == 0) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "JWS: \"b64\" (RFC 7797 unencoded payload) is not "
                           "supported");
    }
    if (json_object_get(header, text) == NULL) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "JWS: \"crit\" names \"%s\", which the header lacks",
                           shown);
    }
    int known = all_understood;
    for (j = 0; !known && understood != NULL && understood[j] != NULL; j++) {
      known = strcmp(understood[j], text) == 0;
    }
    if (!known) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "JWS: \"crit\" names \"%s\", which is not "
                           "understood here",
                           shown);
    }
  }
  return 1;
}

// check_header checks the protected header |header| and returns its alg, or
// NULL with INVALID_ARGUMENT.
static const jws_alg *check_header(const json_t *header,
                                   const char *const *understood,
                                   int all_understood, ss_status *st) {
  const char *name;
  size_t len;
  if (!ss_json_get_string(header, "alg", 1, "JWS protected header", &name, &len,
                          st)) {
    return NULL;
  }
  const jws_alg *alg = find_alg(name, len, st);
  if (alg == NULL || !check_crit(header, understood, all_understood, st)) {
    return NULL;
  }
  // Only "b64": true means the default; anything else would change what is
  // signed (RFC 7797), which is not implemented.
  const json_t *b64 = json_object_get(header, "b64");
  if (b64 != NULL && !json_is_true(b64)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWS: \"b64\" (RFC 7797 unencoded payload) is not "
                  "supported");
    return NULL;
  }
  if (!ss_json_get_string(header, "kid", 0, "JWS protected header", &name, &len,
                          st)) {
    return NULL;
  }
  return alg;
}

// --- Signatures ---

static int sign_input(const jws_alg *alg, const ss_jwk *key, const uint8_t *msg,
                      size_t msg_len, uint8_t out[SS_JWS_MAX_SIG],
                      ss_status *st) {
  int ok = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  uint8_t *raw = NULL;  // DER for ECDSA; the signature itself for Ed25519
  size_t raw_len = 0;
  ECDSA_SIG *sig = NULL;
  const BIGNUM *r, *s;
  int half = (int)(alg->sig_len / 2);
  if (ctx == NULL ||
      EVP_DigestSignInit(ctx, NULL, alg->md != NULL ? alg->md() : NULL, NULL,
                         ss__jwk_pkey(key)) != 1 ||
      EVP_DigestSign(ctx, NULL, &raw_len, msg, msg_len) != 1 ||
      (raw = OPENSSL_malloc(raw_len)) == NULL ||
      EVP_DigestSign(ctx, raw, &raw_len, msg, msg_len) != 1) {
    goto err;
  }
  if (alg->md == NULL) {
    ok = raw_len == alg->sig_len;
    if (ok) {
      memcpy(out, raw, raw_len);
    }
    goto err;
  }
  const uint8_t *p = raw;
  sig = d2i_ECDSA_SIG(NULL, &p, (long)raw_len);
  if (sig == NULL) {
    goto err;
  }
  ECDSA_SIG_get0(sig, &r, &s);
  ok = BN_bn2binpad(r, out, half) == half &&
       BN_bn2binpad(s, out + half, half) == half;
err:
  if (!ok) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "JWS: %s signing failed",
                  alg->name);
  }
  ECDSA_SIG_free(sig);
  OPENSSL_free(raw);
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

// verify_input checks signature |sig| of exactly alg->sig_len bytes. A
// signature that does not verify is UNAUTHENTICATED.
static int verify_input(const jws_alg *alg, const ss_jwk *key,
                        const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                        ss_status *st) {
  int ok = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  ECDSA_SIG *ecdsa = NULL;
  BIGNUM *r = NULL, *s = NULL;
  uint8_t *der = NULL;
  int der_len = (int)alg->sig_len;
  if (ctx == NULL) {
    oom(st);
    goto err;
  }
  if (alg->md != NULL) {
    size_t half = alg->sig_len / 2;
    ecdsa = ECDSA_SIG_new();
    r = BN_bin2bn(sig, (int)half, NULL);
    s = BN_bin2bn(sig + half, (int)half, NULL);
    if (ecdsa == NULL || r == NULL || s == NULL ||
        !ECDSA_SIG_set0(ecdsa, r, s)) {
      oom(st);
      goto err;
    }
    r = s = NULL;  // owned by ecdsa
    der_len = i2d_ECDSA_SIG(ecdsa, &der);
    if (der_len <= 0) {
      oom(st);
      goto err;
    }
  }
  if (EVP_DigestVerifyInit(ctx, NULL, alg->md != NULL ? alg->md() : NULL, NULL,
                           ss__jwk_pkey(key)) != 1) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "JWS: %s verification failed",
                  alg->name);
    goto err;
  }
  if (EVP_DigestVerify(ctx, der != NULL ? der : sig, (size_t)der_len, msg,
                       msg_len) != 1) {
    ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                  "JWS: %s signature does not verify", alg->name);
    goto err;
  }
  ok = 1;
err:
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(ecdsa);
  OPENSSL_free(der);
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

int ss__jws_verify_raw(const ss_jwk *key, const char *alg_name,
                       const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                       size_t sig_len, ss_status *st) {
  const jws_alg *alg = find_alg(alg_name, strlen(alg_name), st);
  if (alg == NULL ||
      !check_key(key, alg, SS_JWK_OP_VERIFY, GRPC_STATUS_UNAUTHENTICATED, st)) {
    return 0;
  }
  if (sig_len != alg->sig_len) {
    return ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                         "JWS: %s signature is %zu bytes; %zu required",
                         alg->name, sig_len, alg->sig_len);
  }
  return verify_input(alg, key, msg, msg_len, sig, st);
}

// --- Signing ---

// default_alg picks the alg for a key: its own "alg", else its curve's.
static const char *default_alg(const ss_jwk *key) {
  if (ss_jwk_alg(key) != NULL) {
    return ss_jwk_alg(key);
  }
  const char *crv = ss_jwk_crv(key);
  for (size_t i = 0; crv != NULL && i < SS_NUM_ALGS; i++) {
    if (strcmp(kAlgs[i].crv, crv) == 0) {
      return kAlgs[i].name;
    }
  }
  return NULL;
}

// build_header returns the protected header for |alg| and the signer's
// |extra| members, or NULL with |st| set.
static json_t *build_header(const jws_alg *alg, const json_t *extra,
                            ss_status *st) {
  json_t *header = json_object();
  if (header == NULL ||
      json_object_set_new(header, "alg", json_string(alg->name)) != 0) {
    oom(st);
    goto err;
  }
  if (extra != NULL) {
    const char *name;
    json_t *value;
    if (!json_is_object(extra)) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "JWS: extra protected members must be a JSON object");
      goto err;
    }
    json_object_foreach((json_t *)extra, name, value) {
      if (strcmp(name, "alg") == 0 || strcmp(name, "b64") == 0) {
        ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                      "JWS: extra protected members may not set \"%s\"", name);
        goto err;
      }
      if (json_object_set(header, name, value) != 0) {
        oom(st);
        goto err;
      }
    }
  }
  if (check_header(header, NULL, 1, st) == NULL) {
    goto err;
  }
  return header;
err:
  json_decref(header);
  return NULL;
}

int ss_jws_sign(ss_buf *out_compact, const ss_jwk *key, const char *alg_name,
                const json_t *extra_protected_members, const uint8_t *payload,
                size_t payload_len, ss_status *st) {
  int ok = 0;
  json_t *header = NULL;
  char *header_text = NULL;
  size_t header_len = 0;
  uint8_t sig[SS_JWS_MAX_SIG];
  ss_buf_reset(out_compact);
  if (key == NULL || (payload == NULL && payload_len != 0)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWS: sign needs a key and a payload");
    goto err;
  }
  if (alg_name == NULL && (alg_name = default_alg(key)) == NULL) {
    ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                  "JWS: no JWS alg fits the key (%s); use an EC or Ed25519 "
                  "key",
                  ss_jwk_crv(key) != NULL ? ss_jwk_crv(key)
                                          : ss__jwk_kty_names[ss_jwk_kty(key)]);
    goto err;
  }
  const jws_alg *alg = find_alg(alg_name, strlen(alg_name), st);
  if (alg == NULL ||
      !check_key(key, alg, SS_JWK_OP_SIGN, GRPC_STATUS_FAILED_PRECONDITION,
                 st) ||
      (header = build_header(alg, extra_protected_members, st)) == NULL ||
      (header_text = ss_json_dump_compact(header, &header_len, st)) == NULL) {
    goto err;
  }
  if (header_len > SS_JWS_MAX_HEADER) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "JWS: protected header would be %zu bytes; at most %d",
                  header_len, SS_JWS_MAX_HEADER);
    goto err;
  }
  if (ss_b64url_encoded_len(payload_len) > SS_JWS_MAX_LEN) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "JWS: a %zu-byte payload would exceed %u characters",
                  payload_len, SS_JWS_MAX_LEN);
    goto err;
  }
  if (!ss_b64url_encode_to(out_compact, (const uint8_t *)header_text,
                           header_len, st) ||
      !ss_buf_append_u8(out_compact, '.') ||
      !ss_b64url_encode_to(out_compact, payload, payload_len, st)) {
    oom(st);
    goto err;
  }
  if (!sign_input(alg, key, out_compact->data, out_compact->len, sig, st)) {
    goto err;
  }
  if (!ss_buf_append_u8(out_compact, '.') ||
      !ss_b64url_encode_to(out_compact, sig, alg->sig_len, st)) {
    oom(st);
    goto err;
  }
  ok = 1;
err:
  if (!ok) {
    ss_buf_reset(out_compact);
  }
  free(header_text);
  json_decref(header);
  return ok;
}

// --- Verifying ---

// select_key finds the key to verify with: |key|, or the one in |keys| the
// header's "kid" names, or the only one in |keys| that fits |alg|.
static const ss_jwk *select_key(const ss_jwk *key, const ss_jwks *keys,
                                const json_t *header, const jws_alg *alg,
                                ss_status *st) {
  if (key != NULL) {
    return check_key(key, alg, SS_JWK_OP_VERIFY, GRPC_STATUS_UNAUTHENTICATED,
                     st)
               ? key
               : NULL;
  }
  const char *kid = json_string_value(json_object_get(header, "kid"));
  if (kid != NULL) {
    const ss_jwk *found = ss_jwks_find(keys, kid, st);
    if (found == NULL) {
      st->code = GRPC_STATUS_UNAUTHENTICATED;
      ss_status_prefix(st, "JWS: ");
      return NULL;
    }
    return check_key(found, alg, SS_JWK_OP_VERIFY, GRPC_STATUS_UNAUTHENTICATED,
                     st)
               ? found
               : NULL;
  }
  const ss_jwk *only = NULL;
  size_t num_fit = 0;
  for (size_t i = 0; i < ss_jwks_count(keys); i++) {
    ss_status ignored;
    ss_status_init(&ignored);
    if (check_key(ss_jwks_get(keys, i), alg, SS_JWK_OP_VERIFY,
                  GRPC_STATUS_UNAUTHENTICATED, &ignored)) {
      only = ss_jwks_get(keys, i);
      num_fit++;
    }
  }
  if (num_fit != 1) {
    ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                  "JWS: the header has no \"kid\" and %zu keys of the set fit "
                  "%s; exactly one must",
                  num_fit, alg->name);
    return NULL;
  }
  return only;
}

int ss_jws_verify(ss_buf *out_payload, const ss_jwk *key, const ss_jwks *keys,
                  const char *const *understood_crit, const char *compact,
                  size_t compact_len, json_t **out_header, ss_status *st) {
  int ok = 0;
  ss_buf header_bytes;
  ss_buf_init(&header_bytes, 0);
  json_t *header = NULL;
  uint8_t sig[SS_JWS_MAX_SIG];
  size_t sig_len = 0;
  ss_cbs in, header_b64, payload_b64;
  ss_buf_reset(out_payload);
  if (out_header != NULL) {
    *out_header = NULL;
  }
  if (compact == NULL || (key == NULL) == (keys == NULL)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWS: verify needs the compact text and exactly one of a "
                  "key and a key set");
    goto err;
  }
  if (compact_len > SS_JWS_MAX_LEN) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "JWS: %zu characters exceeds the limit of %u", compact_len,
                  SS_JWS_MAX_LEN);
    goto err;
  }
  ss_cbs_init(&in, compact, compact_len);
  if (!ss_cbs_get_until(&in, &header_b64, '.') ||
      !ss_cbs_get_until(&in, &payload_b64, '.')) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWS: compact serialization needs three parts separated "
                  "by '.'");
    goto err;
  }
  if (ss_cbs_contains(&in, '.')) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWS: compact serialization has more than three parts");
    goto err;
  }
  if (header_b64.len > ss_b64url_encoded_len(SS_JWS_MAX_HEADER)) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "JWS: protected header exceeds %d bytes", SS_JWS_MAX_HEADER);
    goto err;
  }
  if (!ss_b64url_decode_to(&header_bytes, (const char *)header_b64.data,
                           header_b64.len, st)) {
    ss_status_prefix(st, "JWS: protected header: ");
    goto err;
  }
  header =
      ss_json_parse_object((const char *)header_bytes.data, header_bytes.len,
                           SS_JWS_MAX_HEADER, "JWS protected header", st);
  if (header == NULL) {
    goto err;
  }
  const jws_alg *alg = check_header(header, understood_crit, 0, st);
  if (alg == NULL) {
    goto err;
  }
  const ss_jwk *chosen = select_key(key, keys, header, alg, st);
  if (chosen == NULL) {
    goto err;
  }
  // The length is checked on the text, before decoding anything.
  if (ss_b64url_decoded_len(in.len) != alg->sig_len) {
    ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                  "JWS: %s signature must be %zu bytes (%zu characters)",
                  alg->name, alg->sig_len, ss_b64url_encoded_len(alg->sig_len));
    goto err;
  }
  if (!ss_b64url_decode(sig, &sig_len, (const char *)in.data, in.len, st)) {
    ss_status_prefix(st, "JWS: signature: ");
    goto err;
  }
  if (!ss_b64url_decode_to(out_payload, (const char *)payload_b64.data,
                           payload_b64.len, st)) {
    ss_status_prefix(st, "JWS: payload: ");
    goto err;
  }
  // The signing input is the received text up to the second '.'.
  if (!verify_input(alg, chosen, (const uint8_t *)compact,
                    header_b64.len + 1 + payload_b64.len, sig, st)) {
    goto err;
  }
  if (out_header != NULL) {
    *out_header = header;
    header = NULL;
  }
  ok = 1;
err:
  if (!ok) {
    ss_buf_wipe(out_payload);  // the payload of a message that failed
  }
  json_decref(header);
  ss_buf_cleanup(&header_bytes);
  return ok;
}
