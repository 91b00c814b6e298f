// Writing JWKs back out: compact JSON text or jansson objects in RFC 7517
// member order, and RFC 7638 thumbprints. Private members are written only
// when asked for, into wiped ss_bufs or jansson objects (which ss_json_init
// makes wipe what they free).
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <string.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "lib/jose/b64url.h"
#include "lib/jose/json.h"
#include "lib/jose/jwk.h"
#include "lib/jose/jwk_internal.h"

// The byte-string members of all key types, in serialization order per type.
typedef enum member {
  M_N,
  M_E,
  M_D,
  M_P,
  M_Q,
  M_DP,
  M_DQ,
  M_QI,
  M_X,
  M_Y,
  M_K,
} member;

static const char *const kMemberNames[] = {"n",  "e",  "d", "p", "q", "dp",
                                           "dq", "qi", "x", "y", "k"};

// --- Reading a key's members back ---

static int append_bn(ss_buf *out, const BIGNUM *bn, size_t fixed_len) {
  if (bn == NULL) {
    return 0;
  }
  size_t len = fixed_len != 0 ? fixed_len : (size_t)BN_num_bytes(bn);
  uint8_t *dst;
  if (len == 0 || !ss_buf_reserve(out, len, &dst)) {
    return 0;
  }
  if (fixed_len != 0) {
    if (BN_bn2binpad(bn, dst, (int)len) != (int)len) {
      return 0;
    }
  } else {
    BN_bn2bin(bn, dst);
  }
  ss_buf_advance(out, len);
  return 1;
}

// member_bytes writes member |m| of |jwk| to |out| (reset first). Returns 1,
// or 0 when the key lacks it or memory is short.
static int member_bytes(const ss_jwk *jwk, member m, ss_buf *out) {
  ss_buf_reset(out);
  switch (jwk->kty) {
    case SS_KTY_RSA: {
      const RSA *rsa = EVP_PKEY_get0_RSA(jwk->pkey);
      const BIGNUM *v[M_QI + 1] = {NULL};
      if (rsa == NULL || m > M_QI) {
        return 0;
      }
      RSA_get0_key(rsa, &v[M_N], &v[M_E], &v[M_D]);
      RSA_get0_factors(rsa, &v[M_P], &v[M_Q]);
      RSA_get0_crt_params(rsa, &v[M_DP], &v[M_DQ], &v[M_QI]);
      return append_bn(out, v[m], 0);
    }
    case SS_KTY_EC: {
      const EC_KEY *key = EVP_PKEY_get0_EC_KEY(jwk->pkey);
      if (key == NULL) {
        return 0;
      }
      if (m == M_D) {
        return append_bn(out, EC_KEY_get0_private_key(key), jwk->ec->len);
      }
      if (m != M_X && m != M_Y) {
        return 0;
      }
      BIGNUM *x = BN_new();
      BIGNUM *y = BN_new();
      int ok = x != NULL && y != NULL &&
               EC_POINT_get_affine_coordinates_GFp(EC_KEY_get0_group(key),
                                                   EC_KEY_get0_public_key(key),
                                                   x, y, NULL) &&
               append_bn(out, m == M_X ? x : y, jwk->ec->len);
      BN_free(x);
      BN_free(y);
      return ok;
    }
    case SS_KTY_OKP: {
      uint8_t *dst;
      size_t len = SS_JWK_OKP_LEN;
      if ((m != M_X && m != M_D) || !ss_buf_reserve(out, len, &dst)) {
        return 0;
      }
      int ok = m == M_D ? EVP_PKEY_get_raw_private_key(jwk->pkey, dst, &len)
                        : EVP_PKEY_get_raw_public_key(jwk->pkey, dst, &len);
      if (!ok || len != SS_JWK_OKP_LEN) {
        return 0;
      }
      ss_buf_advance(out, len);
      return 1;
    }
    case SS_KTY_OCT:
      return m == M_K && ss_buf_append(out, jwk->oct, jwk->oct_len);
  }
  return 0;  // not reached: every ss_kty is handled above
}

// --- JSON text output ---

// append_json_string appends |s| as a JSON string. Key metadata came through
// jansson, which checked it is UTF-8 without NUL, so only quotes, backslashes
// and control characters need escapes.
static int append_json_string(ss_buf *buf, const char *s) {
  static const char kHex[] = "0123456789abcdef";
  int ok = ss_buf_append_u8(buf, '"');
  for (; *s != '\0'; s++) {
    uint8_t c = (uint8_t)*s;
    if (c == '"' || c == '\\') {
      ok = ok && ss_buf_append_u8(buf, '\\') && ss_buf_append_u8(buf, c);
    } else if (c < 0x20) {
      const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
      ok = ok && ss_buf_append(buf, esc, sizeof(esc));
    } else {
      ok = ok && ss_buf_append_u8(buf, c);
    }
  }
  return ok && ss_buf_append_u8(buf, '"');
}

// The serializer writes either compact JSON text (which may hold secrets and
// so lives in a wiped ss_buf) or a jansson object.
typedef struct emitter {
  ss_buf *text;  // text under construction (after its '{'), or NULL
  json_t *obj;   // object under construction, or NULL
  int any;       // a member was written, so text needs a comma next
} emitter;

static int emit_name(emitter *em, const char *name) {
  int ok = !em->any || ss_buf_append_u8(em->text, ',');
  em->any = 1;
  return ok && append_json_string(em->text, name) &&
         ss_buf_append_u8(em->text, ':');
}

static int emit_string(emitter *em, const char *name, const char *value,
                       ss_status *st) {
  int ok;
  if (em->text != NULL) {
    ok = emit_name(em, name) && append_json_string(em->text, value);
  } else {
    ok = json_object_set_new(em->obj, name, json_string(value)) == 0;
  }
  return ok || ss__jwk_oom(st, "JWK");
}

static int emit_member(emitter *em, const ss_jwk *jwk, member m,
                       ss_buf *scratch, ss_status *st) {
  const char *name = kMemberNames[m];
  if (!member_bytes(jwk, m, scratch)) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL,
                         "JWK: cannot read \"%s\" from the key", name);
  }
  if (em->text == NULL) {
    return ss_json_set_b64(em->obj, name, scratch->data, scratch->len, st);
  }
  int ok = emit_name(em, name) && ss_buf_append_u8(em->text, '"') &&
           ss_b64url_encode_to(em->text, scratch->data, scratch->len, st) &&
           ss_buf_append_u8(em->text, '"');
  return ok || ss__jwk_oom(st, "JWK");
}

static int emit_key_ops(emitter *em, const ss_jwk *jwk, ss_status *st) {
  if (em->text != NULL) {
    int ok = emit_name(em, "key_ops") && ss_buf_append_u8(em->text, '[');
    for (size_t i = 0; i < jwk->num_key_ops; i++) {
      ok = ok && (i == 0 || ss_buf_append_u8(em->text, ',')) &&
           append_json_string(em->text, ss__jwk_key_ops[jwk->key_ops[i]]);
    }
    return (ok && ss_buf_append_u8(em->text, ']')) || ss__jwk_oom(st, "JWK");
  }
  json_t *ops = json_array();
  int ok = ops != NULL;
  for (size_t i = 0; ok && i < jwk->num_key_ops; i++) {
    ok = json_array_append_new(
             ops, json_string(ss__jwk_key_ops[jwk->key_ops[i]])) == 0;
  }
  // json_object_set_new takes |ops| even when it fails.
  ok = ok ? json_object_set_new(em->obj, "key_ops", ops) == 0
          : (json_decref(ops), 0);
  return ok || ss__jwk_oom(st, "JWK");
}

// serialize writes |jwk| in the member order of RFC 7517's examples: "kty",
// the key-type members in RFC 7518's order (public, then private), then
// "use", "key_ops", "alg" and "kid" in the order RFC 7517 section 4 defines
// them. "kid" is written only when it was given explicitly.
static int serialize(const ss_jwk *jwk, int include_private, emitter *em,
                     ss_status *st) {
  static const member kRsaPublic[] = {M_N, M_E};
  static const member kRsaPrivateMembers[] = {M_D, M_P, M_Q, M_DP, M_DQ, M_QI};
  static const member kEcPublic[] = {M_X, M_Y};
  static const member kOkpPublic[] = {M_X};
  static const member kD[] = {M_D};
  static const member kK[] = {M_K};
  const member *pub = NULL, *priv = NULL;
  size_t num_pub = 0, num_priv = 0;

  if (include_private && !jwk->is_private) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWK: a public key has no private members to "
                         "serialize");
  }
  if (jwk->kty == SS_KTY_OCT && !include_private) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "JWK: a symmetric (oct) key has no public part");
  }
  switch (jwk->kty) {
    case SS_KTY_RSA:
      pub = kRsaPublic;
      num_pub = 2;
      priv = kRsaPrivateMembers;
      num_priv = 6;
      break;
    case SS_KTY_EC:
      pub = kEcPublic;
      num_pub = 2;
      priv = kD;
      num_priv = 1;
      break;
    case SS_KTY_OKP:
      pub = kOkpPublic;
      num_pub = 1;
      priv = kD;
      num_priv = 1;
      break;
    case SS_KTY_OCT:
      priv = kK;
      num_priv = 1;
      break;
  }

  int ok = 0;
  ss_buf scratch;
  ss_buf_init(&scratch, 0);
  if (!emit_string(em, "kty", ss__jwk_kty_names[jwk->kty], st) ||
      (jwk->crv != NULL && !emit_string(em, "crv", jwk->crv, st))) {
    goto err;
  }
  for (size_t i = 0; i < num_pub; i++) {
    if (!emit_member(em, jwk, pub[i], &scratch, st)) {
      goto err;
    }
  }
  for (size_t i = 0; include_private && i < num_priv; i++) {
    if (!emit_member(em, jwk, priv[i], &scratch, st)) {
      goto err;
    }
  }
  if ((jwk->use != NULL && !emit_string(em, "use", jwk->use, st)) ||
      (jwk->has_key_ops && !emit_key_ops(em, jwk, st)) ||
      (jwk->alg != NULL && !emit_string(em, "alg", jwk->alg, st)) ||
      (jwk->has_kid && !emit_string(em, "kid", jwk->kid, st))) {
    goto err;
  }
  ok = 1;
err:
  ss_buf_cleanup(&scratch);
  return ok;
}

// --- Thumbprints and construction ---

static int append_thumbprint_member(ss_buf *text, const ss_jwk *jwk, member m,
                                    ss_buf *scratch, ss_status *st) {
  return member_bytes(jwk, m, scratch) && ss_buf_append_u8(text, '"') &&
         ss_buf_append_str(text, kMemberNames[m]) &&
         ss_buf_append_str(text, "\":\"") &&
         ss_b64url_encode_to(text, scratch->data, scratch->len, st) &&
         ss_buf_append_u8(text, '"');
}

// compute_thumbprint hashes the RFC 7638 section 3.2 form of |jwk|: required
// members only, sorted by name, no whitespace. crv and kty values need no
// escaping.
int ss__jwk_compute_thumbprint(const ss_jwk *jwk,
                               uint8_t out[SS_JWK_THUMBPRINT_LEN],
                               ss_status *st) {
  ss_buf text, scratch;
  ss_buf_init(&text, 0);
  ss_buf_init(&scratch, 0);
  int ok = ss_buf_append_u8(&text, '{');
  switch (jwk->kty) {
    case SS_KTY_RSA:
      ok = ok && append_thumbprint_member(&text, jwk, M_E, &scratch, st) &&
           ss_buf_append_str(&text, ",\"kty\":\"RSA\",") &&
           append_thumbprint_member(&text, jwk, M_N, &scratch, st);
      break;
    case SS_KTY_EC:
    case SS_KTY_OKP:
      ok = ok && ss_buf_append_str(&text, "\"crv\":\"") &&
           ss_buf_append_str(&text, jwk->crv) &&
           ss_buf_append_str(&text, "\",\"kty\":\"") &&
           ss_buf_append_str(&text, ss__jwk_kty_names[jwk->kty]) &&
           ss_buf_append_str(&text, "\",") &&
           append_thumbprint_member(&text, jwk, M_X, &scratch, st);
      if (jwk->kty == SS_KTY_EC) {
        ok = ok && ss_buf_append_u8(&text, ',') &&
             append_thumbprint_member(&text, jwk, M_Y, &scratch, st);
      }
      break;
    case SS_KTY_OCT:
      ok = ok && append_thumbprint_member(&text, jwk, M_K, &scratch, st) &&
           ss_buf_append_str(&text, ",\"kty\":\"oct\"");
      break;
  }
  ok = ok && ss_buf_append_u8(&text, '}');
  if (ok) {
    SHA256(text.data, text.len, out);
  } else {
    ss_status_set(st, GRPC_STATUS_INTERNAL,
                  "JWK: cannot compute the key's thumbprint");
  }
  // For oct keys the text holds the secret.
  ss_buf_cleanup(&text);
  ss_buf_cleanup(&scratch);
  return ok;
}

char *ss_jwk_to_json(const ss_jwk *jwk, int include_private, ss_status *st) {
  ss_buf text;
  ss_buf_init(&text, 0);
  emitter em = {&text, NULL, 0};
  uint8_t *data;
  size_t len;
  if (!ss_buf_append_u8(&text, '{')) {
    ss__jwk_oom(st, "JWK");
    goto err;
  }
  if (!serialize(jwk, include_private, &em, st)) {
    goto err;
  }
  if (!ss_buf_append_u8(&text, '}') || !ss_buf_nul_terminate(&text) ||
      !ss_buf_release(&text, &data, &len)) {
    ss__jwk_oom(st, "JWK");
    goto err;
  }
  return (char *)data;
err:
  ss_buf_cleanup(&text);
  return NULL;
}

json_t *ss__jwk_to_json_object(const ss_jwk *jwk, int include_private,
                               ss_status *st) {
  // The object may hold private members: make jansson wipe them when freed.
  ss_json_init();
  json_t *obj = json_object();
  if (obj == NULL) {
    ss__jwk_oom(st, "JWK");
    return NULL;
  }
  emitter em = {NULL, obj, 0};
  if (!serialize(jwk, include_private, &em, st)) {
    json_decref(obj);
    return NULL;
  }
  return obj;
}
