#include "lib/jose/keywrap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "lib/base/bytes.h"
#include "lib/testing/vectors.h"

static void fill(uint8_t *buf, size_t len, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < len; i++) {
    x = x * 1103515245u + 12345u;
    buf[i] = (uint8_t)(x >> 16);
  }
}

static int all_zero(const uint8_t *buf, size_t len) {
  uint8_t acc = 0;
  for (size_t i = 0; i < len; i++) {
    acc |= buf[i];
  }
  return acc == 0;
}

static void hex(ss_buf *out, const char *text) {
  if (text == NULL || !ss_test_hex_decode(out, text)) {
    fail_msg("missing or bad hex: %s", text == NULL ? "(null)" : text);
  }
}

// ---- AES Key Wrap ----

// RFC 3394 sections 4.1 (128-bit KEK, 128-bit key) and 4.6 (256-bit KEK,
// 256-bit key).
static void test_aeskw_matches_rfc3394_examples(void **state) {
  (void)state;
  static const struct {
    const char *kek;
    const char *key;
    const char *wrapped;
  } cases[] = {
      {"000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF",
       "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
      {"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
       "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
       "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43B"
       "FB988B9B7A02DD21"},
  };
  ss_buf kek = {0};
  ss_buf key = {0};
  ss_buf wrapped = {0};
  size_t ran = 0;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    hex(&kek, cases[i].kek);
    hex(&key, cases[i].key);
    hex(&wrapped, cases[i].wrapped);
    uint8_t out[40];
    ss_status st;
    ss_status_init(&st);
    assert_true(ss_aeskw_wrap(out, kek.data, kek.len, key.data, key.len, &st));
    assert_memory_equal(out, wrapped.data, wrapped.len);
    assert_true(ss_aeskw_unwrap(out, kek.data, kek.len, wrapped.data,
                                wrapped.len, &st));
    assert_memory_equal(out, key.data, key.len);
    ran++;
  }
  printf("RFC 3394 section 4: ran %zu cases\n", ran);
  assert_int_equal(ran, 2);
  ss_buf_cleanup(&kek);
  ss_buf_cleanup(&key);
  ss_buf_cleanup(&wrapped);
}

static void test_aeskw_round_trips_every_kek_size(void **state) {
  (void)state;
  const size_t kek_lens[] = {16, 24, 32};
  for (size_t k = 0; k < 3; k++) {
    uint8_t kek[32];
    fill(kek, sizeof(kek), (uint32_t)k);
    for (size_t len = 16; len <= 512; len += 8) {
      uint8_t key[512];
      uint8_t wrapped[520];
      uint8_t out[512];
      fill(key, len, (uint32_t)len);
      ss_status st;
      ss_status_init(&st);
      assert_true(ss_aeskw_wrap(wrapped, kek, kek_lens[k], key, len, &st));
      assert_true(
          ss_aeskw_unwrap(out, kek, kek_lens[k], wrapped, len + 8, &st));
      assert_memory_equal(out, key, len);
    }
  }
}

static void test_aeskw_wrap_rejects_bad_lengths(void **state) {
  (void)state;
  uint8_t kek[33] = {0};
  uint8_t key[64] = {0};
  uint8_t out[80];
  const size_t bad_in[] = {0, 1, 7, 8, 9, 15, 17, 23, 31};
  for (size_t i = 0; i < sizeof(bad_in) / sizeof(bad_in[0]); i++) {
    ss_status st;
    ss_status_init(&st);
    assert_false(ss_aeskw_wrap(out, kek, 16, key, bad_in[i], &st));
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  }
  const size_t bad_kek[] = {0, 8, 15, 17, 20, 23, 25, 31, 33};
  for (size_t i = 0; i < sizeof(bad_kek) / sizeof(bad_kek[0]); i++) {
    ss_status st;
    ss_status_init(&st);
    assert_false(ss_aeskw_wrap(out, kek, bad_kek[i], key, 16, &st));
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    char want[100];
    snprintf(want, sizeof(want),
             "AES key wrap: the key-encryption key must be 16, 24 or 32 "
             "bytes; got %zu",
             bad_kek[i]);
    assert_string_equal(st.msg, want);
  }
  ss_status st;
  ss_status_init(&st);
  assert_false(ss_aeskw_wrap(out, kek, 16, key, SIZE_MAX - 7, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_false(ss_aeskw_wrap(NULL, kek, 16, key, 16, &st));
  assert_false(ss_aeskw_wrap(out, NULL, 16, key, 16, &st));
  assert_false(ss_aeskw_wrap(out, kek, 16, NULL, 16, NULL));
}

static void test_aeskw_unwrap_rejects_bad_lengths(void **state) {
  (void)state;
  uint8_t kek[64] = {0};
  uint8_t in[80] = {0};
  uint8_t out[80];
  const size_t bad_in[] = {0, 8, 15, 16, 17, 23, 25, 33, 39};
  for (size_t i = 0; i < sizeof(bad_in) / sizeof(bad_in[0]); i++) {
    ss_status st;
    ss_status_init(&st);
    assert_false(ss_aeskw_unwrap(out, kek, 32, in, bad_in[i], &st));
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  }
  ss_status st;
  ss_status_init(&st);
  assert_false(ss_aeskw_unwrap(out, kek, 32, in, 16, &st));
  assert_string_equal(st.msg,
                      "AES key unwrap: the wrapped key must be a multiple of "
                      "8 bytes and at least 24; got 16");
  const size_t bad_kek[] = {0, 15, 17, 31, 33, 64};
  for (size_t i = 0; i < sizeof(bad_kek) / sizeof(bad_kek[0]); i++) {
    ss_status_init(&st);
    assert_false(ss_aeskw_unwrap(out, kek, bad_kek[i], in, 24, &st));
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  }
  assert_false(ss_aeskw_unwrap(NULL, kek, 16, in, 24, &st));
  assert_false(ss_aeskw_unwrap(out, kek, 16, NULL, 24, NULL));
}

static void test_aeskw_unwrap_rejects_every_flipped_bit_and_wipes_output(
    void **state) {
  (void)state;
  uint8_t kek[24];
  uint8_t key[32];
  uint8_t wrapped[40];
  fill(kek, sizeof(kek), 1);
  fill(key, sizeof(key), 2);
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_aeskw_wrap(wrapped, kek, sizeof(kek), key, sizeof(key), &st));
  for (size_t bit = 0; bit < 8 * sizeof(wrapped); bit++) {
    wrapped[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    uint8_t out[32];
    memset(out, 0x55, sizeof(out));
    ss_status_init(&st);
    assert_false(
        ss_aeskw_unwrap(out, kek, sizeof(kek), wrapped, sizeof(wrapped), &st));
    assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
    assert_string_equal(st.msg, "AES key unwrap failed integrity check");
    assert_true(all_zero(out, sizeof(out)));
    wrapped[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
}

static void test_aeskw_unwrap_under_the_wrong_kek_fails_integrity_check(
    void **state) {
  (void)state;
  uint8_t kek[16];
  uint8_t other[16];
  uint8_t key[16];
  uint8_t wrapped[24];
  uint8_t out[16];
  fill(kek, sizeof(kek), 3);
  fill(other, sizeof(other), 4);
  fill(key, sizeof(key), 5);
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_aeskw_wrap(wrapped, kek, sizeof(kek), key, sizeof(key), &st));
  assert_false(ss_aeskw_unwrap(out, other, sizeof(other), wrapped,
                               sizeof(wrapped), &st));
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
  assert_true(all_zero(out, sizeof(out)));
}

static void test_aeskw_wraps_and_unwraps_in_place(void **state) {
  (void)state;
  uint8_t kek[32];
  uint8_t key[24];
  uint8_t buf[32];
  uint8_t wrapped[32];
  fill(kek, sizeof(kek), 6);
  fill(key, sizeof(key), 7);
  memcpy(buf, key, sizeof(key));
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_aeskw_wrap(wrapped, kek, sizeof(kek), key, sizeof(key), &st));
  assert_true(ss_aeskw_wrap(buf, kek, sizeof(kek), buf, sizeof(key), &st));
  assert_memory_equal(buf, wrapped, sizeof(wrapped));
  assert_true(ss_aeskw_unwrap(buf, kek, sizeof(kek), buf, sizeof(buf), &st));
  assert_memory_equal(buf, key, sizeof(key));
}

typedef ss_test_vector_file vector_file;

static vector_file aes_wrap_file = {"wycheproof/aes_wrap_test.json", NULL,
                                    NULL};

// A valid case must wrap to exactly ct and unwrap to msg. An invalid case
// must not unwrap, and must not wrap either when msg has a size KW refuses.
// An acceptable case may go either way, but a success must be correct.
static void test_aeskw_matches_wycheproof_vectors(void **state) {
  vector_file *file = *state;
  size_t valid = 0;
  size_t invalid = 0;
  size_t acceptable = 0;
  ss_buf key = {0};
  ss_buf msg = {0};
  ss_buf ct = {0};
  size_t gi;
  json_t *group;
  json_array_foreach(json_object_get(file->doc, "testGroups"), gi, group) {
    size_t ti;
    json_t *test;
    json_array_foreach(json_object_get(group, "tests"), ti, test) {
      long long tc_id = json_integer_value(json_object_get(test, "tcId"));
      const char *result = json_string_value(json_object_get(test, "result"));
      assert_non_null(result);
      hex(&key, json_string_value(json_object_get(test, "key")));
      hex(&msg, json_string_value(json_object_get(test, "msg")));
      hex(&ct, json_string_value(json_object_get(test, "ct")));
      uint8_t *out = malloc(msg.len + ct.len + 8);
      assert_non_null(out);
      ss_status st;
      ss_status_init(&st);
      int wrapped =
          ss_aeskw_wrap(out, key.data, key.len, msg.data, msg.len, &st);
      int wrap_matches =
          wrapped && msg.len + 8 == ct.len && memcmp(out, ct.data, ct.len) == 0;
      ss_status_init(&st);
      int unwrapped =
          ss_aeskw_unwrap(out, key.data, key.len, ct.data, ct.len, &st);
      int unwrap_matches = unwrapped && ct.len == msg.len + 8 &&
                           memcmp(out, msg.data, msg.len) == 0;
      if (strcmp(result, "valid") == 0) {
        if (!wrap_matches || !unwrap_matches) {
          fail_msg("tcId %lld: valid case: wrap %s, unwrap %s (%s)", tc_id,
                   wrap_matches ? "ok" : "wrong",
                   unwrap_matches ? "ok" : "wrong", st.msg);
        }
        valid++;
      } else if (strcmp(result, "invalid") == 0) {
        int msg_size_ok = msg.len >= 16 && msg.len % 8 == 0;
        if (unwrapped || (wrapped && !msg_size_ok)) {
          fail_msg("tcId %lld: invalid case accepted", tc_id);
        }
        if (st.code != GRPC_STATUS_DATA_LOSS &&
            st.code != GRPC_STATUS_INVALID_ARGUMENT) {
          fail_msg("tcId %lld: invalid case gave %s", tc_id,
                   ss_status_code_name(st.code));
        }
        if (!all_zero(out, ct.len >= 24 && ct.len % 8 == 0 ? ct.len - 8 : 0)) {
          fail_msg("tcId %lld: output not wiped after failure", tc_id);
        }
        invalid++;
      } else {
        if ((wrapped && !wrap_matches) || (unwrapped && !unwrap_matches)) {
          fail_msg("tcId %lld: acceptable case gave a wrong result", tc_id);
        }
        acceptable++;
      }
      free(out);
    }
  }
  ss_buf_cleanup(&key);
  ss_buf_cleanup(&msg);
  ss_buf_cleanup(&ct);
  printf("%s: ran %zu cases (%zu valid, %zu invalid, %zu acceptable)\n",
         file->path, valid + invalid + acceptable, valid, invalid, acceptable);
  assert_true(valid > 0);
  assert_true(invalid > 0);
}

// ---- Concat KDF ----

// RFC 7518 Appendix C: Z from the ECDH-ES example, "A128GCM", apu "Alice",
// apv "Bob", 128 bits -> VqqN6vgjbSBcIijNcacQGg.
static void test_concat_kdf_matches_rfc7518_appendix_c(void **state) {
  (void)state;
  static const uint8_t z[] = {
      158, 86,  217, 29,  129, 113, 53,  211, 114, 131, 66,
      131, 191, 132, 38,  156, 251, 49,  110, 163, 218, 128,
      106, 72,  246, 218, 167, 121, 140, 254, 144, 196,
  };
  static const uint8_t want[] = {86, 170, 141, 234, 248, 35,  109, 32,
                                 92, 34,  40,  205, 113, 167, 16,  26};
  uint8_t out[16];
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_concat_kdf(out, sizeof(out), z, sizeof(z), "A128GCM",
                            (const uint8_t *)"Alice", 5, (const uint8_t *)"Bob",
                            3, &st));
  assert_memory_equal(out, want, sizeof(want));
  printf("RFC 7518 Appendix C: ran 1 case\n");
}

// reference_kdf computes the Concat KDF from one OtherInfo buffer, built
// independently of keywrap.c's streaming form.
static void reference_kdf(uint8_t *out, size_t out_len, const uint8_t *z,
                          size_t z_len, const char *alg, const uint8_t *apu,
                          size_t apu_len, const uint8_t *apv, size_t apv_len) {
  uint8_t input[512];
  size_t alg_len = strlen(alg);
  size_t n = 4 + z_len + 4 + alg_len + 4 + apu_len + 4 + apv_len + 4;
  assert_true(n <= sizeof(input));
  size_t off = 4;
  memcpy(input + off, z, z_len);
  off += z_len;
  const uint8_t *fields[] = {(const uint8_t *)alg, apu, apv};
  const size_t lens[] = {alg_len, apu_len, apv_len};
  for (int f = 0; f < 3; f++) {
    input[off++] = (uint8_t)(lens[f] >> 24);
    input[off++] = (uint8_t)(lens[f] >> 16);
    input[off++] = (uint8_t)(lens[f] >> 8);
    input[off++] = (uint8_t)lens[f];
    if (lens[f] > 0) {
      memcpy(input + off, fields[f], lens[f]);
    }
    off += lens[f];
  }
  uint32_t bits = (uint32_t)(out_len * 8);
  input[off++] = (uint8_t)(bits >> 24);
  input[off++] = (uint8_t)(bits >> 16);
  input[off++] = (uint8_t)(bits >> 8);
  input[off++] = (uint8_t)bits;
  assert_int_equal(off, n);
  for (uint32_t counter = 1; (counter - 1) * 32 < out_len; counter++) {
    input[0] = 0;
    input[1] = 0;
    input[2] = 0;
    input[3] = (uint8_t)counter;
    uint8_t digest[32];
    SHA256(input, n, digest);
    size_t done = (counter - 1) * 32;
    size_t take = out_len - done < 32 ? out_len - done : 32;
    memcpy(out + done, digest, take);
  }
}

static void test_concat_kdf_spans_several_rounds_and_truncates(void **state) {
  (void)state;
  uint8_t z[66];
  uint8_t apu[65];
  fill(z, sizeof(z), 8);
  fill(apu, sizeof(apu), 9);
  const size_t lens[] = {1, 16, 24, 31, 32, 33, 48, 64, 65, 100};
  for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
    uint8_t out[100];
    uint8_t want[100];
    ss_status st;
    ss_status_init(&st);
    assert_true(ss_concat_kdf(out, lens[i], z, sizeof(z), "ECDH-ES+A256KW", apu,
                              sizeof(apu), (const uint8_t *)"v", 1, &st));
    reference_kdf(want, lens[i], z, sizeof(z), "ECDH-ES+A256KW", apu,
                  sizeof(apu), (const uint8_t *)"v", 1);
    assert_memory_equal(out, want, lens[i]);
  }
}

static void test_concat_kdf_accepts_empty_party_info(void **state) {
  (void)state;
  uint8_t z[32];
  fill(z, sizeof(z), 10);
  uint8_t out[32];
  uint8_t want[32];
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_concat_kdf(out, sizeof(out), z, sizeof(z), "A256GCM", NULL, 0,
                            NULL, 0, &st));
  reference_kdf(want, sizeof(want), z, sizeof(z), "A256GCM", NULL, 0, NULL, 0);
  assert_memory_equal(out, want, sizeof(want));
  // The length prefixes keep apu and apv apart: moving a byte changes the key.
  uint8_t moved[32];
  assert_true(ss_concat_kdf(out, sizeof(out), z, sizeof(z), "A256GCM",
                            (const uint8_t *)"ab", 2, (const uint8_t *)"c", 1,
                            &st));
  assert_true(ss_concat_kdf(moved, sizeof(moved), z, sizeof(z), "A256GCM",
                            (const uint8_t *)"a", 1, (const uint8_t *)"bc", 2,
                            &st));
  assert_true(memcmp(out, moved, sizeof(out)) != 0);
}

static void test_concat_kdf_rejects_bad_arguments(void **state) {
  (void)state;
  uint8_t z[32] = {1};
  uint8_t out[32];
  ss_status st;
  ss_status_init(&st);
  assert_false(
      ss_concat_kdf(out, 0, z, sizeof(z), "A128GCM", NULL, 0, NULL, 0, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_status_init(&st);
  assert_false(ss_concat_kdf(out, (size_t)UINT32_MAX / 8 + 1, z, sizeof(z),
                             "A128GCM", NULL, 0, NULL, 0, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_status_init(&st);
  assert_false(ss_concat_kdf(out, 16, z, 0, "A128GCM", NULL, 0, NULL, 0, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_status_init(&st);
  assert_false(
      ss_concat_kdf(out, 16, z, sizeof(z), NULL, NULL, 0, NULL, 0, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_status_init(&st);
  assert_false(
      ss_concat_kdf(out, 16, z, sizeof(z), "A128GCM", NULL, 3, NULL, 0, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_status_init(&st);
  assert_false(ss_concat_kdf(out, 16, z, sizeof(z), "A128GCM", z,
                             (size_t)UINT32_MAX + 1, NULL, 0, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_false(
      ss_concat_kdf(NULL, 16, z, sizeof(z), "A128GCM", NULL, 0, NULL, 0, NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_aeskw_matches_rfc3394_examples),
      cmocka_unit_test(test_aeskw_round_trips_every_kek_size),
      cmocka_unit_test(test_aeskw_wrap_rejects_bad_lengths),
      cmocka_unit_test(test_aeskw_unwrap_rejects_bad_lengths),
      cmocka_unit_test(
          test_aeskw_unwrap_rejects_every_flipped_bit_and_wipes_output),
      cmocka_unit_test(
          test_aeskw_unwrap_under_the_wrong_kek_fails_integrity_check),
      cmocka_unit_test(test_aeskw_wraps_and_unwraps_in_place),
      cmocka_unit_test_prestate_setup_teardown(
          test_aeskw_matches_wycheproof_vectors, ss_test_vector_file_setup,
          ss_test_vector_file_teardown, &aes_wrap_file),
      cmocka_unit_test(test_concat_kdf_matches_rfc7518_appendix_c),
      cmocka_unit_test(test_concat_kdf_spans_several_rounds_and_truncates),
      cmocka_unit_test(test_concat_kdf_accepts_empty_party_info),
      cmocka_unit_test(test_concat_kdf_rejects_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
