// Tests for JWS compact sign and verify (jws.h): round trips for every alg,
// the header, crit and alg policy, key selection, and malformed, truncated
// and tampered input, checking outputs are empty after every failure.
#include "lib/jose/jws.h"

#include <jansson.h>
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
#include "lib/jose/jwks.h"

static const uint8_t kPayload[] = {0x00, 'h', 'i', 0xff, 0x00, '.', 0x80};

// Keys generated once: one per alg, and a second P-256 key.
static struct {
  ss_jwk *keys[4];  // ES256, ES384, ES512, EdDSA
  ss_jwk *p256_other;
} fx;
static const char *const kAlgNames[] = {"ES256", "ES384", "ES512", "EdDSA"};

static int setup(void **state) {
  (void)state;
  static const char *const kCrv[] = {"P-256", "P-384", "P-521", "Ed25519"};
  ss_status st;
  for (size_t i = 0; i < 4; i++) {
    fx.keys[i] = ss_jwk_generate(i < 3 ? "EC" : "OKP", kCrv[i], 0, &st);
    if (fx.keys[i] == NULL) {
      return -1;
    }
  }
  fx.p256_other = ss_jwk_generate("EC", "P-256", 0, &st);
  return fx.p256_other == NULL ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  for (size_t i = 0; i < 4; i++) {
    ss_jwk_free(fx.keys[i]);
  }
  ss_jwk_free(fx.p256_other);
  return 0;
}

static ss_jwk *parse(const char *text) {
  ss_status st;
  ss_jwk *jwk = ss_jwk_parse(text, strlen(text), &st);
  if (jwk == NULL) {
    fail_msg("JWK refused: %s", st.msg);
  }
  return jwk;
}

// with_members returns the JWK text of |key| (public part unless
// |private_part|) with the JSON members of |members| (an object) added.
static ss_jwk *with_members(const ss_jwk *key, int private_part,
                            const char *members) {
  ss_status st;
  char *text = ss_jwk_to_json(key, private_part, &st);
  assert_non_null(text);
  json_t *obj = json_loads(text, 0, NULL);
  json_t *add = json_loads(members, 0, NULL);
  assert_non_null(obj);
  assert_non_null(add);
  assert_int_equal(json_object_update(obj, add), 0);
  char *out = json_dumps(obj, JSON_COMPACT);
  ss_jwk *jwk = parse(out);
  free(out);
  json_decref(add);
  json_decref(obj);
  free(text);
  return jwk;
}

// sign returns the compact JWS as a NUL-terminated string (free()), failing
// the test if signing fails.
static char *sign(const ss_jwk *key, const char *alg, const char *extra_json,
                  const uint8_t *payload, size_t len) {
  json_t *extra = extra_json != NULL ? json_loads(extra_json, 0, NULL) : NULL;
  ss_buf out;
  ss_buf_init(&out, 0);
  ss_status st;
  ss_status_init(&st);
  if (!ss_jws_sign(&out, key, alg, extra, payload, len, &st)) {
    fail_msg("sign refused: %s", st.msg);
  }
  assert_true(ss_buf_nul_terminate(&out));
  json_decref(extra);
  return (char *)out.data;
}

// expect_sign_refused checks a refused signature leaves no output.
static void expect_sign_refused(const ss_jwk *key, const char *alg,
                                const char *extra_json, grpc_status_code code,
                                const char *message) {
  json_t *extra =
      extra_json != NULL ? json_loads(extra_json, JSON_DECODE_ANY, NULL) : NULL;
  ss_buf out;
  ss_buf_init(&out, 0);
  ss_status st;
  ss_status_init(&st);
  assert_false(
      ss_jws_sign(&out, key, alg, extra, kPayload, sizeof(kPayload), &st));
  assert_int_equal(out.len, 0);
  assert_int_equal(st.code, code);
  if (message != NULL) {
    assert_string_equal(st.msg, message);
  }
  ss_buf_cleanup(&out);
  json_decref(extra);
}

static ss_status last;  // the status of the last verify

// verify returns the status code of verifying |compact| (OK on success),
// checking the jws.h contract on the outputs either way.
static grpc_status_code verify(const ss_jwk *key, const ss_jwks *keys,
                               const char *const *crit, const char *compact,
                               size_t len) {
  ss_buf out;
  ss_buf_init(&out, 0);
  ss_buf_append(&out, "stale", 5);
  // A stale value the call must replace with NULL or the header.
  json_t *stale = json_object();
  json_t *header = stale;
  ss_status_init(&last);
  int ok = ss_jws_verify(&out, key, keys, crit, compact, len, &header, &last);
  json_decref(stale);
  if (ok) {
    assert_non_null(header);
    assert_true(json_is_string(json_object_get(header, "alg")));
    json_decref(header);
    ss_buf_cleanup(&out);
    return GRPC_STATUS_OK;
  }
  assert_null(header);
  assert_int_equal(out.len, 0);
  assert_int_not_equal(last.code, GRPC_STATUS_OK);
  assert_true(last.msg[0] != '\0');
  ss_buf_cleanup(&out);
  return last.code;
}

static grpc_status_code verify_str(const ss_jwk *key, const char *compact) {
  return verify(key, NULL, NULL, compact, strlen(compact));
}

static void expect_refused(const ss_jwk *key, const char *compact,
                           grpc_status_code code, const char *message) {
  assert_int_equal(verify_str(key, compact), code);
  if (message != NULL) {
    assert_string_equal(last.msg, message);
  }
}

// forge returns a compact JWS with protected header |header_json|, payload
// "foo" and |sig_len| bytes of 0x01 as its signature. Free with free().
static char *forge(const char *header_json, size_t sig_len) {
  ss_buf text;
  ss_buf_init(&text, 0);
  uint8_t sig[300];
  memset(sig, 1, sizeof(sig));
  assert_true(sig_len <= sizeof(sig));
  assert_true(ss_b64url_encode_to(&text, (const uint8_t *)header_json,
                                  strlen(header_json), NULL));
  assert_true(ss_buf_append_str(&text, ".Zm9v."));
  assert_true(ss_b64url_encode_to(&text, sig, sig_len, NULL));
  assert_true(ss_buf_nul_terminate(&text));
  return (char *)text.data;
}

static void test_sign_then_verify_round_trips_every_alg(void **state) {
  (void)state;
  for (size_t i = 0; i < 4; i++) {
    ss_status st;
    ss_jwk *pub = ss_jwk_public(fx.keys[i], &st);
    assert_non_null(pub);
    for (size_t len = 0; len <= sizeof(kPayload); len += sizeof(kPayload)) {
      char *jws = sign(fx.keys[i], kAlgNames[i], NULL, kPayload, len);
      ss_buf out;
      ss_buf_init(&out, 0);
      json_t *header = NULL;
      if (!ss_jws_verify(&out, pub, NULL, NULL, jws, strlen(jws), &header,
                         &st)) {
        fail_msg("%s: %s", kAlgNames[i], st.msg);
      }
      assert_int_equal(out.len, len);
      assert_true(len == 0 || memcmp(out.data, kPayload, len) == 0);
      assert_string_equal(json_string_value(json_object_get(header, "alg")),
                          kAlgNames[i]);
      assert_int_equal(json_object_size(header), 1);
      // A private key verifies with its public part; the header is optional.
      assert_true(ss_jws_verify(&out, fx.keys[i], NULL, NULL, jws, strlen(jws),
                                NULL, &st));
      ss_buf_cleanup(&out);
      json_decref(header);
      free(jws);
    }
    ss_jwk_free(pub);
  }
}

static void test_sign_without_alg_uses_the_key_default(void **state) {
  (void)state;
  for (size_t i = 0; i < 4; i++) {
    char *jws = sign(fx.keys[i], NULL, NULL, kPayload, sizeof(kPayload));
    assert_int_equal(verify_str(fx.keys[i], jws), GRPC_STATUS_OK);
    free(jws);
  }
}

static void test_sign_refuses_unfit_keys_and_members(void **state) {
  (void)state;
  ss_status st;
  ss_jwk *pub = ss_jwk_public(fx.keys[0], &st);
  expect_sign_refused(pub, "ES256", NULL, GRPC_STATUS_FAILED_PRECONDITION,
                      NULL);
  ss_jwk_free(pub);
  ss_jwk *x25519 = ss_jwk_generate("OKP", "X25519", 0, &st);
  assert_non_null(x25519);
  expect_sign_refused(x25519, NULL, NULL, GRPC_STATUS_FAILED_PRECONDITION,
                      "JWS: no JWS alg fits the key (X25519); use an EC or "
                      "Ed25519 key");
  expect_sign_refused(x25519, "EdDSA", NULL, GRPC_STATUS_FAILED_PRECONDITION,
                      NULL);
  ss_jwk_free(x25519);
  expect_sign_refused(fx.keys[0], "ES384", NULL,
                      GRPC_STATUS_FAILED_PRECONDITION, NULL);
  expect_sign_refused(fx.keys[3], "ES256", NULL,
                      GRPC_STATUS_FAILED_PRECONDITION, NULL);
  expect_sign_refused(fx.keys[0], "HS256", NULL, GRPC_STATUS_INVALID_ARGUMENT,
                      "JWS: HMAC alg \"HS256\" is not supported; use ES256, "
                      "ES384, ES512 or EdDSA");
  expect_sign_refused(fx.keys[0], "none", NULL, GRPC_STATUS_INVALID_ARGUMENT,
                      "JWS: alg \"none\" (unsecured JWS) is refused");
  expect_sign_refused(NULL, "ES256", NULL, GRPC_STATUS_INVALID_ARGUMENT,
                      "JWS: sign needs a key and a payload");
  expect_sign_refused(fx.keys[0], "ES256", "[1]", GRPC_STATUS_INVALID_ARGUMENT,
                      "JWS: extra protected members must be a JSON object");
  ss_jwk *sig_only = with_members(fx.keys[0], 1, "{\"use\":\"enc\"}");
  expect_sign_refused(sig_only, NULL, NULL, GRPC_STATUS_FAILED_PRECONDITION,
                      "JWK: \"use\" is not \"sig\"");
  ss_jwk_free(sig_only);
  ss_jwk *es384 = with_members(fx.keys[1], 1, "{\"alg\":\"ES384\"}");
  char *jws = sign(es384, NULL, NULL, kPayload, sizeof(kPayload));
  assert_int_equal(verify_str(es384, jws), GRPC_STATUS_OK);
  free(jws);
  ss_jwk_free(es384);
}

static void test_verify_refuses_none_hmac_and_rsa(void **state) {
  (void)state;
  char *jws = forge("{\"alg\":\"none\"}", 0);
  expect_refused(fx.keys[0], jws, GRPC_STATUS_INVALID_ARGUMENT,
                 "JWS: alg \"none\" (unsecured JWS) is refused");
  free(jws);
  jws = forge("{\"alg\":\"HS256\"}", 32);
  expect_refused(fx.keys[0], jws, GRPC_STATUS_INVALID_ARGUMENT,
                 "JWS: HMAC alg \"HS256\" is not supported; use ES256, ES384, "
                 "ES512 or EdDSA");
  free(jws);
  jws = forge("{\"alg\":\"RS256\"}", 256);
  expect_refused(fx.keys[0], jws, GRPC_STATUS_INVALID_ARGUMENT,
                 "JWS: unsupported alg \"RS256\"; supported: ES256, ES384, "
                 "ES512, EdDSA");
  free(jws);
  jws = forge("{\"typ\":\"JWT\"}", 64);
  expect_refused(fx.keys[0], jws, GRPC_STATUS_INVALID_ARGUMENT,
                 "JWS protected header: missing \"alg\"");
  free(jws);
  jws = forge("{\"alg\":\"ES256\",\"alg\":\"ES256\"}", 64);
  assert_int_equal(verify_str(fx.keys[0], jws), GRPC_STATUS_INVALID_ARGUMENT);
  free(jws);
  jws = forge("{\"alg\":\"ES256\",\"kid\":7}", 64);
  expect_refused(fx.keys[0], jws, GRPC_STATUS_INVALID_ARGUMENT,
                 "JWS protected header: \"kid\" must be a string");
  free(jws);
}

static void test_verify_applies_crit(void **state) {
  (void)state;
  static const char *const kUnderstood[] = {"exp", NULL};
  char *jws = sign(fx.keys[0], "ES256", "{\"exp\":1,\"crit\":[\"exp\"]}",
                   kPayload, sizeof(kPayload));
  assert_int_equal(verify(fx.keys[0], NULL, kUnderstood, jws, strlen(jws)),
                   GRPC_STATUS_OK);
  expect_refused(fx.keys[0], jws, GRPC_STATUS_INVALID_ARGUMENT,
                 "JWS: \"crit\" names \"exp\", which is not understood here");
  free(jws);

  static const struct {
    const char *header;
    const char *message;
  } kCases[] = {
      {"{\"alg\":\"ES256\",\"crit\":[]}",
       "JWS: \"crit\" must be a non-empty array of names"},
      {"{\"alg\":\"ES256\",\"crit\":\"exp\",\"exp\":1}",
       "JWS: \"crit\" must be a non-empty array of names"},
      {"{\"alg\":\"ES256\",\"crit\":[1]}",
       "JWS: \"crit\" must be a non-empty array of names"},
      {"{\"alg\":\"ES256\",\"crit\":[\"kid\"],\"kid\":\"a\"}",
       "JWS: \"crit\" may not name the registered header parameter \"kid\""},
      {"{\"alg\":\"ES256\",\"crit\":[\"exp\"]}",
       "JWS: \"crit\" names \"exp\", which the header lacks"},
      {"{\"alg\":\"ES256\",\"crit\":[\"exp\",\"exp\"],\"exp\":1}",
       "JWS: \"crit\" names \"exp\" twice"},
      {"{\"alg\":\"ES256\",\"crit\":[\"b64\"],\"b64\":false}",
       "JWS: \"b64\" (RFC 7797 unencoded payload) is not supported"},
      {"{\"alg\":\"ES256\",\"b64\":false}",
       "JWS: \"b64\" (RFC 7797 unencoded payload) is not supported"},
      {"{\"alg\":\"ES256\",\"crit\":[\"nbf\"],\"nbf\":1}",
       "JWS: \"crit\" names \"nbf\", which is not understood here"},
  };
  for (size_t i = 0; i < sizeof(kCases) / sizeof(kCases[0]); i++) {
    jws = forge(kCases[i].header, 64);
    assert_int_equal(verify(fx.keys[0], NULL, kUnderstood, jws, strlen(jws)),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(last.msg, kCases[i].message);
    free(jws);
  }
  // The signer is held to the same rules, with its own names understood.
  expect_sign_refused(fx.keys[0], "ES256", "{\"crit\":[]}",
                      GRPC_STATUS_INVALID_ARGUMENT,
                      "JWS: \"crit\" must be a non-empty array of names");
  expect_sign_refused(fx.keys[0], "ES256", "{\"crit\":[\"exp\"]}",
                      GRPC_STATUS_INVALID_ARGUMENT,
                      "JWS: \"crit\" names \"exp\", which the header lacks");
  expect_sign_refused(fx.keys[0], "ES256", "{\"b64\":false}",
                      GRPC_STATUS_INVALID_ARGUMENT,
                      "JWS: extra protected members may not set \"b64\"");
  expect_sign_refused(fx.keys[0], "ES256", "{\"alg\":\"ES384\"}",
                      GRPC_STATUS_INVALID_ARGUMENT,
                      "JWS: extra protected members may not set \"alg\"");
}

static void test_verify_refuses_wrong_signature_lengths(void **state) {
  (void)state;
  for (size_t i = 0; i < 4; i++) {
    char header[40];
    snprintf(header, sizeof(header), "{\"alg\":\"%s\"}", kAlgNames[i]);
    size_t want = i == 0 ? 64 : i == 1 ? 96 : i == 2 ? 132 : 64;
    const size_t kLens[] = {0, 1, want - 1, want + 1, 2 * want};
    for (size_t j = 0; j < sizeof(kLens) / sizeof(kLens[0]); j++) {
      char *jws = forge(header, kLens[j]);
      assert_int_equal(verify_str(fx.keys[i], jws),
                       GRPC_STATUS_UNAUTHENTICATED);
      assert_non_null(strstr(last.msg, "signature must be"));
      free(jws);
    }
    char *jws = forge(header, want);
    expect_refused(fx.keys[i], jws, GRPC_STATUS_UNAUTHENTICATED, NULL);
    assert_non_null(strstr(last.msg, "signature does not verify"));
    free(jws);
  }
}

static void test_verify_refuses_keys_that_do_not_fit(void **state) {
  (void)state;
  char *jws = sign(fx.keys[0], "ES256", NULL, kPayload, sizeof(kPayload));
  assert_int_equal(verify_str(fx.keys[1], jws), GRPC_STATUS_UNAUTHENTICATED);
  assert_int_equal(verify_str(fx.keys[3], jws), GRPC_STATUS_UNAUTHENTICATED);
  expect_refused(fx.p256_other, jws, GRPC_STATUS_UNAUTHENTICATED,
                 "JWS: ES256 signature does not verify");
  static const char *const kMembers[] = {
      "{\"use\":\"enc\"}", "{\"key_ops\":[\"sign\"]}", "{\"alg\":\"ES384\"}",
      "{\"key_ops\":[\"encrypt\"]}"};
  for (size_t i = 0; i < sizeof(kMembers) / sizeof(kMembers[0]); i++) {
    ss_jwk *key = with_members(fx.keys[0], 0, kMembers[i]);
    assert_int_equal(verify_str(key, jws), GRPC_STATUS_UNAUTHENTICATED);
    ss_jwk_free(key);
  }
  ss_jwk *key = with_members(fx.keys[0], 0,
                             "{\"use\":\"sig\",\"key_ops\":[\"verify\"],"
                             "\"alg\":\"ES256\"}");
  assert_int_equal(verify_str(key, jws), GRPC_STATUS_OK);
  ss_jwk_free(key);
  free(jws);

  // Signing holds keys to the same rules.
  ss_status st;
  ss_jwk *pub = ss_jwk_public(fx.keys[0], &st);
  expect_sign_refused(pub, "ES256", NULL, GRPC_STATUS_FAILED_PRECONDITION,
                      NULL);
  ss_jwk_free(pub);
}

static void test_verify_selects_keys_from_a_set_by_kid(void **state) {
  (void)state;
  ss_jwk *a = with_members(fx.keys[0], 1, "{\"kid\":\"a\"}");
  ss_jwk *b = with_members(fx.p256_other, 1, "{\"kid\":\"b\"}");
  ss_status st;
  char *a_text = ss_jwk_to_json(a, 0, &st);
  char *b_text = ss_jwk_to_json(b, 0, &st);
  char set_text[2048];
  snprintf(set_text, sizeof(set_text), "{\"keys\":[%s,%s]}", a_text, b_text);
  ss_jwks *both = ss_jwks_parse(set_text, strlen(set_text), &st);
  assert_non_null(both);
  snprintf(set_text, sizeof(set_text), "{\"keys\":[%s]}", b_text);
  ss_jwks *only_b = ss_jwks_parse(set_text, strlen(set_text), &st);
  assert_non_null(only_b);

  char *by_b = sign(b, NULL, "{\"kid\":\"b\"}", kPayload, sizeof(kPayload));
  assert_int_equal(verify(NULL, both, NULL, by_b, strlen(by_b)),
                   GRPC_STATUS_OK);
  char *claims_a = sign(b, NULL, "{\"kid\":\"a\"}", kPayload, 3);
  assert_int_equal(verify(NULL, both, NULL, claims_a, strlen(claims_a)),
                   GRPC_STATUS_UNAUTHENTICATED);
  char *unknown = sign(b, NULL, "{\"kid\":\"c\"}", kPayload, 3);
  assert_int_equal(verify(NULL, both, NULL, unknown, strlen(unknown)),
                   GRPC_STATUS_UNAUTHENTICATED);
  char *no_kid = sign(b, NULL, NULL, kPayload, 3);
  assert_int_equal(verify(NULL, both, NULL, no_kid, strlen(no_kid)),
                   GRPC_STATUS_UNAUTHENTICATED);
  assert_int_equal(verify(NULL, only_b, NULL, no_kid, strlen(no_kid)),
                   GRPC_STATUS_OK);
  // Exactly one of a key and a set.
  assert_int_equal(verify(a, both, NULL, by_b, strlen(by_b)),
                   GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(verify(NULL, NULL, NULL, by_b, strlen(by_b)),
                   GRPC_STATUS_INVALID_ARGUMENT);

  free(by_b);
  free(claims_a);
  free(unknown);
  free(no_kid);
  ss_jwks_free(both);
  ss_jwks_free(only_b);
  free(a_text);
  free(b_text);
  ss_jwk_free(a);
  ss_jwk_free(b);
}

static void test_verify_refuses_every_truncation_and_extension(void **state) {
  (void)state;
  for (size_t i = 0; i < 4; i++) {
    char *jws = sign(fx.keys[i], NULL, NULL, kPayload, sizeof(kPayload));
    size_t len = strlen(jws);
    for (size_t cut = 0; cut < len; cut++) {
      assert_int_not_equal(verify(fx.keys[i], NULL, NULL, jws, cut),
                           GRPC_STATUS_OK);
    }
    static const char *const kTails[] = {".", ".AA", "\n", " ", "=", "A"};
    for (size_t t = 0; t < sizeof(kTails) / sizeof(kTails[0]); t++) {
      char longer[512];
      snprintf(longer, sizeof(longer), "%s%s", jws, kTails[t]);
      assert_int_not_equal(verify_str(fx.keys[i], longer), GRPC_STATUS_OK);
    }
    // Every single-character change anywhere is refused.
    for (size_t pos = 0; pos < len; pos++) {
      char saved = jws[pos];
      jws[pos] = saved == 'A' ? 'B' : saved == '.' ? 'x' : 'A';
      assert_int_not_equal(verify_str(fx.keys[i], jws), GRPC_STATUS_OK);
      jws[pos] = saved;
    }
    assert_int_equal(verify_str(fx.keys[i], jws), GRPC_STATUS_OK);
    free(jws);
  }
  expect_refused(fx.keys[0], "", GRPC_STATUS_INVALID_ARGUMENT,
                 "JWS: compact serialization needs three parts separated by "
                 "'.'");
  expect_refused(fx.keys[0], "a.b.c.d", GRPC_STATUS_INVALID_ARGUMENT,
                 "JWS: compact serialization has more than three parts");
}

static void test_verify_enforces_size_limits(void **state) {
  (void)state;
  assert_int_equal(verify(fx.keys[0], NULL, NULL, "x", SS_JWS_MAX_LEN + 1u),
                   GRPC_STATUS_RESOURCE_EXHAUSTED);
  size_t len = ss_b64url_encoded_len(SS_JWS_MAX_HEADER) + 1;
  char *big = malloc(len + 4);
  assert_non_null(big);
  memset(big, 'A', len);
  memcpy(big + len, "..", 3);
  assert_int_equal(verify_str(fx.keys[0], big), GRPC_STATUS_RESOURCE_EXHAUSTED);
  free(big);
  char extra[SS_JWS_MAX_HEADER + 64];
  memset(extra, 0, sizeof(extra));
  memcpy(extra, "{\"pad\":\"", 8);
  memset(extra + 8, 'p', SS_JWS_MAX_HEADER);
  memcpy(extra + 8 + SS_JWS_MAX_HEADER, "\"}", 2);
  json_t *obj = json_loads(extra, 0, NULL);
  assert_non_null(obj);
  ss_buf out;
  ss_buf_init(&out, 0);
  ss_status st;
  assert_false(ss_jws_sign(&out, fx.keys[0], NULL, obj, kPayload, 1, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_int_equal(out.len, 0);
  json_decref(obj);
  ss_buf_cleanup(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sign_then_verify_round_trips_every_alg),
      cmocka_unit_test(test_sign_without_alg_uses_the_key_default),
      cmocka_unit_test(test_sign_refuses_unfit_keys_and_members),
      cmocka_unit_test(test_verify_refuses_none_hmac_and_rsa),
      cmocka_unit_test(test_verify_applies_crit),
      cmocka_unit_test(test_verify_refuses_wrong_signature_lengths),
      cmocka_unit_test(test_verify_refuses_keys_that_do_not_fit),
      cmocka_unit_test(test_verify_selects_keys_from_a_set_by_kid),
      cmocka_unit_test(test_verify_refuses_every_truncation_and_extension),
      cmocka_unit_test(test_verify_enforces_size_limits),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
