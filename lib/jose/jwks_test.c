#include "lib/jose/jwks.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/base/status.h"
#include "lib/jose/jwk.h"
#include "lib/testing/vectors.h"

static const char kOctA[] =
    "{\"kty\":\"oct\",\"kid\":\"a\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}";
static const char kEcB[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"b\","
    "\"x\":\"YtW9M3Kvdf6FoEBxXQ9QJCjgcEaGiwv9-mHXMa_kTyY\","
    "\"y\":\"rDM6k6nnCoHNWpW1v40TmQ63QcjDiHK0oH0nWgFOMM8\"}";
// No kid: found by its RFC 7638 thumbprint.
static const char kOkp[] =
    "{\"kty\":\"OKP\",\"crv\":\"X25519\","
    "\"x\":\"3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08\"}";

// set_of returns {"keys":[...]} holding the JWK texts |keys|. Free with free().
static char *set_of(const char *const *keys, size_t num_keys) {
  size_t len = 16;
  for (size_t i = 0; i < num_keys; i++) {
    len += strlen(keys[i]) + 1;
  }
  char *text = malloc(len);
  assert_non_null(text);
  strcpy(text, "{\"keys\":[");
  for (size_t i = 0; i < num_keys; i++) {
    if (i > 0) {
      strcat(text, ",");
    }
    strcat(text, keys[i]);
  }
  strcat(text, "]}");
  return text;
}

static void expect_refused(const char *json, grpc_status_code code,
                           const char *message) {
  ss_status st;
  ss_status_init(&st);
  ss_jwks *jwks = ss_jwks_parse(json, strlen(json), &st);
  if (jwks != NULL) {
    ss_jwks_free(jwks);
    fail_msg("accepted, expected \"%s\"", message);
  }
  assert_int_equal(st.code, code);
  assert_string_equal(st.msg, message);
}

static void test_find_returns_keys_by_kid_or_thumbprint(void **state) {
  (void)state;
  const char *keys[] = {kOctA, kEcB, kOkp};
  char *text = set_of(keys, 3);
  ss_status st;
  ss_jwks *jwks = ss_jwks_parse(text, strlen(text), &st);
  assert_non_null(jwks);
  assert_int_equal(ss_jwks_count(jwks), 3);
  assert_string_equal(ss_jwk_kid(ss_jwks_get(jwks, 0)), "a");
  assert_string_equal(ss_jwk_kid(ss_jwks_get(jwks, 1)), "b");
  assert_null(ss_jwks_get(jwks, 3));
  assert_null(ss_jwks_get(jwks, SIZE_MAX));

  const ss_jwk *a = ss_jwks_find(jwks, "a", &st);
  assert_ptr_equal(a, ss_jwks_get(jwks, 0));
  assert_int_equal(ss_jwk_kty(a), SS_KTY_OCT);
  const ss_jwk *b = ss_jwks_find(jwks, "b", &st);
  assert_ptr_equal(b, ss_jwks_get(jwks, 1));
  const ss_jwk *okp = ss_jwks_get(jwks, 2);
  assert_ptr_equal(ss_jwks_find(jwks, ss_jwk_kid(okp), &st), okp);
  assert_int_equal(strlen(ss_jwk_kid(okp)), 43);
  ss_jwks_free(jwks);
  free(text);
}

static void test_find_miss_is_not_found_naming_the_kid(void **state) {
  (void)state;
  const char *keys[] = {kOctA, kEcB};
  char *text = set_of(keys, 2);
  ss_status st;
  ss_jwks *jwks = ss_jwks_parse(text, strlen(text), &st);
  assert_non_null(jwks);
  assert_null(ss_jwks_find(jwks, "zzz", &st));
  assert_int_equal(st.code, GRPC_STATUS_NOT_FOUND);
  assert_string_equal(st.msg, "no key with kid \"zzz\"");
  // Prefixes and case variants do not match.
  assert_null(ss_jwks_find(jwks, "A", &st));
  assert_null(ss_jwks_find(jwks, "", &st));
  assert_string_equal(st.msg, "no key with kid \"\"");
  // An untrusted kid is shown bounded and printable.
  assert_null(ss_jwks_find(jwks, "x\n\"y\x01", &st));
  assert_string_equal(st.msg, "no key with kid \"x?\"y?\"");
  char long_kid[200];
  memset(long_kid, 'k', sizeof(long_kid) - 1);
  long_kid[sizeof(long_kid) - 1] = '\0';
  assert_null(ss_jwks_find(jwks, long_kid, &st));
  assert_int_equal(strlen(st.msg),
                   strlen("no key with kid \"...\"") + SS_STATUS_SHOWN_MAX);
  assert_null(ss_jwks_find(jwks, NULL, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_jwks_free(jwks);
  free(text);
}

static void test_empty_set_parses_and_finds_nothing(void **state) {
  (void)state;
  const char *text = "{\"keys\":[],\"other\":1}";
  ss_status st;
  ss_jwks *jwks = ss_jwks_parse(text, strlen(text), &st);
  assert_non_null(jwks);
  assert_int_equal(ss_jwks_count(jwks), 0);
  assert_null(ss_jwks_get(jwks, 0));
  assert_null(ss_jwks_find(jwks, "a", &st));
  assert_int_equal(st.code, GRPC_STATUS_NOT_FOUND);
  ss_jwks_free(jwks);
  ss_jwks_free(NULL);
  assert_int_equal(ss_jwks_count(NULL), 0);
}

static void test_duplicate_kids_are_refused(void **state) {
  (void)state;
  const char *ec_a =
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a\","
      "\"x\":\"YtW9M3Kvdf6FoEBxXQ9QJCjgcEaGiwv9-mHXMa_kTyY\","
      "\"y\":\"rDM6k6nnCoHNWpW1v40TmQ63QcjDiHK0oH0nWgFOMM8\"}";
  const char *keys[] = {kOctA, kEcB, ec_a};
  char *text = set_of(keys, 3);
  expect_refused(text, GRPC_STATUS_INVALID_ARGUMENT,
                 "JWKS: keys 0 and 2 have the same kid");
  free(text);
  // The same key twice without a kid has one thumbprint, so one kid.
  const char *twice[] = {kOkp, kOctA, kOkp};
  text = set_of(twice, 3);
  expect_refused(text, GRPC_STATUS_INVALID_ARGUMENT,
                 "JWKS: keys 0 and 2 have the same kid");
  free(text);
}

static void test_bad_member_key_fails_the_set_naming_its_index(void **state) {
  (void)state;
  const char *empty_k = "{\"kty\":\"oct\",\"k\":\"\"}";
  const char *keys[] = {kOctA, kEcB, empty_k};
  char *text = set_of(keys, 3);
  expect_refused(text, GRPC_STATUS_INVALID_ARGUMENT,
                 "JWKS: key 2: oct \"k\" is empty");
  free(text);
  const char *not_object[] = {kOctA, "[]"};
  text = set_of(not_object, 2);
  expect_refused(text, GRPC_STATUS_INVALID_ARGUMENT,
                 "JWKS: key 1: expected a JSON object");
  free(text);
  const char *no_kty[] = {"{\"k\":\"AAAA\"}"};
  text = set_of(no_kty, 1);
  expect_refused(text, GRPC_STATUS_INVALID_ARGUMENT,
                 "JWKS: key 0: missing \"kty\"");
  free(text);
  const char *off_curve =
      "{\"kty\":\"EC\",\"crv\":\"P-256\","
      "\"x\":\"YtW9M3Kvdf6FoEBxXQ9QJCjgcEaGiwv9-mHXMa_kTyY\","
      "\"y\":\"rDM6k6nnCoHNWpW1v40TmQ63QcjDiHK0oH0nWgFOMM4\"}";
  const char *bad_point[] = {kOctA, kOkp, kEcB, off_curve};
  text = set_of(bad_point, 4);
  expect_refused(text, GRPC_STATUS_INVALID_ARGUMENT,
                 "JWKS: key 3: EC point is not on curve P-256");
  free(text);
}

static void test_malformed_sets_are_refused(void **state) {
  (void)state;
  expect_refused("{}", GRPC_STATUS_INVALID_ARGUMENT, "JWKS: missing \"keys\"");
  expect_refused("{\"keys\":{}}", GRPC_STATUS_INVALID_ARGUMENT,
                 "JWKS: \"keys\" must be an array");
  expect_refused("{\"keys\":null}", GRPC_STATUS_INVALID_ARGUMENT,
                 "JWKS: \"keys\" must be an array");
  expect_refused("[]", GRPC_STATUS_INVALID_ARGUMENT,
                 "JWKS: expected a JSON object");
  ss_status st;
  const char *dup = "{\"keys\":[],\"keys\":[]}";
  assert_null(ss_jwks_parse(dup, strlen(dup), &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "duplicate"));
  const char *trailing = "{\"keys\":[]}]";
  assert_null(ss_jwks_parse(trailing, strlen(trailing), &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_null(ss_jwks_parse(NULL, 0, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_every_truncation_is_refused(void **state) {
  (void)state;
  const char *keys[] = {kOctA, kEcB, kOkp};
  char *text = set_of(keys, 3);
  size_t len = strlen(text);
  for (size_t cut = 0; cut < len; cut++) {
    ss_status st;
    ss_status_init(&st);
    ss_jwks *jwks = ss_jwks_parse(text, cut, &st);
    if (jwks != NULL) {
      ss_jwks_free(jwks);
      fail_msg("set cut to %zu bytes was accepted", cut);
    }
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  }
  free(text);
}

// oct_set returns a set of |num_keys| distinct oct keys, padded with spaces
// to at least |min_len| bytes; sets |*out_len|.
static char *oct_set(size_t num_keys, size_t min_len, size_t *out_len) {
  size_t cap = num_keys * 64 + min_len + 32;
  char *text = malloc(cap);
  assert_non_null(text);
  size_t len = (size_t)snprintf(text, cap, "{\"keys\":[");
  for (size_t i = 0; i < num_keys; i++) {
    len +=
        (size_t)snprintf(text + len, cap - len,
                         "%s{\"kty\":\"oct\",\"kid\":\"k%zu\",\"k\":\"AAAA\"}",
                         i > 0 ? "," : "", i);
  }
  len += (size_t)snprintf(text + len, cap - len, "]}");
  while (len < min_len) {
    text[len++] = ' ';
  }
  text[len] = '\0';
  *out_len = len;
  return text;
}

static void test_oversized_sets_are_refused(void **state) {
  (void)state;
  ss_status st;
  size_t len;
  char *text = oct_set(SS_JWKS_MAX_KEYS, 0, &len);
  ss_jwks *jwks = ss_jwks_parse(text, len, &st);
  assert_non_null(jwks);
  assert_int_equal(ss_jwks_count(jwks), SS_JWKS_MAX_KEYS);
  assert_non_null(ss_jwks_find(jwks, "k255", &st));
  ss_jwks_free(jwks);
  free(text);

  text = oct_set(SS_JWKS_MAX_KEYS + 1, 0, &len);
  expect_refused(text, GRPC_STATUS_RESOURCE_EXHAUSTED,
                 "JWKS: 257 keys exceeds the limit of 256");
  free(text);

  // At the byte limit a set parses; one byte more is refused unparsed.
  text = oct_set(1, SS_JWKS_MAX_JSON + 1, &len);
  jwks = ss_jwks_parse(text, SS_JWKS_MAX_JSON, &st);
  assert_non_null(jwks);
  ss_jwks_free(jwks);
  assert_null(ss_jwks_parse(text, SS_JWKS_MAX_JSON + 1, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_string_equal(st.msg,
                      "JWKS: 1048577 bytes exceeds the limit of 1048576");
  assert_null(ss_jwks_parse(text, 0xffffffffu, &st));
  assert_null(ss_jwks_parse(text, SIZE_MAX, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  free(text);
}

// Wycheproof's json_web_key_test.json checks key sets through JWS
// verification. What applies to a JWE library's key parsing is:
// - sets that must fail as sets: duplicate kids (tc 4; see below), an
//   RSA-1024 key (tc 8), an RSA key with e = 1 (tc 9), empty oct keys
//   (tc 16-18), a point off the curve (tc 22), P-256 coordinates labelled
//   P-384 (tc 23) and EC members under kty RSA (tc 24). Each must be refused
//   by ss_jwks_parse with the message below, in its private and (where
//   given) public form.
// - every other set parses (including the mixed oct/EC set of tc 1, which we
//   accept: a JWE key is chosen by kid and its kty-specific algorithm, so
//   mixing does not create ambiguity, and the ROCA key of tc 7, which no
//   check of ours detects), but none of its keys may be used for JWE: each
//   carries "use":"sig" or a JWS "alg", so ss_jwk_check_use refuses it for
//   the JWE algorithm matching its type, in both directions.
// The JWS signatures themselves are out of scope.
static const struct {
  int tc_id;  // first test of the group
  const char *message;
} kRefusedSets[] = {
    // The second key's "k" has non-zero trailing bits, which strict
    // base64url refuses before the repeated kid is seen (duplicate kids are
    // tested above).
    {4,
     "JWKS: key 1: \"k\": invalid base64url: non-zero trailing bits at "
     "offset 42 (not the canonical encoding)"},
    {8, "JWKS: key 0: RSA modulus is 1024 bits; at least 2048 required"},
    {9, "JWKS: key 0: RSA exponent must be odd and greater than 1"},
    {16, "JWKS: key 0: oct \"k\" is empty"},
    {17, "JWKS: key 0: oct \"k\" is empty"},
    {18, "JWKS: key 0: oct \"k\" is empty"},
    {22, "JWKS: key 0: EC point is not on curve P-256"},
    // P-256 coordinates are read as short P-384 ones, and refused as such.
    {23, "JWKS: key 0: EC point is not on curve P-384"},
    {24, "JWKS: key 0: missing \"n\""},
};

static const char *expected_refusal(int tc_id) {
  for (size_t i = 0; i < sizeof(kRefusedSets) / sizeof(kRefusedSets[0]); i++) {
    if (kRefusedSets[i].tc_id == tc_id) {
      return kRefusedSets[i].message;
    }
  }
  return NULL;
}

static const char *jwe_alg_for(ss_kty kty) {
  switch (kty) {
    case SS_KTY_RSA:
      return "RSA-OAEP-256";
    case SS_KTY_EC:
    case SS_KTY_OKP:
      return "ECDH-ES";
    case SS_KTY_OCT:
      return "A256KW";
  }
  return NULL;
}

static void test_wycheproof_json_web_key_sets(void **state) {
  (void)state;
  json_t *doc = ss_test_vectors_load("wycheproof/json_web_key_test.json");
  assert_non_null(doc);
  size_t groups = 0, sets = 0, refused_sets = 0, keys_refused_for_jwe = 0;
  size_t group_index;
  json_t *group;
  json_array_foreach(json_object_get(doc, "testGroups"), group_index, group) {
    const json_t *first = json_array_get(json_object_get(group, "tests"), 0);
    int tc_id = (int)json_integer_value(json_object_get(first, "tcId"));
    const char *refusal = expected_refusal(tc_id);
    groups++;
    static const char *const kForms[] = {"private", "public"};
    for (size_t f = 0; f < 2; f++) {
      const json_t *set = json_object_get(group, kForms[f]);
      if (set == NULL) {
        continue;
      }
      sets++;
      char *text = json_dumps(set, JSON_COMPACT);
      assert_non_null(text);
      ss_status st;
      ss_status_init(&st);
      ss_jwks *jwks = ss_jwks_parse(text, strlen(text), &st);
      if (refusal != NULL) {
        if (jwks != NULL) {
          fail_msg("tc %d %s set accepted, expected \"%s\"", tc_id, kForms[f],
                   refusal);
        }
        assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
        assert_string_equal(st.msg, refusal);
        refused_sets++;
      } else {
        if (jwks == NULL) {
          fail_msg("tc %d %s set refused: %s", tc_id, kForms[f], st.msg);
        }
        for (size_t k = 0; k < ss_jwks_count(jwks); k++) {
          const ss_jwk *key = ss_jwks_get(jwks, k);
          const char *alg = jwe_alg_for(ss_jwk_kty(key));
          assert_false(ss_jwk_check_use(key, alg, SS_JWK_OP_DECRYPT, &st));
          assert_int_equal(st.code, GRPC_STATUS_FAILED_PRECONDITION);
          assert_false(ss_jwk_check_use(key, alg, SS_JWK_OP_ENCRYPT, &st));
          keys_refused_for_jwe++;
        }
        ss_jwks_free(jwks);
      }
      free(text);
    }
  }
  printf(
      "wycheproof/json_web_key_test.json: %zu groups, %zu key sets: %zu "
      "refused at parse, %zu keys parsed and refused for JWE use\n",
      groups, sets, refused_sets, keys_refused_for_jwe);
  assert_true(groups > 0);
  assert_int_equal(refused_sets, 14);  // 9 groups, 5 of them with a public set
  json_decref(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_find_returns_keys_by_kid_or_thumbprint),
      cmocka_unit_test(test_find_miss_is_not_found_naming_the_kid),
      cmocka_unit_test(test_empty_set_parses_and_finds_nothing),
      cmocka_unit_test(test_duplicate_kids_are_refused),
      cmocka_unit_test(test_bad_member_key_fails_the_set_naming_its_index),
      cmocka_unit_test(test_malformed_sets_are_refused),
      cmocka_unit_test(test_every_truncation_is_refused),
      cmocka_unit_test(test_oversized_sets_are_refused),
      cmocka_unit_test(test_wycheproof_json_web_key_sets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
