// Tests for the JWK features that JWS needs: OKP Ed25519 keys (RFC 8037),
// the sign/verify rules of ss_jwk_check_use, and EC public keys whose
// coordinates arrive without their leading zero bytes.
#include <jansson.h>
#include <openssl/crypto.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "lib/jose/b64url.h"
#include "lib/jose/jwk.h"
#include "lib/jose/jwk_internal.h"
#include "lib/jose/jwk_testutil.h"

// RFC 8037 Appendix A.1 (private key) and A.2 (its public part).
static const char kRfc8037Private[] =
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
    "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\"}";
static const char kRfc8037Public[] =
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
// RFC 8037 Appendix A.3: the thumbprint of that key.
static const char kRfc8037Thumbprint[] =
    "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
// RFC 7748 section 6.1, Bob's X25519 public key.
static const char kX25519Public[] =
    "{\"kty\":\"OKP\",\"crv\":\"X25519\","
    "\"x\":\"3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08\"}";

static void expect_use(const char *text, const char *alg, ss_jwk_op op,
                       const char *refusal) {
  ss_jwk *jwk = ss_test_jwk_parse_ok(text);
  ss_status st;
  ss_status_init(&st);
  int ok = ss_jwk_check_use(jwk, alg, op, &st);
  ss_jwk_free(jwk);
  if (refusal == NULL) {
    if (!ok) {
      fail_msg("refused: %s", st.msg);
    }
    return;
  }
  assert_false(ok);
  assert_int_equal(st.code, GRPC_STATUS_FAILED_PRECONDITION);
  assert_string_equal(st.msg, refusal);
}

static void test_rfc8037_ed25519_keys_parse_with_the_published_thumbprint(
    void **state) {
  (void)state;
  ss_jwk *priv = ss_test_jwk_parse_ok(kRfc8037Private);
  ss_jwk *pub = ss_test_jwk_parse_ok(kRfc8037Public);
  assert_int_equal(ss_jwk_kty(priv), SS_KTY_OKP);
  assert_string_equal(ss_jwk_crv(priv), "Ed25519");
  assert_int_equal(ss_jwk_bits(priv), 256);
  assert_true(ss_jwk_is_private(priv));
  assert_false(ss_jwk_is_private(pub));
  assert_string_equal(ss_jwk_kid(priv), kRfc8037Thumbprint);
  assert_string_equal(ss_jwk_kid(pub), kRfc8037Thumbprint);

  ss_status st;
  char *text = ss_jwk_to_json(priv, 1, &st);
  assert_non_null(text);
  assert_string_equal(text, kRfc8037Private);
  OPENSSL_cleanse(text, strlen(text));
  free(text);
  text = ss_jwk_to_json(priv, 0, &st);
  assert_non_null(text);
  assert_string_equal(text, kRfc8037Public);
  free(text);
  ss_jwk *reduced = ss_jwk_public(priv, &st);
  assert_non_null(reduced);
  assert_false(ss_jwk_is_private(reduced));
  assert_string_equal(ss_jwk_kid(reduced), kRfc8037Thumbprint);
  ss_jwk_free(reduced);
  ss_jwk_free(priv);
  ss_jwk_free(pub);
}

static void test_ed25519_refusals_name_the_problem(void **state) {
  (void)state;
  // The d of RFC 8037 with the x of another key.
  char *text = ss_test_jwk_mutated(
      kRfc8037Private, "x", "\"3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08\"");
  ss_test_jwk_expect_refused(
      text, "JWK: Ed25519 private key does not match its public key");
  free(text);
  text = ss_test_jwk_mutated(kRfc8037Public, "x",
                             "\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMl\"");
  ss_test_jwk_expect_refused(text,
                             "JWK: Ed25519 \"x\" is 24 bytes; 32 required");
  free(text);
  text = ss_test_jwk_mutated(kRfc8037Private, "d",
                             "\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZ\"");
  ss_test_jwk_expect_refused(text,
                             "JWK: Ed25519 \"d\" is 24 bytes; 32 required");
  free(text);
  text = ss_test_jwk_mutated(kRfc8037Public, "crv", "\"Ed448\"");
  ss_test_jwk_expect_refused(
      text,
      "JWK: unsupported OKP curve; expected \"X25519\" or "
      "\"Ed25519\"");
  free(text);
}

static void test_generated_ed25519_keys_round_trip(void **state) {
  (void)state;
  ss_status st;
  ss_jwk *jwk = ss_jwk_generate("OKP", "Ed25519", 0, &st);
  assert_non_null(jwk);
  assert_string_equal(ss_jwk_crv(jwk), "Ed25519");
  assert_true(ss_jwk_is_private(jwk));
  char *text = ss_jwk_to_json(jwk, 1, &st);
  assert_non_null(text);
  ss_jwk *again = ss_test_jwk_parse_ok(text);
  assert_string_equal(ss_jwk_kid(again), ss_jwk_kid(jwk));
  OPENSSL_cleanse(text, strlen(text));
  free(text);
  ss_jwk_free(again);
  ss_jwk_free(jwk);
}

static void test_check_use_keeps_signing_and_key_agreement_keys_apart(
    void **state) {
  (void)state;
  expect_use(kRfc8037Private, "EdDSA", SS_JWK_OP_SIGN, NULL);
  expect_use(kRfc8037Public, "EdDSA", SS_JWK_OP_VERIFY, NULL);
  expect_use(kRfc8037Public, "ECDH-ES", SS_JWK_OP_ENCRYPT,
             "JWK: an Ed25519 key can only sign and verify");
  expect_use(kRfc8037Private, "ECDH-ES", SS_JWK_OP_DECRYPT,
             "JWK: an Ed25519 key can only sign and verify");
  expect_use(kX25519Public, "EdDSA", SS_JWK_OP_VERIFY,
             "JWK: an X25519 key cannot sign or verify");
  expect_use(kX25519Public, "ECDH-ES", SS_JWK_OP_ENCRYPT, NULL);

  static const struct {
    const char *name;
    const char *value;
    ss_jwk_op op;
    const char *refusal;  // NULL: allowed
  } kCases[] = {
      {"use", "\"sig\"", SS_JWK_OP_VERIFY, NULL},
      {"use", "\"enc\"", SS_JWK_OP_VERIFY, "JWK: \"use\" is not \"sig\""},
      {"use", "\"enc\"", SS_JWK_OP_SIGN, "JWK: \"use\" is not \"sig\""},
      {"key_ops", "[\"verify\"]", SS_JWK_OP_VERIFY, NULL},
      {"key_ops", "[\"verify\"]", SS_JWK_OP_SIGN,
       "JWK: \"key_ops\" allows none of sign"},
      {"key_ops", "[\"sign\"]", SS_JWK_OP_VERIFY,
       "JWK: \"key_ops\" allows none of verify"},
      {"key_ops", "[\"deriveKey\"]", SS_JWK_OP_VERIFY,
       "JWK: \"key_ops\" allows none of verify"},
      {"alg", "\"EdDSA\"", SS_JWK_OP_VERIFY, NULL},
      {"alg", "\"ES256\"", SS_JWK_OP_VERIFY,
       "JWK: key \"alg\" is \"ES256\", not \"EdDSA\""},
  };
  for (size_t i = 0; i < sizeof(kCases) / sizeof(kCases[0]); i++) {
    char *text =
        ss_test_jwk_mutated(kRfc8037Private, kCases[i].name, kCases[i].value);
    expect_use(text, "EdDSA", kCases[i].op, kCases[i].refusal);
    free(text);
  }
  // A signing key must not serve as an encryption key either.
  char *text = ss_test_jwk_mutated(kX25519Public, "use", "\"sig\"");
  expect_use(text, "ECDH-ES", SS_JWK_OP_ENCRYPT, "JWK: \"use\" is not \"enc\"");
  free(text);
}

static void test_ecdh_refuses_ed25519_keys(void **state) {
  (void)state;
  ss_status st;
  ss_jwk *ed = ss_test_jwk_parse_ok(kRfc8037Private);
  ss_jwk *x = ss_jwk_generate("OKP", "X25519", 0, &st);
  assert_non_null(x);
  ss_buf out;
  ss_buf_init(&out, 0);
  assert_false(ss__jwk_ecdh(ed, x, &out, &st));
  assert_int_equal(out.len, 0);
  assert_false(ss__jwk_ecdh(x, ed, &out, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(out.len, 0);
  ss_buf_cleanup(&out);
  ss_jwk_free(x);
  ss_jwk_free(ed);
}

// short_p521_key makes a P-521 key whose "x" starts with a zero byte (half of
// them do: the top byte holds one bit) and returns its private JWK text.
static char *short_p521_key(void) {
  for (int attempt = 0; attempt < 200; attempt++) {
    ss_status st;
    ss_jwk *jwk = ss_jwk_generate("EC", "P-521", 0, &st);
    assert_non_null(jwk);
    char *text = ss_jwk_to_json(jwk, 1, &st);
    ss_jwk_free(jwk);
    assert_non_null(text);
    // "x" is 66 bytes: 88 characters, the first byte in the first two.
    const char *x = strstr(text, "\"x\":\"");
    assert_non_null(x);
    // The first character holds bits 0-5, the second bits 6-11.
    if (x[5] == 'A' && x[6] >= 'A' && x[6] <= 'P') {
      return text;
    }
    OPENSSL_cleanse(text, strlen(text));
    free(text);
  }
  fail_msg("no P-521 key with a leading zero byte in 200 tries");
  return NULL;
}

// drop_leading_zero re-encodes member |name| of |text| without its first
// (zero) byte. Free with free().
static char *drop_leading_zero(const char *text, const char *name) {
  json_t *obj = json_loads(text, 0, NULL);
  assert_non_null(obj);
  const char *b64 = json_string_value(json_object_get(obj, name));
  assert_non_null(b64);
  ss_buf bytes;
  ss_buf_init(&bytes, 0);
  assert_true(ss_b64url_decode_to(&bytes, b64, strlen(b64), NULL));
  assert_int_equal(bytes.data[0], 0);
  ss_buf shorter;
  ss_buf_init(&shorter, 0);
  assert_true(
      ss_b64url_encode_to(&shorter, bytes.data + 1, bytes.len - 1, NULL));
  assert_true(ss_buf_nul_terminate(&shorter));
  assert_int_equal(
      json_object_set_new(obj, name, json_string((char *)shorter.data)), 0);
  char *out = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  assert_non_null(out);
  json_decref(obj);
  ss_buf_cleanup(&bytes);
  ss_buf_cleanup(&shorter);
  return out;
}

static void test_short_p521_coordinate_is_padded_and_written_full_size(
    void **state) {
  (void)state;
  char *full = short_p521_key();
  char *shortened = drop_leading_zero(full, "x");
  ss_jwk *want = ss_test_jwk_parse_ok(full);
  ss_jwk *got = ss_test_jwk_parse_ok(shortened);
  ss_status st;
  char *written = ss_jwk_to_json(got, 1, &st);
  assert_non_null(written);
  assert_string_equal(written, full);
  assert_string_equal(ss_jwk_kid(got), ss_jwk_kid(want));

  // The public form, and a public key built from it, are full size too.
  json_t *pub = json_loads(shortened, 0, NULL);
  assert_non_null(pub);
  json_object_del(pub, "d");
  char *pub_text = json_dumps(pub, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(pub);
  ss_jwk *pub_key = ss_test_jwk_parse_ok(pub_text);
  char *pub_written = ss_jwk_to_json(pub_key, 0, &st);
  char *want_pub = ss_jwk_to_json(want, 0, &st);
  assert_non_null(pub_written);
  assert_non_null(want_pub);
  assert_string_equal(pub_written, want_pub);
  assert_string_equal(ss_jwk_kid(pub_key), ss_jwk_kid(want));

  // A short coordinate that is not the key's is still checked on the curve.
  char *wrong = ss_test_jwk_mutated(pub_text, "x", "\"AQ\"");
  ss_test_jwk_expect_refused(wrong, "JWK: EC point is not on curve P-521");
  free(wrong);

  free(pub_written);
  free(want_pub);
  free(pub_text);
  ss_jwk_free(pub_key);
  OPENSSL_cleanse(written, strlen(written));
  free(written);
  ss_jwk_free(got);
  ss_jwk_free(want);
  OPENSSL_cleanse(shortened, strlen(shortened));
  free(shortened);
  OPENSSL_cleanse(full, strlen(full));
  free(full);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(
          test_rfc8037_ed25519_keys_parse_with_the_published_thumbprint),
      cmocka_unit_test(test_ed25519_refusals_name_the_problem),
      cmocka_unit_test(test_generated_ed25519_keys_round_trip),
      cmocka_unit_test(
          test_check_use_keeps_signing_and_key_agreement_keys_apart),
      cmocka_unit_test(test_ecdh_refuses_ed25519_keys),
      cmocka_unit_test(
          test_short_p521_coordinate_is_padded_and_written_full_size),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
