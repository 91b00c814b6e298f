// Strict JSON for JOSE objects, through jansson.
//
// Headers and JWKs are untrusted: input is size-capped before parsing,
// duplicate member names are refused (JSON_REJECT_DUPLICATES), the top level
// must be an object, and member getters check types and decode base64url
// strictly. Errors are INVALID_ARGUMENT naming |what| and the member.
#ifndef SEALSTREAM_LIB_JOSE_JSON_H
#define SEALSTREAM_LIB_JOSE_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss_json_init makes jansson wipe every block it frees, since JSON objects
// hold private key members. Idempotent and thread-safe; the parse and
// serialize functions here call it, and code that builds JSON holding
// secrets without them must call it first. Memory from jansson (e.g.
// json_dumps) is still released with free().
void ss_json_init(void);

// ss_json_parse_object parses |len| bytes of |text| (no NUL needed) as one
// JSON object of at most |max_len| bytes. |what| names the object in errors
// ("JWK", "JWE protected header"). Returns a new reference (json_decref it),
// or NULL with INVALID_ARGUMENT in |st|.
json_t *ss_json_parse_object(const char *text, size_t len, size_t max_len,
                             const char *what, ss_status *st);

// ss_json_get_string sets |*out| (borrowed from |obj|) and |*out_len| to the
// string member |key|. A missing member is an error when |required|, else
// leaves |*out| NULL and returns 1. A non-string member, or one holding a NUL
// byte, is an error. Returns 1, or 0 with |st| set.
int ss_json_get_string(const json_t *obj, const char *key, int required,
                       const char *what, const char **out, size_t *out_len,
                       ss_status *st);

// ss_json_get_b64 decodes the base64url string member |key| and appends the
// bytes to |out| (reset first). Missing and |required|: error; missing and
// optional: returns 1 with |*out_present| 0. |out_present| may be NULL.
int ss_json_get_b64(const json_t *obj, const char *key, int required,
                    const char *what, ss_buf *out, int *out_present,
                    ss_status *st);

// ss_json_set_b64 stores the base64url encoding of |data| as string member
// |key| of |obj|. Returns 1, or 0 (RESOURCE_EXHAUSTED) on allocation failure.
int ss_json_set_b64(json_t *obj, const char *key, const uint8_t *data,
                    size_t len, ss_status *st);

// ss_json_dump_compact serializes |obj| compactly with sorted keys off and
// insertion order kept. Returns a malloc'd NUL-terminated string and its
// length, or NULL (RESOURCE_EXHAUSTED). Free with free().
char *ss_json_dump_compact(const json_t *obj, size_t *out_len, ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_JSON_H
