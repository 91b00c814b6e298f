// Importing the BIGNUM-based JWK key types: RSA (RFC 7518 section 6.3) and
// EC P-256/P-384/P-521 (section 6.2). The JSON objects are untrusted: every
// value is size-checked, the RSA modulus and exponent bounded, EC points
// checked to lie on their curve, and private parts checked against the public
// ones. Private values pass only through wiped ss_bufs and cleared BIGNUMs.
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include <string.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "lib/jose/json.h"
#include "lib/jose/jwk.h"
#include "lib/jose/jwk_internal.h"

#define SS_RSA_MIN_BITS 2048
#define SS_RSA_MAX_BITS 8192
// BoringSSL refuses RSA public exponents over 33 bits and OpenSSL does not;
// refusing them at parse time makes both builds accept the same keys.
#define SS_RSA_MAX_E_BITS 33

// RSA private members, in the order RSA_set0_* takes them after "d".
static const char *const kRsaPrivate[] = {"d", "p", "q", "dp", "dq", "qi"};
#define SS_RSA_NUM_PRIVATE 6

// --- RSA ---

// get_uint decodes the Base64urlUInt member |name| (RFC 7518 section 2) into
// a new BIGNUM. |minimal| refuses a leading zero byte, which would give one
// public key two thumbprints. |scratch| receives the bytes.
static int get_uint(const json_t *obj, const char *name, int minimal,
                    const char *what, ss_buf *scratch, BIGNUM **out,
                    ss_status *st) {
  *out = NULL;
  if (!ss__jwk_get_member(obj, name, 1, what, scratch, NULL, st)) {
    return 0;
  }
  if (scratch->len == 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: RSA \"%s\" is empty", what, name);
  }
  if (minimal && scratch->data[0] == 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: RSA \"%s\" has a leading zero byte", what, name);
  }
  *out = BN_bin2bn(scratch->data, (int)scratch->len, NULL);
  if (*out == NULL) {
    return ss__jwk_oom(st, what);
  }
  return 1;
}

// rsa_check_private checks that the private members |priv| (d, p, q, dp, dq,
// qi) belong to the public key (n, e): n = pq, d < n, dp = d mod (p-1),
// dq = d mod (q-1), e*dp = 1 mod (p-1), e*dq = 1 mod (q-1), and
// qi*q = 1 mod p with qi < p. Primality is not tested: a key holder who
// supplies composite factors only weakens their own key.
static int rsa_check_private(const BIGNUM *n, const BIGNUM *e,
                             BIGNUM *const priv[SS_RSA_NUM_PRIVATE],
                             const char *what, ss_status *st) {
  const BIGNUM *d = priv[0], *p = priv[1], *q = priv[2];
  const BIGNUM *dp = priv[3], *dq = priv[4], *qi = priv[5];
  int ok = 0;
  BN_CTX *ctx = BN_CTX_new();
  BIGNUM *t = BN_new();
  BIGNUM *p1 = BN_new();
  BIGNUM *q1 = BN_new();
  if (ctx == NULL || t == NULL || p1 == NULL || q1 == NULL) {
    ss__jwk_oom(st, what);
    goto err;
  }
  ss__jwk_mark_secret(t);
  ss__jwk_mark_secret(p1);
  ss__jwk_mark_secret(q1);

  if (BN_cmp(p, BN_value_one()) <= 0 || BN_cmp(q, BN_value_one()) <= 0) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: RSA factors do not match the modulus", what);
    goto err;
  }
  if (!BN_mul(t, p, q, ctx)) {
    goto internal;
  }
  if (BN_cmp(t, n) != 0) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: RSA factors do not match the modulus", what);
    goto err;
  }
  if (!BN_sub(p1, p, BN_value_one()) || !BN_sub(q1, q, BN_value_one())) {
    goto internal;
  }
  int consistent = BN_cmp(d, n) < 0;
  if (consistent) {
    if (!BN_mod(t, d, p1, ctx)) {
      goto internal;
    }
    consistent = BN_cmp(t, dp) == 0;
  }
  if (consistent) {
    if (!BN_mod(t, d, q1, ctx)) {
      goto internal;
    }
    consistent = BN_cmp(t, dq) == 0;
  }
  if (consistent) {
    if (!BN_mod_mul(t, e, dp, p1, ctx)) {
      goto internal;
    }
    consistent = BN_is_one(t);
  }
  if (consistent) {
    if (!BN_mod_mul(t, e, dq, q1, ctx)) {
      goto internal;
    }
    consistent = BN_is_one(t);
  }
  if (consistent) {
    consistent = BN_cmp(qi, p) < 0;
  }
  if (consistent) {
    if (!BN_mod_mul(t, qi, q, p, ctx)) {
      goto internal;
    }
    consistent = BN_is_one(t);
  }
  if (!consistent) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: RSA private exponents do not match the key", what);
    goto err;
  }
  ok = 1;
  goto err;

internal:
  ss_status_set(st, GRPC_STATUS_INTERNAL, "%s: RSA key check failed", what);
err:
  BN_clear_free(t);
  BN_clear_free(p1);
  BN_clear_free(q1);
  BN_CTX_free(ctx);
  return ok;
}

int ss__jwk_parse_rsa(ss_jwk *jwk, const json_t *obj, const char *what,
                      ss_status *st) {
  int ok = 0;
  ss_buf scratch;
  ss_buf_init(&scratch, 0);
  BIGNUM *n = NULL, *e = NULL;
  BIGNUM *priv[SS_RSA_NUM_PRIVATE] = {NULL};
  RSA *rsa = NULL;

  if (json_object_get(obj, "oth") != NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: RSA keys with more than two primes (\"oth\") are not "
                  "supported",
                  what);
    goto err;
  }
  if (!get_uint(obj, "n", 1, what, &scratch, &n, st)) {
    goto err;
  }
  unsigned n_bits = (unsigned)BN_num_bits(n);
  if (n_bits < SS_RSA_MIN_BITS) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: RSA modulus is %u bits; at least %d required", what,
                  n_bits, SS_RSA_MIN_BITS);
    goto err;
  }
  if (n_bits > SS_RSA_MAX_BITS) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: RSA modulus is %u bits; at most %d supported", what,
                  n_bits, SS_RSA_MAX_BITS);
    goto err;
  }
  if (!BN_is_odd(n)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s: RSA modulus is even",
                  what);
    goto err;
  }
  if (!get_uint(obj, "e", 1, what, &scratch, &e, st)) {
    goto err;
  }
  if (!BN_is_odd(e) || BN_is_one(e)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: RSA exponent must be odd and greater than 1", what);
    goto err;
  }
  unsigned e_bits = (unsigned)BN_num_bits(e);
  if (e_bits > SS_RSA_MAX_E_BITS) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: RSA exponent is %u bits; at most %d supported", what,
                  e_bits, SS_RSA_MAX_E_BITS);
    goto err;
  }

  // A private key needs the whole CRT set: without p and q, each operation
  // would run without CRT and BoringSSL refuses such keys outright.
  size_t num_private = 0;
  const char *missing = NULL;
  for (size_t i = 0; i < SS_RSA_NUM_PRIVATE; i++) {
    if (json_object_get(obj, kRsaPrivate[i]) != NULL) {
      num_private++;
    } else if (missing == NULL) {
      missing = kRsaPrivate[i];
    }
  }
  if (num_private > 0 && missing != NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: private RSA key needs \"d\", \"p\", \"q\", \"dp\", "
                  "\"dq\" and \"qi\"; \"%s\" is missing",
                  what, missing);
    goto err;
  }
  if (num_private > 0) {
    // Leading zero bytes are tolerated here: they change no thumbprint, and
    // some encoders pad private values to a fixed length.
    for (size_t i = 0; i < SS_RSA_NUM_PRIVATE; i++) {
      if (!get_uint(obj, kRsaPrivate[i], 0, what, &scratch, &priv[i], st)) {
        goto err;
      }
      ss__jwk_mark_secret(priv[i]);
    }
    if (!rsa_check_private(n, e, priv, what, st)) {
      goto err;
    }
  }

  rsa = RSA_new();
  if (rsa == NULL || !RSA_set0_key(rsa, n, e, priv[0])) {
    ss__jwk_oom(st, what);
    goto err;
  }
  n = e = priv[0] = NULL;  // owned by rsa
  if (num_private > 0) {
    if (!RSA_set0_factors(rsa, priv[1], priv[2])) {
      ss__jwk_oom(st, what);
      goto err;
    }
    priv[1] = priv[2] = NULL;
    if (!RSA_set0_crt_params(rsa, priv[3], priv[4], priv[5])) {
      ss__jwk_oom(st, what);
      goto err;
    }
    priv[3] = priv[4] = priv[5] = NULL;
  }
  jwk->pkey = EVP_PKEY_new();
  if (jwk->pkey == NULL || !EVP_PKEY_set1_RSA(jwk->pkey, rsa)) {
    ss__jwk_oom(st, what);
    goto err;
  }
  jwk->is_private = num_private > 0;
  ok = 1;

err:
  BN_free(n);
  BN_free(e);
  for (size_t i = 0; i < SS_RSA_NUM_PRIVATE; i++) {
    BN_clear_free(priv[i]);
  }
  RSA_free(rsa);
  ss_buf_cleanup(&scratch);
  return ok;
}

// --- EC ---

// check_ec_len checks the length of member |name|. A coordinate (|is_coord|)
// may be shorter than the curve's size, as some encoders drop its leading
// zero bytes; BN_bin2bn reads it as if left-padded, and what we write back is
// full size.
static int check_ec_len(const ss_buf *value, const char *name, int is_coord,
                        const ss__jwk_curve *curve, const char *what,
                        ss_status *st) {
  if (value->len == curve->len ||
      (is_coord && value->len > 0 && value->len < curve->len)) {
    return 1;
  }
  return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "%s: EC \"%s\" is %zu bytes; %s needs %s%zu", what, name,
                       value->len, curve->name, is_coord ? "1 to " : "",
                       curve->len);
}

int ss__jwk_parse_ec(ss_jwk *jwk, const json_t *obj, const char *what,
                     ss_status *st) {
  int ok = 0, has_d = 0;
  ss_buf x, y, d;
  ss_buf_init(&x, 0);
  ss_buf_init(&y, 0);
  ss_buf_init(&d, 0);
  BN_CTX *ctx = NULL;
  BIGNUM *bx = NULL, *by = NULL, *bd = NULL, *field = NULL;
  EC_KEY *key = NULL;
  EC_POINT *point = NULL, *derived = NULL;
  const char *crv;
  size_t crv_len;

  if (!ss_json_get_string(obj, "crv", 1, what, &crv, &crv_len, st)) {
    goto err;
  }
  const ss__jwk_curve *curve = ss__jwk_curve_by_name(crv);
  if (curve == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: unsupported EC curve; expected \"P-256\", \"P-384\" or "
                  "\"P-521\"",
                  what);
    goto err;
  }
  if (!ss__jwk_get_member(obj, "x", 1, what, &x, NULL, st) ||
      !check_ec_len(&x, "x", 1, curve, what, st) ||
      !ss__jwk_get_member(obj, "y", 1, what, &y, NULL, st) ||
      !check_ec_len(&y, "y", 1, curve, what, st)) {
    goto err;
  }

  ctx = BN_CTX_new();
  field = BN_new();
  key = EC_KEY_new_by_curve_name(curve->nid);
  bx = BN_bin2bn(x.data, (int)x.len, NULL);
  by = BN_bin2bn(y.data, (int)y.len, NULL);
  if (ctx == NULL || field == NULL || key == NULL || bx == NULL || by == NULL) {
    ss__jwk_oom(st, what);
    goto err;
  }
  const EC_GROUP *group = EC_KEY_get0_group(key);
  point = EC_POINT_new(group);
  if (point == NULL || !EC_GROUP_get_curve_GFp(group, field, NULL, NULL, ctx)) {
    ss__jwk_oom(st, what);
    goto err;
  }
  // Coordinates must be canonical (below the field prime) and the point on
  // the curve; a point elsewhere would let a peer run an invalid-curve attack
  // on our private key.
  if (BN_cmp(bx, field) >= 0 || BN_cmp(by, field) >= 0 ||
      !EC_POINT_set_affine_coordinates_GFp(group, point, bx, by, ctx) ||
      EC_POINT_is_on_curve(group, point, ctx) != 1) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: EC point is not on curve %s", what, curve->name);
    goto err;
  }
  if (!EC_KEY_set_public_key(key, point)) {
    ss__jwk_oom(st, what);
    goto err;
  }
  // "d" is read once the public point is known to be good, so that a key
  // for the wrong curve gets the same message in its public and private forms.
  if (!ss__jwk_get_member(obj, "d", 0, what, &d, &has_d, st) ||
      (has_d && !check_ec_len(&d, "d", 0, curve, what, st))) {
    goto err;
  }

  if (has_d) {
    bd = BN_bin2bn(d.data, (int)d.len, NULL);
    derived = EC_POINT_new(group);
    if (bd == NULL || derived == NULL) {
      ss__jwk_oom(st, what);
      goto err;
    }
    ss__jwk_mark_secret(bd);
    if (BN_is_zero(bd) || BN_cmp(bd, EC_GROUP_get0_order(group)) >= 0) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s: EC \"d\" is out of range for %s", what, curve->name);
      goto err;
    }
    if (!EC_POINT_mul(group, derived, bd, NULL, NULL, ctx)) {
      ss_status_set(st, GRPC_STATUS_INTERNAL, "%s: EC key check failed", what);
      goto err;
    }
    if (EC_POINT_cmp(group, derived, point, ctx) != 0) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s: EC private key does not match its public key", what);
      goto err;
    }
    if (!EC_KEY_set_private_key(key, bd)) {
      ss__jwk_oom(st, what);
      goto err;
    }
  }
  jwk->pkey = EVP_PKEY_new();
  if (jwk->pkey == NULL || !EVP_PKEY_set1_EC_KEY(jwk->pkey, key)) {
    ss__jwk_oom(st, what);
    goto err;
  }
  jwk->ec = curve;
  jwk->crv = curve->name;
  jwk->is_private = has_d;
  ok = 1;

err:
  BN_free(bx);
  BN_free(by);
  BN_clear_free(bd);
  BN_free(field);
  EC_POINT_free(point);
  EC_POINT_free(derived);
  EC_KEY_free(key);
  BN_CTX_free(ctx);
  ss_buf_cleanup(&x);
  ss_buf_cleanup(&y);
  ss_buf_cleanup(&d);
  return ok;
}
