// JSON Web Signature, compact serialization (RFC 7515 section 7.1), with
// ES256, ES384 and ES512 (RFC 7518 section 3.4) and EdDSA over Ed25519
// (RFC 8037 section 3.1).
//
// Verification is strict, as on the JWE side: the protected header is parsed
// with duplicate members refused and its size capped; "alg" is required and
// must be one of the four above and fit the key; "none", HMAC and RSA algs
// are refused; "crit" is honoured; RFC 7797 ("b64": false) is not supported;
// the signature must have exactly the alg's length (JWS/P1363 r||s for
// ECDSA; high S values are accepted, as RFC 7518 does not forbid them); a
// fourth part, or anything after the signature, is refused. Keys in the
// header ("jwk", "jku", "x5u", "x5c") are never used. The payload may be any
// bytes.
//
// Status codes of ss_jws_verify:
//   INVALID_ARGUMENT    malformed compact text or header, an unsupported or
//                       refused alg ("none", HMAC, RSA), a "crit" that
//                       names something not understood, "b64"; or wrong
//                       arguments from the caller.
//   RESOURCE_EXHAUSTED  input over SS_JWS_MAX_LEN or a header over
//                       SS_JWS_MAX_HEADER; out of memory.
//   UNAUTHENTICATED     the message cannot be authenticated: the signature
//                       does not verify or has the wrong length, no key
//                       fits (kid not in |keys|, key type or curve not that
//                       of "alg", or the key's "alg", "use" or "key_ops"
//                       refuse it).
#ifndef SEALSTREAM_LIB_JOSE_JWS_H
#define SEALSTREAM_LIB_JOSE_JWS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "lib/jose/jwk.h"
#include "lib/jose/jwks.h"

#ifdef __cplusplus
extern "C" {
#endif

// Largest protected header accepted or written, in bytes of JSON.
#define SS_JWS_MAX_HEADER 8192
// Largest compact JWS ss_jws_verify reads, in characters.
#define SS_JWS_MAX_LEN (64u * 1024 * 1024)

// ss_jws_sign signs |payload_len| bytes of |payload| (any bytes; NULL only
// when |payload_len| is 0) with the private EC or Ed25519 key |key| and
// writes the compact JWS to |out_compact| (reset first; not NUL-terminated).
//
// |alg| is "ES256", "ES384", "ES512" or "EdDSA"; NULL picks the key's own
// "alg" member, else the alg of its curve. The protected header is {"alg"}
// followed by the members of |extra_protected_members| (an object, or NULL)
// in their order; these may not set "alg" or "b64", and a "crit" among them
// must be a non-empty array of distinct names, none of them a registered
// header parameter, each present in the header. ECDSA signatures are
// randomized; Ed25519 ones are deterministic (RFC 8037 A.4).
//
// Returns 1, or 0 with |st| set and |out_compact| empty: INVALID_ARGUMENT for
// an unsupported alg or bad extra members, FAILED_PRECONDITION for a key that
// does not fit (public, wrong type or curve, refused by its "alg", "use" or
// "key_ops"), RESOURCE_EXHAUSTED for a header over SS_JWS_MAX_HEADER.
int ss_jws_sign(ss_buf *out_compact, const ss_jwk *key, const char *alg,
                const json_t *extra_protected_members, const uint8_t *payload,
                size_t payload_len, ss_status *st);

// ss_jws_verify checks the compact JWS |compact| (|compact_len| characters,
// no NUL needed) and writes its payload to |out_payload| (reset first).
//
// Exactly one of |key| and |keys| is given. With |key|, that key must fit
// (the header's "kid" is not consulted). With |keys|, the header's "kid"
// selects the key; without a "kid", exactly one key of the set must fit the
// alg. Private keys verify with their public part.
//
// |understood_crit| is a NULL-terminated list of the header parameters the
// caller understands and will process (NULL: none); a "crit" naming any
// other is refused, as is an empty "crit", one naming a registered header
// parameter or "b64", or one naming a member that is absent.
//
// On success returns 1 and, when |out_header| is not NULL, stores a new
// reference to the protected header there (json_decref it). On failure
// returns 0 with |st| set (see the codes above), |out_payload| empty and
// |*out_header| NULL.
int ss_jws_verify(ss_buf *out_payload, const ss_jwk *key, const ss_jwks *keys,
                  const char *const *understood_crit, const char *compact,
                  size_t compact_len, json_t **out_header, ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_JWS_H
