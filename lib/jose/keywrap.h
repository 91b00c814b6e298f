// Key wrapping and derivation primitives behind JWE key management:
// AES Key Wrap (RFC 3394, for A*KW and ECDH-ES+A*KW) and the Concat KDF
// (NIST SP 800-56A section 5.8.1 as profiled by RFC 7518 section 4.6).
// Wrapped keys passed to ss_aeskw_unwrap are untrusted.
#ifndef SEALSTREAM_LIB_JOSE_KEYWRAP_H
#define SEALSTREAM_LIB_JOSE_KEYWRAP_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss_aeskw_wrap wraps |in| (a multiple of 8 bytes, at least 16) under |kek|
// (16, 24 or 32 bytes), writing |in_len| + 8 bytes to |out|. Returns 1, or 0
// with INVALID_ARGUMENT for bad lengths.
int ss_aeskw_wrap(uint8_t *out, const uint8_t *kek, size_t kek_len,
                  const uint8_t *in, size_t in_len, ss_status *st);

// ss_aeskw_unwrap unwraps |in| (a multiple of 8 bytes, at least 24) under
// |kek|, writing |in_len| - 8 bytes to |out|. A failed integrity check is
// DATA_LOSS ("AES key unwrap failed integrity check"); bad lengths are
// INVALID_ARGUMENT. After an integrity failure |out| is wiped; after a length
// error it is not written.
int ss_aeskw_unwrap(uint8_t *out, const uint8_t *kek, size_t kek_len,
                    const uint8_t *in, size_t in_len, ss_status *st);

// ss_concat_kdf derives |out_len| bytes from the shared secret |z| with
// SHA-256, using AlgorithmID |alg_id| (the "enc" value for ECDH-ES, else the
// "alg" value), PartyUInfo |apu| and PartyVInfo |apv| (decoded bytes; may be
// empty) and SuppPubInfo = |out_len| * 8 bits. Returns 1, or 0 with |st|.
int ss_concat_kdf(uint8_t *out, size_t out_len, const uint8_t *z, size_t z_len,
                  const char *alg_id, const uint8_t *apu, size_t apu_len,
                  const uint8_t *apv, size_t apv_len, ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_KEYWRAP_H
