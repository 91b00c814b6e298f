// base64url without padding (RFC 4648 section 5, RFC 7515 section 2).
//
// Decoding is strict, as JOSE requires a unique encoding: '=' padding,
// characters outside [A-Za-z0-9_-], whitespace, a length of 1 mod 4 and
// non-zero trailing bits are all refused. Input is untrusted.
#ifndef SEALSTREAM_LIB_JOSE_B64URL_H
#define SEALSTREAM_LIB_JOSE_B64URL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss_b64url_encoded_len returns the length of the unpadded encoding of
// |len| bytes, or SIZE_MAX if that length overflows.
size_t ss_b64url_encoded_len(size_t len);

// ss_b64url_decoded_len returns the number of bytes |len| characters decode
// to, or SIZE_MAX when no valid encoding has that length (len % 4 == 1).
size_t ss_b64url_decoded_len(size_t len);

// ss_b64url_encode writes the ss_b64url_encoded_len(|in_len|) characters of
// the encoding of |in| to |out| (no NUL terminator is written).
void ss_b64url_encode(char *out, const uint8_t *in, size_t in_len);

// ss_b64url_decode decodes |in_len| characters of |in| into |out|, which must
// have room for ss_b64url_decoded_len(|in_len|) bytes, and sets |*out_len|.
// Returns 1, or 0 with INVALID_ARGUMENT in |st| naming the offending offset
// (never the input itself); |*out_len| is 0 and |out| unspecified on failure.
int ss_b64url_decode(uint8_t *out, size_t *out_len, const char *in,
                     size_t in_len, ss_status *st);

// ss_b64url_encode_to appends the encoding of |in| to |buf|. Returns 1, or 0
// (RESOURCE_EXHAUSTED) if |buf| cannot grow.
int ss_b64url_encode_to(ss_buf *buf, const uint8_t *in, size_t in_len,
                        ss_status *st);

// ss_b64url_decode_to appends the decoding of |in| to |buf|. Returns 1 or 0
// with |st| set; |buf| keeps its previous length on failure.
int ss_b64url_decode_to(ss_buf *buf, const char *in, size_t in_len,
                        ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_B64URL_H
