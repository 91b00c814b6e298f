// Interfaces between the JWK, JWE and JWS modules of lib/jose, and the key
// struct the files of the JWK module share. Not for callers outside lib/jose.
#ifndef SEALSTREAM_LIB_JOSE_JWK_INTERNAL_H
#define SEALSTREAM_LIB_JOSE_JWK_INTERNAL_H

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "lib/jose/jwk.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss__jwk_from_json parses a JWK already held as a jansson object (a JWKS
// entry or a header's "epk"). |what| names it in errors ("epk"). Same checks
// and result as ss_jwk_parse.
ss_jwk *ss__jwk_from_json(const json_t *obj, const char *what, ss_status *st);

// ss__jwk_to_json_object returns a new jansson object for |jwk| (see
// ss_jwk_to_json), or NULL with |st| set.
json_t *ss__jwk_to_json_object(const ss_jwk *jwk, int include_private,
                               ss_status *st);

// ss__jwk_pkey returns the key as an EVP_PKEY (RSA, EC or X25519), borrowed
// from |jwk|; NULL for oct keys.
EVP_PKEY *ss__jwk_pkey(const ss_jwk *jwk);

// ss__jwk_oct returns the bytes of an oct key and sets |*out_len|, borrowed
// from |jwk|; NULL for other key types.
const uint8_t *ss__jwk_oct(const ss_jwk *jwk, size_t *out_len);

// ss__jwk_ecdh computes the raw ECDH shared secret Z between the private key
// |priv| and the public key |peer| (EC on the same curve, or X25519), and
// appends it to |out| (reset first). A curve mismatch is INVALID_ARGUMENT; an
// all-zero X25519 secret (low-order peer point) is INVALID_ARGUMENT.
int ss__jwk_ecdh(const ss_jwk *priv, const ss_jwk *peer, ss_buf *out,
                 ss_status *st);

// --- Shared by the files of the JWK module (jwk.c, jwk_import.c,
// jwk_serialize.c) only ---

// The longest base64url member accepted, in decoded bytes. Twice the largest
// supported RSA modulus, so that a modulus slightly too large still gets a
// message naming its size.
#define SS_JWK_MEMBER_MAX 2048

#define SS_JWK_OKP_LEN 32  // bytes in X25519 and Ed25519 "x" and "d"
#define SS_JWK_THUMBPRINT_LEN 32
#define SS_JWK_NUM_KEY_OPS 8

typedef struct ss__jwk_curve {
  const char *name;  // "crv" value
  int nid;
  size_t len;  // bytes in "x", "y" and "d" (RFC 7518 sections 6.2.1.2, 6.2.2.1)
  unsigned bits;  // field size
} ss__jwk_curve;

// RFC 7517 section 4.3, in this order. A key's "key_ops" are kept as indexes
// into this table.
extern const char *const ss__jwk_key_ops[SS_JWK_NUM_KEY_OPS];
// Indexed by ss_kty.
extern const char *const ss__jwk_kty_names[4];

struct ss_jwk {
  ss_kty kty;
  int is_private;           // holds "d", or is an oct key
  const char *crv;          // static curve name; NULL for RSA and oct
  const ss__jwk_curve *ec;  // EC curve; NULL for other key types
  int okp_type;    // EVP_PKEY_X25519 or EVP_PKEY_ED25519; OKP keys only
  unsigned bits;   // see ss_jwk_bits
  EVP_PKEY *pkey;  // owned; NULL for oct keys
  uint8_t *oct;    // owned secret, wiped before free; oct keys only
  size_t oct_len;  // bytes in oct
  uint8_t thumbprint[SS_JWK_THUMBPRINT_LEN];  // RFC 7638, SHA-256
  char *kid;           // owned; explicit "kid" or base64url thumbprint
  int has_kid;         // "kid" was given explicitly
  char *use;           // owned "use", or NULL
  char *alg;           // owned "alg", or NULL
  int has_key_ops;     // "key_ops" was given (possibly empty)
  size_t num_key_ops;  // entries in key_ops
  uint8_t key_ops[SS_JWK_NUM_KEY_OPS];  // indexes into ss__jwk_key_ops
};

// ss__jwk_oom sets RESOURCE_EXHAUSTED "|what|: out of memory". Returns 0.
int ss__jwk_oom(ss_status *st, const char *what);

// ss__jwk_mark_secret asks OpenSSL for constant-time arithmetic on |bn|.
void ss__jwk_mark_secret(BIGNUM *bn);

// ss__jwk_get_member decodes the base64url member |name| into |out| (reset
// first), refusing encodings longer than SS_JWK_MEMBER_MAX bytes before
// decoding. See ss_json_get_b64.
int ss__jwk_get_member(const json_t *obj, const char *name, int required,
                       const char *what, ss_buf *out, int *out_present,
                       ss_status *st);

// ss__jwk_parse_rsa and ss__jwk_parse_ec (jwk_import.c) read the key-type
// members of |obj| into |jwk| (pkey, is_private and, for EC, ec and crv).
// Return 1, or 0 with INVALID_ARGUMENT naming |what|.
int ss__jwk_parse_rsa(ss_jwk *jwk, const json_t *obj, const char *what,
                      ss_status *st);
int ss__jwk_parse_ec(ss_jwk *jwk, const json_t *obj, const char *what,
                     ss_status *st);

// ss__jwk_curve_by_name returns the EC curve named |name|, or NULL.
const ss__jwk_curve *ss__jwk_curve_by_name(const char *name);

// ss__jwk_compute_thumbprint (jwk_serialize.c) hashes the RFC 7638 form of
// |jwk|, whose key-type members are in place, into |out|.
int ss__jwk_compute_thumbprint(const ss_jwk *jwk,
                               uint8_t out[SS_JWK_THUMBPRINT_LEN],
                               ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_JWK_INTERNAL_H
