// Benchmark of lib/jose: raw EVP AES-256-GCM as the baseline, stream JWE
// encryption and decryption in parts and compact form, per-alg CEK wrap and
// unwrap, and key generation. All figures come from one run on one core, so
// the ratios against the baseline are taken under the same conditions.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "lib/jose/jwe.h"
#include "lib/jose/jwk.h"

// Each measurement runs for at least this long.
#define MIN_SECONDS 0.4

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const ss_status *st) {
  fprintf(stderr, "jose_bench: %s: %s\n", what, st != NULL ? st->msg : "");
  exit(1);
}

// raw_gcm_decrypt_mbps measures EVP AES-256-GCM decryption of |len|-byte
// messages under one key with a new IV each time: the floor any JWE layer
// adds its costs to.
static double raw_gcm_decrypt_mbps(size_t len) {
  // The AAD stands in for a JWE protected header of typical size.
  uint8_t key[32], iv[12] = {0}, tag[16], aad[200] = {0};
  memset(key, 7, sizeof(key));
  uint8_t *pt = calloc(1, len), *ct = malloc(len), *out = malloc(len);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n;
  if (ctx == NULL || pt == NULL || ct == NULL || out == NULL ||
      !EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv) ||
      !EVP_EncryptUpdate(ctx, NULL, &n, aad, sizeof(aad)) ||
      !EVP_EncryptUpdate(ctx, ct, &n, pt, (int)len) ||
      !EVP_EncryptFinal_ex(ctx, ct + n, &n) ||
      !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) ||
      !EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, NULL)) {
    die("EVP setup", NULL);
  }
  double start = now_seconds(), elapsed;
  size_t rounds = 0;
  do {
    for (int i = 0; i < 16; i++) {
      if (!EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv) ||
          !EVP_DecryptUpdate(ctx, NULL, &n, aad, sizeof(aad)) ||
          !EVP_DecryptUpdate(ctx, out, &n, ct, (int)len) ||
          !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) ||
          EVP_DecryptFinal_ex(ctx, out + n, &n) <= 0) {
        die("EVP decrypt", NULL);
      }
      rounds++;
    }
    elapsed = now_seconds() - start;
  } while (elapsed < MIN_SECONDS);
  EVP_CIPHER_CTX_free(ctx);
  free(pt);
  free(ct);
  free(out);
  return (double)len * (double)rounds / elapsed / 1e6;
}

typedef struct stream_figures {
  double encrypt_parts;
  double encrypt_compact;
  double decrypt_parts;
  double decrypt_compact;
} stream_figures;

// stream_mbps measures the stream encryptor and decryptor on |len|-byte
// messages with the product's default algorithms.
static stream_figures stream_mbps(const ss_jwk *key, size_t len) {
  ss_status st;
  ss_status_init(&st);
  ss_jwe_encrypt_opts opts = {.alg = "ECDH-ES+A256KW", .enc = "A256GCM"};
  ss_jwe_encryptor *enc = ss_jwe_encryptor_new(key, &opts, &st);
  ss_jwe_decryptor *dec = ss_jwe_decryptor_new(key, NULL, NULL, &st);
  ss_jwe_header *members = ss_jwe_header_new(&st);
  if (enc == NULL || dec == NULL || members == NULL) {
    die("stream setup", &st);
  }
  uint8_t *pt = malloc(len);
  memset(pt, 'r', len);
  ss_jwe_msg msg;
  ss_jwe_msg_init(&msg);
  ss_buf compact = {0}, out = {0};
  stream_figures figures;
  int64_t seq = 0;

  double start = now_seconds(), elapsed;
  size_t rounds = 0;
  do {
    if (!ss_jwe_header_set_int(members, "seq", seq++, &st) ||
        !ss_jwe_encryptor_seal(enc, &msg, members, pt, len, &st)) {
      die("seal", &st);
    }
    rounds++;
    elapsed = now_seconds() - start;
  } while (elapsed < MIN_SECONDS);
  figures.encrypt_parts = (double)len * (double)rounds / elapsed / 1e6;

  start = now_seconds();
  rounds = 0;
  do {
    ss_buf_reset(&compact);
    if (!ss_jwe_header_set_int(members, "seq", seq++, &st) ||
        !ss_jwe_encryptor_seal(enc, &msg, members, pt, len, &st) ||
        !ss_jwe_parts_to_compact(&compact, &msg.parts, &st)) {
      die("seal compact", &st);
    }
    rounds++;
    elapsed = now_seconds() - start;
  } while (elapsed < MIN_SECONDS);
  figures.encrypt_compact = (double)len * (double)rounds / elapsed / 1e6;

  start = now_seconds();
  rounds = 0;
  do {
    if (!ss_jwe_decryptor_open(dec, &out, &msg.parts, &st)) {
      die("open", &st);
    }
    rounds++;
    elapsed = now_seconds() - start;
  } while (elapsed < MIN_SECONDS);
  figures.decrypt_parts = (double)len * (double)rounds / elapsed / 1e6;

  start = now_seconds();
  rounds = 0;
  do {
    if (!ss_jwe_decryptor_open_compact(dec, &out, (const char *)compact.data,
                                       compact.len, &st)) {
      die("open compact", &st);
    }
    rounds++;
    elapsed = now_seconds() - start;
  } while (elapsed < MIN_SECONDS);
  figures.decrypt_compact = (double)len * (double)rounds / elapsed / 1e6;

  if (ss_jwe_decryptor_unwrap_count(dec) != 1) {
    die("the stream decryptor unwrapped more than once", NULL);
  }
  ss_buf_cleanup(&compact);
  ss_buf_cleanup(&out);
  ss_jwe_msg_cleanup(&msg);
  ss_jwe_header_free(members);
  ss_jwe_decryptor_free(dec);
  ss_jwe_encryptor_free(enc);
  free(pt);
  return figures;
}

// wrap_unwrap_us measures one CEK wrap (a new encryptor) and one unwrap (a
// new decryptor opening its first message) for |alg| to |key|.
static void wrap_unwrap_us(const char *label, const ss_jwk *key,
                           const char *alg, double *out_wrap,
                           double *out_unwrap) {
  ss_status st;
  ss_status_init(&st);
  ss_jwe_encrypt_opts opts = {.alg = alg, .enc = "A256GCM"};
  ss_jwe_msg msg;
  ss_jwe_msg_init(&msg);
  ss_buf out = {0};
  double start = now_seconds(), elapsed;
  size_t rounds = 0;
  do {
    ss_jwe_encryptor *enc = ss_jwe_encryptor_new(key, &opts, &st);
    if (enc == NULL ||
        !ss_jwe_encryptor_seal(enc, &msg, NULL, (const uint8_t *)"x", 1,
                               &st)) {
      die(label, &st);
    }
    ss_jwe_encryptor_free(enc);
    rounds++;
    elapsed = now_seconds() - start;
  } while (elapsed < MIN_SECONDS / 2);
  *out_wrap = elapsed / (double)rounds * 1e6;
  start = now_seconds();
  rounds = 0;
  do {
    ss_jwe_decryptor *dec = ss_jwe_decryptor_new(key, NULL, NULL, &st);
    if (dec == NULL || !ss_jwe_decryptor_open(dec, &out, &msg.parts, &st)) {
      die(label, &st);
    }
    ss_jwe_decryptor_free(dec);
    rounds++;
    elapsed = now_seconds() - start;
  } while (elapsed < MIN_SECONDS / 2);
  *out_unwrap = elapsed / (double)rounds * 1e6;
  ss_buf_cleanup(&out);
  ss_jwe_msg_cleanup(&msg);
}

static double keygen_ms(const char *kty, const char *crv, unsigned bits,
                        int min_rounds) {
  ss_status st;
  double start = now_seconds(), elapsed;
  int rounds = 0;
  do {
    ss_jwk *key = ss_jwk_generate(kty, crv, bits, &st);
    if (key == NULL) {
      die("keygen", &st);
    }
    ss_jwk_free(key);
    rounds++;
    elapsed = now_seconds() - start;
  } while (rounds < min_rounds || elapsed < MIN_SECONDS / 4);
  return elapsed / rounds * 1e3;
}

int main(void) {
  ss_status st;
  ss_status_init(&st);
  ss_jwk *p256 = ss_jwk_generate("EC", "P-256", 0, &st);
  ss_jwk *x25519 = ss_jwk_generate("OKP", "X25519", 0, &st);
  ss_jwk *rsa4096 = ss_jwk_generate("RSA", NULL, 4096, &st);
  if (p256 == NULL || x25519 == NULL || rsa4096 == NULL) {
    die("key generation", &st);
  }

  printf("sealstream JOSE benchmark (%s, one core)\n",
         OpenSSL_version(OPENSSL_VERSION));
  printf("stream: ECDH-ES+A256KW (P-256) + A256GCM, one CEK per stream\n\n");
  printf("%-8s %10s %12s %12s %12s %12s %12s %9s %9s\n", "payload",
         "raw MB/s", "enc parts", "enc compact", "dec parts", "dec compact",
         "", "parts/raw", "cmpct/raw");
  static const size_t sizes[] = {1024, 16 * 1024, 256 * 1024, 1024 * 1024};
  static const char *const names[] = {"1 KiB", "16 KiB", "256 KiB", "1 MiB"};
  double ratio_parts_256k = 0, ratio_compact_256k = 0;
  for (size_t i = 0; i < 4; i++) {
    double raw = raw_gcm_decrypt_mbps(sizes[i]);
    stream_figures f = stream_mbps(p256, sizes[i]);
    double parts_ratio = f.decrypt_parts / raw;
    double compact_ratio = f.decrypt_compact / raw;
    printf("%-8s %10.0f %12.0f %12.0f %12.0f %12.0f %12s %8.0f%% %8.0f%%\n",
           names[i], raw, f.encrypt_parts, f.encrypt_compact, f.decrypt_parts,
           f.decrypt_compact, "", parts_ratio * 100, compact_ratio * 100);
    if (sizes[i] == 256 * 1024) {
      ratio_parts_256k = parts_ratio;
      ratio_compact_256k = compact_ratio;
    }
  }
  printf("\ntarget at 256 KiB: decrypt parts >= 80%% of raw: %.0f%% %s; "
         "compact >= 50%%: %.0f%% %s\n",
         ratio_parts_256k * 100, ratio_parts_256k >= 0.8 ? "met" : "MISSED",
         ratio_compact_256k * 100,
         ratio_compact_256k >= 0.5 ? "met" : "MISSED");

  printf("\n%-32s %12s %12s\n", "CEK wrap / unwrap (A256GCM)", "wrap us",
         "unwrap us");
  struct {
    const char *label;
    const ss_jwk *key;
    const char *alg;
  } wraps[] = {
      {"RSA-OAEP-256, RSA 4096", rsa4096, "RSA-OAEP-256"},
      {"ECDH-ES+A256KW, P-256", p256, "ECDH-ES+A256KW"},
      {"ECDH-ES+A256KW, X25519", x25519, "ECDH-ES+A256KW"},
  };
  for (size_t i = 0; i < sizeof(wraps) / sizeof(wraps[0]); i++) {
    double wrap, unwrap;
    wrap_unwrap_us(wraps[i].label, wraps[i].key, wraps[i].alg, &wrap, &unwrap);
    printf("%-32s %12.1f %12.1f\n", wraps[i].label, wrap, unwrap);
  }

  printf("\n%-32s %12s\n", "key generation", "ms per key");
  printf("%-32s %12.2f\n", "RSA 2048", keygen_ms("RSA", NULL, 2048, 3));
  printf("%-32s %12.2f\n", "RSA 4096", keygen_ms("RSA", NULL, 4096, 2));
  printf("%-32s %12.3f\n", "EC P-256", keygen_ms("EC", "P-256", 0, 10));
  printf("%-32s %12.3f\n", "EC P-384", keygen_ms("EC", "P-384", 0, 10));
  printf("%-32s %12.3f\n", "EC P-521", keygen_ms("EC", "P-521", 0, 10));
  printf("%-32s %12.3f\n", "OKP X25519", keygen_ms("OKP", "X25519", 0, 10));
  printf("%-32s %12.4f\n", "oct 256", keygen_ms("oct", NULL, 256, 10));

  ss_jwk_free(p256);
  ss_jwk_free(x25519);
  ss_jwk_free(rsa4096);
  return 0;
}
