// Internal to the JWE module (jwe.c, jwe_keys.c, jwe_decrypt.c): the key
// management algorithms, the header types the encryptor and decryptor share,
// and the wrapping and unwrapping of the CEK. Not for callers outside
// lib/jose.
#ifndef SEALSTREAM_LIB_JOSE_JWE_INTERNAL_H
#define SEALSTREAM_LIB_JOSE_JWE_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "lib/jose/content.h"
#include "lib/jose/jwe.h"
#include "lib/jose/jwk.h"

#ifdef __cplusplus
extern "C" {
#endif

// The longest CEK of any "enc" (A256CBC-HS512).
#define MAX_CEK_LEN 64

typedef enum km_kind {
  KM_RSA_OAEP,
  KM_ECDH_ES,     // direct key agreement (kek_len 0) or with AES key wrap
  KM_AES_KW,
  KM_AES_GCM_KW,
  KM_DIR,
} km_kind;

typedef struct km_alg {
  const char *name;
  km_kind kind;
  size_t kek_len;  // AES key wrap / GCM wrap key bytes; 0 when none
  int oaep_sha256;  // RSA-OAEP-256 rather than RSA-OAEP (SHA-1)
} km_alg;

struct ss_jwe_header {
  json_t *members;  // owned JSON object
};

// A parsed, checked protected header.
typedef struct parsed_header {
  json_t *json;  // owned
  const km_alg *km;
  const ss_enc_alg *enc;
  int zip;
  const char *kid;  // borrowed from |json|; NULL when absent
} parsed_header;

// ss__jwe_find_km_alg returns the key management algorithm named |name|, or
// NULL with |st| set, explaining a refusal for the names that are known but
// deliberately unsupported.
const km_alg *ss__jwe_find_km_alg(const char *name, size_t name_len,
                                  ss_status *st);

// ss__jwe_find_enc_alg returns the content algorithm named |name|, or NULL
// with |st| listing the supported names.
const ss_enc_alg *ss__jwe_find_enc_alg(const char *name, size_t name_len,
                                       ss_status *st);

// ss__jwe_check_key_fits refuses a key whose type or size does not suit |km|
// with |enc|, and one whose own use/key_ops/alg forbid |op|. Returns 1, or 0
// with |st| set.
int ss__jwe_check_key_fits(const ss_jwk *key, const km_alg *km,
                           const ss_enc_alg *enc, ss_jwk_op op,
                           ss_status *st);

// ss__jwe_wrap_cek appends the encrypted key for |cek| to |encrypted_key| and
// sets the key-management members (epk, apu, apv, iv, tag) in |header|, or
// for ECDH-ES and dir sets |cek| itself. |key| has passed
// ss__jwe_check_key_fits for |km| and |content|, whose key length |cek_len|
// is. Returns 1, or 0 with |st| set and |header| and |encrypted_key| partly
// written, for the caller to discard.
int ss__jwe_wrap_cek(json_t *header, ss_buf *encrypted_key, const km_alg *km,
                     const ss_enc_alg *content, const ss_jwk *key,
                     const ss_jwe_encrypt_opts *opts, uint8_t *cek,
                     size_t cek_len, ss_status *st);

// ss__jwe_unwrap_cek recovers the CEK of one message into |cek| (the enc's
// key length); |key| has passed ss__jwe_check_key_fits for |header|. For
// RSA-OAEP a failed unwrap yields a random CEK instead (RFC 7516 section
// 11.5), so that the failure is indistinguishable from a bad tag. Returns 1,
// or 0 with |st| set.
int ss__jwe_unwrap_cek(const parsed_header *header, const ss_jwk *key,
                       const ss_jwe_parts *parts, uint8_t *cek,
                       ss_status *st);

// ss__jwe_store_be64 writes |value| big-endian into the 8 bytes at |out|.
void ss__jwe_store_be64(uint8_t *out, uint64_t value);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_JWE_INTERNAL_H
