#include "lib/jose/content.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lib/base/bytes.h"
#include "lib/testing/vectors.h"

static const char *const all_names[] = {
    "A128GCM",       "A192GCM",       "A256GCM",
    "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512",
};

#define NUM_ALGS (sizeof(all_names) / sizeof(all_names[0]))

static const ss_enc_alg *alg_named(const char *name) {
  return ss_enc_alg_find(name, strlen(name));
}

// fill writes a pattern that differs per |seed| and per position.
static void fill(uint8_t *buf, size_t len, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < len; i++) {
    x = x * 1103515245u + 12345u;
    buf[i] = (uint8_t)(x >> 16);
  }
}

static ss_aead *new_aead(const ss_enc_alg *alg, uint32_t seed) {
  uint8_t key[64];
  fill(key, sizeof(key), seed);
  ss_status st;
  ss_status_init(&st);
  ss_aead *aead = ss_aead_new(alg, key, ss_enc_alg_key_len(alg), &st);
  if (aead == NULL) {
    fail_msg("ss_aead_new(%s): %s", ss_enc_alg_name(alg), st.msg);
  }
  return aead;
}

// A sealed message and the buffers to open it into.
typedef struct {
  const ss_enc_alg *alg;
  ss_aead *aead;
  uint8_t iv[16];
  uint8_t aad[40];
  uint8_t pt[100];
  size_t pt_len;
  uint8_t ct[128];
  size_t ct_len;
  uint8_t tag[32];
  uint8_t out[128];
} sealed_msg;

static void seal_sample(sealed_msg *m, const char *alg_name) {
  memset(m, 0, sizeof(*m));
  m->alg = alg_named(alg_name);
  assert_non_null(m->alg);
  m->aead = new_aead(m->alg, 7);
  fill(m->iv, sizeof(m->iv), 1);
  fill(m->aad, sizeof(m->aad), 2);
  m->pt_len = 37;
  fill(m->pt, m->pt_len, 3);
  m->ct_len = ss_enc_alg_ciphertext_len(m->alg, m->pt_len);
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_aead_seal(m->aead, m->ct, m->tag, m->iv, m->aad,
                           sizeof(m->aad), m->pt, m->pt_len, &st));
}

// open_sample opens |m| as given and returns the status code; on failure it
// checks that nothing of the plaintext is left in the output buffer.
static grpc_status_code open_sample(sealed_msg *m, size_t iv_len,
                                    size_t aad_len, size_t ct_len,
                                    size_t tag_len, ss_status *st) {
  size_t out_len = 12345;
  ss_status_init(st);
  memset(m->out, 0xaa, sizeof(m->out));
  int ok = ss_aead_open(m->aead, m->out, &out_len, m->iv, iv_len, m->aad,
                        aad_len, m->ct, ct_len, m->tag, tag_len, st);
  if (ok) {
    assert_int_equal(st->code, GRPC_STATUS_OK);
    return GRPC_STATUS_OK;
  }
  assert_int_equal(out_len, 0);
  assert_true(memcmp(m->out, m->pt, m->pt_len) != 0);
  return st->code;
}

static void test_enc_alg_find_returns_every_supported_name(void **state) {
  (void)state;
  const size_t key_lens[] = {16, 24, 32, 32, 48, 64};
  const size_t tag_lens[] = {16, 16, 16, 16, 24, 32};
  for (size_t i = 0; i < NUM_ALGS; i++) {
    const ss_enc_alg *alg = alg_named(all_names[i]);
    assert_non_null(alg);
    assert_string_equal(ss_enc_alg_name(alg), all_names[i]);
    assert_int_equal(ss_enc_alg_key_len(alg), key_lens[i]);
    assert_int_equal(ss_enc_alg_tag_len(alg), tag_lens[i]);
    assert_int_equal(ss_enc_alg_is_gcm(alg), i < 3);
    assert_int_equal(ss_enc_alg_iv_len(alg), i < 3 ? 12 : 16);
    assert_non_null(strstr(ss_enc_alg_supported_names(), all_names[i]));
  }
}

static void test_enc_alg_find_refuses_unknown_and_near_names(void **state) {
  (void)state;
  const char *const near[] = {
      "A256gcm",      "A256GCMX",      "",
      "a256gcm",      "A256GCM ",      " A256GCM",
      "A128CBC-HS25", "A128CBC_HS256", "A512GCM",
      "dir",          "A128KW",        "A128CBC-HS256X",
  };
  for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
    assert_null(alg_named(near[i]));
  }
  // A prefix of a real name, or a real name with its NUL counted.
  assert_null(ss_enc_alg_find("A256GCM", 6));
  assert_null(ss_enc_alg_find("A256GCM", 8));
  assert_null(ss_enc_alg_find(NULL, 0));
  assert_null(ss_enc_alg_find(NULL, 7));
  assert_non_null(ss_enc_alg_find("A256GCMX", 7));
}

static void test_ciphertext_len_pads_cbc_and_keeps_gcm(void **state) {
  (void)state;
  const ss_enc_alg *gcm = alg_named("A128GCM");
  const ss_enc_alg *cbc = alg_named("A256CBC-HS512");
  const size_t pt[] = {0, 1, 15, 16, 17, 31, 32, 1000};
  const size_t cbc_ct[] = {16, 16, 16, 32, 32, 32, 48, 1008};
  for (size_t i = 0; i < sizeof(pt) / sizeof(pt[0]); i++) {
    assert_int_equal(ss_enc_alg_ciphertext_len(gcm, pt[i]), pt[i]);
    assert_int_equal(ss_enc_alg_ciphertext_len(cbc, pt[i]), cbc_ct[i]);
  }
}

static void test_ciphertext_len_reports_overflow_as_size_max(void **state) {
  (void)state;
  const ss_enc_alg *cbc = alg_named("A128CBC-HS256");
  for (size_t back = 0; back <= 15; back++) {
    assert_true(ss_enc_alg_ciphertext_len(cbc, SIZE_MAX - back) == SIZE_MAX);
  }
  // The largest inputs that still fit pad to SIZE_MAX - 15.
  assert_true(ss_enc_alg_ciphertext_len(cbc, SIZE_MAX - 16) == SIZE_MAX - 15);
  assert_true(ss_enc_alg_ciphertext_len(cbc, SIZE_MAX - 31) == SIZE_MAX - 15);
  assert_true(ss_enc_alg_ciphertext_len(cbc, SIZE_MAX - 32) == SIZE_MAX - 31);
}

static void test_aead_new_rejects_wrong_key_length(void **state) {
  (void)state;
  uint8_t key[65] = {0};
  for (size_t i = 0; i < NUM_ALGS; i++) {
    const ss_enc_alg *alg = alg_named(all_names[i]);
    size_t good = ss_enc_alg_key_len(alg);
    const size_t bad[] = {0, good - 1, good + 1, good / 2};
    for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
      ss_status st;
      ss_status_init(&st);
      assert_null(ss_aead_new(alg, key, bad[j], &st));
      assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
      char want[80];
      snprintf(want, sizeof(want), "%s needs a %zu-byte key; got %zu",
               all_names[i], good, bad[j]);
      assert_string_equal(st.msg, want);
    }
    ss_status st;
    ss_status_init(&st);
    assert_null(ss_aead_new(alg, NULL, good, &st));
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  }
  ss_status st;
  ss_status_init(&st);
  assert_null(ss_aead_new(NULL, key, 16, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_null(ss_aead_new(NULL, key, 16, NULL));
}

static void test_aead_free_ignores_null(void **state) {
  (void)state;
  ss_aead_free(NULL);
  ss_aead *aead = new_aead(alg_named("A192GCM"), 1);
  assert_ptr_equal(ss_aead_alg(aead), alg_named("A192GCM"));
  ss_aead_free(aead);
}

static void test_aead_open_rejects_iv_of_wrong_length(void **state) {
  (void)state;
  for (size_t i = 0; i < NUM_ALGS; i++) {
    sealed_msg m;
    seal_sample(&m, all_names[i]);
    size_t iv_len = ss_enc_alg_iv_len(m.alg);
    const size_t bad[] = {0, iv_len - 1, iv_len + 1, iv_len == 12 ? 16 : 12};
    for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
      ss_status st;
      assert_int_equal(open_sample(&m, bad[j], sizeof(m.aad), m.ct_len,
                                   ss_enc_alg_tag_len(m.alg), &st),
                       GRPC_STATUS_INVALID_ARGUMENT);
      char want[80];
      snprintf(want, sizeof(want), "%s needs a %zu-byte IV; got %zu",
               all_names[i], iv_len, bad[j]);
      assert_string_equal(st.msg, want);
    }
    ss_aead_free(m.aead);
  }
  sealed_msg m;
  seal_sample(&m, "A256GCM");
  ss_status st;
  open_sample(&m, 16, sizeof(m.aad), m.ct_len, 16, &st);
  assert_string_equal(st.msg, "A256GCM needs a 12-byte IV; got 16");
  ss_aead_free(m.aead);
}

static void test_aead_open_rejects_tag_cut_by_one_byte(void **state) {
  (void)state;
  for (size_t i = 0; i < NUM_ALGS; i++) {
    sealed_msg m;
    seal_sample(&m, all_names[i]);
    size_t tag_len = ss_enc_alg_tag_len(m.alg);
    const size_t bad[] = {tag_len - 1, tag_len + 1, 0, 12};
    for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
      ss_status st;
      assert_int_equal(open_sample(&m, ss_enc_alg_iv_len(m.alg), sizeof(m.aad),
                                   m.ct_len, bad[j], &st),
                       GRPC_STATUS_INVALID_ARGUMENT);
      char want[80];
      snprintf(want, sizeof(want), "%s needs a %zu-byte tag; got %zu",
               all_names[i], tag_len, bad[j]);
      assert_string_equal(st.msg, want);
    }
    ss_aead_free(m.aead);
  }
}

// expect_auth_failure opens |m| as sealed, which must fail with DATA_LOSS.
static void expect_auth_failure(sealed_msg *m, size_t aad_len, size_t ct_len) {
  ss_status st;
  assert_int_equal(open_sample(m, ss_enc_alg_iv_len(m->alg), aad_len, ct_len,
                               ss_enc_alg_tag_len(m->alg), &st),
                   GRPC_STATUS_DATA_LOSS);
  assert_string_equal(st.msg, "authentication failed");
}

static void test_aead_open_accepts_the_untampered_sample(void **state) {
  (void)state;
  for (size_t i = 0; i < NUM_ALGS; i++) {
    sealed_msg m;
    seal_sample(&m, all_names[i]);
    ss_status st;
    size_t out_len = 0;
    assert_true(ss_aead_open(
        m.aead, m.out, &out_len, m.iv, ss_enc_alg_iv_len(m.alg), m.aad,
        sizeof(m.aad), m.ct, m.ct_len, m.tag, ss_enc_alg_tag_len(m.alg), &st));
    assert_int_equal(out_len, m.pt_len);
    assert_memory_equal(m.out, m.pt, m.pt_len);
    ss_aead_free(m.aead);
  }
}

static void test_aead_open_rejects_every_tampered_byte(void **state) {
  (void)state;
  for (size_t i = 0; i < NUM_ALGS; i++) {
    sealed_msg m;
    seal_sample(&m, all_names[i]);
    size_t iv_len = ss_enc_alg_iv_len(m.alg);
    size_t tag_len = ss_enc_alg_tag_len(m.alg);
    for (size_t b = 0; b < m.ct_len; b++) {
      m.ct[b] ^= 0x01;
      expect_auth_failure(&m, sizeof(m.aad), m.ct_len);
      m.ct[b] ^= 0x01;
    }
    for (size_t b = 0; b < tag_len; b++) {
      m.tag[b] ^= 0x80;
      expect_auth_failure(&m, sizeof(m.aad), m.ct_len);
      m.tag[b] ^= 0x80;
    }
    for (size_t b = 0; b < sizeof(m.aad); b++) {
      m.aad[b] ^= 0x10;
      expect_auth_failure(&m, sizeof(m.aad), m.ct_len);
      m.aad[b] ^= 0x10;
    }
    for (size_t b = 0; b < iv_len; b++) {
      m.iv[b] ^= 0x04;
      expect_auth_failure(&m, sizeof(m.aad), m.ct_len);
      m.iv[b] ^= 0x04;
    }
    ss_aead_free(m.aead);
  }
}

static void test_aead_open_rejects_truncated_or_extended_input(void **state) {
  (void)state;
  for (size_t i = 0; i < NUM_ALGS; i++) {
    sealed_msg m;
    seal_sample(&m, all_names[i]);
    expect_auth_failure(&m, sizeof(m.aad), m.ct_len - 1);
    expect_auth_failure(&m, sizeof(m.aad), m.ct_len + 1);
    expect_auth_failure(&m, sizeof(m.aad), 0);
    expect_auth_failure(&m, sizeof(m.aad) - 1, m.ct_len);
    expect_auth_failure(&m, 0, m.ct_len);
    if (!ss_enc_alg_is_gcm(m.alg)) {
      expect_auth_failure(&m, sizeof(m.aad), m.ct_len - 16);
    }
    ss_aead_free(m.aead);
  }
}

static void test_aead_open_recovers_after_failed_authentication(void **state) {
  (void)state;
  for (size_t i = 0; i < NUM_ALGS; i++) {
    sealed_msg m;
    seal_sample(&m, all_names[i]);
    m.tag[0] ^= 1;
    expect_auth_failure(&m, sizeof(m.aad), m.ct_len);
    m.tag[0] ^= 1;
    ss_status st;
    assert_int_equal(open_sample(&m, ss_enc_alg_iv_len(m.alg), sizeof(m.aad),
                                 m.ct_len, ss_enc_alg_tag_len(m.alg), &st),
                     GRPC_STATUS_OK);
    assert_memory_equal(m.out, m.pt, m.pt_len);
    ss_aead_free(m.aead);
  }
}

// cbc_hs256_forge builds an A128CBC-HS256 message whose single block
// decrypts to |block| and whose tag is correct, so only the padding decides.
static void cbc_hs256_forge(const uint8_t key[32], const uint8_t iv[16],
                            const uint8_t block[16], uint8_t ct[16],
                            uint8_t tag[16]) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  assert_non_null(ctx);
  int len = 0;
  assert_true(EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), NULL, key + 16, iv));
  assert_true(EVP_CIPHER_CTX_set_padding(ctx, 0));
  assert_true(EVP_EncryptUpdate(ctx, ct, &len, block, 16));
  assert_int_equal(len, 16);
  EVP_CIPHER_CTX_free(ctx);
  // No AAD: the MAC input is IV || CT || AL with AL = 0.
  uint8_t mac_in[16 + 16 + 8] = {0};
  memcpy(mac_in, iv, 16);
  memcpy(mac_in + 16, ct, 16);
  uint8_t mac[32];
  unsigned mac_len = 0;
  assert_non_null(
      HMAC(EVP_sha256(), key, 16, mac_in, sizeof(mac_in), mac, &mac_len));
  assert_int_equal(mac_len, 32);
  memcpy(tag, mac, 16);
}

static void test_aead_open_reports_bad_padding_as_failed_authentication(
    void **state) {
  (void)state;
  const ss_enc_alg *alg = alg_named("A128CBC-HS256");
  uint8_t key[32];
  uint8_t iv[16];
  fill(key, sizeof(key), 11);
  fill(iv, sizeof(iv), 12);
  ss_status st;
  ss_status_init(&st);
  ss_aead *aead = ss_aead_new(alg, key, sizeof(key), &st);
  assert_non_null(aead);

  struct {
    uint8_t last[4];  // the block's final four bytes
    size_t want_len;  // 16 - pad, or SIZE_MAX when the pad is bad
  } cases[] = {
      {{4, 4, 4, 4}, 12},        {{9, 9, 9, 1}, 15},
      {{0, 0, 0, 0}, SIZE_MAX},  {{1, 1, 1, 17}, SIZE_MAX},
      {{3, 4, 3, 3}, SIZE_MAX},  {{5, 5, 5, 0xff}, SIZE_MAX},
      {{4, 4, 4, 16}, SIZE_MAX},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint8_t block[16];
    memset(block, 'p', sizeof(block));
    memcpy(block + 12, cases[i].last, 4);
    uint8_t ct[16];
    uint8_t tag[16];
    cbc_hs256_forge(key, iv, block, ct, tag);
    uint8_t out[16];
    size_t out_len = 99;
    ss_status_init(&st);
    int ok = ss_aead_open(aead, out, &out_len, iv, sizeof(iv), NULL, 0, ct,
                          sizeof(ct), tag, sizeof(tag), &st);
    if (cases[i].want_len == SIZE_MAX) {
      assert_false(ok);
      assert_int_equal(out_len, 0);
      assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
      assert_string_equal(st.msg, "authentication failed");
    } else {
      assert_true(ok);
      assert_int_equal(out_len, cases[i].want_len);
      assert_memory_equal(out, block, out_len);
    }
  }
  // A full block of padding.
  uint8_t block[16];
  memset(block, 16, sizeof(block));
  uint8_t ct[16];
  uint8_t tag[16];
  cbc_hs256_forge(key, iv, block, ct, tag);
  uint8_t out[16];
  size_t out_len = 99;
  assert_true(ss_aead_open(aead, out, &out_len, iv, sizeof(iv), NULL, 0, ct,
                           sizeof(ct), tag, sizeof(tag), &st));
  assert_int_equal(out_len, 0);
  ss_aead_free(aead);
}

static void round_trip(const ss_enc_alg *alg, ss_aead *aead, size_t pt_len,
                       size_t aad_len, uint32_t seed) {
  size_t ct_len = ss_enc_alg_ciphertext_len(alg, pt_len);
  uint8_t *pt = malloc(pt_len + 1);
  uint8_t *aad = malloc(aad_len + 1);
  uint8_t *ct = malloc(ct_len + 1);
  uint8_t *out = malloc(ct_len + 1);
  assert_non_null(pt);
  assert_non_null(aad);
  assert_non_null(ct);
  assert_non_null(out);
  uint8_t iv[16];
  uint8_t tag[32];
  fill(pt, pt_len, seed);
  fill(aad, aad_len, seed + 1);
  fill(iv, sizeof(iv), seed + 2);
  ss_status st;
  ss_status_init(&st);
  if (!ss_aead_seal(aead, ct, tag, iv, aad, aad_len, pt, pt_len, &st)) {
    fail_msg("%s seal of %zu bytes: %s", ss_enc_alg_name(alg), pt_len, st.msg);
  }
  if (pt_len >= 16) {
    assert_true(memcmp(ct, pt, 16) != 0);
  }
  size_t out_len = SIZE_MAX;
  if (!ss_aead_open(aead, out, &out_len, iv, ss_enc_alg_iv_len(alg), aad,
                    aad_len, ct, ct_len, tag, ss_enc_alg_tag_len(alg), &st)) {
    fail_msg("%s open of %zu bytes: %s", ss_enc_alg_name(alg), pt_len, st.msg);
  }
  assert_int_equal(out_len, pt_len);
  assert_memory_equal(out, pt, pt_len);
  free(pt);
  free(aad);
  free(ct);
  free(out);
}

static void test_aead_round_trips_sizes_0_to_100_for_every_alg(void **state) {
  (void)state;
  for (size_t i = 0; i < NUM_ALGS; i++) {
    const ss_enc_alg *alg = alg_named(all_names[i]);
    ss_aead *aead = new_aead(alg, (uint32_t)i);
    for (size_t len = 0; len <= 100; len++) {
      round_trip(alg, aead, len, len % 7 == 0 ? 0 : len * 3, (uint32_t)len);
    }
    ss_aead_free(aead);
  }
}

static void test_aead_round_trips_one_mebibyte_for_every_alg(void **state) {
  (void)state;
  for (size_t i = 0; i < NUM_ALGS; i++) {
    const ss_enc_alg *alg = alg_named(all_names[i]);
    ss_aead *aead = new_aead(alg, (uint32_t)i + 100);
    round_trip(alg, aead, 1 << 20, 300, 5);
    round_trip(alg, aead, (1 << 20) + 5, 0, 6);
    ss_aead_free(aead);
  }
}

static void test_aead_gcm_seals_and_opens_in_place(void **state) {
  (void)state;
  for (size_t i = 0; i < 3; i++) {
    const ss_enc_alg *alg = alg_named(all_names[i]);
    ss_aead *aead = new_aead(alg, 9);
    uint8_t pt[333];
    uint8_t buf[333];
    uint8_t ct[333];
    uint8_t iv[12];
    uint8_t tag[16];
    uint8_t tag2[16];
    fill(pt, sizeof(pt), 4);
    fill(iv, sizeof(iv), 5);
    memcpy(buf, pt, sizeof(buf));
    ss_status st;
    ss_status_init(&st);
    assert_true(ss_aead_seal(aead, ct, tag, iv, NULL, 0, pt, sizeof(pt), &st));
    assert_true(
        ss_aead_seal(aead, buf, tag2, iv, NULL, 0, buf, sizeof(buf), &st));
    assert_memory_equal(buf, ct, sizeof(ct));
    assert_memory_equal(tag, tag2, sizeof(tag));
    size_t out_len = 0;
    assert_true(ss_aead_open(aead, buf, &out_len, iv, sizeof(iv), NULL, 0, buf,
                             sizeof(buf), tag, sizeof(tag), &st));
    assert_int_equal(out_len, sizeof(pt));
    assert_memory_equal(buf, pt, sizeof(pt));
    ss_aead_free(aead);
  }
}

// A context reused across messages must give what a fresh one gives.
static void test_aead_reused_context_matches_fresh_contexts(void **state) {
  (void)state;
  for (size_t i = 0; i < NUM_ALGS; i++) {
    const ss_enc_alg *alg = alg_named(all_names[i]);
    ss_aead *reused = new_aead(alg, 21);
    for (uint32_t msg = 0; msg < 20; msg++) {
      uint8_t pt[70];
      uint8_t iv[16];
      uint8_t ct1[80];
      uint8_t ct2[80];
      uint8_t tag1[32];
      uint8_t tag2[32];
      size_t pt_len = msg * 3;
      fill(pt, pt_len, msg);
      fill(iv, sizeof(iv), msg + 50);
      ss_aead *fresh = new_aead(alg, 21);
      ss_status st;
      ss_status_init(&st);
      assert_true(ss_aead_seal(reused, ct1, tag1, iv, pt, 5, pt, pt_len, &st));
      assert_true(ss_aead_seal(fresh, ct2, tag2, iv, pt, 5, pt, pt_len, &st));
      size_t ct_len = ss_enc_alg_ciphertext_len(alg, pt_len);
      assert_memory_equal(ct1, ct2, ct_len);
      assert_memory_equal(tag1, tag2, ss_enc_alg_tag_len(alg));
      ss_aead_free(fresh);
    }
    ss_aead_free(reused);
  }
}

static void test_aead_seal_refuses_inputs_over_the_limits(void **state) {
  (void)state;
  uint8_t buf[32] = {0};
  uint8_t iv[16] = {0};
  uint8_t tag[32];
  ss_status st;
  // Lengths are checked before any byte is read, so a small buffer serves.
  ss_aead *gcm = new_aead(alg_named("A128GCM"), 1);
  ss_status_init(&st);
  assert_false(ss_aead_seal(gcm, buf, tag, iv, NULL, 0, buf,
                            ((size_t)1 << 36) - 31, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  size_t out_len = 7;
  ss_status_init(&st);
  assert_false(ss_aead_open(gcm, buf, &out_len, iv, 12, NULL, 0, buf,
                            (size_t)1 << 37, tag, 16, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_int_equal(out_len, 0);
  ss_aead_free(gcm);
  ss_aead *cbc = new_aead(alg_named("A128CBC-HS256"), 1);
  ss_status_init(&st);
  assert_false(ss_aead_seal(cbc, buf, tag, iv, NULL, 0, buf, SIZE_MAX, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  ss_status_init(&st);
  assert_false(ss_aead_seal(cbc, NULL, tag, iv, NULL, 0, buf, 5, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_aead_free(cbc);
}

// RFC 7518 Appendix B.1 to B.3: K is 00 01 02 ..., P and A are ASCII text.
static void test_aead_matches_rfc7518_appendix_b(void **state) {
  (void)state;
  static const struct {
    const char *alg;
    const char *ct;
    const char *tag;
  } cases[] = {
      {"A128CBC-HS256",
       "c80edfa32ddf39d5ef00c0b468834279a2e46a1b8049f792f76bfe54b903a9c9"
       "a94ac9b47ad2655c5f10f9aef71427e2fc6f9b3f399a221489f16362c7032336"
       "09d45ac69864e3321cf82935ac4096c86e133314c54019e8ca7980dfa4b9cf1b"
       "384c486f3a54c51078158ee5d79de59fbd34d848b3d69550a67646344427ade5"
       "4b8851ffb598f7f80074b9473c82e2db",
       "652c3fa36b0a7c5b3219fab3a30bc1c4"},
      {"A192CBC-HS384",
       "ea65da6b59e61edb419be62d19712ae5d303eeb50052d0dfd6697f77224c8edb"
       "000d279bdc14c1072654bd30944230c657bed4ca0c9f4a8466f22b226d174621"
       "4bf8cfc2400add9f5126e479663fc90b3bed787a2f0ffcbf3904be2a641d5c21"
       "05bfe591bae23b1d7449e532eef60a9ac8bb6c6b01d35d49787bcd57ef484927"
       "f280adc91ac0c4e79c7b11efc60054e3",
       "8490ac0e58949bfe51875d733f93ac2075168039ccc733d7"},
      {"A256CBC-HS512",
       "4affaaadb78c31c5da4b1b590d10ffbd3dd8d5d302423526912da037ecbcc7bd"
       "822c301dd67c373bccb584ad3e9279c2e6d12a1374b77f077553df829410446b"
       "36ebd97066296ae6427ea75c2e0846a11a09ccf5370dc80bfecbad28c73f09b3"
       "a3b75e662a2594410ae496b2e2e6609e31e6e02cc837f053d21f37ff4f51950b"
       "be2638d09dd7a4930930806d0703b1f6",
       "4dd3b4c088a7f45c216839645b2012bf2e6269a8c56a816dbc1b267761955bc5"},
  };
  const char *pt =
      "A cipher system must not be required to be secret, and it must be able "
      "to fall into the hands of the enemy without inconvenience";
  const char *aad = "The second principle of Auguste Kerckhoffs";
  ss_buf iv = {0};
  ss_buf want_ct = {0};
  ss_buf want_tag = {0};
  assert_true(ss_test_hex_decode(&iv, "1af38c2dc2b96ffdd86694092341bc04"));
  size_t ran = 0;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const ss_enc_alg *alg = alg_named(cases[i].alg);
    uint8_t key[64];
    for (size_t k = 0; k < sizeof(key); k++) {
      key[k] = (uint8_t)k;
    }
    ss_status st;
    ss_status_init(&st);
    ss_aead *aead = ss_aead_new(alg, key, ss_enc_alg_key_len(alg), &st);
    assert_non_null(aead);
    assert_true(ss_test_hex_decode(&want_ct, cases[i].ct));
    assert_true(ss_test_hex_decode(&want_tag, cases[i].tag));
    uint8_t ct[144];
    uint8_t tag[32];
    uint8_t out[144];
    assert_int_equal(ss_enc_alg_ciphertext_len(alg, strlen(pt)), sizeof(ct));
    assert_true(ss_aead_seal(aead, ct, tag, iv.data, (const uint8_t *)aad,
                             strlen(aad), (const uint8_t *)pt, strlen(pt),
                             &st));
    assert_int_equal(want_ct.len, sizeof(ct));
    assert_memory_equal(ct, want_ct.data, sizeof(ct));
    assert_int_equal(want_tag.len, ss_enc_alg_tag_len(alg));
    assert_memory_equal(tag, want_tag.data, want_tag.len);
    size_t out_len = 0;
    assert_true(ss_aead_open(aead, out, &out_len, iv.data, iv.len,
                             (const uint8_t *)aad, strlen(aad), want_ct.data,
                             want_ct.len, want_tag.data, want_tag.len, &st));
    assert_int_equal(out_len, strlen(pt));
    assert_memory_equal(out, pt, out_len);
    ss_aead_free(aead);
    ran++;
  }
  printf("RFC 7518 Appendix B: ran %zu cases\n", ran);
  assert_int_equal(ran, 3);
  ss_buf_cleanup(&iv);
  ss_buf_cleanup(&want_ct);
  ss_buf_cleanup(&want_tag);
}

// ---- Wycheproof ----

typedef ss_test_vector_file vector_file;

static vector_file aes_gcm_file = {"wycheproof/aes_gcm_test.json", NULL, NULL};
static vector_file a128cbc_hs256_file = {"wycheproof/a128cbc_hs256_test.json",
                                         "A128CBC-HS256", NULL};
static vector_file a192cbc_hs384_file = {"wycheproof/a192cbc_hs384_test.json",
                                         "A192CBC-HS384", NULL};
static vector_file a256cbc_hs512_file = {"wycheproof/a256cbc_hs512_test.json",
                                         "A256CBC-HS512", NULL};

typedef struct {
  ss_buf key;
  ss_buf iv;
  ss_buf aad;
  ss_buf msg;
  ss_buf ct;
  ss_buf tag;
} aead_case;

static void aead_case_cleanup(aead_case *c) {
  ss_buf_cleanup(&c->key);
  ss_buf_cleanup(&c->iv);
  ss_buf_cleanup(&c->aad);
  ss_buf_cleanup(&c->msg);
  ss_buf_cleanup(&c->ct);
  ss_buf_cleanup(&c->tag);
}

static void decode_field(ss_buf *out, json_t *test, const char *field,
                         json_int_t tc_id) {
  const char *hex = json_string_value(json_object_get(test, field));
  if (hex == NULL || !ss_test_hex_decode(out, hex)) {
    fail_msg("tcId %lld: bad or missing field %s", (long long)tc_id, field);
  }
}

static json_int_t decode_case(aead_case *c, json_t *test) {
  json_int_t tc_id = json_integer_value(json_object_get(test, "tcId"));
  decode_field(&c->key, test, "key", tc_id);
  decode_field(&c->iv, test, "iv", tc_id);
  decode_field(&c->aad, test, "aad", tc_id);
  decode_field(&c->msg, test, "msg", tc_id);
  decode_field(&c->ct, test, "ct", tc_id);
  decode_field(&c->tag, test, "tag", tc_id);
  return tc_id;
}

typedef struct {
  size_t valid;
  size_t invalid;
  size_t iv_refused;
} case_counts;

// run_aead_case checks one Wycheproof AEAD case against |alg|: a valid case
// must seal to exactly ct || tag and open to msg; an invalid one must fail
// to open. With |iv_ok| 0, the case's IV size is not the algorithm's and
// opening must be refused as INVALID_ARGUMENT.
static void run_aead_case(const ss_enc_alg *alg, json_t *test, int iv_ok,
                          case_counts *counts) {
  aead_case c = {0};
  json_int_t tc_id = decode_case(&c, test);
  const char *result = json_string_value(json_object_get(test, "result"));
  assert_non_null(result);
  ss_status st;
  ss_status_init(&st);
  ss_aead *aead = ss_aead_new(alg, c.key.data, c.key.len, &st);
  if (aead == NULL) {
    fail_msg("tcId %lld: %s", (long long)tc_id, st.msg);
  }
  uint8_t *out = malloc(c.ct.len + c.msg.len + 16);
  assert_non_null(out);
  size_t out_len = 1;
  int opened =
      ss_aead_open(aead, out, &out_len, c.iv.data, c.iv.len, c.aad.data,
                   c.aad.len, c.ct.data, c.ct.len, c.tag.data, c.tag.len, &st);
  if (!iv_ok) {
    if (opened || st.code != GRPC_STATUS_INVALID_ARGUMENT) {
      fail_msg("tcId %lld: %zu-byte IV not refused", (long long)tc_id,
               c.iv.len);
    }
    counts->iv_refused++;
  } else if (strcmp(result, "valid") == 0) {
    if (!opened) {
      fail_msg("tcId %lld: valid case refused: %s", (long long)tc_id, st.msg);
    }
    if (out_len != c.msg.len || memcmp(out, c.msg.data, c.msg.len) != 0) {
      fail_msg("tcId %lld: wrong plaintext", (long long)tc_id);
    }
    uint8_t tag[32];
    if (ss_enc_alg_ciphertext_len(alg, c.msg.len) != c.ct.len ||
        c.tag.len != ss_enc_alg_tag_len(alg)) {
      fail_msg("tcId %lld: lengths do not fit %s", (long long)tc_id,
               ss_enc_alg_name(alg));
    }
    if (!ss_aead_seal(aead, out, tag, c.iv.data, c.aad.data, c.aad.len,
                      c.msg.data, c.msg.len, &st) ||
        memcmp(out, c.ct.data, c.ct.len) != 0 ||
        memcmp(tag, c.tag.data, c.tag.len) != 0) {
      fail_msg("tcId %lld: seal does not give the expected ct and tag",
               (long long)tc_id);
    }
    counts->valid++;
  } else {
    if (opened || out_len != 0) {
      fail_msg("tcId %lld: invalid case accepted", (long long)tc_id);
    }
    if (st.code != GRPC_STATUS_DATA_LOSS) {
      fail_msg("tcId %lld: invalid case gave %s: %s", (long long)tc_id,
               ss_status_code_name(st.code), st.msg);
    }
    counts->invalid++;
  }
  free(out);
  ss_aead_free(aead);
  aead_case_cleanup(&c);
}

static json_int_t group_int(json_t *group, const char *field) {
  return json_integer_value(json_object_get(group, field));
}

static void test_aead_matches_wycheproof_aes_gcm_vectors(void **state) {
  vector_file *file = *state;
  case_counts counts = {0};
  size_t gi;
  json_t *group;
  json_array_foreach(json_object_get(file->doc, "testGroups"), gi, group) {
    const char *name = NULL;
    switch (group_int(group, "keySize")) {
      case 128:
        name = "A128GCM";
        break;
      case 192:
        name = "A192GCM";
        break;
      case 256:
        name = "A256GCM";
        break;
      default:
        break;
    }
    if (name == NULL || group_int(group, "tagSize") != 128) {
      continue;
    }
    int iv_ok = group_int(group, "ivSize") == 96;
    size_t ti;
    json_t *test;
    json_array_foreach(json_object_get(group, "tests"), ti, test) {
      run_aead_case(alg_named(name), test, iv_ok, &counts);
    }
  }
  printf(
      "%s: ran %zu cases with 96-bit IVs (%zu valid, %zu invalid); %zu "
      "cases with other IV sizes refused\n",
      file->path, counts.valid + counts.invalid, counts.valid, counts.invalid,
      counts.iv_refused);
  assert_true(counts.valid > 0);
  assert_true(counts.invalid > 0);
}

// run_cbc_hmac_vectors runs one of the three A*CBC-HS* files, which each
// hold a single group.
static void run_cbc_hmac_vectors(const vector_file *file) {
  const ss_enc_alg *alg = alg_named(file->param);
  assert_non_null(alg);
  case_counts counts = {0};
  size_t gi;
  json_t *group;
  json_array_foreach(json_object_get(file->doc, "testGroups"), gi, group) {
    assert_int_equal(group_int(group, "keySize"), 8 * ss_enc_alg_key_len(alg));
    assert_int_equal(group_int(group, "tagSize"), 8 * ss_enc_alg_tag_len(alg));
    int iv_ok = group_int(group, "ivSize") == 128;
    size_t ti;
    json_t *test;
    json_array_foreach(json_object_get(group, "tests"), ti, test) {
      run_aead_case(alg, test, iv_ok, &counts);
    }
  }
  printf("%s: ran %zu cases (%zu valid, %zu invalid, %zu IV size refused)\n",
         file->path, counts.valid + counts.invalid + counts.iv_refused,
         counts.valid, counts.invalid, counts.iv_refused);
  assert_true(counts.valid > 0);
  assert_true(counts.invalid > 0);
}

static void test_aead_matches_wycheproof_a128cbc_hs256_vectors(void **state) {
  run_cbc_hmac_vectors(*state);
}

static void test_aead_matches_wycheproof_a192cbc_hs384_vectors(void **state) {
  run_cbc_hmac_vectors(*state);
}

static void test_aead_matches_wycheproof_a256cbc_hs512_vectors(void **state) {
  run_cbc_hmac_vectors(*state);
}

// ---- Speed ----

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_enc_alg_find_returns_every_supported_name),
      cmocka_unit_test(test_enc_alg_find_refuses_unknown_and_near_names),
      cmocka_unit_test(test_ciphertext_len_pads_cbc_and_keeps_gcm),
      cmocka_unit_test(test_ciphertext_len_reports_overflow_as_size_max),
      cmocka_unit_test(test_aead_new_rejects_wrong_key_length),
      cmocka_unit_test(test_aead_free_ignores_null),
      cmocka_unit_test(test_aead_open_rejects_iv_of_wrong_length),
      cmocka_unit_test(test_aead_open_rejects_tag_cut_by_one_byte),
      cmocka_unit_test(test_aead_open_accepts_the_untampered_sample),
      cmocka_unit_test(test_aead_open_rejects_every_tampered_byte),
      cmocka_unit_test(test_aead_open_rejects_truncated_or_extended_input),
      cmocka_unit_test(test_aead_open_recovers_after_failed_authentication),
      cmocka_unit_test(
          test_aead_open_reports_bad_padding_as_failed_authentication),
      cmocka_unit_test(test_aead_round_trips_sizes_0_to_100_for_every_alg),
      cmocka_unit_test(test_aead_round_trips_one_mebibyte_for_every_alg),
      cmocka_unit_test(test_aead_gcm_seals_and_opens_in_place),
      cmocka_unit_test(test_aead_reused_context_matches_fresh_contexts),
      cmocka_unit_test(test_aead_seal_refuses_inputs_over_the_limits),
      cmocka_unit_test(test_aead_matches_rfc7518_appendix_b),
      cmocka_unit_test_prestate_setup_teardown(
          test_aead_matches_wycheproof_aes_gcm_vectors,
          ss_test_vector_file_setup, ss_test_vector_file_teardown,
          &aes_gcm_file),
      cmocka_unit_test_prestate_setup_teardown(
          test_aead_matches_wycheproof_a128cbc_hs256_vectors,
          ss_test_vector_file_setup, ss_test_vector_file_teardown,
          &a128cbc_hs256_file),
      cmocka_unit_test_prestate_setup_teardown(
          test_aead_matches_wycheproof_a192cbc_hs384_vectors,
          ss_test_vector_file_setup, ss_test_vector_file_teardown,
          &a192cbc_hs384_file),
      cmocka_unit_test_prestate_setup_teardown(
          test_aead_matches_wycheproof_a256cbc_hs512_vectors,
          ss_test_vector_file_setup, ss_test_vector_file_teardown,
          &a256cbc_hs512_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
