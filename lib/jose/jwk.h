// JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037) and thumbprints
// (RFC 7638).
//
// Supported: RSA (n, e; private d, p, q, dp, dq, qi), EC P-256/P-384/P-521
// (x, y; private d), OKP X25519 and Ed25519 (x; private d) and oct (k).
// Parsing validates everything a JWE or JWS could be attacked through: RSA
// modulus 2048..8192 bits, e odd and > 1; EC coordinates no longer than the
// curve's size and the point on the curve; OKP keys of 32 bytes; private
// parts consistent with public ones. JWK JSON is untrusted input.
//
// EC "x" and "y" shorter than the field size (some libraries drop leading
// zero bytes, against RFC 7518 section 6.2.1.2; it happens to 1 in 256 P-521
// coordinates) are accepted and left-padded; "d" must have its full length.
// Serialization always writes full-size coordinates, and the thumbprint is
// that of the full-size form.
#ifndef SEALSTREAM_LIB_JOSE_JWK_H
#define SEALSTREAM_LIB_JOSE_JWK_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// The largest JWK text accepted (an RSA-8192 private key is ~6.3 KB).
#define SS_JWK_MAX_JSON 16384

typedef enum ss_kty {
  SS_KTY_RSA,
  SS_KTY_EC,
  SS_KTY_OKP,
  SS_KTY_OCT,
} ss_kty;

// What a key is about to be used for, checked against "use" and "key_ops".
typedef enum ss_jwk_op {
  SS_JWK_OP_ENCRYPT,  // wrap a CEK for the key's owner (public side)
  SS_JWK_OP_DECRYPT,  // unwrap a CEK (private or secret side)
  SS_JWK_OP_SIGN,     // make a JWS signature (private side)
  SS_JWK_OP_VERIFY,   // check a JWS signature (public side)
} ss_jwk_op;

typedef struct ss_jwk ss_jwk;

// ss_jwk_parse parses one JWK from |json_len| bytes of |json| (no NUL
// needed). Returns a new key (free with ss_jwk_free), or NULL with
// INVALID_ARGUMENT saying what is wrong, e.g. "JWK: RSA modulus is 1024 bits;
// at least 2048 required" or "JWK: EC point is not on curve P-256".
ss_jwk *ss_jwk_parse(const char *json, size_t json_len, ss_status *st);

// ss_jwk_generate makes a new private key: |kty| "RSA" with |bits| 2048,
// 3072 or 4096; "EC" with |crv| "P-256", "P-384" or "P-521"; "OKP" with |crv|
// "X25519" or "Ed25519"; "oct" with |bits| 128, 192, 256, 384 or 512. Unused
// arguments may be 0/NULL. Returns NULL with INVALID_ARGUMENT for other values.
ss_jwk *ss_jwk_generate(const char *kty, const char *crv, unsigned bits,
                        ss_status *st);

// ss_jwk_free wipes private material and frees |jwk|. NULL is ignored.
void ss_jwk_free(ss_jwk *jwk);

// ss_jwk_public returns a new key holding only the public members of |jwk|
// (kid, use, key_ops and alg are kept). For oct keys this is an error
// (INVALID_ARGUMENT: a symmetric key has no public part).
ss_jwk *ss_jwk_public(const ss_jwk *jwk, ss_status *st);

ss_kty ss_jwk_kty(const ss_jwk *jwk);

// ss_jwk_crv returns "P-256", "P-384", "P-521", "X25519" or "Ed25519", or NULL
// for RSA and oct keys. Borrowed from |jwk|.
const char *ss_jwk_crv(const ss_jwk *jwk);

// ss_jwk_is_private returns 1 if |jwk| holds private (or, for oct, secret)
// material.
int ss_jwk_is_private(const ss_jwk *jwk);

// ss_jwk_kid returns the key's "kid", or its RFC 7638 thumbprint (base64url
// of SHA-256) when it has none. Never NULL; borrowed from |jwk|.
const char *ss_jwk_kid(const ss_jwk *jwk);

// ss_jwk_alg returns the key's own "alg" member, or NULL when absent.
const char *ss_jwk_alg(const ss_jwk *jwk);

// ss_jwk_bits returns the RSA modulus size, the curve's field size, 256 for
// X25519 and Ed25519, or the oct key length in bits.
unsigned ss_jwk_bits(const ss_jwk *jwk);

// ss_jwk_check_use checks that |jwk| may be used with algorithm |alg| (a JWE
// key-management alg, or a JWS alg) for |op|, in this order: an Ed25519 key
// is only for SS_JWK_OP_SIGN/VERIFY and an X25519 key never is (RFC 8037
// section 3); "use", when present, must be "enc" for ENCRYPT/DECRYPT and
// "sig" for SIGN/VERIFY; "key_ops", when present, must allow the operation
// (wrapKey/encrypt/deriveKey/deriveBits for ENCRYPT, unwrapKey/decrypt/
// deriveKey/deriveBits for DECRYPT, sign for SIGN, verify for VERIFY); the
// key's own "alg", when present, must equal |alg|. Whether the key type fits
// |alg| is the caller's check. Returns 1, or 0 with FAILED_PRECONDITION
// saying which rule refused.
int ss_jwk_check_use(const ss_jwk *jwk, const char *alg, ss_jwk_op op,
                     ss_status *st);

// ss_jwk_to_json serializes |jwk| as compact JSON with members in RFC 7517
// order; private members only when |include_private| (an error for a public
// key). Returns a malloc'd NUL-terminated string (wipe with OPENSSL_cleanse
// before free() when it holds private members), or NULL with |st| set.
char *ss_jwk_to_json(const ss_jwk *jwk, int include_private, ss_status *st);

// ss_jwk_thumbprint writes the RFC 7638 SHA-256 thumbprint (32 bytes) of
// |jwk| to |out|. Returns 1, or 0 with |st| set.
int ss_jwk_thumbprint(const ss_jwk *jwk, uint8_t out[32], ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_JWK_H
