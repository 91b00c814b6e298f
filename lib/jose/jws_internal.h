// The signature primitives under lib/jose's JWS, for its vector tests. Not
// for callers outside lib/jose.
#ifndef SEALSTREAM_LIB_JOSE_JWS_INTERNAL_H
#define SEALSTREAM_LIB_JOSE_JWS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"
#include "lib/jose/jwk.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss__jws_verify_raw checks the JWS-form signature |sig| (r||s for ECDSA,
// the 64-byte signature for Ed25519) over |msg_len| bytes of |msg| with
// |key| under |alg| ("ES256", "ES384", "ES512" or "EdDSA"), applying the
// same alg and key checks as ss_jws_verify. Returns 1, or 0 with |st| set
// (the codes of ss_jws_verify).
int ss__jws_verify_raw(const ss_jwk *key, const char *alg, const uint8_t *msg,
                       size_t msg_len, const uint8_t *sig, size_t sig_len,
                       ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_JWS_INTERNAL_H
