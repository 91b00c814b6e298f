// Portable paths of the base64url codec, exposed so that tests can check the
// run-time selected (SIMD) paths against them. Not for callers outside
// lib/jose.
#ifndef SEALSTREAM_LIB_JOSE_B64URL_INTERNAL_H
#define SEALSTREAM_LIB_JOSE_B64URL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss__b64url_decode_scalar is ss_b64url_decode without SIMD: same contract,
// same results and same error messages.
int ss__b64url_decode_scalar(uint8_t *out, size_t *out_len, const char *in,
                             size_t in_len, ss_status *st);

// ss__b64url_encode_scalar is ss_b64url_encode without SIMD.
void ss__b64url_encode_scalar(char *out, const uint8_t *in, size_t in_len);

// ss__b64url_simd_name returns the name of the vector path that
// ss_b64url_decode and ss_b64url_encode use on this CPU ("avx2"), or "none".
const char *ss__b64url_simd_name(void);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_B64URL_INTERNAL_H
