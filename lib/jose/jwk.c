// JSON Web Keys: the members of RFC 7517, the RSA, EC and oct key types of
// RFC 7518 section 6, OKP X25519 and Ed25519 keys (RFC 8037 section 2) and
// RFC 7638 thumbprints. RSA and EC import is in jwk_import.c, output and
// thumbprints in jwk_serialize.c.
//
// JWK text, and jansson objects handed to ss__jwk_from_json, are untrusted.
// A key exists only after its members have been type- and size-checked, its
// public part validated (RSA size and exponent, EC point on its curve, OKP
// lengths) and its private part checked against the public one. Private bytes
// pass only through ss_bufs, BIGNUMs and jansson strings that are wiped before
// they are freed.
#include "lib/jose/jwk.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdh.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jose/b64url.h"
#include "lib/jose/json.h"
#include "lib/jose/jwk_internal.h"

static const ss__jwk_curve kCurves[] = {
    {"P-256", NID_X9_62_prime256v1, 32, 256},
    {"P-384", NID_secp384r1, 48, 384},
    {"P-521", NID_secp521r1, 66, 521},
};

const char *const ss__jwk_key_ops[SS_JWK_NUM_KEY_OPS] = {
    "sign",    "verify",    "encrypt",   "decrypt",
    "wrapKey", "unwrapKey", "deriveKey", "deriveBits",
};
#define SS_OP_BIT(i) (1u << (i))
#define SS_OPS_FOR_ENCRYPT \
  (SS_OP_BIT(2) | SS_OP_BIT(4) | SS_OP_BIT(6) | SS_OP_BIT(7))
#define SS_OPS_FOR_DECRYPT \
  (SS_OP_BIT(3) | SS_OP_BIT(5) | SS_OP_BIT(6) | SS_OP_BIT(7))
#define SS_OPS_FOR_SIGN SS_OP_BIT(0)
#define SS_OPS_FOR_VERIFY SS_OP_BIT(1)

const char *const ss__jwk_kty_names[4] = {"RSA", "EC", "OKP", "oct"};

int ss__jwk_oom(ss_status *st, const char *what) {
  return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "%s: out of memory",
                       what);
}

// BoringSSL has no BN_FLG_CONSTTIME; the only variable-time arithmetic on
// secrets here is the one-off consistency check of a key being loaded.
void ss__jwk_mark_secret(BIGNUM *bn) {
#if defined(BN_FLG_CONSTTIME)
  BN_set_flags(bn, BN_FLG_CONSTTIME);
#else
  (void)bn;
#endif
}

static char *dup_string(const char *s, size_t len) {
  char *copy = malloc(len + 1);
  if (copy != NULL) {
    memcpy(copy, s, len);
    copy[len] = '\0';
  }
  return copy;
}

const ss__jwk_curve *ss__jwk_curve_by_name(const char *name) {
  for (size_t i = 0; i < sizeof(kCurves) / sizeof(kCurves[0]); i++) {
    if (strcmp(kCurves[i].name, name) == 0) {
      return &kCurves[i];
    }
  }
  return NULL;
}

// key_name names a key's type for messages: its curve, or its kty.
static const char *key_name(const ss_jwk *jwk) {
  return jwk->crv != NULL ? jwk->crv : ss__jwk_kty_names[jwk->kty];
}

// --- Reading members ---

int ss__jwk_get_member(const json_t *obj, const char *name, int required,
                       const char *what, ss_buf *out, int *out_present,
                       ss_status *st) {
  const json_t *value = json_object_get(obj, name);
  if (value != NULL && json_is_string(value) &&
      json_string_length(value) > ss_b64url_encoded_len(SS_JWK_MEMBER_MAX)) {
    ss_buf_reset(out);
    if (out_present != NULL) {
      *out_present = 0;
    }
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: \"%s\" is longer than %d bytes", what, name,
                         SS_JWK_MEMBER_MAX);
  }
  return ss_json_get_b64(obj, name, required, what, out, out_present, st);
}

static int key_op_index(const char *op, size_t len) {
  for (size_t i = 0; i < SS_JWK_NUM_KEY_OPS; i++) {
    if (strlen(ss__jwk_key_ops[i]) == len &&
        memcmp(ss__jwk_key_ops[i], op, len) == 0) {
      return (int)i;
    }
  }
  return -1;
}

// parse_common reads "use", "alg", "kid" and "key_ops" into |jwk|.
static int parse_common(ss_jwk *jwk, const json_t *obj, const char *what,
                        ss_status *st) {
  const char *value;
  size_t len;
  if (!ss_json_get_string(obj, "use", 0, what, &value, &len, st)) {
    return 0;
  }
  if (value != NULL && (jwk->use = dup_string(value, len)) == NULL) {
    return ss__jwk_oom(st, what);
  }
  if (!ss_json_get_string(obj, "alg", 0, what, &value, &len, st)) {
    return 0;
  }
  if (value != NULL && (jwk->alg = dup_string(value, len)) == NULL) {
    return ss__jwk_oom(st, what);
  }
  if (!ss_json_get_string(obj, "kid", 0, what, &value, &len, st)) {
    return 0;
  }
  if (value != NULL) {
    // An empty kid could never be asked for in a JWE header.
    if (len == 0) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "%s: \"kid\" is empty", what);
    }
    if ((jwk->kid = dup_string(value, len)) == NULL) {
      return ss__jwk_oom(st, what);
    }
    jwk->has_kid = 1;
  }

  const json_t *ops = json_object_get(obj, "key_ops");
  if (ops == NULL) {
    return 1;
  }
  if (!json_is_array(ops)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: \"key_ops\" must be an array of strings", what);
  }
  unsigned seen = 0;
  for (size_t i = 0; i < json_array_size(ops); i++) {
    const json_t *op = json_array_get(ops, i);
    if (!json_is_string(op)) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "%s: \"key_ops\" must be an array of strings", what);
    }
    int index = key_op_index(json_string_value(op), json_string_length(op));
    if (index < 0) {
      return ss_status_set(
          st, GRPC_STATUS_INVALID_ARGUMENT,
          "%s: \"key_ops\" has an unknown operation; expected sign, verify, "
          "encrypt, decrypt, wrapKey, unwrapKey, deriveKey or deriveBits",
          what);
    }
    // Refusing repeats also bounds num_key_ops by SS_JWK_NUM_KEY_OPS.
    if (seen & SS_OP_BIT(index)) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "%s: \"key_ops\" lists an operation twice", what);
    }
    seen |= SS_OP_BIT(index);
    jwk->key_ops[jwk->num_key_ops++] = (uint8_t)index;
  }
  jwk->has_key_ops = 1;
  return 1;
}

// --- OKP (X25519, Ed25519) and oct ---

static int parse_okp(ss_jwk *jwk, const json_t *obj, const char *what,
                     ss_status *st) {
  int ok = 0, has_d = 0;
  ss_buf x, d;
  ss_buf_init(&x, 0);
  ss_buf_init(&d, 0);
  const char *crv;
  size_t crv_len;

  if (!ss_json_get_string(obj, "crv", 1, what, &crv, &crv_len, st)) {
    goto err;
  }
  if (strcmp(crv, "X25519") == 0) {
    jwk->crv = "X25519";
    jwk->okp_type = EVP_PKEY_X25519;
  } else if (strcmp(crv, "Ed25519") == 0) {
    jwk->crv = "Ed25519";
    jwk->okp_type = EVP_PKEY_ED25519;
  } else {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: unsupported OKP curve; expected \"X25519\" or "
                  "\"Ed25519\"",
                  what);
    goto err;
  }
  if (!ss__jwk_get_member(obj, "x", 1, what, &x, NULL, st)) {
    goto err;
  }
  if (x.len != SS_JWK_OKP_LEN) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: %s \"x\" is %zu bytes; %d required", what, jwk->crv,
                  x.len, SS_JWK_OKP_LEN);
    goto err;
  }
  if (!ss__jwk_get_member(obj, "d", 0, what, &d, &has_d, st)) {
    goto err;
  }
  if (has_d && d.len != SS_JWK_OKP_LEN) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: %s \"d\" is %zu bytes; %d required", what, jwk->crv,
                  d.len, SS_JWK_OKP_LEN);
    goto err;
  }
  if (has_d) {
    // For Ed25519, "d" is the seed the public key is derived from (RFC 8037
    // section 2), which is what both libraries take as the raw private key.
    jwk->pkey =
        EVP_PKEY_new_raw_private_key(jwk->okp_type, NULL, d.data, d.len);
    uint8_t pub[SS_JWK_OKP_LEN];
    size_t pub_len = sizeof(pub);
    if (jwk->pkey == NULL ||
        !EVP_PKEY_get_raw_public_key(jwk->pkey, pub, &pub_len) ||
        pub_len != sizeof(pub)) {
      ss__jwk_oom(st, what);
      goto err;
    }
    if (CRYPTO_memcmp(pub, x.data, sizeof(pub)) != 0) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s: %s private key does not match its public key", what,
                    jwk->crv);
      goto err;
    }
  } else {
    // An Ed25519 "x" that is not a valid point encoding is accepted here and
    // fails every verification.
    jwk->pkey = EVP_PKEY_new_raw_public_key(jwk->okp_type, NULL, x.data, x.len);
    if (jwk->pkey == NULL) {
      ss__jwk_oom(st, what);
      goto err;
    }
  }
  jwk->is_private = has_d;
  ok = 1;

err:
  ss_buf_cleanup(&x);
  ss_buf_cleanup(&d);
  return ok;
}

static int parse_oct(ss_jwk *jwk, const json_t *obj, const char *what,
                     ss_status *st) {
  int ok = 0;
  ss_buf k;
  ss_buf_init(&k, 0);
  if (!ss__jwk_get_member(obj, "k", 1, what, &k, NULL, st)) {
    goto err;
  }
  if (k.len == 0) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s: oct \"k\" is empty",
                  what);
    goto err;
  }
  if (!ss_buf_release(&k, &jwk->oct, &jwk->oct_len)) {
    ss__jwk_oom(st, what);
    goto err;
  }
  jwk->is_private = 1;
  ok = 1;
err:
  ss_buf_cleanup(&k);
  return ok;
}

// finish_key sets the size, thumbprint and (unless given) kid of a key whose
// type-specific members are in place.
static int finish_key(ss_jwk *jwk, ss_status *st) {
  switch (jwk->kty) {
    case SS_KTY_RSA:
      jwk->bits = (unsigned)EVP_PKEY_bits(jwk->pkey);
      break;
    case SS_KTY_EC:
      jwk->bits = jwk->ec->bits;
      break;
    case SS_KTY_OKP:
      jwk->bits = 8 * SS_JWK_OKP_LEN;  // X25519 and Ed25519 alike
      break;
    case SS_KTY_OCT:
      jwk->bits = (unsigned)(8 * jwk->oct_len);
      break;
  }
  if (!ss__jwk_compute_thumbprint(jwk, jwk->thumbprint, st)) {
    return 0;
  }
  if (!jwk->has_kid) {
    size_t len = ss_b64url_encoded_len(SS_JWK_THUMBPRINT_LEN);
    jwk->kid = malloc(len + 1);
    if (jwk->kid == NULL) {
      return ss__jwk_oom(st, "JWK");
    }
    ss_b64url_encode(jwk->kid, jwk->thumbprint, SS_JWK_THUMBPRINT_LEN);
    jwk->kid[len] = '\0';
  }
  return 1;
}

// finish_or_free ends both constructors: when |ok| (the key's members are in
// place) it finishes |jwk| with finish_key and returns it. Otherwise, or if
// finishing fails, |st| is set; it frees |jwk| and clears the library's
// thread-local error queue, so that no stale entries are left behind, and
// returns NULL.
static ss_jwk *finish_or_free(ss_jwk *jwk, int ok, ss_status *st) {
  if (ok && finish_key(jwk, st)) {
    return jwk;
  }
  ss_jwk_free(jwk);
  ERR_clear_error();
  return NULL;
}

// --- Public API ---

ss_jwk *ss__jwk_from_json(const json_t *obj, const char *what, ss_status *st) {
  ss_jwk *jwk = NULL;
  int ok = 0;
  const char *kty;
  size_t kty_len;
  if (obj == NULL || !json_is_object(obj)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: expected a JSON object", what);
    goto done;
  }
  if (!ss_json_get_string(obj, "kty", 1, what, &kty, &kty_len, st)) {
    goto done;
  }
  ss_kty type;
  if (strcmp(kty, "RSA") == 0) {
    type = SS_KTY_RSA;
  } else if (strcmp(kty, "EC") == 0) {
    type = SS_KTY_EC;
  } else if (strcmp(kty, "OKP") == 0) {
    type = SS_KTY_OKP;
  } else if (strcmp(kty, "oct") == 0) {
    type = SS_KTY_OCT;
  } else {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: unsupported \"kty\"; expected \"RSA\", \"EC\", \"OKP\" "
                  "or \"oct\"",
                  what);
    goto done;
  }
  jwk = calloc(1, sizeof(*jwk));
  if (jwk == NULL) {
    ss__jwk_oom(st, what);
    goto done;
  }
  jwk->kty = type;
  if (!parse_common(jwk, obj, what, st)) {
    goto done;
  }
  switch (type) {
    case SS_KTY_RSA:
      ok = ss__jwk_parse_rsa(jwk, obj, what, st);
      break;
    case SS_KTY_EC:
      ok = ss__jwk_parse_ec(jwk, obj, what, st);
      break;
    case SS_KTY_OKP:
      ok = parse_okp(jwk, obj, what, st);
      break;
    case SS_KTY_OCT:
      ok = parse_oct(jwk, obj, what, st);
      break;
  }

done:
  return finish_or_free(jwk, ok, st);
}

ss_jwk *ss_jwk_parse(const char *json, size_t json_len, ss_status *st) {
  if (json == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "JWK: no input");
    return NULL;
  }
  json_t *obj =
      ss_json_parse_object(json, json_len, SS_JWK_MAX_JSON, "JWK", st);
  if (obj == NULL) {
    return NULL;
  }
  ss_jwk *jwk = ss__jwk_from_json(obj, "JWK", st);
  json_decref(obj);  // jansson wipes what it frees (ss_json_init)
  return jwk;
}

static EVP_PKEY *keygen(int type, int rsa_bits, int nid, ss_status *st) {
  EVP_PKEY *pkey = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(type, NULL);
  if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
      (rsa_bits != 0 && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, rsa_bits) <= 0) ||
      (nid != 0 && EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, nid) <= 0) ||
      EVP_PKEY_keygen(ctx, &pkey) <= 0) {
    EVP_PKEY_free(pkey);
    pkey = NULL;
    ss_status_set(st, GRPC_STATUS_INTERNAL,
                  "JWK generate: key generation failed");
  }
  EVP_PKEY_CTX_free(ctx);
  return pkey;
}

ss_jwk *ss_jwk_generate(const char *kty, const char *crv, unsigned bits,
                        ss_status *st) {
  int ok = 0;
  ss_jwk *jwk = calloc(1, sizeof(*jwk));
  if (jwk == NULL) {
    ss__jwk_oom(st, "JWK generate");
    goto done;
  }
  if (kty != NULL && strcmp(kty, "RSA") == 0) {
    if (bits != 2048 && bits != 3072 && bits != 4096) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "JWK generate: unsupported RSA size %u; expected 2048, "
                    "3072 or 4096",
                    bits);
      goto done;
    }
    // Both libraries default to the public exponent 65537.
    jwk->kty = SS_KTY_RSA;
    jwk->pkey = keygen(EVP_PKEY_RSA, (int)bits, 0, st);
  } else if (kty != NULL && strcmp(kty, "EC") == 0) {
    const ss__jwk_curve *curve =
        crv != NULL ? ss__jwk_curve_by_name(crv) : NULL;
    if (curve == NULL) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "JWK generate: unsupported EC curve; expected \"P-256\", "
                    "\"P-384\" or \"P-521\"");
      goto done;
    }
    jwk->kty = SS_KTY_EC;
    jwk->ec = curve;
    jwk->crv = curve->name;
    jwk->pkey = keygen(EVP_PKEY_EC, 0, curve->nid, st);
  } else if (kty != NULL && strcmp(kty, "OKP") == 0) {
    if (crv != NULL && strcmp(crv, "X25519") == 0) {
      jwk->crv = "X25519";
      jwk->okp_type = EVP_PKEY_X25519;
    } else if (crv != NULL && strcmp(crv, "Ed25519") == 0) {
      jwk->crv = "Ed25519";
      jwk->okp_type = EVP_PKEY_ED25519;
    } else {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "JWK generate: unsupported OKP curve; expected \"X25519\" "
                    "or \"Ed25519\"");
      goto done;
    }
    jwk->kty = SS_KTY_OKP;
    jwk->pkey = keygen(jwk->okp_type, 0, 0, st);
  } else if (kty != NULL && strcmp(kty, "oct") == 0) {
    if (bits != 128 && bits != 192 && bits != 256 && bits != 384 &&
        bits != 512) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "JWK generate: unsupported oct size %u; expected 128, 192, "
                    "256, 384 or 512",
                    bits);
      goto done;
    }
    jwk->kty = SS_KTY_OCT;
    jwk->oct_len = bits / 8;
    jwk->oct = malloc(jwk->oct_len);
    if (jwk->oct == NULL) {
      ss__jwk_oom(st, "JWK generate");
      goto done;
    }
    if (RAND_bytes(jwk->oct, jwk->oct_len) != 1) {
      ss_status_set(st, GRPC_STATUS_INTERNAL,
                    "JWK generate: random number generation failed");
      goto done;
    }
  } else {
    ss_status_set(
        st, GRPC_STATUS_INVALID_ARGUMENT,
        "JWK generate: unsupported \"kty\"; expected \"RSA\", \"EC\", "
        "\"OKP\" or \"oct\"");
    goto done;
  }
  if (jwk->kty != SS_KTY_OCT && jwk->pkey == NULL) {
    goto done;  // keygen set |st|
  }
  jwk->is_private = 1;
  ok = 1;

done:
  return finish_or_free(jwk, ok, st);
}

void ss_jwk_free(ss_jwk *jwk) {
  if (jwk == NULL) {
    return;
  }
  EVP_PKEY_free(jwk->pkey);
  if (jwk->oct != NULL) {
    OPENSSL_cleanse(jwk->oct, jwk->oct_len);
    free(jwk->oct);
  }
  free(jwk->kid);
  free(jwk->use);
  free(jwk->alg);
  // The thumbprint of an oct key is a hash of the secret.
  OPENSSL_cleanse(jwk, sizeof(*jwk));
  free(jwk);
}

ss_jwk *ss_jwk_public(const ss_jwk *jwk, ss_status *st) {
  if (jwk->kty == SS_KTY_OCT) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWK: a symmetric (oct) key has no public part");
    return NULL;
  }
  // Going through the public JSON form re-runs every check on the result and
  // keeps one definition of what is public.
  json_t *obj = ss__jwk_to_json_object(jwk, 0, st);
  if (obj == NULL) {
    return NULL;
  }
  ss_jwk *pub = ss__jwk_from_json(obj, "JWK", st);
  json_decref(obj);
  return pub;
}

ss_kty ss_jwk_kty(const ss_jwk *jwk) { return jwk->kty; }

const char *ss_jwk_crv(const ss_jwk *jwk) { return jwk->crv; }

int ss_jwk_is_private(const ss_jwk *jwk) { return jwk->is_private; }

const char *ss_jwk_kid(const ss_jwk *jwk) { return jwk->kid; }

const char *ss_jwk_alg(const ss_jwk *jwk) { return jwk->alg; }

unsigned ss_jwk_bits(const ss_jwk *jwk) { return jwk->bits; }

int ss_jwk_check_use(const ss_jwk *jwk, const char *alg, ss_jwk_op op,
                     ss_status *st) {
  int signing = op == SS_JWK_OP_SIGN || op == SS_JWK_OP_VERIFY;
  // RFC 8037 section 3: Ed25519 keys only sign, X25519 keys only agree.
  if (jwk->kty == SS_KTY_OKP &&
      signing != (jwk->okp_type == EVP_PKEY_ED25519)) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         signing ? "JWK: an X25519 key cannot sign or verify"
                                 : "JWK: an Ed25519 key can only sign and "
                                   "verify");
  }
  const char *want_use = signing ? "sig" : "enc";
  if (jwk->use != NULL && strcmp(jwk->use, want_use) != 0) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "JWK: \"use\" is not \"%s\"", want_use);
  }
  if (jwk->has_key_ops) {
    static const unsigned kAllowed[] = {SS_OPS_FOR_ENCRYPT, SS_OPS_FOR_DECRYPT,
                                        SS_OPS_FOR_SIGN, SS_OPS_FOR_VERIFY};
    static const char *const kAllowedNames[] = {
        "wrapKey, encrypt, deriveKey or deriveBits",
        "unwrapKey, decrypt, deriveKey or deriveBits", "sign", "verify"};
    int permitted = 0;
    for (size_t i = 0; i < jwk->num_key_ops; i++) {
      permitted |= (kAllowed[op] & SS_OP_BIT(jwk->key_ops[i])) != 0;
    }
    if (!permitted) {
      return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                           "JWK: \"key_ops\" allows none of %s",
                           kAllowedNames[op]);
    }
  }
  if (jwk->alg != NULL && (alg == NULL || strcmp(jwk->alg, alg) != 0)) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "JWK: key \"alg\" is \"%.40s\", not \"%.40s\"",
                         jwk->alg, alg != NULL ? alg : "(none)");
  }
  return 1;
}

int ss_jwk_thumbprint(const ss_jwk *jwk, uint8_t out[32], ss_status *st) {
  (void)st;  // computed when the key was made
  memcpy(out, jwk->thumbprint, SS_JWK_THUMBPRINT_LEN);
  return 1;
}

EVP_PKEY *ss__jwk_pkey(const ss_jwk *jwk) { return jwk->pkey; }

const uint8_t *ss__jwk_oct(const ss_jwk *jwk, size_t *out_len) {
  if (jwk->kty != SS_KTY_OCT) {
    *out_len = 0;
    return NULL;
  }
  *out_len = jwk->oct_len;
  return jwk->oct;
}

int ss__jwk_ecdh(const ss_jwk *priv, const ss_jwk *peer, ss_buf *out,
                 ss_status *st) {
  int ok = 0;
  EVP_PKEY_CTX *ctx = NULL;
  uint8_t *dst;
  ss_buf_reset(out);
  if ((priv->kty != SS_KTY_EC && priv->kty != SS_KTY_OKP) ||
      (priv->kty == SS_KTY_OKP && priv->okp_type != EVP_PKEY_X25519) ||
      !priv->is_private) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "ECDH needs a private EC or X25519 key");
    goto err;
  }
  if (peer->kty != priv->kty || strcmp(peer->crv, priv->crv) != 0) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "ECDH: peer key is %s, private key is %s", key_name(peer),
                  key_name(priv));
    goto err;
  }
  size_t want = priv->kty == SS_KTY_EC ? priv->ec->len : SS_JWK_OKP_LEN;
  size_t len = want;
  ctx = EVP_PKEY_CTX_new(priv->pkey, NULL);
  if (ctx == NULL || EVP_PKEY_derive_init(ctx) <= 0) {
    ss__jwk_oom(st, "ECDH");
    goto err;
  }
  if (EVP_PKEY_derive_set_peer(ctx, peer->pkey) <= 0) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "ECDH: the peer key was refused");
    goto err;
  }
  if (!ss_buf_reserve(out, want, &dst)) {
    ss__jwk_oom(st, "ECDH");
    goto err;
  }
  if (EVP_PKEY_derive(ctx, dst, &len) <= 0) {
    // Both libraries fail X25519 exactly when the result is all zero (RFC
    // 7748 section 6.1); the key itself was validated when it was parsed.
    if (priv->kty == SS_KTY_OKP) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "X25519 shared secret is all zero (low-order public key)");
    } else {
      ss_status_set(st, GRPC_STATUS_INTERNAL, "ECDH: key agreement failed");
    }
    goto err;
  }
  if (len != want) {
    ss_status_set(st, GRPC_STATUS_INTERNAL,
                  "ECDH: shared secret is %zu bytes, expected %zu", len, want);
    goto err;
  }
  if (priv->kty == SS_KTY_OKP) {
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++) {
      acc |= dst[i];
    }
    if (acc == 0) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "X25519 shared secret is all zero (low-order public key)");
      goto err;
    }
  }
  ss_buf_advance(out, len);
  ok = 1;

err:
  if (!ok) {
    ss_buf_reset(out);  // wipes anything derived
    ERR_clear_error();
  }
  EVP_PKEY_CTX_free(ctx);
  return ok;
}
