// Interfaces between the JWK and JWE modules of lib/jose. Not for callers
// outside lib/jose.
#ifndef SEALSTREAM_LIB_JOSE_JWK_INTERNAL_H
#define SEALSTREAM_LIB_JOSE_JWK_INTERNAL_H

#include <jansson.h>
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

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_JWK_INTERNAL_H
