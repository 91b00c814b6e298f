// Behaviour of lib/jose's JWE layer: round trips for every alg x enc x zip,
// the stream encryptor and decryptor, parts <-> compact, header members, and
// every refusal with its error.
#include "lib/jose/jwe.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "lib/jose/b64url.h"
#include "lib/jose/content.h"
#include "lib/jose/jwk.h"
#include "lib/jose/jwk_internal.h"
#include "lib/jose/jwks.h"

typedef struct test_keys {
  ss_jwk *rsa;
  ss_jwk *p256;
  ss_jwk *p384;
  ss_jwk *p521;
  ss_jwk *x25519;
  ss_jwk *oct[65];  // oct[n]: an n-byte key, for n in 16, 24, 32, 48, 64
} test_keys;

static test_keys keys;

static const char *const kEncs[] = {"A128GCM",       "A192GCM",
                                    "A256GCM",       "A128CBC-HS256",
                                    "A192CBC-HS384", "A256CBC-HS512"};
#define NUM_ENCS (sizeof(kEncs) / sizeof(kEncs[0]))

static size_t enc_key_len(const char *enc) {
  static const size_t lens[NUM_ENCS] = {16, 24, 32, 32, 48, 64};
  for (size_t i = 0; i < NUM_ENCS; i++) {
    if (strcmp(kEncs[i], enc) == 0) {
      return lens[i];
    }
  }
  return 0;
}

static int setup_keys(void **state) {
  (void)state;
  ss_status st;
  keys.rsa = ss_jwk_generate("RSA", NULL, 2048, &st);
  keys.p256 = ss_jwk_generate("EC", "P-256", 0, &st);
  keys.p384 = ss_jwk_generate("EC", "P-384", 0, &st);
  keys.p521 = ss_jwk_generate("EC", "P-521", 0, &st);
  keys.x25519 = ss_jwk_generate("OKP", "X25519", 0, &st);
  static const size_t oct_lens[] = {16, 24, 32, 48, 64};
  for (size_t i = 0; i < sizeof(oct_lens) / sizeof(oct_lens[0]); i++) {
    keys.oct[oct_lens[i]] =
        ss_jwk_generate("oct", NULL, (unsigned)(oct_lens[i] * 8), &st);
    if (keys.oct[oct_lens[i]] == NULL) {
      return -1;
    }
  }
  return keys.rsa == NULL || keys.p256 == NULL || keys.p384 == NULL ||
         keys.p521 == NULL || keys.x25519 == NULL;
}

static int teardown_keys(void **state) {
  (void)state;
  ss_jwk_free(keys.rsa);
  ss_jwk_free(keys.p256);
  ss_jwk_free(keys.p384);
  ss_jwk_free(keys.p521);
  ss_jwk_free(keys.x25519);
  for (size_t i = 0; i < 65; i++) {
    ss_jwk_free(keys.oct[i]);
  }
  memset(&keys, 0, sizeof(keys));
  return 0;
}

static void fill_pattern(uint8_t *buf, size_t len, unsigned seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < len; i++) {
    x = x * 1103515245u + 12345u;
    buf[i] = (uint8_t)(x >> 16);
  }
}

// round_trip encrypts |len| bytes to |key|, decrypts through both the parts
// and the compact form, and checks the plaintext.
static void round_trip(const ss_jwk *key, const char *alg, const char *enc,
                       int zip, size_t len) {
  uint8_t *pt = malloc(len + 1);
  assert_non_null(pt);
  // Half of each plaintext repeats so that DEFLATE has something to do.
  fill_pattern(pt, len / 2, (unsigned)len);
  memset(pt + len / 2, 'a', len - len / 2);
  ss_status st;
  ss_status_init(&st);
  ss_jwe_encrypt_opts opts = {
      .alg = alg, .enc = enc, .zip = zip, .allow_dir = 1};
  ss_buf compact = {0}, out = {0};
  if (!ss_jwe_encrypt_compact(&compact, key, &opts, pt, len, &st)) {
    fail_msg("%s/%s zip=%d: encrypt: %s", alg, enc, zip, st.msg);
  }
  ss_jwe_decrypt_opts dec_opts = {.allow_dir = 1};
  ss_jwe_decryptor *dec = ss_jwe_decryptor_new(key, NULL, &dec_opts, &st);
  assert_non_null(dec);
  if (!ss_jwe_decryptor_open_compact(dec, &out, (const char *)compact.data,
                                     compact.len, &st)) {
    fail_msg("%s/%s zip=%d: decrypt: %s", alg, enc, zip, st.msg);
  }
  assert_int_equal(out.len, len);
  assert_memory_equal(out.data, pt, len);

  const ss_jwe_header *header = ss_jwe_decryptor_header(dec);
  const char *value;
  assert_true(ss_jwe_header_get_string(header, "alg", &value, &st));
  assert_string_equal(value, alg);
  assert_true(ss_jwe_header_get_string(header, "enc", &value, &st));
  assert_string_equal(value, enc);
  assert_int_equal(ss_jwe_header_has(header, "zip"), zip);

  // The same JWE in parts form decrypts to the same plaintext and converts
  // back to the identical compact string.
  ss_jwe_msg msg;
  ss_jwe_msg_init(&msg);
  ss_buf again = {0};
  assert_true(ss_jwe_compact_to_parts(&msg, (const char *)compact.data,
                                      compact.len, 0, &st));
  assert_true(ss_jwe_parts_to_compact(&again, &msg.parts, &st));
  assert_int_equal(again.len, compact.len);
  assert_memory_equal(again.data, compact.data, compact.len);
  assert_true(ss_jwe_decryptor_open(dec, &out, &msg.parts, &st));
  assert_int_equal(out.len, len);
  ss_jwe_msg_cleanup(&msg);
  ss_buf_cleanup(&again);
  ss_jwe_decryptor_free(dec);
  ss_buf_cleanup(&compact);
  ss_buf_cleanup(&out);
  free(pt);
}

static const ss_jwk *oct_for(size_t len) { return keys.oct[len]; }

static void test_jwe_round_trips_every_alg_enc_and_zip(void **state) {
  (void)state;
  const ss_jwk **asym[] = {(const ss_jwk **)&keys.p256,
                           (const ss_jwk **)&keys.p384,
                           (const ss_jwk **)&keys.p521,
                           (const ss_jwk **)&keys.x25519};
  static const char *const ecdh_algs[] = {"ECDH-ES", "ECDH-ES+A128KW",
                                          "ECDH-ES+A192KW", "ECDH-ES+A256KW"};
  static const struct {
    const char *alg;
    size_t kek_len;
  } oct_algs[] = {{"A128KW", 16},    {"A192KW", 24},    {"A256KW", 32},
                  {"A128GCMKW", 16}, {"A192GCMKW", 24}, {"A256GCMKW", 32}};
  static const size_t sizes[] = {0, 1, 15, 16, 17, 1000};
  int combos = 0;
  for (size_t e = 0; e < NUM_ENCS; e++) {
    for (int zip = 0; zip <= 1; zip++) {
      size_t len = sizes[(e + (size_t)zip) % 6];
      round_trip(keys.rsa, "RSA-OAEP", kEncs[e], zip, len);
      round_trip(keys.rsa, "RSA-OAEP-256", kEncs[e], zip, len);
      combos += 2;
      for (size_t a = 0; a < 4; a++) {
        for (size_t k = 0; k < 4; k++) {
          round_trip(*asym[k], ecdh_algs[a], kEncs[e], zip, len);
          combos++;
        }
      }
      for (size_t a = 0; a < 6; a++) {
        round_trip(oct_for(oct_algs[a].kek_len), oct_algs[a].alg, kEncs[e],
                   zip, len);
        combos++;
      }
      round_trip(oct_for(enc_key_len(kEncs[e])), "dir", kEncs[e], zip, len);
      combos++;
    }
  }
  printf("round trips: %d alg x enc x zip x key combinations\n", combos);
  assert_int_equal(combos, 6 * 2 * (2 + 16 + 6 + 1));
}

static void test_jwe_round_trips_a_large_compressible_payload(void **state) {
  (void)state;
  round_trip(keys.p256, "ECDH-ES+A256KW", "A256GCM", 1, 3 * 1024 * 1024);
  round_trip(keys.x25519, "ECDH-ES", "A256CBC-HS512", 0, 1024 * 1024 + 3);
}

static void test_stream_of_10000_messages_unwraps_once(void **state) {
  (void)state;
  ss_status st;
  ss_jwe_encrypt_opts opts = {.alg = "ECDH-ES+A256KW", .enc = "A256GCM"};
  ss_jwe_encryptor *enc = ss_jwe_encryptor_new(keys.p256, &opts, &st);
  assert_non_null(enc);
  ss_jwe_decryptor *dec = ss_jwe_decryptor_new(keys.p256, NULL, NULL, &st);
  assert_non_null(dec);
  ss_jwe_header *members = ss_jwe_header_new(&st);
  assert_non_null(members);
  ss_jwe_msg msg;
  ss_jwe_msg_init(&msg);
  ss_buf out = {0};
  uint8_t pt[300];
  uint8_t first_iv[12], first_ek[40];
  size_t first_ek_len = 0;
  for (int i = 0; i < 10000; i++) {
    fill_pattern(pt, sizeof(pt), (unsigned)i);
    size_t len = (size_t)(i % (int)sizeof(pt));
    assert_true(ss_jwe_header_set_int(members, "seq", i, &st));
    assert_true(ss_jwe_encryptor_seal(enc, &msg, members, pt, len, &st));
    if (i == 0) {
      assert_int_equal(msg.parts.iv.len, 12);
      memcpy(first_iv, msg.parts.iv.data, 12);
      first_ek_len = msg.parts.encrypted_key.len;
      assert_int_equal(first_ek_len, 40);
      memcpy(first_ek, msg.parts.encrypted_key.data, first_ek_len);
    } else {
      // Same wrapped key in every message; IVs share the stream prefix and
      // differ in the counter.
      assert_int_equal(msg.parts.encrypted_key.len, first_ek_len);
      assert_memory_equal(msg.parts.encrypted_key.data, first_ek,
                          first_ek_len);
      assert_memory_equal(msg.parts.iv.data, first_iv, 4);
      assert_memory_not_equal(msg.parts.iv.data, first_iv, 12);
    }
    if (!ss_jwe_decryptor_open(dec, &out, &msg.parts, &st)) {
      fail_msg("message %d: %s", i, st.msg);
    }
    assert_int_equal(out.len, len);
    assert_memory_equal(out.data, pt, len);
    int64_t seq;
    assert_true(
        ss_jwe_header_get_int(ss_jwe_decryptor_header(dec), "seq", &seq, &st));
    assert_int_equal(seq, i);
  }
  assert_int_equal(ss_jwe_decryptor_unwrap_count(dec), 1);
  printf("stream: 10000 messages, %llu unwrap\n",
         (unsigned long long)ss_jwe_decryptor_unwrap_count(dec));
  ss_buf_cleanup(&out);
  ss_jwe_msg_cleanup(&msg);
  ss_jwe_header_free(members);
  ss_jwe_decryptor_free(dec);
  ss_jwe_encryptor_free(enc);
}

static void test_each_stream_message_decrypts_alone(void **state) {
  (void)state;
  ss_status st;
  ss_jwe_encrypt_opts opts = {.alg = "RSA-OAEP-256", .enc = "A128CBC-HS256"};
  ss_jwe_encryptor *enc = ss_jwe_encryptor_new(keys.rsa, &opts, &st);
  assert_non_null(enc);
  ss_jwe_msg msg;
  ss_jwe_msg_init(&msg);
  ss_buf compact = {0}, out = {0};
  uint8_t first_iv[16];
  for (int i = 0; i < 3; i++) {
    uint8_t pt[1] = {(uint8_t)i};
    assert_true(ss_jwe_encryptor_seal(enc, &msg, NULL, pt, 1, &st));
    if (i == 0) {
      memcpy(first_iv, msg.parts.iv.data, 16);
    } else {
      assert_memory_not_equal(msg.parts.iv.data, first_iv, 16);
    }
    ss_buf_reset(&compact);
    assert_true(ss_jwe_parts_to_compact(&compact, &msg.parts, &st));
    // A new decryptor per message: nothing carried over from the stream.
    ss_jwe_decryptor *dec = ss_jwe_decryptor_new(keys.rsa, NULL, NULL, &st);
    assert_true(ss_jwe_decryptor_open_compact(
        dec, &out, (const char *)compact.data, compact.len, &st));
    assert_int_equal(out.len, 1);
    assert_int_equal(out.data[0], i);
    ss_jwe_decryptor_free(dec);
  }
  ss_buf_cleanup(&compact);
  ss_buf_cleanup(&out);
  ss_jwe_msg_cleanup(&msg);
  ss_jwe_encryptor_free(enc);
}

static void test_decryptor_unwraps_again_when_the_stream_changes(void **state) {
  (void)state;
  ss_status st;
  ss_jwe_encrypt_opts opts = {.alg = "A256KW", .enc = "A256GCM"};
  ss_jwe_decryptor *dec = ss_jwe_decryptor_new(keys.oct[32], NULL, NULL, &st);
  ss_jwe_msg msg;
  ss_jwe_msg_init(&msg);
  ss_buf out = {0};
  for (int stream = 0; stream < 3; stream++) {
    ss_jwe_encryptor *enc = ss_jwe_encryptor_new(keys.oct[32], &opts, &st);
    for (int i = 0; i < 5; i++) {
      assert_true(ss_jwe_encryptor_seal(enc, &msg, NULL,
                                        (const uint8_t *)"data", 4, &st));
      assert_true(ss_jwe_decryptor_open(dec, &out, &msg.parts, &st));
    }
    ss_jwe_encryptor_free(enc);
  }
  assert_int_equal(ss_jwe_decryptor_unwrap_count(dec), 3);
  ss_buf_cleanup(&out);
  ss_jwe_msg_cleanup(&msg);
  ss_jwe_decryptor_free(dec);
}

static void test_caller_header_members_are_readable_after_decryption(
    void **state) {
  (void)state;
  ss_status st;
  ss_jwe_header *extra = ss_jwe_header_new(&st);
  assert_true(ss_jwe_header_set_string(extra, "qid", "query-7", &st));
  assert_true(ss_jwe_header_set_int(extra, "big", INT64_C(1) << 53, &st));
  ss_jwe_header *per_message = ss_jwe_header_new(&st);
  assert_true(ss_jwe_header_set_int(per_message, "seq", -3, &st));
  assert_true(ss_jwe_header_set_string(per_message, "note", "a\"b\\c\n", &st));
  ss_jwe_encrypt_opts opts = {
      .alg = "ECDH-ES", .enc = "A256GCM", .extra = extra};
  ss_jwe_encryptor *enc = ss_jwe_encryptor_new(keys.x25519, &opts, &st);
  assert_non_null(enc);
  ss_jwe_msg msg;
  ss_jwe_msg_init(&msg);
  assert_true(ss_jwe_encryptor_seal(enc, &msg, per_message,
                                    (const uint8_t *)"x", 1, &st));
  ss_jwe_decryptor *dec = ss_jwe_decryptor_new(keys.x25519, NULL, NULL, &st);
  ss_buf out = {0};
  assert_true(ss_jwe_decryptor_open(dec, &out, &msg.parts, &st));
  const ss_jwe_header *header = ss_jwe_decryptor_header(dec);
  const char *text;
  int64_t number;
  assert_true(ss_jwe_header_get_string(header, "qid", &text, &st));
  assert_string_equal(text, "query-7");
  assert_true(ss_jwe_header_get_int(header, "big", &number, &st));
  assert_int_equal(number, INT64_C(1) << 53);
  assert_true(ss_jwe_header_get_int(header, "seq", &number, &st));
  assert_int_equal(number, -3);
  assert_true(ss_jwe_header_get_string(header, "note", &text, &st));
  assert_string_equal(text, "a\"b\\c\n");
  assert_false(ss_jwe_header_get_int(header, "qid", &number, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_false(ss_jwe_header_get_string(header, "absent", &text, &st));
  assert_int_equal(st.code, GRPC_STATUS_NOT_FOUND);
  assert_null(text);
  // A per-message member may not repeat a stream member.
  assert_true(ss_jwe_header_set_string(per_message, "qid", "again", &st));
  assert_false(ss_jwe_encryptor_seal(enc, &msg, per_message,
                                     (const uint8_t *)"x", 1, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "qid"));
  assert_int_equal(msg.parts.ciphertext.len, 0);
  ss_buf_cleanup(&out);
  ss_jwe_decryptor_free(dec);
  ss_jwe_msg_cleanup(&msg);
  ss_jwe_encryptor_free(enc);
  ss_jwe_header_free(extra);
  ss_jwe_header_free(per_message);
}

static void test_header_refuses_reserved_member_names(void **state) {
  (void)state;
  ss_status st;
  ss_jwe_header *header = ss_jwe_header_new(&st);
  static const char *const reserved[] = {"alg", "enc", "zip", "epk", "crit",
                                         "kid", "iv",  "tag", "p2s"};
  for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
    assert_false(ss_jwe_header_set_string(header, reserved[i], "x", &st));
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(st.msg, "reserved"));
  }
  assert_false(ss_jwe_header_has(header, "alg"));
  ss_jwe_header_free(header);
}

// --- Refusals --------------------------------------------------------------

// decrypt_expect_error opens |compact| with |key| and checks the failure.
static void decrypt_expect_error(const ss_jwk *key, const char *compact,
                                 grpc_status_code code, const char *needle) {
  ss_status st;
  ss_status_init(&st);
  ss_jwe_decryptor *dec = ss_jwe_decryptor_new(key, NULL, NULL, &st);
  assert_non_null(dec);
  ss_buf out = {0};
  int ok = ss_jwe_decryptor_open_compact(dec, &out, compact, strlen(compact),
                                         &st);
  if (ok) {
    fail_msg("expected an error containing \"%s\"", needle);
  }
  assert_int_equal(out.len, 0);
  assert_null(ss_jwe_decryptor_header(dec));
  if (st.code != code || strstr(st.msg, needle) == NULL) {
    fail_msg("expected %s \"%s\", got %s \"%s\"", ss_status_code_name(code),
             needle, ss_status_code_name(st.code), st.msg);
  }
  ss_buf_cleanup(&out);
  ss_jwe_decryptor_free(dec);
}

// jwe_with_header builds a compact JWE whose protected header is |json| and
// whose other parts are plausible but arbitrary. Direct ECDH-ES gets the
// empty encrypted key it requires.
static char *jwe_with_header(const char *json) {
  size_t json_len = strlen(json);
  size_t b64_len = ss_b64url_encoded_len(json_len);
  const char *rest =
      strstr(json, "\"ECDH-ES\"") != NULL
          ? "..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA"
          : ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAA.AAAA."
            "AAAAAAAAAAAAAAAAAAAAAA";
  char *out = malloc(b64_len + strlen(rest) + 1);
  ss_b64url_encode(out, (const uint8_t *)json, json_len);
  strcpy(out + b64_len, rest);
  return out;
}

static void expect_header_refused(const ss_jwk *key, const char *header_json,
                                  grpc_status_code code, const char *needle) {
  char *jwe = jwe_with_header(header_json);
  decrypt_expect_error(key, jwe, code, needle);
  free(jwe);
}

static void test_decrypt_refuses_alg_none(void **state) {
  (void)state;
  expect_header_refused(keys.oct[16], "{\"alg\":\"none\",\"enc\":\"A128GCM\"}",
                        GRPC_STATUS_INVALID_ARGUMENT, "\"none\" is refused");
}

static void test_decrypt_refuses_rsa1_5(void **state) {
  (void)state;
  expect_header_refused(keys.rsa, "{\"alg\":\"RSA1_5\",\"enc\":\"A128GCM\"}",
                        GRPC_STATUS_INVALID_ARGUMENT, "RSA1_5");
}

static void test_decrypt_refuses_pbes2(void **state) {
  (void)state;
  expect_header_refused(
      keys.oct[16],
      "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A128GCM\",\"p2s\":\"AAAA\","
      "\"p2c\":1000}",
      GRPC_STATUS_INVALID_ARGUMENT, "password-based");
}

static void test_decrypt_refuses_unknown_alg_naming_supported_ones(
    void **state) {
  (void)state;
  expect_header_refused(keys.oct[16], "{\"alg\":\"A128KWX\",\"enc\":\"A128GCM\"}",
                        GRPC_STATUS_INVALID_ARGUMENT,
                        "unsupported alg \"A128KWX\"; supported: RSA-OAEP");
}

static void test_decrypt_refuses_unknown_enc_naming_supported_ones(
    void **state) {
  (void)state;
  expect_header_refused(keys.oct[16], "{\"alg\":\"A128KW\",\"enc\":\"A128CTR\"}",
                        GRPC_STATUS_INVALID_ARGUMENT,
                        "unsupported enc \"A128CTR\"; supported: A128GCM");
}

static void test_decrypt_refuses_unknown_crit_member(void **state) {
  (void)state;
  expect_header_refused(
      keys.oct[16],
      "{\"alg\":\"A128KW\",\"enc\":\"A128GCM\",\"crit\":[\"exp\"],\"exp\":1}",
      GRPC_STATUS_INVALID_ARGUMENT, "critical header member \"exp\"");
  expect_header_refused(keys.oct[16],
                        "{\"alg\":\"A128KW\",\"enc\":\"A128GCM\",\"crit\":[]}",
                        GRPC_STATUS_INVALID_ARGUMENT, "non-empty array");
}

static void test_decrypt_refuses_duplicate_and_malformed_headers(void **state) {
  (void)state;
  expect_header_refused(
      keys.oct[16],
      "{\"alg\":\"A128KW\",\"alg\":\"dir\",\"enc\":\"A128GCM\"}",
      GRPC_STATUS_INVALID_ARGUMENT, "JWE protected header: invalid JSON");
  expect_header_refused(keys.oct[16], "[1,2]", GRPC_STATUS_INVALID_ARGUMENT,
                        "expected a JSON object");
  expect_header_refused(keys.oct[16], "{\"enc\":\"A128GCM\"}",
                        GRPC_STATUS_INVALID_ARGUMENT, "missing \"alg\"");
  expect_header_refused(keys.oct[16], "{\"alg\":7,\"enc\":\"A128GCM\"}",
                        GRPC_STATUS_INVALID_ARGUMENT, "\"alg\" must be a string");
  expect_header_refused(keys.oct[16],
                        "{\"alg\":\"A128KW\",\"enc\":\"A128GCM\",\"zip\":\"GZ\"}",
                        GRPC_STATUS_INVALID_ARGUMENT, "unsupported zip");
}

static void test_decrypt_refuses_dir_unless_enabled(void **state) {
  (void)state;
  expect_header_refused(keys.oct[16], "{\"alg\":\"dir\",\"enc\":\"A128GCM\"}",
                        GRPC_STATUS_INVALID_ARGUMENT, "\"dir\" is disabled");
  ss_status st;
  ss_buf out = {0};
  ss_jwe_encrypt_opts opts = {.alg = "dir", .enc = "A128GCM"};
  assert_false(ss_jwe_encrypt_compact(&out, keys.oct[16], &opts,
                                      (const uint8_t *)"x", 1, &st));
  assert_non_null(strstr(st.msg, "\"dir\" is disabled"));
  ss_buf_cleanup(&out);
}

static void test_decrypt_refuses_key_that_does_not_fit_alg(void **state) {
  (void)state;
  expect_header_refused(keys.p256,
                        "{\"alg\":\"RSA-OAEP\",\"enc\":\"A128GCM\"}",
                        GRPC_STATUS_INVALID_ARGUMENT, "needs an RSA key");
  expect_header_refused(keys.oct[32],
                        "{\"alg\":\"A128KW\",\"enc\":\"A128GCM\"}",
                        GRPC_STATUS_INVALID_ARGUMENT,
                        "needs an oct key of 128 bits");
  expect_header_refused(keys.rsa,
                        "{\"alg\":\"ECDH-ES\",\"enc\":\"A128GCM\"}",
                        GRPC_STATUS_INVALID_ARGUMENT, "needs an EC or OKP");
  ss_status st;
  ss_buf out = {0};
  ss_jwe_encrypt_opts opts = {.alg = "A256KW", .enc = "A128GCM"};
  assert_false(ss_jwe_encrypt_compact(&out, keys.oct[16], &opts,
                                      (const uint8_t *)"x", 1, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "needs an oct key of 256 bits"));
  ss_buf_cleanup(&out);
}

static void test_key_marked_for_one_alg_is_refused_for_another(void **state) {
  (void)state;
  ss_status st;
  const char *json =
      "{\"kty\":\"oct\",\"alg\":\"A128GCMKW\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}";
  ss_jwk *key = ss_jwk_parse(json, strlen(json), &st);
  assert_non_null(key);
  ss_buf out = {0};
  ss_jwe_encrypt_opts opts = {.alg = "A128KW", .enc = "A128GCM"};
  assert_false(ss_jwe_encrypt_compact(&out, key, &opts, (const uint8_t *)"x", 1,
                                      &st));
  assert_int_equal(st.code, GRPC_STATUS_FAILED_PRECONDITION);
  expect_header_refused(key, "{\"alg\":\"A128KW\",\"enc\":\"A128GCM\"}",
                        GRPC_STATUS_FAILED_PRECONDITION, "A128GCMKW");
  opts.alg = "A128GCMKW";
  assert_true(ss_jwe_encrypt_compact(&out, key, &opts, (const uint8_t *)"x", 1,
                                     &st));
  ss_buf_cleanup(&out);
  ss_jwk_free(key);
}

// oct_key_with_kid parses a 128-bit oct key whose "kid" is |kid_len| 'k's.
static ss_jwk *oct_key_with_kid(size_t kid_len) {
  static const char kHead[] = "{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\","
                              "\"kid\":\"";
  size_t len = sizeof(kHead) - 1 + kid_len + 2;
  char *json = malloc(len + 1);
  assert_non_null(json);
  memcpy(json, kHead, sizeof(kHead) - 1);
  memset(json + sizeof(kHead) - 1, 'k', kid_len);
  memcpy(json + sizeof(kHead) - 1 + kid_len, "\"}", 3);
  ss_status st;
  ss_jwk *key = ss_jwk_parse(json, len, &st);
  free(json);
  if (key == NULL) {
    fail_msg("kid of %zu bytes: %s", kid_len, st.msg);
  }
  return key;
}

static void test_encrypt_refuses_a_kid_too_long_for_the_header_naming_the_limit(
    void **state) {
  (void)state;
  ss_jwe_encrypt_opts opts = {.alg = "A128KW", .enc = "A128GCM"};
  // 10 KB alone is over the limit; 8180 bytes are over it with the rest of
  // the header.
  static const size_t kTooLong[] = {10000, 8180};
  for (size_t i = 0; i < 2; i++) {
    ss_jwk *key = oct_key_with_kid(kTooLong[i]);
    ss_status st;
    ss_status_init(&st);
    assert_null(ss_jwe_encryptor_new(key, &opts, &st));
    assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
    char limit[64];
    snprintf(limit, sizeof(limit), "over the limit of %d", SS_JWE_MAX_HEADER);
    char kid[64];
    snprintf(kid, sizeof(kid), "kid is %zu bytes", kTooLong[i]);
    if (strstr(st.msg, limit) == NULL || strstr(st.msg, kid) == NULL) {
      fail_msg("unexpected message: %s", st.msg);
    }
    ss_buf out = {0};
    assert_false(ss_jwe_encrypt_compact(&out, key, &opts,
                                        (const uint8_t *)"x", 1, &st));
    assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_int_equal(out.len, 0);
    ss_buf_cleanup(&out);
    ss_jwk_free(key);
  }
  // A long kid that fits still works.
  ss_jwk *key = oct_key_with_kid(7000);
  ss_buf out = {0};
  ss_status st;
  assert_true(ss_jwe_encrypt_compact(&out, key, &opts, (const uint8_t *)"x", 1,
                                     &st));
  ss_buf_cleanup(&out);
  ss_jwk_free(key);
}

static void test_decrypt_with_public_key_is_refused(void **state) {
  (void)state;
  ss_status st;
  ss_jwk *pub = ss_jwk_public(keys.p256, &st);
  assert_non_null(pub);
  expect_header_refused(pub, "{\"alg\":\"ECDH-ES\",\"enc\":\"A128GCM\"}",
                        GRPC_STATUS_FAILED_PRECONDITION, "needs a private key");
  ss_jwk_free(pub);
}

static void test_decrypt_refuses_epk_point_not_on_curve(void **state) {
  (void)state;
  // The recipient's own public point with y changed in its last bit is not
  // on the curve: an invalid-curve attack must fail before any ECDH.
  ss_status st;
  char *pub = ss_jwk_to_json(keys.p256, 0, &st);
  assert_non_null(pub);
  json_t *epk = json_loads(pub, 0, NULL);
  assert_non_null(epk);
  const char *y_text = json_string_value(json_object_get(epk, "y"));
  uint8_t y[32];
  size_t y_len;
  assert_true(ss_b64url_decode(y, &y_len, y_text, strlen(y_text), &st));
  y[31] ^= 1;
  char y_b64[44];
  ss_b64url_encode(y_b64, y, sizeof(y));
  y_b64[43] = '\0';
  json_object_set_new(epk, "y", json_string(y_b64));
  json_object_del(epk, "kid");
  json_t *header = json_pack("{s:s, s:s, s:o}", "alg", "ECDH-ES", "enc",
                             "A128GCM", "epk", epk);
  char *header_text = json_dumps(header, JSON_COMPACT);
  expect_header_refused(keys.p256, header_text, GRPC_STATUS_INVALID_ARGUMENT,
                        "curve");
  free(header_text);
  json_decref(header);
  free(pub);
}

static void test_decrypt_refuses_epk_on_another_curve(void **state) {
  (void)state;
  ss_status st;
  ss_jwe_encrypt_opts opts = {.alg = "ECDH-ES", .enc = "A128GCM"};
  ss_buf compact = {0};
  assert_true(ss_jwe_encrypt_compact(&compact, keys.p384, &opts,
                                     (const uint8_t *)"x", 1, &st));
  assert_true(ss_buf_nul_terminate(&compact));
  decrypt_expect_error(keys.p256, (const char *)compact.data,
                       GRPC_STATUS_INVALID_ARGUMENT, "");
  ss_buf_cleanup(&compact);
}

static void test_decrypt_refuses_all_zero_x25519_shared_secret(void **state) {
  (void)state;
  // The all-zero u-coordinate is a low-order point: every private key gives
  // the all-zero shared secret.
  expect_header_refused(
      keys.x25519,
      "{\"alg\":\"ECDH-ES\",\"enc\":\"A128GCM\",\"epk\":{\"kty\":\"OKP\","
      "\"crv\":\"X25519\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"
      "}",
      GRPC_STATUS_INVALID_ARGUMENT, "zero");
}

static void test_decrypt_refuses_wrong_number_of_parts(void **state) {
  (void)state;
  decrypt_expect_error(keys.oct[16], "eyJhbGciOiJBMTI4S1cifQ.AAAA.AAAA",
                       GRPC_STATUS_INVALID_ARGUMENT, "needs 5 parts");
  decrypt_expect_error(keys.oct[16], "a.b.c.d.e.f",
                       GRPC_STATUS_INVALID_ARGUMENT, "found 6");
  decrypt_expect_error(keys.oct[16], "", GRPC_STATUS_INVALID_ARGUMENT,
                       "needs 5 parts");
  decrypt_expect_error(keys.oct[16], "....", GRPC_STATUS_INVALID_ARGUMENT,
                       "protected header is empty");
}

static void test_decrypt_refuses_trailing_garbage(void **state) {
  (void)state;
  ss_status st;
  ss_jwe_encrypt_opts opts = {.alg = "A128KW", .enc = "A128GCM"};
  ss_buf compact = {0};
  assert_true(ss_jwe_encrypt_compact(&compact, keys.oct[16], &opts,
                                     (const uint8_t *)"hello", 5, &st));
  static const char *const garbage[] = {"\n", " ", "=", ".", "A", "\x00"};
  for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
    ss_buf bad = {0};
    assert_true(ss_buf_append(&bad, compact.data, compact.len));
    assert_true(ss_buf_append(&bad, garbage[i], 1));
    ss_jwe_decryptor *dec = ss_jwe_decryptor_new(keys.oct[16], NULL, NULL, &st);
    ss_buf out = {0};
    assert_false(ss_jwe_decryptor_open_compact(dec, &out,
                                               (const char *)bad.data, bad.len,
                                               &st));
    assert_int_equal(out.len, 0);
    ss_buf_cleanup(&out);
    ss_jwe_decryptor_free(dec);
    ss_buf_cleanup(&bad);
  }
  ss_buf_cleanup(&compact);
}

static void test_decrypt_refuses_oversized_input(void **state) {
  (void)state;
  ss_status st;
  ss_jwe_decrypt_opts opts = {.max_len = 100};
  ss_jwe_decryptor *dec = ss_jwe_decryptor_new(keys.oct[16], NULL, &opts, &st);
  char big[200];
  memset(big, 'A', sizeof(big));
  ss_buf out = {0};
  assert_false(ss_jwe_decryptor_open_compact(dec, &out, big, sizeof(big), &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(st.msg, "exceeds the limit of 100"));
  ss_jwe_decryptor_free(dec);
  // An oversized protected header is refused before it is decoded.
  char *header = malloc(3 * SS_JWE_MAX_HEADER);
  memset(header, ' ', 3 * SS_JWE_MAX_HEADER);
  memcpy(header, "{\"alg\":\"A128KW\",\"enc\":\"A128GCM\"", 31);
  memcpy(header + 3 * SS_JWE_MAX_HEADER - 2, "}", 2);
  expect_header_refused(keys.oct[16], header, GRPC_STATUS_RESOURCE_EXHAUSTED,
                        "exceeds");
  free(header);
}

// tampered_parts encrypts a message and returns it in parts form in |msg|.
static void encrypt_parts(ss_jwe_msg *msg, const ss_jwk *key, const char *alg,
                          const char *enc) {
  ss_status st;
  ss_jwe_encrypt_opts opts = {.alg = alg, .enc = enc};
  ss_jwe_encryptor *encryptor = ss_jwe_encryptor_new(key, &opts, &st);
  assert_non_null(encryptor);
  assert_true(ss_jwe_encryptor_seal(encryptor, msg, NULL,
                                    (const uint8_t *)"attack at dawn", 14,
                                    &st));
  ss_jwe_encryptor_free(encryptor);
}

static void expect_parts_refused(const ss_jwk *key, const ss_jwe_parts *parts,
                                 grpc_status_code code, const char *needle) {
  ss_status st;
  ss_jwe_decryptor *dec = ss_jwe_decryptor_new(key, NULL, NULL, &st);
  ss_buf out = {0};
  assert_false(ss_jwe_decryptor_open(dec, &out, parts, &st));
  assert_int_equal(out.len, 0);
  if (st.code != code || strstr(st.msg, needle) == NULL) {
    fail_msg("expected %s \"%s\", got %s \"%s\"", ss_status_code_name(code),
             needle, ss_status_code_name(st.code), st.msg);
  }
  ss_buf_cleanup(&out);
  ss_jwe_decryptor_free(dec);
}

static void test_decrypt_refuses_iv_and_tag_of_wrong_length(void **state) {
  (void)state;
  for (size_t e = 0; e < NUM_ENCS; e++) {
    ss_jwe_msg msg;
    ss_jwe_msg_init(&msg);
    encrypt_parts(&msg, keys.oct[32], "A256KW", kEncs[e]);
    ss_jwe_parts parts = msg.parts;
    parts.iv.len--;
    expect_parts_refused(keys.oct[32], &parts, GRPC_STATUS_INVALID_ARGUMENT,
                         "IV");
    parts = msg.parts;
    parts.tag.len--;
    expect_parts_refused(keys.oct[32], &parts, GRPC_STATUS_INVALID_ARGUMENT,
                         "tag");
    parts = msg.parts;
    parts.tag.len = 0;
    expect_parts_refused(keys.oct[32], &parts, GRPC_STATUS_INVALID_ARGUMENT,
                         "tag");
    ss_jwe_msg_cleanup(&msg);
  }
}

static void test_decrypt_reports_tampering_as_data_loss(void **state) {
  (void)state;
  const ss_jwk *tamper_keys[] = {keys.oct[32], keys.p256, keys.rsa,
                                 keys.x25519};
  const char *algs[] = {"A256KW", "ECDH-ES+A128KW", "RSA-OAEP-256", "ECDH-ES"};
  for (size_t k = 0; k < 4; k++) {
    for (size_t e = 0; e < NUM_ENCS; e++) {
      ss_jwe_msg msg;
      ss_jwe_msg_init(&msg);
      encrypt_parts(&msg, tamper_keys[k], algs[k], kEncs[e]);
      ss_cbs *fields[] = {&msg.parts.iv, &msg.parts.ciphertext, &msg.parts.tag,
                          &msg.parts.encrypted_key};
      for (size_t f = 0; f < 4; f++) {
        if (fields[f]->len == 0) {
          continue;
        }
        uint8_t *byte = (uint8_t *)(uintptr_t)fields[f]->data;
        *byte ^= 0x01;
        expect_parts_refused(tamper_keys[k], &msg.parts, GRPC_STATUS_DATA_LOSS,
                             "");
        *byte ^= 0x01;
      }
      ss_jwe_msg_cleanup(&msg);
    }
  }
}

static void test_failed_open_keeps_the_cached_key(void **state) {
  (void)state;
  ss_status st;
  ss_jwe_encrypt_opts opts = {.alg = "ECDH-ES", .enc = "A256GCM"};
  ss_jwe_encryptor *enc = ss_jwe_encryptor_new(keys.p256, &opts, &st);
  ss_jwe_decryptor *dec = ss_jwe_decryptor_new(keys.p256, NULL, NULL, &st);
  ss_jwe_msg msg;
  ss_jwe_msg_init(&msg);
  ss_buf out = {0};
  assert_true(ss_jwe_encryptor_seal(enc, &msg, NULL, (const uint8_t *)"a", 1,
                                    &st));
  assert_true(ss_jwe_decryptor_open(dec, &out, &msg.parts, &st));
  assert_true(ss_jwe_encryptor_seal(enc, &msg, NULL, (const uint8_t *)"b", 1,
                                    &st));
  uint8_t *tag = (uint8_t *)(uintptr_t)msg.parts.tag.data;
  tag[0] ^= 1;
  assert_false(ss_jwe_decryptor_open(dec, &out, &msg.parts, &st));
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
  assert_int_equal(out.len, 0);
  tag[0] ^= 1;
  assert_true(ss_jwe_decryptor_open(dec, &out, &msg.parts, &st));
  assert_int_equal(out.data[0], 'b');
  assert_int_equal(ss_jwe_decryptor_unwrap_count(dec), 1);
  ss_buf_cleanup(&out);
  ss_jwe_msg_cleanup(&msg);
  ss_jwe_decryptor_free(dec);
  ss_jwe_encryptor_free(enc);
}

static void test_decompression_bomb_stops_at_the_cap(void **state) {
  (void)state;
  ss_status st;
  size_t len = 8 * 1024 * 1024;
  uint8_t *zeros = calloc(1, len);
  ss_jwe_encrypt_opts opts = {.alg = "A128KW", .enc = "A128GCM", .zip = 1};
  ss_buf compact = {0};
  assert_true(
      ss_jwe_encrypt_compact(&compact, keys.oct[16], &opts, zeros, len, &st));
  // 8 MiB of zeros deflates to a few KiB.
  assert_true(compact.len < 64 * 1024);
  ss_jwe_decrypt_opts dec_opts = {.max_inflate = 1024 * 1024};
  ss_jwe_decryptor *dec =
      ss_jwe_decryptor_new(keys.oct[16], NULL, &dec_opts, &st);
  ss_buf out = {0};
  assert_false(ss_jwe_decryptor_open_compact(
      dec, &out, (const char *)compact.data, compact.len, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(st.msg, "exceeds the limit of 1048576"));
  assert_int_equal(out.len, 0);
  // The buffer never grew far past the cap.
  assert_true(out.cap <= 2 * 1024 * 1024 + 65536);
  ss_jwe_decryptor_free(dec);
  dec_opts.max_inflate = len;
  dec = ss_jwe_decryptor_new(keys.oct[16], NULL, &dec_opts, &st);
  assert_true(ss_jwe_decryptor_open_compact(
      dec, &out, (const char *)compact.data, compact.len, &st));
  assert_int_equal(out.len, len);
  assert_memory_equal(out.data, zeros, len);
  ss_jwe_decryptor_free(dec);
  ss_buf_cleanup(&out);
  ss_buf_cleanup(&compact);
  free(zeros);
}

static void test_jwks_decryption_selects_key_by_kid(void **state) {
  (void)state;
  ss_status st;
  char *p256 = ss_jwk_to_json(keys.p256, 1, &st);
  char *x25519 = ss_jwk_to_json(keys.x25519, 1, &st);
  char set[4096];
  snprintf(set, sizeof(set), "{\"keys\":[%s,%s]}", p256, x25519);
  ss_jwks *jwks = ss_jwks_parse(set, strlen(set), &st);
  assert_non_null(jwks);
  ss_jwe_encrypt_opts opts = {.alg = "ECDH-ES", .enc = "A128GCM"};
  ss_buf compact = {0}, out = {0};
  assert_true(ss_jwe_encrypt_compact(&compact, keys.x25519, &opts,
                                     (const uint8_t *)"to x25519", 9, &st));
  ss_jwe_decryptor *dec = ss_jwe_decryptor_new(NULL, jwks, NULL, &st);
  assert_true(ss_jwe_decryptor_open_compact(
      dec, &out, (const char *)compact.data, compact.len, &st));
  assert_int_equal(out.len, 9);
  ss_buf_reset(&compact);
  assert_true(ss_jwe_encrypt_compact(&compact, keys.p384, &opts,
                                     (const uint8_t *)"to p384", 7, &st));
  assert_false(ss_jwe_decryptor_open_compact(
      dec, &out, (const char *)compact.data, compact.len, &st));
  assert_int_equal(st.code, GRPC_STATUS_NOT_FOUND);
  assert_non_null(strstr(st.msg, "no key with kid"));
  ss_jwe_decryptor_free(dec);
  ss_jwks_free(jwks);
  ss_buf_cleanup(&compact);
  ss_buf_cleanup(&out);
  free(p256);
  OPENSSL_cleanse(x25519, strlen(x25519));
  free(x25519);
}

static void test_encrypt_refuses_unsupported_algorithms(void **state) {
  (void)state;
  ss_status st;
  ss_buf out = {0};
  ss_jwe_encrypt_opts opts = {.alg = "RSA1_5", .enc = "A128GCM"};
  assert_false(
      ss_jwe_encrypt_compact(&out, keys.rsa, &opts, (const uint8_t *)"", 0, &st));
  assert_non_null(strstr(st.msg, "RSA1_5"));
  opts.alg = "RSA-OAEP";
  opts.enc = "A512GCM";
  assert_false(
      ss_jwe_encrypt_compact(&out, keys.rsa, &opts, (const uint8_t *)"", 0, &st));
  assert_non_null(strstr(st.msg, "unsupported enc \"A512GCM\""));
  opts.enc = NULL;
  assert_false(
      ss_jwe_encrypt_compact(&out, keys.rsa, &opts, (const uint8_t *)"", 0, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(out.len, 0);
  ss_buf_cleanup(&out);
}

static void test_compact_to_parts_refuses_bad_base64url(void **state) {
  (void)state;
  ss_status st;
  ss_jwe_msg msg;
  ss_jwe_msg_init(&msg);
  const char *bad = "eyJhbGciOiJkaXIifQ..AAAA.AA+A.AAAA";
  assert_false(ss_jwe_compact_to_parts(&msg, bad, strlen(bad), 0, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "JWE ciphertext"));
  assert_int_equal(msg.parts.ciphertext.len, 0);
  assert_null(msg.parts.protected_b64.data);
  ss_jwe_msg_cleanup(&msg);
}

static void test_dir_encryption_draws_a_random_iv_per_message(void **state) {
  (void)state;
  // With "dir" the key outlives every stream: counter IVs starting at zero
  // in each encryptor would repeat under it.
  ss_status st;
  ss_jwe_encrypt_opts opts = {
      .alg = "dir", .enc = "A256GCM", .allow_dir = 1};
  static const uint8_t kZeros[8] = {0};
  uint8_t ivs[64][12];
  for (int i = 0; i < 64; i++) {
    ss_jwe_encryptor *enc = ss_jwe_encryptor_new(keys.oct[32], &opts, &st);
    assert_non_null(enc);
    ss_jwe_msg msg;
    ss_jwe_msg_init(&msg);
    assert_true(
        ss_jwe_encryptor_seal(enc, &msg, NULL, (const uint8_t *)"x", 1, &st));
    assert_int_equal(msg.parts.iv.len, 12);
    memcpy(ivs[i], msg.parts.iv.data, 12);
    assert_memory_not_equal(ivs[i] + 4, kZeros, 8);
    for (int j = 0; j < i; j++) {
      assert_memory_not_equal(ivs[i], ivs[j], 12);
    }
    ss_jwe_msg_cleanup(&msg);
    ss_jwe_encryptor_free(enc);
  }
}

static void test_header_read_back_cannot_smuggle_reserved_members(
    void **state) {
  (void)state;
  ss_status st;
  ss_jwe_encrypt_opts opts = {.alg = "A128KW", .enc = "A128GCM"};
  ss_buf compact = {0}, out = {0};
  assert_true(ss_jwe_encrypt_compact(&compact, keys.oct[16], &opts,
                                     (const uint8_t *)"x", 1, &st));
  ss_jwe_decryptor *dec = ss_jwe_decryptor_new(keys.oct[16], NULL, NULL, &st);
  assert_true(ss_jwe_decryptor_open_compact(
      dec, &out, (const char *)compact.data, compact.len, &st));
  // The decrypted header holds alg, enc and kid: as caller members they
  // would overwrite the stream's own.
  opts.extra = ss_jwe_decryptor_header(dec);
  opts.alg = "A128GCMKW";
  ss_buf_reset(&compact);
  assert_false(ss_jwe_encrypt_compact(&compact, keys.oct[16], &opts,
                                      (const uint8_t *)"x", 1, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "reserved"));
  opts.extra = NULL;
  ss_jwe_encryptor *enc = ss_jwe_encryptor_new(keys.oct[16], &opts, &st);
  ss_jwe_msg msg;
  ss_jwe_msg_init(&msg);
  assert_false(ss_jwe_encryptor_seal(enc, &msg, ss_jwe_decryptor_header(dec),
                                     (const uint8_t *)"x", 1, &st));
  assert_non_null(strstr(st.msg, "reserved"));
  ss_jwe_msg_cleanup(&msg);
  ss_jwe_encryptor_free(enc);
  ss_jwe_decryptor_free(dec);
  ss_buf_cleanup(&compact);
  ss_buf_cleanup(&out);
}

static void test_jwks_without_kid_needs_exactly_one_fitting_key(void **state) {
  (void)state;
  ss_status st;
  char *a = ss_jwk_to_json(keys.oct[16], 1, &st);
  ss_jwk *other = ss_jwk_generate("oct", NULL, 128, &st);
  char *b = ss_jwk_to_json(other, 1, &st);
  char *p256 = ss_jwk_to_json(keys.p256, 1, &st);
  char set[2048];
  // A JWE without "kid": built by hand, as our encryptor always sets one.
  const char *header = "{\"alg\":\"A128KW\",\"enc\":\"A128GCM\"}";
  char *jwe = jwe_with_header(header);
  ss_buf out = {0};

  snprintf(set, sizeof(set), "{\"keys\":[%s,%s]}", a, p256);
  ss_jwks *one_fits = ss_jwks_parse(set, strlen(set), &st);
  ss_jwe_decryptor *dec = ss_jwe_decryptor_new(NULL, one_fits, NULL, &st);
  assert_false(ss_jwe_decryptor_open_compact(dec, &out, jwe, strlen(jwe), &st));
  // The one fitting key is used: the forged message fails to unwrap.
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
  ss_jwe_decryptor_free(dec);

  snprintf(set, sizeof(set), "{\"keys\":[%s,%s]}", a, b);
  ss_jwks *two_fit = ss_jwks_parse(set, strlen(set), &st);
  dec = ss_jwe_decryptor_new(NULL, two_fit, NULL, &st);
  assert_false(ss_jwe_decryptor_open_compact(dec, &out, jwe, strlen(jwe), &st));
  assert_int_equal(st.code, GRPC_STATUS_NOT_FOUND);
  assert_non_null(strstr(st.msg, "2 keys in the set fit"));
  ss_jwe_decryptor_free(dec);

  ss_jwks_free(one_fits);
  ss_jwks_free(two_fit);
  ss_jwk_free(other);
  free(jwe);
  free(a);
  free(b);
  free(p256);
  ss_buf_cleanup(&out);
}

static void test_errors_show_untrusted_names_printable(void **state) {
  (void)state;
  expect_header_refused(keys.oct[16],
                        "{\"alg\":\"A\\u001b[31mKW\\nline\",\"enc\":\"A128GCM\"}",
                        GRPC_STATUS_INVALID_ARGUMENT,
                        "unsupported alg \"A?[31mKW?line\"");
}

// A GCM-wrapped CEK depends on the header's "iv" and "tag" as much as on
// the encrypted key. forge_with_changed_member builds a message that keeps
// |msg|'s encrypted key and CEK (known here from the wrapping key) but sets
// header member |name| to other bytes, authenticated under that CEK: only a
// decryptor that reuses its cached CEK without noticing the change accepts
// it.
static void forge_with_changed_member(const ss_jwe_msg *msg,
                                      const ss_jwk *kek_key, const char *name,
                                      ss_buf *out_compact) {
  ss_status st;
  // The CEK of |msg|, unwrapped by hand.
  ss_buf header_json = {0};
  assert_true(ss_b64url_decode_to(&header_json,
                                  (const char *)msg->parts.protected_b64.data,
                                  msg->parts.protected_b64.len, &st));
  json_t *header = json_loadb((const char *)header_json.data, header_json.len,
                              0, NULL);
  assert_non_null(header);
  uint8_t wrap_iv[12], wrap_tag[16], cek[16];
  size_t len;
  const char *text = json_string_value(json_object_get(header, "iv"));
  assert_true(ss_b64url_decode(wrap_iv, &len, text, strlen(text), &st));
  text = json_string_value(json_object_get(header, "tag"));
  assert_true(ss_b64url_decode(wrap_tag, &len, text, strlen(text), &st));
  size_t kek_len;
  const uint8_t *kek = ss__jwk_oct(kek_key, &kek_len);
  const ss_enc_alg *a128gcm = ss_enc_alg_find("A128GCM", 7);
  ss_aead *wrapper = ss_aead_new(a128gcm, kek, kek_len, &st);
  assert_true(ss_aead_open(wrapper, cek, &len, wrap_iv, 12, NULL, 0,
                           msg->parts.encrypted_key.data,
                           msg->parts.encrypted_key.len, wrap_tag, 16, &st));
  assert_int_equal(len, 16);
  ss_aead_free(wrapper);

  // The same header but for |name|, and content sealed under that CEK.
  uint8_t other[16];
  memset(other, 0x5a, sizeof(other));
  char other_b64[32];
  size_t member_len = strcmp(name, "iv") == 0 ? 12 : 16;
  ss_b64url_encode(other_b64, other, member_len);
  other_b64[ss_b64url_encoded_len(member_len)] = '\0';
  json_object_set_new(header, name, json_string(other_b64));
  char *forged_json = json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER);
  ss_buf forged_b64 = {0};
  assert_true(ss_b64url_encode_to(&forged_b64, (const uint8_t *)forged_json,
                                  strlen(forged_json), &st));
  ss_aead *content = ss_aead_new(a128gcm, cek, sizeof(cek), &st);
  uint8_t iv[12], ct[5], tag[16];
  memset(iv, 7, sizeof(iv));
  assert_true(ss_aead_seal(content, ct, tag, iv, forged_b64.data,
                           forged_b64.len, (const uint8_t *)"forge", 5, &st));
  ss_aead_free(content);
  ss_jwe_parts parts;
  ss_cbs_init(&parts.protected_b64, forged_b64.data, forged_b64.len);
  parts.encrypted_key = msg->parts.encrypted_key;
  ss_cbs_init(&parts.iv, iv, sizeof(iv));
  ss_cbs_init(&parts.ciphertext, ct, sizeof(ct));
  ss_cbs_init(&parts.tag, tag, sizeof(tag));
  ss_buf_reset(out_compact);
  assert_true(ss_jwe_parts_to_compact(out_compact, &parts, &st));
  OPENSSL_cleanse(cek, sizeof(cek));
  ss_buf_cleanup(&forged_b64);
  free(forged_json);
  json_decref(header);
  ss_buf_cleanup(&header_json);
}

static void test_cek_cache_misses_when_wrap_iv_or_tag_changes(void **state) {
  (void)state;
  static const char *const kMembers[] = {"iv", "tag"};
  for (size_t m = 0; m < 2; m++) {
    ss_status st;
    ss_jwe_encrypt_opts opts = {.alg = "A128GCMKW", .enc = "A128GCM"};
    ss_jwe_encryptor *enc = ss_jwe_encryptor_new(keys.oct[16], &opts, &st);
    ss_jwe_decryptor *dec =
        ss_jwe_decryptor_new(keys.oct[16], NULL, NULL, &st);
    ss_jwe_msg msg;
    ss_jwe_msg_init(&msg);
    ss_buf out = {0}, forged = {0};
    assert_true(ss_jwe_encryptor_seal(enc, &msg, NULL,
                                      (const uint8_t *)"real", 4, &st));
    assert_true(ss_jwe_decryptor_open(dec, &out, &msg.parts, &st));
    forge_with_changed_member(&msg, keys.oct[16], kMembers[m], &forged);
    // The warm decryptor must unwrap again under the new member and fail,
    // exactly as a fresh one does.
    assert_false(ss_jwe_decryptor_open_compact(
        dec, &out, (const char *)forged.data, forged.len, &st));
    assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
    assert_int_equal(out.len, 0);
    ss_buf_cleanup(&forged);
    ss_buf_cleanup(&out);
    ss_jwe_msg_cleanup(&msg);
    ss_jwe_decryptor_free(dec);
    ss_jwe_encryptor_free(enc);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jwe_round_trips_every_alg_enc_and_zip),
      cmocka_unit_test(test_jwe_round_trips_a_large_compressible_payload),
      cmocka_unit_test(test_stream_of_10000_messages_unwraps_once),
      cmocka_unit_test(test_each_stream_message_decrypts_alone),
      cmocka_unit_test(test_decryptor_unwraps_again_when_the_stream_changes),
      cmocka_unit_test(test_caller_header_members_are_readable_after_decryption),
      cmocka_unit_test(test_header_refuses_reserved_member_names),
      cmocka_unit_test(test_decrypt_refuses_alg_none),
      cmocka_unit_test(test_decrypt_refuses_rsa1_5),
      cmocka_unit_test(test_decrypt_refuses_pbes2),
      cmocka_unit_test(test_decrypt_refuses_unknown_alg_naming_supported_ones),
      cmocka_unit_test(test_decrypt_refuses_unknown_enc_naming_supported_ones),
      cmocka_unit_test(test_decrypt_refuses_unknown_crit_member),
      cmocka_unit_test(test_decrypt_refuses_duplicate_and_malformed_headers),
      cmocka_unit_test(test_decrypt_refuses_dir_unless_enabled),
      cmocka_unit_test(test_decrypt_refuses_key_that_does_not_fit_alg),
      cmocka_unit_test(test_key_marked_for_one_alg_is_refused_for_another),
      cmocka_unit_test(test_decrypt_with_public_key_is_refused),
      cmocka_unit_test(test_decrypt_refuses_epk_point_not_on_curve),
      cmocka_unit_test(test_decrypt_refuses_epk_on_another_curve),
      cmocka_unit_test(test_decrypt_refuses_all_zero_x25519_shared_secret),
      cmocka_unit_test(test_decrypt_refuses_wrong_number_of_parts),
      cmocka_unit_test(test_decrypt_refuses_trailing_garbage),
      cmocka_unit_test(test_decrypt_refuses_oversized_input),
      cmocka_unit_test(test_decrypt_refuses_iv_and_tag_of_wrong_length),
      cmocka_unit_test(test_decrypt_reports_tampering_as_data_loss),
      cmocka_unit_test(test_failed_open_keeps_the_cached_key),
      cmocka_unit_test(test_decompression_bomb_stops_at_the_cap),
      cmocka_unit_test(test_jwks_decryption_selects_key_by_kid),
      cmocka_unit_test(test_encrypt_refuses_unsupported_algorithms),
      cmocka_unit_test(test_compact_to_parts_refuses_bad_base64url),
      cmocka_unit_test(test_dir_encryption_draws_a_random_iv_per_message),
      cmocka_unit_test(test_header_read_back_cannot_smuggle_reserved_members),
      cmocka_unit_test(test_jwks_without_kid_needs_exactly_one_fitting_key),
      cmocka_unit_test(
          test_encrypt_refuses_a_kid_too_long_for_the_header_naming_the_limit),
      cmocka_unit_test(test_errors_show_untrusted_names_printable),
      cmocka_unit_test(test_cek_cache_misses_when_wrap_iv_or_tag_changes),
  };
  return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
