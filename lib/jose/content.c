// JWE content encryption (RFC 7518 section 5): AES-GCM (5.3) through EVP, and
// AES_CBC_HMAC_SHA2 (5.2) composed of AES-CBC and HMAC-SHA-2. IVs, tags and
// ciphertexts given to ss_aead_open are untrusted. Key material lives only in
// the EVP contexts and the precomputed HMAC states of an ss_aead, all wiped
// when it is freed. An ss_aead serves one thread at a time: each message
// rewinds its contexts.
#include "lib/jose/content.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

// GCM accepts at most 2^36 - 32 bytes of plaintext under one IV (NIST SP
// 800-38D section 5.2.1.1).
#define SS_GCM_MAX_PT_LEN ((((uint64_t)1) << 36) - 32)

// EVP takes int lengths, so longer inputs are fed in chunks. The chunk is a
// multiple of the AES block so CBC never buffers a partial block between
// chunks.
#define SS_EVP_CHUNK ((size_t)INT_MAX & ~(size_t)15)

#define SS_AES_BLOCK 16
#define SS_GCM_IV_LEN 12
#define SS_GCM_TAG_LEN 16

typedef enum {
  SS_MAC_NONE,  // GCM: no separate MAC
  SS_MAC_SHA256,
  SS_MAC_SHA384,
  SS_MAC_SHA512,
} ss_mac_hash;

struct ss_enc_alg {
  const char *name;
  size_t key_len;  // CEK bytes; for CBC-HS, MAC_KEY || ENC_KEY
  size_t iv_len;   // bytes
  size_t tag_len;  // bytes; for CBC-HS, the HMAC output truncated to this
  int is_gcm;
  ss_mac_hash mac;                    // SS_MAC_NONE for GCM
  const EVP_CIPHER *(*cipher)(void);  // AES-GCM or AES-CBC of ENC_KEY's size
};

static const ss_enc_alg enc_algs[] = {
    {"A128GCM", 16, SS_GCM_IV_LEN, SS_GCM_TAG_LEN, 1, SS_MAC_NONE,
     EVP_aes_128_gcm},
    {"A192GCM", 24, SS_GCM_IV_LEN, SS_GCM_TAG_LEN, 1, SS_MAC_NONE,
     EVP_aes_192_gcm},
    {"A256GCM", 32, SS_GCM_IV_LEN, SS_GCM_TAG_LEN, 1, SS_MAC_NONE,
     EVP_aes_256_gcm},
    {"A128CBC-HS256", 32, SS_AES_BLOCK, 16, 0, SS_MAC_SHA256, EVP_aes_128_cbc},
    {"A192CBC-HS384", 48, SS_AES_BLOCK, 24, 0, SS_MAC_SHA384, EVP_aes_192_cbc},
    {"A256CBC-HS512", 64, SS_AES_BLOCK, 32, 0, SS_MAC_SHA512, EVP_aes_256_cbc},
};

#define SS_NUM_ENC_ALGS (sizeof(enc_algs) / sizeof(enc_algs[0]))

// The low-level SHA-2 contexts are plain structs that can be copied, unlike
// an HMAC_CTX, whose reset in OpenSSL 3.0 allocates twice per message. HMAC
// (RFC 2104) is therefore built here from two saved hash states.
typedef union {
  SHA256_CTX sha256;
  SHA512_CTX sha512;  // SHA-384 and SHA-512
} ss_hash_ctx;

struct ss_aead {
  const ss_enc_alg *alg;     // static
  EVP_CIPHER_CTX *seal_ctx;  // owned; keyed once for encryption
  EVP_CIPHER_CTX *open_ctx;  // owned; keyed once for decryption
  ss_hash_ctx mac_inner;     // CBC-HS: state after (MAC_KEY ^ ipad); secret
  ss_hash_ctx mac_outer;     // CBC-HS: state after (MAC_KEY ^ opad); secret
};

const ss_enc_alg *ss_enc_alg_find(const char *name, size_t name_len) {
  if (name == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < SS_NUM_ENC_ALGS; i++) {
    const char *candidate = enc_algs[i].name;
    if (strlen(candidate) == name_len &&
        memcmp(candidate, name, name_len) == 0) {
      return &enc_algs[i];
    }
  }
  return NULL;
}

const char *ss_enc_alg_supported_names(void) {
  return "A128GCM, A192GCM, A256GCM, A128CBC-HS256, A192CBC-HS384, "
         "A256CBC-HS512";
}

const char *ss_enc_alg_name(const ss_enc_alg *alg) { return alg->name; }

size_t ss_enc_alg_key_len(const ss_enc_alg *alg) { return alg->key_len; }

size_t ss_enc_alg_iv_len(const ss_enc_alg *alg) { return alg->iv_len; }

size_t ss_enc_alg_tag_len(const ss_enc_alg *alg) { return alg->tag_len; }

int ss_enc_alg_is_gcm(const ss_enc_alg *alg) { return alg->is_gcm; }

size_t ss_enc_alg_ciphertext_len(const ss_enc_alg *alg, size_t pt_len) {
  if (alg->is_gcm) {
    return pt_len;
  }
  // PKCS#7 always adds 1 to 16 bytes: the whole blocks plus one more.
  size_t whole = pt_len - pt_len % SS_AES_BLOCK;
  if (whole > SIZE_MAX - SS_AES_BLOCK) {
    return SIZE_MAX;
  }
  return whole + SS_AES_BLOCK;
}

// ---- HMAC-SHA-2 over saved states ----

static size_t mac_block_len(ss_mac_hash hash) {
  return hash == SS_MAC_SHA256 ? SHA256_CBLOCK : SHA512_CBLOCK;
}

static size_t mac_digest_len(ss_mac_hash hash) {
  switch (hash) {
    case SS_MAC_SHA256:
      return SHA256_DIGEST_LENGTH;
    case SS_MAC_SHA384:
      return SHA384_DIGEST_LENGTH;
    default:
      return SHA512_DIGEST_LENGTH;
  }
}

static int hash_init(ss_mac_hash hash, ss_hash_ctx *ctx) {
  switch (hash) {
    case SS_MAC_SHA256:
      return SHA256_Init(&ctx->sha256);
    case SS_MAC_SHA384:
      return SHA384_Init(&ctx->sha512);
    case SS_MAC_SHA512:
      return SHA512_Init(&ctx->sha512);
    default:
      // GCM algorithms never reach the MAC code.
      return 0;
  }
}

static int hash_update(ss_mac_hash hash, ss_hash_ctx *ctx, const void *data,
                       size_t len) {
  if (len == 0) {
    return 1;
  }
  switch (hash) {
    case SS_MAC_SHA256:
      return SHA256_Update(&ctx->sha256, data, len);
    case SS_MAC_SHA384:
      return SHA384_Update(&ctx->sha512, data, len);
    case SS_MAC_SHA512:
      return SHA512_Update(&ctx->sha512, data, len);
    default:
      return 0;
  }
}

// hash_final writes mac_digest_len(|hash|) bytes to |out|.
static int hash_final(ss_mac_hash hash, ss_hash_ctx *ctx, uint8_t *out) {
  switch (hash) {
    case SS_MAC_SHA256:
      return SHA256_Final(out, &ctx->sha256);
    case SS_MAC_SHA384:
      return SHA384_Final(out, &ctx->sha512);
    case SS_MAC_SHA512:
      return SHA512_Final(out, &ctx->sha512);
    default:
      return 0;
  }
}

// mac_setup absorbs the padded MAC key into the inner and outer states.
// MAC_KEY (16 to 32 bytes) is shorter than the hash block, so it is used
// as is, zero-padded (RFC 2104 section 2).
static int mac_setup(ss_aead *aead, const uint8_t *mac_key,
                     size_t mac_key_len) {
  ss_mac_hash hash = aead->alg->mac;
  size_t block = mac_block_len(hash);
  uint8_t pad[SHA512_CBLOCK];
  int ok = mac_key_len <= block;
  if (ok) {
    memset(pad, 0x36, block);
    for (size_t i = 0; i < mac_key_len; i++) {
      pad[i] ^= mac_key[i];
    }
    ok = hash_init(hash, &aead->mac_inner) &&
         hash_update(hash, &aead->mac_inner, pad, block);
  }
  if (ok) {
    memset(pad, 0x5c, block);
    for (size_t i = 0; i < mac_key_len; i++) {
      pad[i] ^= mac_key[i];
    }
    ok = hash_init(hash, &aead->mac_outer) &&
         hash_update(hash, &aead->mac_outer, pad, block);
  }
  OPENSSL_cleanse(pad, sizeof(pad));
  return ok;
}

// mac_compute writes HMAC(MAC_KEY, AAD || IV || CT || AL) to |out|
// (mac_digest_len bytes), AL being the AAD length in bits as a 64-bit
// big-endian number (RFC 7518 section 5.2.2.1 step 4).
static int mac_compute(const ss_aead *aead, uint8_t out[SHA512_DIGEST_LENGTH],
                       const uint8_t *aad, size_t aad_len, const uint8_t *iv,
                       const uint8_t *ct, size_t ct_len) {
  ss_mac_hash hash = aead->alg->mac;
  uint64_t aad_bits = (uint64_t)aad_len * 8;
  uint8_t al[8];
  for (int i = 0; i < 8; i++) {
    al[i] = (uint8_t)(aad_bits >> (56 - 8 * i));
  }
  uint8_t inner[SHA512_DIGEST_LENGTH];
  ss_hash_ctx ctx = aead->mac_inner;
  int ok = hash_update(hash, &ctx, aad, aad_len) &&
           hash_update(hash, &ctx, iv, aead->alg->iv_len) &&
           hash_update(hash, &ctx, ct, ct_len) &&
           hash_update(hash, &ctx, al, sizeof(al)) &&
           hash_final(hash, &ctx, inner);
  if (ok) {
    ctx = aead->mac_outer;
    ok = hash_update(hash, &ctx, inner, mac_digest_len(hash)) &&
         hash_final(hash, &ctx, out);
  }
  OPENSSL_cleanse(&ctx, sizeof(ctx));
  OPENSSL_cleanse(inner, sizeof(inner));
  return ok;
}

// ---- EVP helpers ----

// evp_update runs |len| bytes of |in| through |ctx| in int-sized chunks.
// |out| NULL feeds GCM additional data. Whole blocks in give as many bytes
// out, which is checked for data.
static int evp_update(EVP_CIPHER_CTX *ctx, int encrypt, uint8_t *out,
                      const uint8_t *in, size_t len) {
  while (len > 0) {
    size_t chunk = len < SS_EVP_CHUNK ? len : SS_EVP_CHUNK;
    int out_len = 0;
    int ok = encrypt ? EVP_EncryptUpdate(ctx, out, &out_len, in, (int)chunk)
                     : EVP_DecryptUpdate(ctx, out, &out_len, in, (int)chunk);
    if (!ok || (out != NULL && (size_t)out_len != chunk)) {
      return 0;
    }
    in += chunk;
    if (out != NULL) {
      out += chunk;
    }
    len -= chunk;
  }
  return 1;
}

static EVP_CIPHER_CTX *new_keyed_ctx(const ss_enc_alg *alg, int encrypt,
                                     const uint8_t *enc_key) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL) {
    return NULL;
  }
  int ok = encrypt
               ? EVP_EncryptInit_ex(ctx, alg->cipher(), NULL, enc_key, NULL)
               : EVP_DecryptInit_ex(ctx, alg->cipher(), NULL, enc_key, NULL);
  // CBC padding is added and checked here so that the output length is
  // exact and a bad pad is reported like a bad tag.
  if (ok && !alg->is_gcm) {
    ok = EVP_CIPHER_CTX_set_padding(ctx, 0);
  }
  if (!ok) {
    EVP_CIPHER_CTX_free(ctx);  // wipes the key schedule in both libraries
    return NULL;
  }
  return ctx;
}

// ---- Contexts ----

ss_aead *ss_aead_new(const ss_enc_alg *alg, const uint8_t *key, size_t key_len,
                     ss_status *st) {
  ss_aead *aead = NULL;
  if (alg == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "content encryption: no algorithm given; supported: %s",
                  ss_enc_alg_supported_names());
    goto err;
  }
  if (key == NULL || key_len != alg->key_len) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s needs a %zu-byte key; got %zu", alg->name, alg->key_len,
                  key == NULL ? (size_t)0 : key_len);
    goto err;
  }
  aead = calloc(1, sizeof(*aead));
  if (aead == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "%s: out of memory for a cipher context", alg->name);
    goto err;
  }
  aead->alg = alg;
  // RFC 7518 section 5.2.2.1: MAC_KEY is the first half, ENC_KEY the second.
  const uint8_t *enc_key = alg->is_gcm ? key : key + key_len / 2;
  aead->seal_ctx = new_keyed_ctx(alg, 1, enc_key);
  aead->open_ctx = new_keyed_ctx(alg, 0, enc_key);
  if (aead->seal_ctx == NULL || aead->open_ctx == NULL) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "%s: cannot set up the cipher",
                  alg->name);
    goto err;
  }
  if (!alg->is_gcm && !mac_setup(aead, key, key_len / 2)) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "%s: cannot set up the MAC",
                  alg->name);
    goto err;
  }
  return aead;

err:
  ss_aead_free(aead);
  return NULL;
}

void ss_aead_free(ss_aead *aead) {
  if (aead == NULL) {
    return;
  }
  // Freeing an EVP_CIPHER_CTX wipes its key schedule (OpenSSL 3 clears the
  // provider context; BoringSSL's OPENSSL_free clears every allocation).
  EVP_CIPHER_CTX_free(aead->seal_ctx);
  EVP_CIPHER_CTX_free(aead->open_ctx);
  OPENSSL_cleanse(aead, sizeof(*aead));
  free(aead);
}

const ss_enc_alg *ss_aead_alg(const ss_aead *aead) { return aead->alg; }

// ---- Seal ----

static int gcm_seal(ss_aead *aead, uint8_t *out_ct, uint8_t *out_tag,
                    const uint8_t *iv, const uint8_t *aad, size_t aad_len,
                    const uint8_t *pt, size_t pt_len) {
  EVP_CIPHER_CTX *ctx = aead->seal_ctx;
  uint8_t final_block[SS_AES_BLOCK];  // GCM's final step writes nothing
  int final_len = 0;
  return EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) &&
         evp_update(ctx, 1, NULL, aad, aad_len) &&
         evp_update(ctx, 1, out_ct, pt, pt_len) &&
         EVP_EncryptFinal_ex(ctx, final_block, &final_len) && final_len == 0 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SS_GCM_TAG_LEN,
                             out_tag) > 0;
}

static int cbc_hmac_seal(ss_aead *aead, uint8_t *out_ct, uint8_t *out_tag,
                         const uint8_t *iv, const uint8_t *aad, size_t aad_len,
                         const uint8_t *pt, size_t pt_len) {
  EVP_CIPHER_CTX *ctx = aead->seal_ctx;
  size_t whole = pt_len - pt_len % SS_AES_BLOCK;
  size_t rest = pt_len - whole;
  uint8_t last[SS_AES_BLOCK];  // plaintext tail plus PKCS#7 padding
  uint8_t mac[SHA512_DIGEST_LENGTH];
  int final_len = 0;
  int ok = EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) &&
           evp_update(ctx, 1, out_ct, pt, whole);
  if (ok) {
    if (rest > 0) {
      memcpy(last, pt + whole, rest);
    }
    memset(last + rest, (int)(SS_AES_BLOCK - rest), SS_AES_BLOCK - rest);
    ok = evp_update(ctx, 1, out_ct + whole, last, SS_AES_BLOCK) &&
         EVP_EncryptFinal_ex(ctx, last, &final_len) && final_len == 0 &&
         mac_compute(aead, mac, aad, aad_len, iv, out_ct, whole + SS_AES_BLOCK);
  }
  if (ok) {
    memcpy(out_tag, mac, aead->alg->tag_len);
  }
  OPENSSL_cleanse(last, sizeof(last));
  OPENSSL_cleanse(mac, sizeof(mac));
  return ok;
}

int ss_aead_seal(ss_aead *aead, uint8_t *out_ct, uint8_t *out_tag,
                 const uint8_t *iv, const uint8_t *aad, size_t aad_len,
                 const uint8_t *pt, size_t pt_len, ss_status *st) {
  if (aead == NULL || out_tag == NULL || iv == NULL ||
      (aad == NULL && aad_len > 0) || (pt == NULL && pt_len > 0)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "content encryption: missing context, IV, tag "
                         "buffer or input");
  }
  const ss_enc_alg *alg = aead->alg;
  size_t ct_len = ss_enc_alg_ciphertext_len(alg, pt_len);
  if ((alg->is_gcm && (uint64_t)pt_len > SS_GCM_MAX_PT_LEN) ||
      ct_len == SIZE_MAX || (uint64_t)aad_len > UINT64_MAX / 8) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "%s: %zu bytes of plaintext with %zu bytes of "
                         "additional data exceed what one message may carry",
                         alg->name, pt_len, aad_len);
  }
  if (out_ct == NULL && ct_len > 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: missing ciphertext buffer", alg->name);
  }
  int ok =
      alg->is_gcm
          ? gcm_seal(aead, out_ct, out_tag, iv, aad, aad_len, pt, pt_len)
          : cbc_hmac_seal(aead, out_ct, out_tag, iv, aad, aad_len, pt, pt_len);
  if (!ok) {
    if (ct_len > 0) {
      OPENSSL_cleanse(out_ct, ct_len);
    }
    OPENSSL_cleanse(out_tag, alg->tag_len);
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "%s: encryption failed",
                         alg->name);
  }
  return 1;
}

// ---- Open ----

typedef enum {
  SS_OPEN_OK,
  SS_OPEN_AUTH_FAILED,  // bad tag or bad padding: DATA_LOSS
  SS_OPEN_INTERNAL,     // a library call failed
} ss_open_result;

static ss_open_result gcm_open(ss_aead *aead, uint8_t *out_pt,
                               size_t *out_pt_len, const uint8_t *iv,
                               const uint8_t *aad, size_t aad_len,
                               const uint8_t *ct, size_t ct_len,
                               const uint8_t *tag) {
  EVP_CIPHER_CTX *ctx = aead->open_ctx;
  uint8_t tag_copy[SS_GCM_TAG_LEN];  // the ctrl takes a non-const pointer
  uint8_t final_block[SS_AES_BLOCK];
  int final_len = 0;
  memcpy(tag_copy, tag, sizeof(tag_copy));
  if (!EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv) ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SS_GCM_TAG_LEN,
                          tag_copy) <= 0 ||
      !evp_update(ctx, 0, NULL, aad, aad_len) ||
      !evp_update(ctx, 0, out_pt, ct, ct_len)) {
    return SS_OPEN_INTERNAL;
  }
  if (EVP_DecryptFinal_ex(ctx, final_block, &final_len) <= 0 ||
      final_len != 0) {
    return SS_OPEN_AUTH_FAILED;
  }
  *out_pt_len = ct_len;
  return SS_OPEN_OK;
}

// cbc_pad_len returns the PKCS#7 pad length at the end of |block|, or 0 if
// the padding is malformed, in time independent of the bytes. The MAC has
// already been verified, so this only guards against a sender's bug.
static size_t cbc_pad_len(const uint8_t block[SS_AES_BLOCK]) {
  unsigned pad = block[SS_AES_BLOCK - 1];
  unsigned bad = (unsigned)((pad - 1) >> 8) | (unsigned)((16 - pad) >> 8);
  for (unsigned i = 0; i < SS_AES_BLOCK; i++) {
    // Byte i (counted from the end, 0-based) is in the pad when i < pad.
    unsigned in_pad = (unsigned)((i - pad) >> 8) & 1;
    unsigned diff = block[SS_AES_BLOCK - 1 - i] ^ pad;
    bad |= in_pad * diff;
  }
  return bad == 0 ? (size_t)pad : 0;
}

static ss_open_result cbc_hmac_open(ss_aead *aead, uint8_t *out_pt,
                                    size_t *out_pt_len, const uint8_t *iv,
                                    const uint8_t *aad, size_t aad_len,
                                    const uint8_t *ct, size_t ct_len,
                                    const uint8_t *tag) {
  if (ct_len == 0 || ct_len % SS_AES_BLOCK != 0) {
    return SS_OPEN_AUTH_FAILED;
  }
  uint8_t mac[SHA512_DIGEST_LENGTH];
  if (!mac_compute(aead, mac, aad, aad_len, iv, ct, ct_len)) {
    OPENSSL_cleanse(mac, sizeof(mac));
    return SS_OPEN_INTERNAL;
  }
  int tag_ok = CRYPTO_memcmp(mac, tag, aead->alg->tag_len) == 0;
  OPENSSL_cleanse(mac, sizeof(mac));
  if (!tag_ok) {
    return SS_OPEN_AUTH_FAILED;
  }
  EVP_CIPHER_CTX *ctx = aead->open_ctx;
  uint8_t final_block[SS_AES_BLOCK];
  int final_len = 0;
  if (!EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv) ||
      !evp_update(ctx, 0, out_pt, ct, ct_len) ||
      !EVP_DecryptFinal_ex(ctx, final_block, &final_len) || final_len != 0) {
    return SS_OPEN_INTERNAL;
  }
  size_t pad = cbc_pad_len(out_pt + ct_len - SS_AES_BLOCK);
  if (pad == 0) {
    return SS_OPEN_AUTH_FAILED;
  }
  *out_pt_len = ct_len - pad;
  return SS_OPEN_OK;
}

int ss_aead_open(ss_aead *aead, uint8_t *out_pt, size_t *out_pt_len,
                 const uint8_t *iv, size_t iv_len, const uint8_t *aad,
                 size_t aad_len, const uint8_t *ct, size_t ct_len,
                 const uint8_t *tag, size_t tag_len, ss_status *st) {
  if (out_pt_len != NULL) {
    *out_pt_len = 0;
  }
  if (aead == NULL || out_pt_len == NULL || iv == NULL || tag == NULL ||
      (aad == NULL && aad_len > 0) ||
      ((ct == NULL || out_pt == NULL) && ct_len > 0)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "content decryption: missing context, IV, tag, "
                         "input or output buffer");
  }
  const ss_enc_alg *alg = aead->alg;
  if (iv_len != alg->iv_len) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s needs a %zu-byte IV; got %zu", alg->name,
                         alg->iv_len, iv_len);
  }
  if (tag_len != alg->tag_len) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s needs a %zu-byte tag; got %zu", alg->name,
                         alg->tag_len, tag_len);
  }
  if ((alg->is_gcm && (uint64_t)ct_len > SS_GCM_MAX_PT_LEN) ||
      (uint64_t)aad_len > UINT64_MAX / 8) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "%s: %zu bytes of ciphertext with %zu bytes of "
                         "additional data exceed what one message may carry",
                         alg->name, ct_len, aad_len);
  }
  ss_open_result result = alg->is_gcm
                              ? gcm_open(aead, out_pt, out_pt_len, iv, aad,
                                         aad_len, ct, ct_len, tag)
                              : cbc_hmac_open(aead, out_pt, out_pt_len, iv, aad,
                                              aad_len, ct, ct_len, tag);
  if (result == SS_OPEN_OK) {
    return 1;
  }
  // Whatever was decrypted is unauthenticated: do not leave it behind.
  if (ct_len > 0) {
    OPENSSL_cleanse(out_pt, ct_len);
  }
  *out_pt_len = 0;
  if (result == SS_OPEN_AUTH_FAILED) {
    return ss_status_set(st, GRPC_STATUS_DATA_LOSS, "authentication failed");
  }
  return ss_status_set(st, GRPC_STATUS_INTERNAL, "%s: decryption failed",
                       alg->name);
}
