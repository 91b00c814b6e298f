// JWE content encryption ("enc", RFC 7518 section 5): A128GCM, A192GCM,
// A256GCM and the composite AEADs A128CBC-HS256, A192CBC-HS384,
// A256CBC-HS512. Also used for A*GCMKW key wrapping (RFC 7518 section 4.7).
//
// An ss_aead holds one key with its cipher contexts set up once, so a stream
// of messages under the same CEK pays the key schedule a single time.
// Ciphertexts and tags passed to ss_aead_open are untrusted.
#ifndef SEALSTREAM_LIB_JOSE_CONTENT_H
#define SEALSTREAM_LIB_JOSE_CONTENT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// An "enc" algorithm descriptor. Descriptors are static; never freed.
typedef struct ss_enc_alg ss_enc_alg;

// ss_enc_alg_find returns the descriptor named |name| (|name_len| bytes, not
// NUL-terminated), or NULL when it is not one of the six above.
const ss_enc_alg *ss_enc_alg_find(const char *name, size_t name_len);

// ss_enc_alg_supported_names returns "A128GCM, A192GCM, ..." for messages.
const char *ss_enc_alg_supported_names(void);

const char *ss_enc_alg_name(const ss_enc_alg *alg);
size_t ss_enc_alg_key_len(const ss_enc_alg *alg);  // CEK bytes: 16..64
size_t ss_enc_alg_iv_len(const ss_enc_alg *alg);   // 12 (GCM) or 16 (CBC)
size_t ss_enc_alg_tag_len(const ss_enc_alg *alg);  // 16, 24 or 32
int ss_enc_alg_is_gcm(const ss_enc_alg *alg);

// ss_enc_alg_ciphertext_len returns the ciphertext length for |pt_len| bytes
// of plaintext: |pt_len| for GCM, padded to the next 16 for CBC. Returns
// SIZE_MAX if that would overflow.
size_t ss_enc_alg_ciphertext_len(const ss_enc_alg *alg, size_t pt_len);

// An ss_aead's contexts change with every message: use one from one thread
// at a time.
typedef struct ss_aead ss_aead;

// ss_aead_new makes a context for |alg| under |key| (ss_enc_alg_key_len
// bytes; copied). Returns NULL with |st| set (INVALID_ARGUMENT for a wrong
// key length). Free with ss_aead_free, which wipes the key.
ss_aead *ss_aead_new(const ss_enc_alg *alg, const uint8_t *key, size_t key_len,
                     ss_status *st);

// ss_aead_free wipes and frees |aead|. NULL is ignored.
void ss_aead_free(ss_aead *aead);

// ss_aead_alg returns the algorithm |aead| was made for.
const ss_enc_alg *ss_aead_alg(const ss_aead *aead);

// ss_aead_seal encrypts |pt| under |iv| (ss_enc_alg_iv_len bytes) with
// additional data |aad|, writing ss_enc_alg_ciphertext_len(|pt_len|) bytes to
// |out_ct| and ss_enc_alg_tag_len bytes to |out_tag|. |out_ct| may equal |pt|
// for GCM. Returns 1, or 0 with |st| set: RESOURCE_EXHAUSTED for input
// beyond the algorithm's limit (GCM: 2^36 - 32 bytes), INTERNAL otherwise.
int ss_aead_seal(ss_aead *aead, uint8_t *out_ct, uint8_t *out_tag,
                 const uint8_t *iv, const uint8_t *aad, size_t aad_len,
                 const uint8_t *pt, size_t pt_len, ss_status *st);

// ss_aead_open authenticates and decrypts |ct|, writing the plaintext to
// |out_pt| (room for |ct_len| bytes; may equal |ct| for GCM) and its length to
// |*out_pt_len|. An IV or tag of the wrong length is INVALID_ARGUMENT; a
// failed authentication or bad padding is DATA_LOSS ("authentication
// failed"), with nothing in |out_pt| to rely on and |*out_pt_len| 0.
int ss_aead_open(ss_aead *aead, uint8_t *out_pt, size_t *out_pt_len,
                 const uint8_t *iv, size_t iv_len, const uint8_t *aad,
                 size_t aad_len, const uint8_t *ct, size_t ct_len,
                 const uint8_t *tag, size_t tag_len, ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_CONTENT_H
