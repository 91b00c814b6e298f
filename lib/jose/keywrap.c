// AES Key Wrap (RFC 3394 section 2.2, the index-based form) over EVP AES-ECB,
// so both libraries use their constant-time hardware AES; and the Concat KDF
// of NIST SP 800-56A section 5.8.1 with SHA-256 as RFC 7518 section 4.6.2
// profiles it. Wrapped keys given to ss_aeskw_unwrap are untrusted; the
// blocks, digests and key schedules that pass through here are wiped.
#include "lib/jose/keywrap.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#define SS_KW_SEMIBLOCK 8

// RFC 3394 section 2.2.3.1: the default initial value.
static const uint8_t kw_default_iv[SS_KW_SEMIBLOCK] = {0xa6, 0xa6, 0xa6, 0xa6,
                                                       0xa6, 0xa6, 0xa6, 0xa6};

static const EVP_CIPHER *kw_cipher(size_t kek_len) {
  switch (kek_len) {
    case 16:
      return EVP_aes_128_ecb();
    case 24:
      return EVP_aes_192_ecb();
    case 32:
      return EVP_aes_256_ecb();
    default:
      return NULL;
  }
}

// kw_new_ctx returns an AES-ECB context keyed with |kek| for one direction,
// or NULL. EVP_CIPHER_CTX_free wipes its key schedule in both libraries.
static EVP_CIPHER_CTX *kw_new_ctx(const EVP_CIPHER *cipher, const uint8_t *kek,
                                  int encrypt) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL) {
    return NULL;
  }
  int ok = encrypt ? EVP_EncryptInit_ex(ctx, cipher, NULL, kek, NULL)
                   : EVP_DecryptInit_ex(ctx, cipher, NULL, kek, NULL);
  if (!ok || !EVP_CIPHER_CTX_set_padding(ctx, 0)) {
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

// kw_xor_t XORs the 64-bit big-endian step counter |t| into |a|.
static void kw_xor_t(uint8_t a[SS_KW_SEMIBLOCK], uint64_t t) {
  for (int i = 0; i < SS_KW_SEMIBLOCK; i++) {
    a[i] ^= (uint8_t)(t >> (56 - 8 * i));
  }
}

// kw_block runs one 16-byte block through |ctx| in place.
static int kw_block(EVP_CIPHER_CTX *ctx, int encrypt,
                    uint8_t block[2 * SS_KW_SEMIBLOCK]) {
  int out_len = 0;
  int ok =
      encrypt
          ? EVP_EncryptUpdate(ctx, block, &out_len, block, 2 * SS_KW_SEMIBLOCK)
          : EVP_DecryptUpdate(ctx, block, &out_len, block, 2 * SS_KW_SEMIBLOCK);
  return ok && out_len == 2 * SS_KW_SEMIBLOCK;
}

// kw_check_args checks what wrapping and unwrapping both require, naming the
// direction |op| ("wrap" or "unwrap") in messages: a 16-, 24- or 32-byte
// |kek|; an input |in_len| that is a multiple of 8 bytes, at least |min_len|,
// and small enough that adding a semiblock cannot overflow (|in_desc| says
// what the input is); and both buffers present. Returns the AES-ECB cipher
// for |kek_len|, or NULL with |st| set.
static const EVP_CIPHER *kw_check_args(const char *op, const char *in_desc,
                                       size_t min_len, const uint8_t *out,
                                       const uint8_t *kek, size_t kek_len,
                                       const uint8_t *in, size_t in_len,
                                       ss_status *st) {
  const EVP_CIPHER *cipher = kw_cipher(kek_len);
  if (cipher == NULL || kek == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "AES key %s: the key-encryption key must be 16, 24 or 32 "
                  "bytes; got %zu",
                  op, kek == NULL ? (size_t)0 : kek_len);
    return NULL;
  }
  if (in_len % SS_KW_SEMIBLOCK != 0 || in_len < min_len ||
      in_len > SIZE_MAX - SS_KW_SEMIBLOCK) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "AES key %s: %s must be a multiple of 8 bytes and at least "
                  "%zu; got %zu",
                  op, in_desc, min_len, in_len);
    return NULL;
  }
  if (out == NULL || in == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "AES key %s: missing input or output buffer", op);
    return NULL;
  }
  return cipher;
}

int ss_aeskw_wrap(uint8_t *out, const uint8_t *kek, size_t kek_len,
                  const uint8_t *in, size_t in_len, ss_status *st) {
  EVP_CIPHER_CTX *ctx = NULL;
  uint8_t a[SS_KW_SEMIBLOCK];
  uint8_t block[2 * SS_KW_SEMIBLOCK];
  int ok = 0;
  const EVP_CIPHER *cipher =
      kw_check_args("wrap", "the key to wrap", 2 * SS_KW_SEMIBLOCK, out, kek,
                    kek_len, in, in_len, st);
  if (cipher == NULL) {
    return 0;
  }
  ctx = kw_new_ctx(cipher, kek, 1);
  if (ctx == NULL) {
    ss_status_set(st, GRPC_STATUS_INTERNAL,
                  "AES key wrap: cannot set up the cipher");
    goto err;
  }
  // Section 2.2.1: A = IV, R[i] = P[i]; R lives in |out| after A's slot.
  size_t n = in_len / SS_KW_SEMIBLOCK;
  memcpy(a, kw_default_iv, sizeof(a));
  memmove(out + SS_KW_SEMIBLOCK, in, in_len);
  for (uint64_t j = 0; j <= 5; j++) {
    for (size_t i = 1; i <= n; i++) {
      uint8_t *r = out + SS_KW_SEMIBLOCK * i;
      memcpy(block, a, SS_KW_SEMIBLOCK);
      memcpy(block + SS_KW_SEMIBLOCK, r, SS_KW_SEMIBLOCK);
      if (!kw_block(ctx, 1, block)) {
        ss_status_set(st, GRPC_STATUS_INTERNAL,
                      "AES key wrap: encryption failed");
        goto err;
      }
      memcpy(a, block, SS_KW_SEMIBLOCK);
      kw_xor_t(a, (uint64_t)n * j + i);
      memcpy(r, block + SS_KW_SEMIBLOCK, SS_KW_SEMIBLOCK);
    }
  }
  memcpy(out, a, SS_KW_SEMIBLOCK);
  ok = 1;

err:
  if (!ok) {
    OPENSSL_cleanse(out, in_len + SS_KW_SEMIBLOCK);
  }
  OPENSSL_cleanse(a, sizeof(a));
  OPENSSL_cleanse(block, sizeof(block));
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

int ss_aeskw_unwrap(uint8_t *out, const uint8_t *kek, size_t kek_len,
                    const uint8_t *in, size_t in_len, ss_status *st) {
  EVP_CIPHER_CTX *ctx = NULL;
  uint8_t a[SS_KW_SEMIBLOCK];
  uint8_t block[2 * SS_KW_SEMIBLOCK];
  int ok = 0;
  const EVP_CIPHER *cipher =
      kw_check_args("unwrap", "the wrapped key", 3 * SS_KW_SEMIBLOCK, out, kek,
                    kek_len, in, in_len, st);
  if (cipher == NULL) {
    return 0;
  }
  ctx = kw_new_ctx(cipher, kek, 0);
  if (ctx == NULL) {
    ss_status_set(st, GRPC_STATUS_INTERNAL,
                  "AES key unwrap: cannot set up the cipher");
    goto err;
  }
  // Section 2.2.2: A = C[0], R[i] = C[i]; R lives in |out|.
  size_t n = in_len / SS_KW_SEMIBLOCK - 1;
  memcpy(a, in, SS_KW_SEMIBLOCK);
  memmove(out, in + SS_KW_SEMIBLOCK, in_len - SS_KW_SEMIBLOCK);
  for (uint64_t j = 6; j-- > 0;) {
    for (size_t i = n; i >= 1; i--) {
      uint8_t *r = out + SS_KW_SEMIBLOCK * (i - 1);
      kw_xor_t(a, (uint64_t)n * j + i);
      memcpy(block, a, SS_KW_SEMIBLOCK);
      memcpy(block + SS_KW_SEMIBLOCK, r, SS_KW_SEMIBLOCK);
      if (!kw_block(ctx, 0, block)) {
        ss_status_set(st, GRPC_STATUS_INTERNAL,
                      "AES key unwrap: decryption failed");
        goto err;
      }
      memcpy(a, block, SS_KW_SEMIBLOCK);
      memcpy(r, block + SS_KW_SEMIBLOCK, SS_KW_SEMIBLOCK);
    }
  }
  // Section 2.2.3: the recovered IV is the integrity check.
  if (CRYPTO_memcmp(a, kw_default_iv, SS_KW_SEMIBLOCK) != 0) {
    ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                  "AES key unwrap failed integrity check");
    goto err;
  }
  ok = 1;

err:
  if (!ok) {
    OPENSSL_cleanse(out, in_len - SS_KW_SEMIBLOCK);
  }
  OPENSSL_cleanse(a, sizeof(a));
  OPENSSL_cleanse(block, sizeof(block));
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

static void put_be32(uint8_t out[4], uint32_t v) {
  out[0] = (uint8_t)(v >> 24);
  out[1] = (uint8_t)(v >> 16);
  out[2] = (uint8_t)(v >> 8);
  out[3] = (uint8_t)v;
}

// sha256_update_field absorbs |len| (32-bit big-endian) then the bytes, the
// Datalen || Data form of RFC 7518 section 4.6.2.
static int sha256_update_field(SHA256_CTX *sha, const void *data, size_t len) {
  uint8_t len_be[4];
  put_be32(len_be, (uint32_t)len);
  return SHA256_Update(sha, len_be, sizeof(len_be)) &&
         (len == 0 || SHA256_Update(sha, data, len));
}

int ss_concat_kdf(uint8_t *out, size_t out_len, const uint8_t *z, size_t z_len,
                  const char *alg_id, const uint8_t *apu, size_t apu_len,
                  const uint8_t *apv, size_t apv_len, ss_status *st) {
  SHA256_CTX sha;
  uint8_t digest[SHA256_DIGEST_LENGTH];
  int ok = 0;
  // keydatalen is carried in bits in 32 bits.
  if (out == NULL || out_len == 0 || out_len > UINT32_MAX / 8) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "Concat KDF: cannot derive %zu bytes; 1 to %u allowed",
                         out == NULL ? (size_t)0 : out_len,
                         (unsigned)(UINT32_MAX / 8));
  }
  if (z == NULL || z_len == 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "Concat KDF: the shared secret is empty");
  }
  if (alg_id == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "Concat KDF: missing AlgorithmID");
  }
  size_t alg_id_len = strlen(alg_id);
  if ((apu == NULL && apu_len > 0) || (apv == NULL && apv_len > 0)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "Concat KDF: missing PartyUInfo or PartyVInfo bytes");
  }
  if (alg_id_len > UINT32_MAX || apu_len > UINT32_MAX || apv_len > UINT32_MAX) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "Concat KDF: AlgorithmID, PartyUInfo or PartyVInfo "
                         "longer than 2^32 - 1 bytes");
  }
  uint8_t counter_be[4];
  uint8_t keydatalen_be[4];
  put_be32(keydatalen_be, (uint32_t)(out_len * 8));
  size_t done = 0;
  for (uint32_t counter = 1; done < out_len; counter++) {
    put_be32(counter_be, counter);
    if (!SHA256_Init(&sha) ||
        !SHA256_Update(&sha, counter_be, sizeof(counter_be)) ||
        !SHA256_Update(&sha, z, z_len) ||
        !sha256_update_field(&sha, alg_id, alg_id_len) ||
        !sha256_update_field(&sha, apu, apu_len) ||
        !sha256_update_field(&sha, apv, apv_len) ||
        !SHA256_Update(&sha, keydatalen_be, sizeof(keydatalen_be)) ||
        !SHA256_Final(digest, &sha)) {
      ss_status_set(st, GRPC_STATUS_INTERNAL, "Concat KDF: SHA-256 failed");
      goto err;
    }
    size_t take =
        out_len - done < sizeof(digest) ? out_len - done : sizeof(digest);
    memcpy(out + done, digest, take);
    done += take;
  }
  ok = 1;

err:
  if (!ok) {
    OPENSSL_cleanse(out, out_len);
  }
  OPENSSL_cleanse(&sha, sizeof(sha));
  OPENSSL_cleanse(digest, sizeof(digest));
  return ok;
}
