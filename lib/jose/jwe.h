// JSON Web Encryption (RFC 7516) with the algorithms of RFC 7518 and
// RFC 8037: encryption to one recipient key, compact serialization and the
// "parts" form, and stream encryption with one CEK per stream.
//
// Key management ("alg"): RSA-OAEP, RSA-OAEP-256, ECDH-ES, ECDH-ES+A128KW,
// ECDH-ES+A192KW, ECDH-ES+A256KW (P-256, P-384, P-521, X25519), A128KW,
// A192KW, A256KW, A128GCMKW, A192GCMKW, A256GCMKW, and "dir" only when the
// caller enables it. Content ("enc"): A128GCM, A192GCM, A256GCM,
// A128CBC-HS256, A192CBC-HS384, A256CBC-HS512. Optional "zip":"DEF".
// Refused with a clear error: "none", RSA1_5, PBES2-*, anything unknown,
// unknown "crit" members, malformed or oversized input.
//
// The parts form carries the same JWE without base64url inflation: the
// protected header as its base64url text (which is the AAD) plus the
// encrypted key, IV, ciphertext and tag as raw bytes. Re-joined as compact it
// decrypts with any JOSE library.
//
// Everything handed to a decryptor is untrusted.
#ifndef SEALSTREAM_LIB_JOSE_JWE_H
#define SEALSTREAM_LIB_JOSE_JWE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "lib/jose/jwk.h"
#include "lib/jose/jwks.h"

#ifdef __cplusplus
extern "C" {
#endif

// Largest protected header accepted, in bytes of JSON.
#define SS_JWE_MAX_HEADER 8192
// Default cap on a whole JWE (compact characters or sum of parts).
#define SS_JWE_DEFAULT_MAX_LEN (64u * 1024 * 1024)
// Default cap on the inflated size of "zip":"DEF" plaintext.
#define SS_JWE_DEFAULT_MAX_INFLATE (16u * 1024 * 1024)

// A JWE in parts form. All fields are views (borrowed); see ss_jwe_msg for
// storage that owns them.
typedef struct ss_jwe_parts {
  ss_cbs protected_b64;  // base64url text of the protected header (the AAD)
  ss_cbs encrypted_key;  // raw bytes; empty for "dir" and "ECDH-ES"
  ss_cbs iv;             // raw bytes
  ss_cbs ciphertext;     // raw bytes
  ss_cbs tag;            // raw bytes
} ss_jwe_parts;

// ss_jwe_msg owns one JWE in parts form. Reuse one across a stream: its
// storage is kept between messages.
typedef struct ss_jwe_msg {
  ss_buf storage;      // backs every view in |parts|
  ss_jwe_parts parts;  // valid until the next write to this message
} ss_jwe_msg;

void ss_jwe_msg_init(ss_jwe_msg *msg);
void ss_jwe_msg_cleanup(ss_jwe_msg *msg);

// ss_jwe_parts_to_compact appends the compact serialization of |parts| to
// |out|. Returns 1, or 0 with |st| set.
int ss_jwe_parts_to_compact(ss_buf *out, const ss_jwe_parts *parts,
                            ss_status *st);

// ss_jwe_compact_to_parts decodes a compact JWE (untrusted) into |msg|: five
// base64url parts separated by exactly four dots, none with trailing garbage,
// at most |max_len| characters (0: SS_JWE_DEFAULT_MAX_LEN). Returns 1, or 0
// with INVALID_ARGUMENT ("JWE: expected 5 parts, found 3").
int ss_jwe_compact_to_parts(ss_jwe_msg *msg, const char *compact, size_t len,
                            size_t max_len, ss_status *st);

// ss_jwe_header is a set of protected-header members. Callers add their own
// string and integer members to encrypt, and read any member after
// decryption.
typedef struct ss_jwe_header ss_jwe_header;

ss_jwe_header *ss_jwe_header_new(ss_status *st);
void ss_jwe_header_free(ss_jwe_header *header);

// ss_jwe_header_set_string / _set_int add or replace member |name|. Names the
// JWE layer sets itself (alg, enc, zip, epk, apu, apv, iv, tag, kid, crit,
// p2s, p2c, jku, jwk, x5u, x5c, x5t, x5t#S256, typ, cty) are refused with
// INVALID_ARGUMENT. Returns 1 or 0.
int ss_jwe_header_set_string(ss_jwe_header *header, const char *name,
                             const char *value, ss_status *st);
int ss_jwe_header_set_int(ss_jwe_header *header, const char *name,
                          int64_t value, ss_status *st);

// ss_jwe_header_get_string sets |*out| to string member |name| (borrowed
// from |header|). Returns 1; or 0 with NOT_FOUND when absent, INVALID_ARGUMENT
// when not a string.
int ss_jwe_header_get_string(const ss_jwe_header *header, const char *name,
                             const char **out, ss_status *st);

// ss_jwe_header_get_int sets |*out| to integer member |name|. Returns 1; or
// 0 with NOT_FOUND when absent, INVALID_ARGUMENT when not an integer.
int ss_jwe_header_get_int(const ss_jwe_header *header, const char *name,
                          int64_t *out, ss_status *st);

// ss_jwe_header_has returns 1 if member |name| is present.
int ss_jwe_header_has(const ss_jwe_header *header, const char *name);

typedef struct ss_jwe_encrypt_opts {
  const char *alg;           // key management algorithm, e.g. "ECDH-ES+A256KW"
  const char *enc;           // content algorithm, e.g. "A256GCM"
  int zip;                   // 1: compress with "zip":"DEF" before encrypting
  int allow_dir;             // 1: permit alg "dir" (the key is the CEK)
  const uint8_t *apu;        // ECDH-ES PartyUInfo; NULL for none
  size_t apu_len;
  const uint8_t *apv;        // ECDH-ES PartyVInfo; NULL for none
  size_t apv_len;
  const ss_jwe_header *extra;  // members put in every message; may be NULL
} ss_jwe_encrypt_opts;

// ss_jwe_supported_algs returns the supported "alg" names for messages.
const char *ss_jwe_supported_algs(void);

// ss_jwe_encryptor produces many JWEs to one recipient under one CEK: the
// CEK is wrapped once, and every message carries the same encrypted key (and
// epk) with a unique IV: for GCM a random 4-byte stream prefix and an 8-byte
// message counter; for CBC a fresh random IV, since CBC needs IVs an attacker
// cannot predict. Each message still decrypts on its own with any JOSE
// library. Not thread-safe.
typedef struct ss_jwe_encryptor ss_jwe_encryptor;

// ss_jwe_encryptor_new checks |key| against |opts| (unsupported alg or enc:
// INVALID_ARGUMENT naming the supported ones; a key that does not fit the
// alg, or whose use/key_ops/alg forbid it: INVALID_ARGUMENT or
// FAILED_PRECONDITION), makes a CEK and wraps it. |key| and |opts| are
// copied as needed; neither need outlive the call.
ss_jwe_encryptor *ss_jwe_encryptor_new(const ss_jwk *key,
                                       const ss_jwe_encrypt_opts *opts,
                                       ss_status *st);

// ss_jwe_encryptor_free wipes the CEK and frees |enc|. NULL is ignored.
void ss_jwe_encryptor_free(ss_jwe_encryptor *enc);

// ss_jwe_encryptor_seal encrypts |pt| into |msg| (overwriting it). The
// protected header holds the stream's members plus |members| (may be NULL).
// Returns 1, or 0 with |st| set and |msg| empty. After 2^32 messages the
// encryptor refuses (RESOURCE_EXHAUSTED) rather than risk IV reuse.
int ss_jwe_encryptor_seal(ss_jwe_encryptor *enc, ss_jwe_msg *msg,
                          const ss_jwe_header *members, const uint8_t *pt,
                          size_t pt_len, ss_status *st);

// ss_jwe_encrypt_compact is the one-message form: it appends a compact JWE
// of |pt| to |out|. Returns 1, or 0 with |st| set.
int ss_jwe_encrypt_compact(ss_buf *out, const ss_jwk *key,
                           const ss_jwe_encrypt_opts *opts, const uint8_t *pt,
                           size_t pt_len, ss_status *st);

typedef struct ss_jwe_decrypt_opts {
  size_t max_len;      // cap on the whole JWE; 0: SS_JWE_DEFAULT_MAX_LEN
  size_t max_inflate;  // cap on inflated "zip" output; 0: default
  int allow_dir;       // 1: accept alg "dir"
} ss_jwe_decrypt_opts;

// ss_jwe_decryptor decrypts JWEs with one key, or with the key of a JWKS
// named by the header's "kid". While successive messages carry the same
// encrypted key and key-management parameters (alg, enc, epk, apu, apv, iv,
// tag), the CEK is unwrapped once and reused. Not thread-safe.
typedef struct ss_jwe_decryptor ss_jwe_decryptor;

// ss_jwe_decryptor_new makes a decryptor for |key| or, if |key| is NULL,
// |keys| (borrowed: must outlive the decryptor). |opts| may be NULL.
ss_jwe_decryptor *ss_jwe_decryptor_new(const ss_jwk *key, const ss_jwks *keys,
                                       const ss_jwe_decrypt_opts *opts,
                                       ss_status *st);

// ss_jwe_decryptor_free wipes cached keys and frees |dec|. NULL is ignored.
void ss_jwe_decryptor_free(ss_jwe_decryptor *dec);

// ss_jwe_decryptor_open decrypts |parts| and appends the plaintext to |out|
// (reset first). Malformed input is INVALID_ARGUMENT; an unsupported or
// refused algorithm is INVALID_ARGUMENT naming it; a key that cannot decrypt
// it is FAILED_PRECONDITION or NOT_FOUND; a tampered message is DATA_LOSS.
// On failure |out| is empty and no state changes.
int ss_jwe_decryptor_open(ss_jwe_decryptor *dec, ss_buf *out,
                          const ss_jwe_parts *parts, ss_status *st);

// ss_jwe_decryptor_open_compact decodes |compact| and decrypts it as
// ss_jwe_decryptor_open does.
int ss_jwe_decryptor_open_compact(ss_jwe_decryptor *dec, ss_buf *out,
                                  const char *compact, size_t len,
                                  ss_status *st);

// ss_jwe_decryptor_header returns the protected header of the last message
// opened successfully, borrowed until the next open; NULL before that.
const ss_jwe_header *ss_jwe_decryptor_header(const ss_jwe_decryptor *dec);

// ss_jwe_decryptor_unwrap_count returns how many times a CEK was unwrapped
// (or derived) so far.
uint64_t ss_jwe_decryptor_unwrap_count(const ss_jwe_decryptor *dec);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_JOSE_JWE_H
