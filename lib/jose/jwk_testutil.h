// Test support for the JWK, JWS and JWE tests of lib/jose: parsing and
// mutating JWK text under cmocka assertions, reading a compact header.
// Test-only.
#ifndef SEALSTREAM_LIB_JOSE_JWK_TESTUTIL_H
#define SEALSTREAM_LIB_JOSE_JWK_TESTUTIL_H

#include <jansson.h>
#include <stddef.h>

#include "lib/base/status.h"
#include "lib/jose/jwk.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss_test_free_secret_text wipes and frees |text|. NULL is ignored.
void ss_test_free_secret_text(char *text);

// ss_test_jwk_mutated returns |json| with member |name| set to the JSON text
// |value|, or removed when |value| is NULL. Free with
// ss_test_free_secret_text.
char *ss_test_jwk_mutated(const char *json, const char *name,
                          const char *value);

// ss_test_jwk_parse_ok parses |json|, failing the test if it is refused.
ss_jwk *ss_test_jwk_parse_ok(const char *json);

// ss_test_jwk_from_object parses the JWK held as a jansson object |obj| from
// its JSON text, as a caller holding a JWK document would. Returns a new key
// or NULL with |st| set.
ss_jwk *ss_test_jwk_from_object(const json_t *obj, ss_status *st);

// ss_test_compact_alg copies the "alg" of the compact JWS or JWE |compact| to
// |alg|, or leaves it empty when the protected header cannot be read.
void ss_test_compact_alg(const char *compact, char *alg, size_t alg_size);

// ss_test_jwk_expect_refused fails the test unless parsing |json| is refused
// with INVALID_ARGUMENT and exactly |message|.
void ss_test_jwk_expect_refused(const char *json, const char *message);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_JWK_TESTUTIL_H
