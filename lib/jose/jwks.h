// JWK sets (RFC 7517 section 5): {"keys": [JWK, ...]}. Input is untrusted;
// every member key gets the full checks of ss_jwk_parse.
#ifndef SEALSTREAM_LIB_JOSE_JWKS_H
#define SEALSTREAM_LIB_JOSE_JWKS_H

#include <stddef.h>

#include "lib/base/status.h"
#include "lib/jose/jwk.h"

#ifdef __cplusplus
extern "C" {
#endif

// The largest JWKS text and key count accepted.
#define SS_JWKS_MAX_JSON (1024 * 1024)
#define SS_JWKS_MAX_KEYS 256

typedef struct ss_jwks ss_jwks;

// ss_jwks_parse parses a JWK set. A malformed member key fails the whole set
// (INVALID_ARGUMENT naming its index). Two keys with the same kid are
// refused. Returns a new set (ss_jwks_free), or NULL with |st| set.
ss_jwks *ss_jwks_parse(const char *json, size_t json_len, ss_status *st);

// ss_jwks_free frees |jwks| and its keys. NULL is ignored.
void ss_jwks_free(ss_jwks *jwks);

size_t ss_jwks_count(const ss_jwks *jwks);

// ss_jwks_get returns key |index| (< ss_jwks_count), borrowed from |jwks|.
const ss_jwk *ss_jwks_get(const ss_jwks *jwks, size_t index);

// ss_jwks_find returns the key whose ss_jwk_kid equals |kid|, borrowed from
// |jwks|, or NULL with NOT_FOUND: "no key with kid \"...\"".
const ss_jwk *ss_jwks_find(const ss_jwks *jwks, const char *kid,
                           ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_JWKS_H
