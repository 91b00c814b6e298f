// JSON Web Keys: the members of RFC 7517, the RSA, EC and oct key types of
// RFC 7518 section 6, OKP X25519 keys (RFC 8037 section 2) and RFC 7638
// thumbprints.
//
// JWK text, and jansson objects handed to ss__jwk_from_json, are untrusted.
// A key exists only after its members have been type- and size-checked, its
// public part validated (RSA size and exponent, EC point on its curve, X25519
// length) and its private part checked against the public one. Private bytes
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
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jose/b64url.h"
#include "lib/jose/json.h"
#include "lib/jose/jwk_internal.h"

// The longest base64url member accepted, in decoded bytes. Twice the largest
// supported RSA modulus, so that a modulus slightly too large still gets a
// message naming its size.
#define SS_JWK_MEMBER_MAX 2048

#define SS_RSA_MIN_BITS 2048
#define SS_RSA_MAX_BITS 8192
// BoringSSL refuses RSA public exponents over 33 bits and OpenSSL does not;
// refusing them at parse time makes both builds accept the same keys.
#define SS_RSA_MAX_E_BITS 33

#define SS_X25519_LEN 32
#define SS_THUMBPRINT_LEN 32

typedef struct ec_curve {
  const char *name;  // "crv" value
  int nid;
  size_t len;  // bytes in "x", "y" and "d" (RFC 7518 sections 6.2.1.2, 6.2.2.1)
  unsigned bits;  // field size
} ec_curve;

static const ec_curve kCurves[] = {
    {"P-256", NID_X9_62_prime256v1, 32, 256},
    {"P-384", NID_secp384r1, 48, 384},
    {"P-521", NID_secp521r1, 66, 521},
};

// RFC 7517 section 4.3. A key's "key_ops" are kept as indexes into this table.
static const char *const kKeyOps[] = {
    "sign",    "verify",    "encrypt",   "decrypt",
    "wrapKey", "unwrapKey", "deriveKey", "deriveBits",
};
#define SS_NUM_KEY_OPS (sizeof(kKeyOps) / sizeof(kKeyOps[0]))
#define SS_OP_BIT(i) (1u << (i))
#define SS_OPS_FOR_ENCRYPT \
  (SS_OP_BIT(2) | SS_OP_BIT(4) | SS_OP_BIT(6) | SS_OP_BIT(7))
#define SS_OPS_FOR_DECRYPT \
  (SS_OP_BIT(3) | SS_OP_BIT(5) | SS_OP_BIT(6) | SS_OP_BIT(7))

static const char *const kKtyNames[] = {"RSA", "EC", "OKP", "oct"};

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

// RSA private members, in the order RSA_set0_* takes them after "d".
static const char *const kRsaPrivate[] = {"d", "p", "q", "dp", "dq", "qi"};
#define SS_RSA_NUM_PRIVATE 6

struct ss_jwk {
  ss_kty kty;
  int is_private;      // holds "d", or is an oct key
  const char *crv;     // static curve name; NULL for RSA and oct
  const ec_curve *ec;  // EC curve; NULL for other key types
  unsigned bits;       // see ss_jwk_bits
  EVP_PKEY *pkey;      // owned; NULL for oct keys
  uint8_t *oct;        // owned secret, wiped before free; oct keys only
  size_t oct_len;      // bytes in oct
  uint8_t thumbprint[SS_THUMBPRINT_LEN];  // RFC 7638, SHA-256
  char *kid;           // owned; explicit "kid" or base64url thumbprint
  int has_kid;         // "kid" was given explicitly
  char *use;           // owned "use", or NULL
  char *alg;           // owned "alg", or NULL
  int has_key_ops;     // "key_ops" was given (possibly empty)
  size_t num_key_ops;  // entries in key_ops
  uint8_t key_ops[SS_NUM_KEY_OPS];  // indexes into kKeyOps, in given order
};

static int oom(ss_status *st, const char *what) {
  return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "%s: out of memory",
                       what);
}

// mark_secret asks OpenSSL for constant-time arithmetic on |bn|. BoringSSL
// has no such flag; the only variable-time arithmetic on secrets here is the
// one-off consistency check of a key being loaded.
static void mark_secret(BIGNUM *bn) {
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

static const ec_curve *curve_by_name(const char *name) {
  for (size_t i = 0; i < sizeof(kCurves) / sizeof(kCurves[0]); i++) {
    if (strcmp(kCurves[i].name, name) == 0) {
      return &kCurves[i];
    }
  }
  return NULL;
}

// key_name names a key's type for messages: its curve, or its kty.
static const char *key_name(const ss_jwk *jwk) {
  return jwk->crv != NULL ? jwk->crv : kKtyNames[jwk->kty];
}

// --- Reading members ---

// get_member decodes the base64url member |name| into |out| (reset first),
// refusing encodings longer than SS_JWK_MEMBER_MAX bytes before decoding.
static int get_member(const json_t *obj, const char *name, int required,
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
  for (size_t i = 0; i < SS_NUM_KEY_OPS; i++) {
    if (strlen(kKeyOps[i]) == len && memcmp(kKeyOps[i], op, len) == 0) {
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
    return oom(st, what);
  }
  if (!ss_json_get_string(obj, "alg", 0, what, &value, &len, st)) {
    return 0;
  }
  if (value != NULL && (jwk->alg = dup_string(value, len)) == NULL) {
    return oom(st, what);
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
      return oom(st, what);
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
    // Refusing repeats also bounds num_key_ops by SS_NUM_KEY_OPS.
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

// --- RSA ---

// get_uint decodes the Base64urlUInt member |name| (RFC 7518 section 2) into
// a new BIGNUM. |minimal| refuses a leading zero byte, which would give one
// public key two thumbprints. |scratch| receives the bytes.
static int get_uint(const json_t *obj, const char *name, int minimal,
                    const char *what, ss_buf *scratch, BIGNUM **out,
                    ss_status *st) {
  *out = NULL;
  if (!get_member(obj, name, 1, what, scratch, NULL, st)) {
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
    return oom(st, what);
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
    oom(st, what);
    goto err;
  }
  mark_secret(t);
  mark_secret(p1);
  mark_secret(q1);

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

static int parse_rsa(ss_jwk *jwk, const json_t *obj, const char *what,
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
      mark_secret(priv[i]);
    }
    if (!rsa_check_private(n, e, priv, what, st)) {
      goto err;
    }
  }

  rsa = RSA_new();
  if (rsa == NULL || !RSA_set0_key(rsa, n, e, priv[0])) {
    oom(st, what);
    goto err;
  }
  n = e = priv[0] = NULL;  // owned by rsa
  if (num_private > 0) {
    if (!RSA_set0_factors(rsa, priv[1], priv[2])) {
      oom(st, what);
      goto err;
    }
    priv[1] = priv[2] = NULL;
    if (!RSA_set0_crt_params(rsa, priv[3], priv[4], priv[5])) {
      oom(st, what);
      goto err;
    }
    priv[3] = priv[4] = priv[5] = NULL;
  }
  jwk->pkey = EVP_PKEY_new();
  if (jwk->pkey == NULL || !EVP_PKEY_set1_RSA(jwk->pkey, rsa)) {
    oom(st, what);
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

static int check_ec_len(const ss_buf *value, const char *name,
                        const ec_curve *curve, const char *what,
                        ss_status *st) {
  if (value->len != curve->len) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: EC \"%s\" is %zu bytes; %s needs %zu", what, name,
                         value->len, curve->name, curve->len);
  }
  return 1;
}

static int parse_ec(ss_jwk *jwk, const json_t *obj, const char *what,
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
  const ec_curve *curve = curve_by_name(crv);
  if (curve == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: unsupported EC curve; expected \"P-256\", \"P-384\" or "
                  "\"P-521\"",
                  what);
    goto err;
  }
  if (!get_member(obj, "x", 1, what, &x, NULL, st) ||
      !check_ec_len(&x, "x", curve, what, st) ||
      !get_member(obj, "y", 1, what, &y, NULL, st) ||
      !check_ec_len(&y, "y", curve, what, st) ||
      !get_member(obj, "d", 0, what, &d, &has_d, st) ||
      (has_d && !check_ec_len(&d, "d", curve, what, st))) {
    goto err;
  }

  ctx = BN_CTX_new();
  field = BN_new();
  key = EC_KEY_new_by_curve_name(curve->nid);
  bx = BN_bin2bn(x.data, (int)x.len, NULL);
  by = BN_bin2bn(y.data, (int)y.len, NULL);
  if (ctx == NULL || field == NULL || key == NULL || bx == NULL || by == NULL) {
    oom(st, what);
    goto err;
  }
  const EC_GROUP *group = EC_KEY_get0_group(key);
  point = EC_POINT_new(group);
  if (point == NULL || !EC_GROUP_get_curve_GFp(group, field, NULL, NULL, ctx)) {
    oom(st, what);
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
    oom(st, what);
    goto err;
  }

  if (has_d) {
    bd = BN_bin2bn(d.data, (int)d.len, NULL);
    derived = EC_POINT_new(group);
    if (bd == NULL || derived == NULL) {
      oom(st, what);
      goto err;
    }
    mark_secret(bd);
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
      oom(st, what);
      goto err;
    }
  }
  jwk->pkey = EVP_PKEY_new();
  if (jwk->pkey == NULL || !EVP_PKEY_set1_EC_KEY(jwk->pkey, key)) {
    oom(st, what);
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

// --- OKP (X25519) and oct ---

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
  if (strcmp(crv, "X25519") != 0) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: unsupported OKP curve; expected \"X25519\"", what);
    goto err;
  }
  if (!get_member(obj, "x", 1, what, &x, NULL, st)) {
    goto err;
  }
  if (x.len != SS_X25519_LEN) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: X25519 \"x\" is %zu bytes; %d required", what, x.len,
                  SS_X25519_LEN);
    goto err;
  }
  if (!get_member(obj, "d", 0, what, &d, &has_d, st)) {
    goto err;
  }
  if (has_d && d.len != SS_X25519_LEN) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: X25519 \"d\" is %zu bytes; %d required", what, d.len,
                  SS_X25519_LEN);
    goto err;
  }
  if (has_d) {
    jwk->pkey =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, d.data, d.len);
    uint8_t pub[SS_X25519_LEN];
    size_t pub_len = sizeof(pub);
    if (jwk->pkey == NULL ||
        !EVP_PKEY_get_raw_public_key(jwk->pkey, pub, &pub_len) ||
        pub_len != sizeof(pub)) {
      oom(st, what);
      goto err;
    }
    if (CRYPTO_memcmp(pub, x.data, sizeof(pub)) != 0) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s: X25519 private key does not match its public key",
                    what);
      goto err;
    }
  } else {
    jwk->pkey =
        EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, x.data, x.len);
    if (jwk->pkey == NULL) {
      oom(st, what);
      goto err;
    }
  }
  jwk->crv = "X25519";
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
  if (!get_member(obj, "k", 1, what, &k, NULL, st)) {
    goto err;
  }
  if (k.len == 0) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s: oct \"k\" is empty",
                  what);
    goto err;
  }
  if (!ss_buf_release(&k, &jwk->oct, &jwk->oct_len)) {
    oom(st, what);
    goto err;
  }
  jwk->is_private = 1;
  ok = 1;
err:
  ss_buf_cleanup(&k);
  return ok;
}

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
      size_t len = SS_X25519_LEN;
      if ((m != M_X && m != M_D) || !ss_buf_reserve(out, len, &dst)) {
        return 0;
      }
      int ok = m == M_D ? EVP_PKEY_get_raw_private_key(jwk->pkey, dst, &len)
                        : EVP_PKEY_get_raw_public_key(jwk->pkey, dst, &len);
      if (!ok || len != SS_X25519_LEN) {
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
  return ok || oom(st, "JWK");
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
  return ok || oom(st, "JWK");
}

static int emit_key_ops(emitter *em, const ss_jwk *jwk, ss_status *st) {
  if (em->text != NULL) {
    int ok = emit_name(em, "key_ops") && ss_buf_append_u8(em->text, '[');
    for (size_t i = 0; i < jwk->num_key_ops; i++) {
      ok = ok && (i == 0 || ss_buf_append_u8(em->text, ',')) &&
           append_json_string(em->text, kKeyOps[jwk->key_ops[i]]);
    }
    return (ok && ss_buf_append_u8(em->text, ']')) || oom(st, "JWK");
  }
  json_t *ops = json_array();
  int ok = ops != NULL;
  for (size_t i = 0; ok && i < jwk->num_key_ops; i++) {
    ok = json_array_append_new(ops, json_string(kKeyOps[jwk->key_ops[i]])) == 0;
  }
  // json_object_set_new takes |ops| even when it fails.
  ok = ok ? json_object_set_new(em->obj, "key_ops", ops) == 0
          : (json_decref(ops), 0);
  return ok || oom(st, "JWK");
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
  if (!emit_string(em, "kty", kKtyNames[jwk->kty], st) ||
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
static int compute_thumbprint(const ss_jwk *jwk, uint8_t out[SS_THUMBPRINT_LEN],
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
           ss_buf_append_str(&text, kKtyNames[jwk->kty]) &&
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
      jwk->bits = 8 * SS_X25519_LEN;
      break;
    case SS_KTY_OCT:
      jwk->bits = (unsigned)(8 * jwk->oct_len);
      break;
  }
  if (!compute_thumbprint(jwk, jwk->thumbprint, st)) {
    return 0;
  }
  if (!jwk->has_kid) {
    size_t len = ss_b64url_encoded_len(SS_THUMBPRINT_LEN);
    jwk->kid = malloc(len + 1);
    if (jwk->kid == NULL) {
      return oom(st, "JWK");
    }
    ss_b64url_encode(jwk->kid, jwk->thumbprint, SS_THUMBPRINT_LEN);
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
    oom(st, what);
    goto done;
  }
  jwk->kty = type;
  if (!parse_common(jwk, obj, what, st)) {
    goto done;
  }
  switch (type) {
    case SS_KTY_RSA:
      ok = parse_rsa(jwk, obj, what, st);
      break;
    case SS_KTY_EC:
      ok = parse_ec(jwk, obj, what, st);
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
    oom(st, "JWK generate");
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
    const ec_curve *curve = crv != NULL ? curve_by_name(crv) : NULL;
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
    if (crv == NULL || strcmp(crv, "X25519") != 0) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "JWK generate: unsupported OKP curve; expected \"X25519\"");
      goto done;
    }
    jwk->kty = SS_KTY_OKP;
    jwk->crv = "X25519";
    jwk->pkey = keygen(EVP_PKEY_X25519, 0, 0, st);
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
      oom(st, "JWK generate");
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
  if (jwk->use != NULL && strcmp(jwk->use, "enc") != 0) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "JWK: \"use\" is not \"enc\"");
  }
  if (jwk->has_key_ops) {
    unsigned allowed =
        op == SS_JWK_OP_ENCRYPT ? SS_OPS_FOR_ENCRYPT : SS_OPS_FOR_DECRYPT;
    int permitted = 0;
    for (size_t i = 0; i < jwk->num_key_ops; i++) {
      permitted |= (allowed & SS_OP_BIT(jwk->key_ops[i])) != 0;
    }
    if (!permitted) {
      return ss_status_set(
          st, GRPC_STATUS_FAILED_PRECONDITION,
          "JWK: \"key_ops\" allows none of %s, deriveKey or deriveBits",
          op == SS_JWK_OP_ENCRYPT ? "wrapKey, encrypt" : "unwrapKey, decrypt");
    }
  }
  if (jwk->alg != NULL && (alg == NULL || strcmp(jwk->alg, alg) != 0)) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "JWK: key \"alg\" is \"%.40s\", not \"%.40s\"",
                         jwk->alg, alg != NULL ? alg : "(none)");
  }
  return 1;
}

char *ss_jwk_to_json(const ss_jwk *jwk, int include_private, ss_status *st) {
  ss_buf text;
  ss_buf_init(&text, 0);
  emitter em = {&text, NULL, 0};
  uint8_t *data;
  size_t len;
  if (!ss_buf_append_u8(&text, '{')) {
    oom(st, "JWK");
    goto err;
  }
  if (!serialize(jwk, include_private, &em, st)) {
    goto err;
  }
  if (!ss_buf_append_u8(&text, '}') || !ss_buf_nul_terminate(&text) ||
      !ss_buf_release(&text, &data, &len)) {
    oom(st, "JWK");
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
    oom(st, "JWK");
    return NULL;
  }
  emitter em = {NULL, obj, 0};
  if (!serialize(jwk, include_private, &em, st)) {
    json_decref(obj);
    return NULL;
  }
  return obj;
}

int ss_jwk_thumbprint(const ss_jwk *jwk, uint8_t out[32], ss_status *st) {
  (void)st;  // computed when the key was made
  memcpy(out, jwk->thumbprint, SS_THUMBPRINT_LEN);
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
  size_t want = priv->kty == SS_KTY_EC ? priv->ec->len : SS_X25519_LEN;
  size_t len = want;
  ctx = EVP_PKEY_CTX_new(priv->pkey, NULL);
  if (ctx == NULL || EVP_PKEY_derive_init(ctx) <= 0) {
    oom(st, "ECDH");
    goto err;
  }
  if (EVP_PKEY_derive_set_peer(ctx, peer->pkey) <= 0) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "ECDH: the peer key was refused");
    goto err;
  }
  if (!ss_buf_reserve(out, want, &dst)) {
    oom(st, "ECDH");
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
