#include "lib/jose/jwk.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
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
#include "lib/jose/jwk_internal.h"
#include "lib/jose/jwk_testutil.h"
#include "lib/testing/vectors.h"

// --- Test utilities ---

// Keys generated once for the tests that mutate a valid key.
static struct {
  char *rsa_private;  // RSA-2048 private JWK text
  char *rsa_public;   // its public JWK text
} fixtures;

static int setup_fixtures(void **state) {
  (void)state;
  ss_status st;
  ss_jwk *rsa = ss_jwk_generate("RSA", NULL, 2048, &st);
  if (rsa == NULL) {
    fprintf(stderr, "setup: %s\n", st.msg);
    return -1;
  }
  fixtures.rsa_private = ss_jwk_to_json(rsa, 1, &st);
  fixtures.rsa_public = ss_jwk_to_json(rsa, 0, &st);
  ss_jwk_free(rsa);
  return fixtures.rsa_private != NULL && fixtures.rsa_public != NULL ? 0 : -1;
}

static int teardown_fixtures(void **state) {
  (void)state;
  ss_test_free_secret_text(fixtures.rsa_private);
  free(fixtures.rsa_public);
  return 0;
}

// b64 returns the base64url text of |len| bytes of |data|. Free with free().
static char *b64(const uint8_t *data, size_t len) {
  size_t text_len = ss_b64url_encoded_len(len);
  char *text = malloc(text_len + 1);
  assert_non_null(text);
  ss_b64url_encode(text, data, len);
  text[text_len] = '\0';
  return text;
}

// quoted_b64 returns |len| bytes of |fill| (with |first| and |last| replacing
// the end bytes when non-negative) as a quoted base64url JSON string.
static char *quoted_b64(size_t len, uint8_t fill, int first, int last) {
  uint8_t *bytes = malloc(len + 1);
  assert_non_null(bytes);
  memset(bytes, fill, len);
  if (len > 0 && first >= 0) {
    bytes[0] = (uint8_t)first;
  }
  if (len > 0 && last >= 0) {
    bytes[len - 1] = (uint8_t)last;
  }
  char *text = b64(bytes, len);
  char *quoted = malloc(strlen(text) + 3);
  assert_non_null(quoted);
  sprintf(quoted, "\"%s\"", text);
  free(text);
  free(bytes);
  return quoted;
}

static void hex_to_buf(ss_buf *out, const char *hex) {
  assert_true(ss_test_hex_decode(out, hex));
}

// member_text returns member |name| of |json| as JSON text.
static char *member_text(const char *json, const char *name) {
  json_t *obj = json_loads(json, 0, NULL);
  assert_non_null(obj);
  json_t *value = json_object_get(obj, name);
  assert_non_null(value);
  char *text = json_dumps(value, JSON_ENCODE_ANY);
  assert_non_null(text);
  json_decref(obj);
  return text;
}

static void expect_refused_prefix(const char *json, const char *prefix) {
  ss_status st;
  ss_status_init(&st);
  ss_jwk *jwk = ss_jwk_parse(json, strlen(json), &st);
  assert_null(jwk);
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  if (strncmp(st.msg, prefix, strlen(prefix)) != 0) {
    fail_msg("message \"%s\" does not start with \"%s\"", st.msg, prefix);
  }
}

// expect_refused_with replaces member |name| of |json| by |value| (JSON text,
// NULL to remove) and expects |message|.
static void expect_refused_with(const char *json, const char *name,
                                const char *value, const char *message) {
  char *text = ss_test_jwk_mutated(json, name, value);
  ss_test_jwk_expect_refused(text, message);
  ss_test_free_secret_text(text);
}

// expect_refused_with_filled sets member |name| of |json| to |len| bytes of
// |fill|, base64url-encoded (see quoted_b64), and expects |message|.
static void expect_refused_with_filled(const char *json, const char *name,
                                       size_t len, uint8_t fill,
                                       const char *message) {
  char *value = quoted_b64(len, fill, -1, -1);
  expect_refused_with(json, name, value, message);
  free(value);
}

static ss_jwk *parse_object_ok(const json_t *obj) {
  ss_status st;
  ss_jwk *jwk = ss__jwk_from_json(obj, "JWK", &st);
  if (jwk == NULL) {
    fail_msg("refused: %s", st.msg);
  }
  return jwk;
}

static char *to_json_ok(const ss_jwk *jwk, int include_private) {
  ss_status st;
  char *text = ss_jwk_to_json(jwk, include_private, &st);
  if (text == NULL) {
    fail_msg("serialization failed: %s", st.msg);
  }
  return text;
}

static void assert_same_thumbprint(const ss_jwk *a, const ss_jwk *b) {
  uint8_t ta[32], tb[32];
  ss_status st;
  assert_true(ss_jwk_thumbprint(a, ta, &st));
  assert_true(ss_jwk_thumbprint(b, tb, &st));
  assert_memory_equal(ta, tb, 32);
  assert_string_equal(ss_jwk_kid(a), ss_jwk_kid(b));
}

// assert_json_text_equal compares two JSON texts as values.
static void assert_json_text_equal(const char *a, const char *b) {
  json_t *ja = json_loads(a, 0, NULL);
  json_t *jb = json_loads(b, 0, NULL);
  assert_non_null(ja);
  assert_non_null(jb);
  if (!json_equal(ja, jb)) {
    fail_msg("JSON differs:\n%s\n%s", a, b);
  }
  json_decref(ja);
  json_decref(jb);
}

static void assert_member_order(const char *json, const char *const *names,
                                size_t num_names) {
  json_t *obj = json_loads(json, 0, NULL);
  assert_non_null(obj);
  assert_int_equal(json_object_size(obj), num_names);
  size_t i = 0;
  const char *key;
  json_t *value;
  json_object_foreach(obj, key, value) {
    (void)value;
    assert_string_equal(key, names[i]);
    i++;
  }
  json_decref(obj);
}

// --- RFC 7638, RFC 8037 and the JOSE cookbook ---

// RFC 7638 section 3.1 (the RSA key of RFC 7517 appendix A.1).
static const char kRfc7638Key[] =
    "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78"
    "LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn6"
    "4tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQ"
    "MicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTW"
    "hAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awa"
    "pJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";

static void test_thumbprint_matches_rfc7638_section_3_1(void **state) {
  (void)state;
  ss_jwk *jwk = ss_test_jwk_parse_ok(kRfc7638Key);
  uint8_t thumbprint[32];
  ss_status st;
  assert_true(ss_jwk_thumbprint(jwk, thumbprint, &st));
  char *text = b64(thumbprint, sizeof(thumbprint));
  assert_string_equal(text, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  free(text);
  // The explicit kid wins over the thumbprint.
  assert_string_equal(ss_jwk_kid(jwk), "2011-04-29");
  assert_int_equal(ss_jwk_bits(jwk), 2048);
  ss_jwk_free(jwk);

  // Without a kid, the kid is the thumbprint.
  char *no_kid = ss_test_jwk_mutated(kRfc7638Key, "kid", NULL);
  jwk = ss_test_jwk_parse_ok(no_kid);
  assert_string_equal(ss_jwk_kid(jwk),
                      "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  ss_jwk_free(jwk);
  free(no_kid);
}

// RFC 8037 appendix A.6: ECDH-ES with X25519 to the RFC 7748 section 6.1 Bob
// key, with the RFC 7748 Alice key as the ephemeral key.
static const char kBobPublic[] =
    "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"kid\":\"Bob\","
    "\"x\":\"3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08\"}";
static const char kBobPrivateHex[] =
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
static const char kEphemeralPrivateHex[] =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
static const char kEphemeralPublicX[] =
    "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo";
static const char kRfc8037SharedHex[] =
    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

static char *okp_private_json(const char *d_hex, const char *x) {
  ss_buf d = {0};
  hex_to_buf(&d, d_hex);
  char *d_text = b64(d.data, d.len);
  char *json = malloc(256);
  assert_non_null(json);
  snprintf(json, 256,
           "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"%s\",\"d\":\"%s\"}", x,
           d_text);
  ss_test_free_secret_text(d_text);
  ss_buf_cleanup(&d);
  return json;
}

static void test_x25519_shared_secret_matches_rfc8037_appendix_a6(
    void **state) {
  (void)state;
  char *eph_json = okp_private_json(kEphemeralPrivateHex, kEphemeralPublicX);
  char *bob_json = okp_private_json(
      kBobPrivateHex, "3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08");
  // Parsing checks that each "d" yields the RFC's "x".
  ss_jwk *eph = ss_test_jwk_parse_ok(eph_json);
  ss_jwk *bob = ss_test_jwk_parse_ok(bob_json);
  ss_jwk *bob_pub = ss_test_jwk_parse_ok(kBobPublic);
  ss_jwk *eph_pub = ss_jwk_public(eph, NULL);
  assert_non_null(eph_pub);
  assert_string_equal(ss_jwk_kid(bob_pub), "Bob");
  assert_int_equal(ss_jwk_bits(bob_pub), 256);

  ss_buf expected = {0}, z = {0};
  hex_to_buf(&expected, kRfc8037SharedHex);
  ss_status st;
  assert_true(ss__jwk_ecdh(eph, bob_pub, &z, &st));
  assert_int_equal(z.len, 32);
  assert_memory_equal(z.data, expected.data, 32);
  assert_true(ss__jwk_ecdh(bob, eph_pub, &z, &st));
  assert_int_equal(z.len, 32);
  assert_memory_equal(z.data, expected.data, 32);

  ss_buf_cleanup(&z);
  ss_buf_cleanup(&expected);
  ss_jwk_free(eph);
  ss_jwk_free(bob);
  ss_jwk_free(bob_pub);
  ss_jwk_free(eph_pub);
  ss_test_free_secret_text(eph_json);
  ss_test_free_secret_text(bob_json);
}

static void test_x25519_low_order_peer_is_refused_as_all_zero(void **state) {
  (void)state;
  char *bob_json = okp_private_json(
      kBobPrivateHex, "3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08");
  ss_jwk *bob = ss_test_jwk_parse_ok(bob_json);
  // u = 0 and u = 1 are points of small order: the result is all zero.
  const char *low_order[] = {
      "{\"kty\":\"OKP\",\"crv\":\"X25519\","
      "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
      "{\"kty\":\"OKP\",\"crv\":\"X25519\","
      "\"x\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
  };
  for (size_t i = 0; i < 2; i++) {
    ss_jwk *peer = ss_test_jwk_parse_ok(low_order[i]);
    ss_buf z = {0};
    ss_status st;
    assert_false(ss__jwk_ecdh(bob, peer, &z, &st));
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(
        st.msg, "X25519 shared secret is all zero (low-order public key)");
    assert_int_equal(z.len, 0);
    ss_buf_cleanup(&z);
    ss_jwk_free(peer);
  }
  ss_jwk_free(bob);
  ss_test_free_secret_text(bob_json);
}

static const char *const kCookbookFiles[] = {
    "jose-cookbook/jwk/3_1.ec_public_key.json",
    "jose-cookbook/jwk/3_2.ec_private_key.json",
    "jose-cookbook/jwk/3_3.rsa_public_key.json",
    "jose-cookbook/jwk/3_4.rsa_private_key.json",
    "jose-cookbook/jwk/3_6.symmetric_key_encryption.json",
};

static void test_cookbook_keys_parse_and_round_trip(void **state) {
  (void)state;
  static const struct {
    ss_kty kty;
    int is_private;
    unsigned bits;
    const char *kid;
  } kExpected[] = {
      {SS_KTY_EC, 0, 521, "bilbo.baggins@hobbiton.example"},
      {SS_KTY_EC, 1, 521, "bilbo.baggins@hobbiton.example"},
      {SS_KTY_RSA, 0, 2048, "bilbo.baggins@hobbiton.example"},
      {SS_KTY_RSA, 1, 2048, "bilbo.baggins@hobbiton.example"},
      {SS_KTY_OCT, 1, 256, "1e571774-2e08-40da-8308-e8d68773842d"},
  };
  size_t count = 0;
  for (size_t i = 0; i < sizeof(kCookbookFiles) / sizeof(kCookbookFiles[0]);
       i++) {
    json_t *doc = ss_test_vectors_load(kCookbookFiles[i]);
    assert_non_null(doc);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    ss_jwk *jwk = ss_test_jwk_parse_ok(text);
    assert_int_equal(ss_jwk_kty(jwk), kExpected[i].kty);
    assert_int_equal(ss_jwk_is_private(jwk), kExpected[i].is_private);
    assert_int_equal(ss_jwk_bits(jwk), kExpected[i].bits);
    assert_string_equal(ss_jwk_kid(jwk), kExpected[i].kid);

    // Serialized again, the key is the same JSON value as the file.
    char *out = to_json_ok(jwk, kExpected[i].is_private);
    assert_json_text_equal(out, text);
    ss_status st;
    json_t *obj = ss__jwk_to_json_object(jwk, kExpected[i].is_private, &st);
    assert_non_null(obj);
    assert_true(json_equal(obj, doc));

    // And parsing the output gives the same key.
    ss_jwk *again = ss_test_jwk_parse_ok(out);
    assert_same_thumbprint(jwk, again);
    char *out_again = to_json_ok(again, kExpected[i].is_private);
    assert_string_equal(out, out_again);

    ss_test_free_secret_text(out_again);
    ss_jwk_free(again);
    json_decref(obj);
    ss_test_free_secret_text(out);
    ss_jwk_free(jwk);
    ss_test_free_secret_text(text);
    json_decref(doc);
    count++;
  }
  printf("JOSE cookbook: %zu keys parsed and round-tripped\n", count);
  assert_int_equal(count, 5);
}

static void test_cookbook_private_keys_reduce_to_cookbook_public_keys(
    void **state) {
  (void)state;
  for (size_t i = 0; i < 4; i += 2) {
    json_t *pub_doc = ss_test_vectors_load(kCookbookFiles[i]);
    json_t *priv_doc = ss_test_vectors_load(kCookbookFiles[i + 1]);
    assert_non_null(pub_doc);
    assert_non_null(priv_doc);
    ss_jwk *priv = parse_object_ok(priv_doc);
    ss_jwk *pub_file = parse_object_ok(pub_doc);
    ss_status st;
    ss_jwk *pub = ss_jwk_public(priv, &st);
    assert_non_null(pub);
    assert_false(ss_jwk_is_private(pub));
    assert_same_thumbprint(pub, priv);
    assert_same_thumbprint(pub, pub_file);
    json_t *obj = ss__jwk_to_json_object(pub, 0, &st);
    assert_non_null(obj);
    assert_true(json_equal(obj, pub_doc));
    json_decref(obj);
    ss_jwk_free(pub);
    ss_jwk_free(pub_file);
    ss_jwk_free(priv);
    json_decref(pub_doc);
    json_decref(priv_doc);
  }
}

// --- Wycheproof ---

typedef struct ecdh_counts {
  size_t cases, valid, invalid, acceptable, acceptable_accepted;
  size_t refused_at_parse, refused_by_ecdh;
} ecdh_counts;

// run_ecdh_case parses the case's public and private JWKs and computes the
// shared secret. Valid cases must give "shared"; invalid ones must be refused
// (at parse or by ss__jwk_ecdh); acceptable ones may go either way but must
// give "shared" when accepted.
static void run_ecdh_case(const char *file, const json_t *test,
                          ecdh_counts *counts) {
  int tc_id = (int)json_integer_value(json_object_get(test, "tcId"));
  const char *result = json_string_value(json_object_get(test, "result"));
  const char *shared_hex = json_string_value(json_object_get(test, "shared"));
  assert_non_null(result);
  assert_non_null(shared_hex);
  ss_status st;
  ss_status_init(&st);
  ss_buf z = {0}, expected = {0};
  int parsed = 0, ok = 0;
  ss_jwk *pub =
      ss__jwk_from_json(json_object_get(test, "public"), "public", &st);
  ss_jwk *priv = NULL;
  if (pub != NULL) {
    priv = ss__jwk_from_json(json_object_get(test, "private"), "private", &st);
  }
  if (pub != NULL && priv != NULL) {
    parsed = 1;
    ok = ss__jwk_ecdh(priv, pub, &z, &st);
    if (!ok) {
      assert_int_equal(z.len, 0);
    }
  }
  hex_to_buf(&expected, shared_hex);
  int matches =
      ok && z.len == expected.len && memcmp(z.data, expected.data, z.len) == 0;
  counts->cases++;
  if (strcmp(result, "valid") == 0) {
    counts->valid++;
    if (!matches) {
      fail_msg("%s tc %d (valid): %s", file, tc_id,
               ok ? "wrong shared secret" : st.msg);
    }
  } else if (strcmp(result, "invalid") == 0) {
    counts->invalid++;
    if (ok) {
      fail_msg("%s tc %d (invalid) was accepted", file, tc_id);
    }
    if (parsed) {
      counts->refused_by_ecdh++;
    } else {
      counts->refused_at_parse++;
    }
  } else {
    counts->acceptable++;
    if (ok) {
      counts->acceptable_accepted++;
      if (!matches) {
        fail_msg("%s tc %d (acceptable): wrong shared secret", file, tc_id);
      }
    } else if (!parsed || st.code != GRPC_STATUS_INVALID_ARGUMENT) {
      fail_msg("%s tc %d (acceptable) refused unexpectedly: %s", file, tc_id,
               st.msg);
    }
  }
  ss_buf_cleanup(&z);
  ss_buf_cleanup(&expected);
  ss_jwk_free(pub);
  ss_jwk_free(priv);
}

static void run_ecdh_file(const char *file) {
  json_t *doc = ss_test_vectors_load(file);
  assert_non_null(doc);
  ecdh_counts counts = {0};
  size_t group_index, test_index;
  json_t *group, *test;
  json_array_foreach(json_object_get(doc, "testGroups"), group_index, group) {
    json_array_foreach(json_object_get(group, "tests"), test_index, test) {
      run_ecdh_case(file, test, &counts);
    }
  }
  printf(
      "%s: %zu cases: %zu valid, %zu invalid (%zu refused at parse, %zu by "
      "ECDH), %zu acceptable (%zu accepted)\n",
      file, counts.cases, counts.valid, counts.invalid, counts.refused_at_parse,
      counts.refused_by_ecdh, counts.acceptable, counts.acceptable_accepted);
  assert_true(counts.cases > 0);
  assert_int_equal(counts.cases, (size_t)json_integer_value(
                                     json_object_get(doc, "numberOfTests")));
  json_decref(doc);
}

static void test_wycheproof_ecdh_p256_jwk_vectors(void **state) {
  (void)state;
  run_ecdh_file("wycheproof/ecdh_secp256r1_webcrypto_test.json");
}

static void test_wycheproof_ecdh_p384_jwk_vectors(void **state) {
  (void)state;
  run_ecdh_file("wycheproof/ecdh_secp384r1_webcrypto_test.json");
}

static void test_wycheproof_ecdh_p521_jwk_vectors(void **state) {
  (void)state;
  run_ecdh_file("wycheproof/ecdh_secp521r1_webcrypto_test.json");
}

static void test_wycheproof_x25519_jwk_vectors(void **state) {
  (void)state;
  run_ecdh_file("wycheproof/x25519_jwk_test.json");
}

// decrypt_first_valid_case decrypts the group's first valid, unlabelled
// RSA-OAEP-256 ciphertext with |jwk|, which proves the CRT parameters were
// imported as the library expects.
static int decrypt_first_valid_case(const ss_jwk *jwk, const json_t *group) {
  size_t i;
  json_t *test;
  json_array_foreach(json_object_get(group, "tests"), i, test) {
    if (strcmp(json_string_value(json_object_get(test, "result")), "valid") !=
            0 ||
        strlen(json_string_value(json_object_get(test, "label"))) != 0) {
      continue;
    }
    ss_buf ct = {0}, msg = {0};
    hex_to_buf(&ct, json_string_value(json_object_get(test, "ct")));
    hex_to_buf(&msg, json_string_value(json_object_get(test, "msg")));
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(ss__jwk_pkey(jwk), NULL);
    assert_non_null(ctx);
    assert_true(EVP_PKEY_decrypt_init(ctx) > 0);
    assert_true(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0);
    assert_true(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) > 0);
    assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0);
    uint8_t out[512];
    size_t out_len = sizeof(out);
    assert_true(EVP_PKEY_decrypt(ctx, out, &out_len, ct.data, ct.len) > 0);
    assert_int_equal(out_len, msg.len);
    assert_memory_equal(out, msg.data, msg.len);
    EVP_PKEY_CTX_free(ctx);
    ss_buf_cleanup(&ct);
    ss_buf_cleanup(&msg);
    return 1;
  }
  return 0;
}

static void test_wycheproof_rsa_oaep_private_jwks_parse_and_round_trip(
    void **state) {
  (void)state;
  static const char *const kFiles[] = {
      "wycheproof/rsa_oaep_2048_sha256_mgf1sha256_test.json",
      "wycheproof/rsa_oaep_3072_sha256_mgf1sha256_test.json",
      "wycheproof/rsa_oaep_4096_sha256_mgf1sha256_test.json",
  };
  size_t count = 0;
  for (size_t f = 0; f < 3; f++) {
    json_t *doc = ss_test_vectors_load(kFiles[f]);
    assert_non_null(doc);
    size_t i;
    json_t *group;
    json_array_foreach(json_object_get(doc, "testGroups"), i, group) {
      const json_t *jwk_doc = json_object_get(group, "privateKeyJwk");
      assert_non_null(jwk_doc);
      char *text = json_dumps(jwk_doc, JSON_COMPACT);
      ss_jwk *jwk = ss_test_jwk_parse_ok(text);
      assert_int_equal(ss_jwk_kty(jwk), SS_KTY_RSA);
      assert_true(ss_jwk_is_private(jwk));
      assert_int_equal(
          ss_jwk_bits(jwk),
          (unsigned)json_integer_value(json_object_get(group, "keySize")));
      assert_string_equal(ss_jwk_kid(jwk),
                          json_string_value(json_object_get(jwk_doc, "kid")));
      assert_string_equal(ss_jwk_alg(jwk),
                          json_string_value(json_object_get(jwk_doc, "alg")));
      char *out = to_json_ok(jwk, 1);
      assert_json_text_equal(out, text);
      ss_status st;
      ss_jwk *pub = ss_jwk_public(jwk, &st);
      assert_non_null(pub);
      assert_same_thumbprint(pub, jwk);
      assert_true(decrypt_first_valid_case(jwk, group));
      ss_jwk_free(pub);
      ss_test_free_secret_text(out);
      ss_jwk_free(jwk);
      ss_test_free_secret_text(text);
      count++;
    }
    json_decref(doc);
  }
  printf(
      "Wycheproof RSA-OAEP-256: %zu private JWKs parsed, round-tripped and "
      "used to decrypt\n",
      count);
  assert_true(count > 0);
}

// --- Generation ---

static void check_generated(const char *kty, const char *crv, unsigned bits,
                            ss_kty expect_kty, unsigned expect_bits) {
  ss_status st;
  ss_jwk *jwk = ss_jwk_generate(kty, crv, bits, &st);
  if (jwk == NULL) {
    fail_msg("generate %s %s %u: %s", kty, crv != NULL ? crv : "", bits,
             st.msg);
  }
  assert_int_equal(ss_jwk_kty(jwk), expect_kty);
  assert_int_equal(ss_jwk_bits(jwk), expect_bits);
  assert_true(ss_jwk_is_private(jwk));
  if (crv != NULL) {
    assert_string_equal(ss_jwk_crv(jwk), crv);
  } else {
    assert_null(ss_jwk_crv(jwk));
  }
  assert_null(ss_jwk_alg(jwk));
  uint8_t thumbprint[32];
  assert_true(ss_jwk_thumbprint(jwk, thumbprint, &st));
  char *thumb_text = b64(thumbprint, 32);
  assert_string_equal(ss_jwk_kid(jwk), thumb_text);
  free(thumb_text);

  char *text = to_json_ok(jwk, 1);
  ss_jwk *again = ss_test_jwk_parse_ok(text);
  assert_same_thumbprint(jwk, again);
  char *text_again = to_json_ok(again, 1);
  assert_string_equal(text, text_again);
  if (expect_kty == SS_KTY_RSA) {
    assert_non_null(strstr(text, "\"e\":\"AQAB\""));
  }

  if (expect_kty != SS_KTY_OCT) {
    ss_jwk *pub = ss_jwk_public(jwk, &st);
    assert_non_null(pub);
    assert_false(ss_jwk_is_private(pub));
    assert_same_thumbprint(pub, jwk);
    char *pub_text = to_json_ok(pub, 0);
    char *pub_text2 = to_json_ok(jwk, 0);
    assert_string_equal(pub_text, pub_text2);
    assert_null(strstr(pub_text, "\"d\""));
    free(pub_text);
    free(pub_text2);
    if (expect_kty != SS_KTY_RSA) {
      // A second key of the same curve agrees on one secret both ways.
      ss_jwk *other = ss_jwk_generate(kty, crv, bits, &st);
      assert_non_null(other);
      ss_jwk *other_pub = ss_jwk_public(other, &st);
      assert_non_null(other_pub);
      ss_buf z1 = {0}, z2 = {0};
      assert_true(ss__jwk_ecdh(jwk, other_pub, &z1, &st));
      assert_true(ss__jwk_ecdh(other, pub, &z2, &st));
      assert_int_equal(z1.len, (expect_bits + 7) / 8);
      assert_int_equal(z1.len, z2.len);
      assert_memory_equal(z1.data, z2.data, z1.len);
      ss_buf_cleanup(&z1);
      ss_buf_cleanup(&z2);
      ss_jwk_free(other_pub);
      ss_jwk_free(other);
    }
    ss_jwk_free(pub);
  } else {
    size_t len;
    assert_non_null(ss__jwk_oct(jwk, &len));
    assert_int_equal(len * 8, bits);
    assert_null(ss__jwk_pkey(jwk));
  }
  ss_test_free_secret_text(text_again);
  ss_test_free_secret_text(text);
  ss_jwk_free(again);
  ss_jwk_free(jwk);
}

static void test_generated_keys_of_every_type_round_trip(void **state) {
  (void)state;
  check_generated("RSA", NULL, 2048, SS_KTY_RSA, 2048);
  check_generated("EC", "P-256", 0, SS_KTY_EC, 256);
  check_generated("EC", "P-384", 0, SS_KTY_EC, 384);
  check_generated("EC", "P-521", 0, SS_KTY_EC, 521);
  check_generated("OKP", "X25519", 0, SS_KTY_OKP, 256);
  static const unsigned kOctBits[] = {128, 192, 256, 384, 512};
  for (size_t i = 0; i < 5; i++) {
    check_generated("oct", NULL, kOctBits[i], SS_KTY_OCT, kOctBits[i]);
  }
}

static void test_generated_rsa_3072_and_4096_keys_round_trip(void **state) {
  (void)state;
  check_generated("RSA", NULL, 3072, SS_KTY_RSA, 3072);
  check_generated("RSA", NULL, 4096, SS_KTY_RSA, 4096);
}

static void expect_generate_refused(const char *kty, const char *crv,
                                    unsigned bits, const char *message) {
  ss_status st;
  assert_null(ss_jwk_generate(kty, crv, bits, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(st.msg, message);
}

static void test_generate_refuses_unsupported_types_and_sizes(void **state) {
  (void)state;
  expect_generate_refused(
      "RSA", NULL, 1024,
      "JWK generate: unsupported RSA size 1024; expected 2048, 3072 or 4096");
  expect_generate_refused(
      "RSA", NULL, 8192,
      "JWK generate: unsupported RSA size 8192; expected 2048, 3072 or 4096");
  expect_generate_refused("EC", "P-192", 0,
                          "JWK generate: unsupported EC curve; expected "
                          "\"P-256\", \"P-384\" or \"P-521\"");
  expect_generate_refused("EC", NULL, 0,
                          "JWK generate: unsupported EC curve; expected "
                          "\"P-256\", \"P-384\" or \"P-521\"");
  expect_generate_refused(
      "OKP", "X448", 0,
      "JWK generate: unsupported OKP curve; expected \"X25519\" or "
      "\"Ed25519\"");
  expect_generate_refused("oct", NULL, 100,
                          "JWK generate: unsupported oct size 100; expected "
                          "128, 192, 256, 384 or 512");
  expect_generate_refused("oct", NULL, 0,
                          "JWK generate: unsupported oct size 0; expected "
                          "128, 192, 256, 384 or 512");
  expect_generate_refused("DSA", NULL, 2048,
                          "JWK generate: unsupported \"kty\"; expected "
                          "\"RSA\", \"EC\", \"OKP\" or \"oct\"");
  expect_generate_refused(NULL, NULL, 0,
                          "JWK generate: unsupported \"kty\"; expected "
                          "\"RSA\", \"EC\", \"OKP\" or \"oct\"");
}

// --- Refusals ---

static void test_rsa_public_key_refusals_name_the_problem(void **state) {
  (void)state;
  const char *pub = fixtures.rsa_public;
  char *v;

  expect_refused_with(pub, "n", NULL, "JWK: missing \"n\"");
  expect_refused_with(pub, "n", "\"\"", "JWK: RSA \"n\" is empty");
  expect_refused_with(pub, "n", "7", "JWK: \"n\" must be a string");
  v = quoted_b64(257, 0xff, 0x00, -1);
  expect_refused_with(pub, "n", v, "JWK: RSA \"n\" has a leading zero byte");
  free(v);
  expect_refused_with_filled(
      pub, "n", 128, 0xff,
      "JWK: RSA modulus is 1024 bits; at least 2048 required");
  v = quoted_b64(256, 0xff, 0x7f, -1);
  expect_refused_with(pub, "n", v,
                      "JWK: RSA modulus is 2047 bits; at least 2048 required");
  free(v);
  expect_refused_with_filled(
      pub, "n", 1025, 0xff,
      "JWK: RSA modulus is 8200 bits; at most 8192 supported");
  v = quoted_b64(2049, 0xff, -1, -1);
  expect_refused_with(pub, "n", v, "JWK: \"n\" is longer than 2048 bytes");
  free(v);
  v = quoted_b64(256, 0xff, -1, 0xfe);
  expect_refused_with(pub, "n", v, "JWK: RSA modulus is even");
  free(v);
  v = ss_test_jwk_mutated(pub, "n", "\"n!\"");
  expect_refused_prefix(v, "JWK: \"n\": ");
  free(v);

  expect_refused_with(pub, "e", NULL, "JWK: missing \"e\"");
  expect_refused_with(pub, "e", "\"\"", "JWK: RSA \"e\" is empty");
  expect_refused_with(pub, "e", "\"AAEAAQ\"",
                      "JWK: RSA \"e\" has a leading zero byte");
  expect_refused_with(pub, "e", "\"AQ\"",
                      "JWK: RSA exponent must be odd and greater than 1");
  expect_refused_with(pub, "e", "\"AQAA\"",
                      "JWK: RSA exponent must be odd and greater than 1");
  expect_refused_with_filled(
      pub, "e", 5, 0xff, "JWK: RSA exponent is 40 bits; at most 33 supported");

  expect_refused_with(pub, "oth", "[]",
                      "JWK: RSA keys with more than two primes (\"oth\") are "
                      "not supported");
  expect_refused_with(pub, "d", "\"AQAB\"",
                      "JWK: private RSA key needs \"d\", \"p\", \"q\", \"dp\", "
                      "\"dq\" and \"qi\"; \"p\" is missing");
  // The 33-bit exponent limit itself is accepted.
  char *e33 = ss_test_jwk_mutated(pub, "e", "\"AQAAAAE\"");
  ss_jwk_free(ss_test_jwk_parse_ok(e33));
  free(e33);
}

static void test_rsa_private_key_refusals_name_the_problem(void **state) {
  (void)state;
  const char *priv = fixtures.rsa_private;
  static const char *const kMembers[] = {"d", "p", "q", "dp", "dq", "qi"};
  for (size_t i = 0; i < 6; i++) {
    char message[160];
    snprintf(message, sizeof(message),
             "JWK: private RSA key needs \"d\", \"p\", \"q\", \"dp\", \"dq\" "
             "and \"qi\"; \"%s\" is missing",
             kMembers[i]);
    expect_refused_with(priv, kMembers[i], NULL, message);
    snprintf(message, sizeof(message), "JWK: RSA \"%s\" is empty", kMembers[i]);
    expect_refused_with(priv, kMembers[i], "\"\"", message);
  }
  char *n = member_text(priv, "n");
  char *p = member_text(priv, "p");
  char *q = member_text(priv, "q");
  char *dp = member_text(priv, "dp");
  char *dq = member_text(priv, "dq");
  expect_refused_with(priv, "p", q,
                      "JWK: RSA factors do not match the modulus");
  expect_refused_with(priv, "q", "\"AQ\"",
                      "JWK: RSA factors do not match the modulus");
  expect_refused_with(priv, "d", n,
                      "JWK: RSA private exponents do not match the key");
  expect_refused_with(priv, "dp", dq,
                      "JWK: RSA private exponents do not match the key");
  expect_refused_with(priv, "qi", dp,
                      "JWK: RSA private exponents do not match the key");
  expect_refused_with(priv, "qi", p,
                      "JWK: RSA private exponents do not match the key");
  expect_refused_with(priv, "e", "\"Aw\"",
                      "JWK: RSA private exponents do not match the key");
  expect_refused_with(priv, "oth", "[{}]",
                      "JWK: RSA keys with more than two primes (\"oth\") are "
                      "not supported");
  // Private values padded with a leading zero byte are tolerated.
  json_t *obj = json_loads(priv, 0, NULL);
  assert_non_null(obj);
  ss_buf d = {0};
  assert_true(
      ss_b64url_decode_to(&d, json_string_value(json_object_get(obj, "d")),
                          json_string_length(json_object_get(obj, "d")), NULL));
  uint8_t *padded = calloc(1, d.len + 1);
  assert_non_null(padded);
  memcpy(padded + 1, d.data, d.len);
  char *padded_text = b64(padded, d.len + 1);
  json_object_set_new(obj, "d", json_string(padded_text));
  char *text = json_dumps(obj, JSON_COMPACT);
  ss_jwk *jwk = ss_test_jwk_parse_ok(text);
  char *out = to_json_ok(jwk, 1);
  assert_string_equal(out, priv);
  ss_test_free_secret_text(out);
  ss_jwk_free(jwk);
  ss_test_free_secret_text(text);
  ss_test_free_secret_text(padded_text);
  OPENSSL_cleanse(padded, d.len + 1);
  free(padded);
  ss_buf_cleanup(&d);
  json_decref(obj);
  free(n);
  ss_test_free_secret_text(p);
  ss_test_free_secret_text(q);
  ss_test_free_secret_text(dp);
  ss_test_free_secret_text(dq);
}

// The P-256 key pair of Wycheproof's ecdh_secp256r1_webcrypto_test.json tc 1.
static const char kP256Private[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\","
    "\"x\":\"tZzHZx3Wprg24s2Tlu9WGLL_PoGS3XydNsJ8tW_5FmE\","
    "\"y\":\"SCbZ29WuZM3YV1Bou8nmPyMepX7QMkiETAkzG5U5IFM\","
    "\"d\":\"BhJGXImgI6sXhVsKa86_0_67U674QThke1NS4CwQw0Y\"}";
static const char kP256Public[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\","
    "\"x\":\"YtW9M3Kvdf6FoEBxXQ9QJCjgcEaGiwv9-mHXMa_kTyY\","
    "\"y\":\"rDM6k6nnCoHNWpW1v40TmQ63QcjDiHK0oH0nWgFOMM8\"}";

static void test_ec_refusals_name_the_problem(void **state) {
  (void)state;
  char *v;
  expect_refused_with(kP256Public, "crv", NULL, "JWK: missing \"crv\"");
  expect_refused_with(kP256Public, "crv", "\"P-256K\"",
                      "JWK: unsupported EC curve; expected \"P-256\", "
                      "\"P-384\" or \"P-521\"");
  expect_refused_with(kP256Public, "crv", "\"X25519\"",
                      "JWK: unsupported EC curve; expected \"P-256\", "
                      "\"P-384\" or \"P-521\"");
  expect_refused_with(kP256Public, "crv", "\"P-384\"",
                      "JWK: EC point is not on curve P-384");
  expect_refused_with(kP256Public, "x", NULL, "JWK: missing \"x\"");
  expect_refused_with(kP256Public, "y", NULL, "JWK: missing \"y\"");
  // A short coordinate is read as left-padded, and still checked.
  expect_refused_with_filled(kP256Public, "x", 31, 0x11,
                             "JWK: EC point is not on curve P-256");
  expect_refused_with(kP256Public, "x", "\"\"",
                      "JWK: EC \"x\" is 0 bytes; P-256 needs 1 to 32");
  expect_refused_with_filled(kP256Public, "y", 33, 0x00,
                             "JWK: EC \"y\" is 33 bytes; P-256 needs 1 to 32");
  // y with its last bit flipped: an invalid-curve attack point.
  expect_refused_with(kP256Public, "y",
                      "\"rDM6k6nnCoHNWpW1v40TmQ63QcjDiHK0oH0nWgFOMM4\"",
                      "JWK: EC point is not on curve P-256");
  // (0, 0) and coordinates equal to the field prime are not on the curve.
  v = quoted_b64(32, 0x00, -1, -1);
  char *zero_x = ss_test_jwk_mutated(kP256Public, "x", v);
  expect_refused_with(zero_x, "y", v, "JWK: EC point is not on curve P-256");
  free(zero_x);
  free(v);
  expect_refused_with(kP256Public, "x",
                      "\"_____wAAAAEAAAAAAAAAAAAAAAD_______________8\"",
                      "JWK: EC point is not on curve P-256");

  expect_refused_with_filled(kP256Private, "d", 31, 0x11,
                             "JWK: EC \"d\" is 31 bytes; P-256 needs 32");
  expect_refused_with_filled(kP256Private, "d", 32, 0x00,
                             "JWK: EC \"d\" is out of range for P-256");
  // The group order n of P-256.
  expect_refused_with(kP256Private, "d",
                      "\"_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE\"",
                      "JWK: EC \"d\" is out of range for P-256");
  // A valid scalar belonging to another key.
  expect_refused_with(kP256Private, "d",
                      "\"TzQU0VibSfcXLUOcu-eOW1NQ3IXepAzS1idHQMbgI5w\"",
                      "JWK: EC private key does not match its public key");
  v = ss_test_jwk_mutated(kP256Public, "x", "\"x=\"");
  expect_refused_prefix(v, "JWK: \"x\": ");
  free(v);
  expect_refused_with(kP256Public, "x", "[]", "JWK: \"x\" must be a string");
}

static void test_okp_and_oct_refusals_name_the_problem(void **state) {
  (void)state;
  char *priv = okp_private_json(kEphemeralPrivateHex, kEphemeralPublicX);
  char *v;
  expect_refused_with(kBobPublic, "crv", "\"X448\"",
                      "JWK: unsupported OKP curve; expected \"X25519\" or "
                      "\"Ed25519\"");
  expect_refused_with(kBobPublic, "crv", NULL, "JWK: missing \"crv\"");
  expect_refused_with(kBobPublic, "x", NULL, "JWK: missing \"x\"");
  expect_refused_with(priv, "x", NULL, "JWK: missing \"x\"");
  expect_refused_with_filled(kBobPublic, "x", 31, 0x09,
                             "JWK: X25519 \"x\" is 31 bytes; 32 required");
  expect_refused_with_filled(priv, "d", 33, 0x09,
                             "JWK: X25519 \"d\" is 33 bytes; 32 required");
  expect_refused_with(priv, "x",
                      "\"3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08\"",
                      "JWK: X25519 private key does not match its public key");
  ss_test_free_secret_text(priv);

  const char *oct = "{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}";
  expect_refused_with(oct, "k", NULL, "JWK: missing \"k\"");
  expect_refused_with(oct, "k", "\"\"", "JWK: oct \"k\" is empty");
  v = quoted_b64(2049, 0x42, -1, -1);
  expect_refused_with(oct, "k", v, "JWK: \"k\" is longer than 2048 bytes");
  free(v);
  v = quoted_b64(2048, 0x42, -1, -1);
  char *longest = ss_test_jwk_mutated(oct, "k", v);
  ss_jwk *jwk = ss_test_jwk_parse_ok(longest);
  assert_int_equal(ss_jwk_bits(jwk), 2048 * 8);
  ss_jwk_free(jwk);
  free(longest);
  free(v);
}

static void test_common_member_refusals_name_the_problem(void **state) {
  (void)state;
  const char *oct = "{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}";
  expect_refused_with(oct, "kty", NULL, "JWK: missing \"kty\"");
  expect_refused_with(oct, "kty", "5", "JWK: \"kty\" must be a string");
  static const char kUnknownKty[] =
      "JWK: unsupported \"kty\"; expected \"RSA\", \"EC\", \"OKP\" or \"oct\"";
  expect_refused_with(oct, "kty", "\"\"", kUnknownKty);
  expect_refused_with(oct, "kty", "\"OCT\"", kUnknownKty);
  expect_refused_with(oct, "kty", "\"DSA\"", kUnknownKty);
  expect_refused_with(oct, "use", "5", "JWK: \"use\" must be a string");
  expect_refused_with(oct, "alg", "[]", "JWK: \"alg\" must be a string");
  expect_refused_with(oct, "kid", "{}", "JWK: \"kid\" must be a string");
  expect_refused_with(oct, "kid", "\"\"", "JWK: \"kid\" is empty");
  // jansson refuses escaped NUL characters while parsing.
  expect_refused_prefix(
      "{\"kty\":\"oct\",\"k\":\"AAAA\",\"kid\":\"a\\u0000b\"}",
      "JWK: invalid JSON");
  expect_refused_prefix(
      "{\"kty\":\"oct\",\"k\":\"AAAA\",\"key_ops\":[\"wrapKey\\u0000\"]}",
      "JWK: invalid JSON");
  expect_refused_with(oct, "key_ops", "\"wrapKey\"",
                      "JWK: \"key_ops\" must be an array of strings");
  expect_refused_with(oct, "key_ops", "[\"wrapKey\",5]",
                      "JWK: \"key_ops\" must be an array of strings");
  static const char kUnknownOp[] =
      "JWK: \"key_ops\" has an unknown operation; expected sign, verify, "
      "encrypt, decrypt, wrapKey, unwrapKey, deriveKey or deriveBits";
  expect_refused_with(oct, "key_ops", "[\"wrap\"]", kUnknownOp);
  expect_refused_with(oct, "key_ops", "[\"WRAPKEY\"]", kUnknownOp);
  expect_refused_with(oct, "key_ops", "[\"wrapKey\",\"unwrapKey\",\"wrapKey\"]",
                      "JWK: \"key_ops\" lists an operation twice");
  expect_refused_with(
      oct, "key_ops",
      "[\"sign\",\"verify\",\"encrypt\",\"decrypt\",\"wrapKey\","
      "\"unwrapKey\",\"deriveKey\",\"deriveBits\",\"sign\"]",
      "JWK: \"key_ops\" lists an operation twice");

  // Objects built in memory may hold NUL characters that text cannot.
  json_t *obj = json_pack("{s:s,s:s}", "kty", "oct", "k", "AAAA");
  assert_non_null(obj);
  json_object_set_new(obj, "kid", json_stringn("a\0b", 3));
  ss_status nul_st;
  assert_null(ss__jwk_from_json(obj, "epk", &nul_st));
  assert_string_equal(nul_st.msg, "epk: \"kid\" contains a NUL character");
  json_object_del(obj, "kid");
  json_t *ops = json_array();
  json_array_append_new(ops, json_stringn("wrapKey\0", 8));
  json_object_set_new(obj, "key_ops", ops);
  assert_null(ss__jwk_from_json(obj, "epk", &nul_st));
  assert_non_null(strstr(nul_st.msg, "unknown operation"));
  json_decref(obj);
  assert_null(ss__jwk_from_json(NULL, "epk", &nul_st));
  assert_string_equal(nul_st.msg, "epk: expected a JSON object");

  ss_test_jwk_expect_refused("[]", "JWK: expected a JSON object");
  expect_refused_prefix("\"oct\"", "JWK: invalid JSON");
  expect_refused_prefix("{\"kty\":\"oct\",\"k\":\"AAAA\",\"k\":\"AAAA\"}",
                        "JWK: invalid JSON");
  ss_status st;
  const char *dup = "{\"kty\":\"oct\",\"k\":\"AAAA\",\"k\":\"AAAA\"}";
  assert_null(ss_jwk_parse(dup, strlen(dup), &st));
  assert_non_null(strstr(st.msg, "duplicate"));
  expect_refused_prefix("{\"kty\":\"oct\",\"k\":\"AAAA\"} x",
                        "JWK: invalid JSON");
  expect_refused_prefix("{\"kty\":\"oct\",\"k\":\"AAAA\"}{}",
                        "JWK: invalid JSON");
  expect_refused_prefix("", "JWK: invalid JSON");
  assert_null(ss_jwk_parse(NULL, 0, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_parse_enforces_the_size_limit_before_parsing(void **state) {
  (void)state;
  const char *oct = "{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}";
  char *text = malloc(SS_JWK_MAX_JSON + 2);
  assert_non_null(text);
  // Exactly at the limit (padding with whitespace) parses.
  size_t len = strlen(oct);
  memset(text, ' ', SS_JWK_MAX_JSON + 1);
  memcpy(text, oct, len);
  text[SS_JWK_MAX_JSON + 1] = '\0';
  ss_status st;
  ss_jwk *jwk = ss_jwk_parse(text, SS_JWK_MAX_JSON, &st);
  assert_non_null(jwk);
  ss_jwk_free(jwk);
  assert_null(ss_jwk_parse(text, SS_JWK_MAX_JSON + 1, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_string_equal(st.msg, "JWK: 16385 bytes exceeds the limit of 16384");
  // Huge lengths are refused before a byte is read.
  assert_null(ss_jwk_parse(text, 0xffffffffu, &st));
  assert_string_equal(st.msg,
                      "JWK: 4294967295 bytes exceeds the limit of 16384");
  assert_null(ss_jwk_parse(text, 0x80000000u, &st));
  assert_null(ss_jwk_parse(text, SIZE_MAX, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  free(text);
}

static void test_parse_refuses_every_truncation(void **state) {
  (void)state;
  const char *keys[] = {kP256Private, kBobPublic, fixtures.rsa_private};
  for (size_t k = 0; k < 3; k++) {
    size_t len = strlen(keys[k]);
    for (size_t cut = 0; cut < len; cut++) {
      ss_status st;
      ss_status_init(&st);
      ss_jwk *jwk = ss_jwk_parse(keys[k], cut, &st);
      if (jwk != NULL) {
        ss_jwk_free(jwk);
        fail_msg("key %zu cut to %zu bytes was accepted", k, cut);
      }
      assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    }
    ss_jwk *whole = ss_test_jwk_parse_ok(keys[k]);
    ss_jwk_free(whole);
  }
}

// --- use, key_ops, alg ---

static void expect_use(const char *json, const char *alg, ss_jwk_op op,
                       const char *refusal) {
  ss_jwk *jwk = ss_test_jwk_parse_ok(json);
  ss_status st;
  ss_status_init(&st);
  int ok = ss_jwk_check_use(jwk, alg, op, &st);
  if (refusal == NULL) {
    if (!ok) {
      fail_msg("%s refused for %s: %s", json, alg, st.msg);
    }
  } else {
    assert_false(ok);
    assert_int_equal(st.code, GRPC_STATUS_FAILED_PRECONDITION);
    assert_string_equal(st.msg, refusal);
  }
  ss_jwk_free(jwk);
}

static void test_check_use_applies_use_key_ops_and_alg(void **state) {
  (void)state;
  const char *oct = "{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}";
  expect_use(oct, "A128KW", SS_JWK_OP_ENCRYPT, NULL);
  expect_use(oct, "A128KW", SS_JWK_OP_DECRYPT, NULL);

  char *text = ss_test_jwk_mutated(oct, "use", "\"sig\"");
  expect_use(text, "A128KW", SS_JWK_OP_DECRYPT, "JWK: \"use\" is not \"enc\"");
  expect_use(text, "A128KW", SS_JWK_OP_ENCRYPT, "JWK: \"use\" is not \"enc\"");
  free(text);
  text = ss_test_jwk_mutated(oct, "use", "\"enc\"");
  expect_use(text, "A128KW", SS_JWK_OP_DECRYPT, NULL);
  free(text);

  static const char kNoDecrypt[] =
      "JWK: \"key_ops\" allows none of unwrapKey, decrypt, deriveKey or "
      "deriveBits";
  static const char kNoEncrypt[] =
      "JWK: \"key_ops\" allows none of wrapKey, encrypt, deriveKey or "
      "deriveBits";
  // Each "key_ops" value against each direction it is checked for.
  static const struct {
    int on_bob;           // 1: set on kBobPublic; 0: on the oct key
    const char *key_ops;  // the member's JSON value
    const char *alg;
    ss_jwk_op op;
    const char *refusal;  // NULL: allowed
  } kKeyOps[] = {
      {0, "[\"unwrapKey\"]", "A128KW", SS_JWK_OP_DECRYPT, NULL},
      {0, "[\"unwrapKey\"]", "A128KW", SS_JWK_OP_ENCRYPT, kNoEncrypt},
      {0, "[\"sign\",\"wrapKey\"]", "A128KW", SS_JWK_OP_ENCRYPT, NULL},
      {0, "[\"sign\",\"wrapKey\"]", "A128KW", SS_JWK_OP_DECRYPT, kNoDecrypt},
      {0, "[\"encrypt\",\"decrypt\"]", "dir", SS_JWK_OP_ENCRYPT, NULL},
      {0, "[\"encrypt\",\"decrypt\"]", "dir", SS_JWK_OP_DECRYPT, NULL},
      {1, "[\"deriveKey\"]", "ECDH-ES", SS_JWK_OP_ENCRYPT, NULL},
      {1, "[\"deriveKey\"]", "ECDH-ES", SS_JWK_OP_DECRYPT, NULL},
      {1, "[\"deriveBits\"]", "ECDH-ES+A128KW", SS_JWK_OP_DECRYPT, NULL},
      {0, "[]", "A128KW", SS_JWK_OP_ENCRYPT, kNoEncrypt},
      {0, "[]", "A128KW", SS_JWK_OP_DECRYPT, kNoDecrypt},
      {0, "[\"sign\",\"verify\"]", "A128KW", SS_JWK_OP_DECRYPT, kNoDecrypt},
  };
  for (size_t i = 0; i < sizeof(kKeyOps) / sizeof(kKeyOps[0]); i++) {
    text = ss_test_jwk_mutated(kKeyOps[i].on_bob ? kBobPublic : oct, "key_ops",
                               kKeyOps[i].key_ops);
    expect_use(text, kKeyOps[i].alg, kKeyOps[i].op, kKeyOps[i].refusal);
    free(text);
  }

  text = ss_test_jwk_mutated(oct, "alg", "\"A128GCMKW\"");
  expect_use(text, "A128GCMKW", SS_JWK_OP_DECRYPT, NULL);
  expect_use(text, "A128KW", SS_JWK_OP_DECRYPT,
             "JWK: key \"alg\" is \"A128GCMKW\", not \"A128KW\"");
  expect_use(text, NULL, SS_JWK_OP_ENCRYPT,
             "JWK: key \"alg\" is \"A128GCMKW\", not \"(none)\"");
  ss_jwk *jwk = ss_test_jwk_parse_ok(text);
  assert_string_equal(ss_jwk_alg(jwk), "A128GCMKW");
  ss_jwk_free(jwk);
  free(text);

  // "use" is checked before "key_ops", and "key_ops" before "alg".
  text = ss_test_jwk_mutated(oct, "use", "\"sig\"");
  char *text2 = ss_test_jwk_mutated(text, "alg", "\"HS256\"");
  expect_use(text2, "A128KW", SS_JWK_OP_DECRYPT, "JWK: \"use\" is not \"enc\"");
  free(text2);
  free(text);
}

// --- Public keys and serialization ---

static void test_public_drops_private_members_and_keeps_metadata(void **state) {
  (void)state;
  char *base = okp_private_json(kEphemeralPrivateHex, kEphemeralPublicX);
  char *t1 = ss_test_jwk_mutated(base, "kid", "\"eph\"");
  char *t2 = ss_test_jwk_mutated(t1, "use", "\"enc\"");
  char *t3 = ss_test_jwk_mutated(t2, "key_ops", "[\"deriveBits\"]");
  char *t4 = ss_test_jwk_mutated(t3, "alg", "\"ECDH-ES\"");
  ss_jwk *jwk = ss_test_jwk_parse_ok(t4);
  ss_status st;
  ss_jwk *pub = ss_jwk_public(jwk, &st);
  assert_non_null(pub);
  assert_false(ss_jwk_is_private(pub));
  assert_string_equal(ss_jwk_kid(pub), "eph");
  assert_string_equal(ss_jwk_alg(pub), "ECDH-ES");
  char *out = to_json_ok(pub, 0);
  char expected[256];
  snprintf(expected, sizeof(expected),
           "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"%s\",\"use\":\"enc\","
           "\"key_ops\":[\"deriveBits\"],\"alg\":\"ECDH-ES\",\"kid\":\"eph\"}",
           kEphemeralPublicX);
  assert_string_equal(out, expected);
  free(out);
  // A public key can do ECDH only as the peer.
  ss_buf z = {0};
  assert_false(ss__jwk_ecdh(pub, jwk, &z, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(st.msg, "ECDH needs a private EC or X25519 key");
  ss_buf_cleanup(&z);
  ss_jwk_free(pub);
  ss_jwk_free(jwk);

  // RSA and EC public keys lose every private member.
  const char *privs[] = {fixtures.rsa_private, kP256Private};
  for (size_t i = 0; i < 2; i++) {
    jwk = ss_test_jwk_parse_ok(privs[i]);
    pub = ss_jwk_public(jwk, &st);
    assert_non_null(pub);
    out = to_json_ok(pub, 0);
    json_t *obj = json_loads(out, 0, NULL);
    assert_non_null(obj);
    static const char *const kPrivate[] = {"d", "p", "q", "dp", "dq", "qi"};
    for (size_t m = 0; m < 6; m++) {
      assert_null(json_object_get(obj, kPrivate[m]));
    }
    json_decref(obj);
    free(out);
    ss_jwk_free(pub);
    ss_jwk_free(jwk);
  }
  ss_test_free_secret_text(t4);
  ss_test_free_secret_text(t3);
  ss_test_free_secret_text(t2);
  ss_test_free_secret_text(t1);
  ss_test_free_secret_text(base);
}

static void test_oct_keys_have_no_public_part(void **state) {
  (void)state;
  ss_jwk *jwk = ss_test_jwk_parse_ok(
      "{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}");
  ss_status st;
  assert_null(ss_jwk_public(jwk, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(st.msg, "JWK: a symmetric (oct) key has no public part");
  assert_null(ss_jwk_to_json(jwk, 0, &st));
  assert_string_equal(st.msg, "JWK: a symmetric (oct) key has no public part");
  assert_null(ss__jwk_to_json_object(jwk, 0, &st));
  assert_null(ss__jwk_pkey(jwk));
  size_t len;
  assert_non_null(ss__jwk_oct(jwk, &len));
  assert_int_equal(len, 16);
  assert_null(ss_jwk_crv(jwk));
  ss_jwk_free(jwk);
  ss_jwk_free(NULL);
}

static void test_private_serialization_of_public_key_is_refused(void **state) {
  (void)state;
  const char *pubs[] = {kP256Public, kBobPublic, fixtures.rsa_public};
  for (size_t i = 0; i < 3; i++) {
    ss_jwk *jwk = ss_test_jwk_parse_ok(pubs[i]);
    ss_status st;
    assert_false(ss_jwk_is_private(jwk));
    assert_null(ss_jwk_to_json(jwk, 1, &st));
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(
        st.msg, "JWK: a public key has no private members to serialize");
    assert_null(ss__jwk_to_json_object(jwk, 1, &st));
    size_t len = 1;
    assert_null(ss__jwk_oct(jwk, &len));
    assert_int_equal(len, 0);
    assert_non_null(ss__jwk_pkey(jwk));
    ss_jwk_free(jwk);
  }
}

static void test_serialization_follows_rfc7517_member_order(void **state) {
  (void)state;
  static const char *const kRsa[] = {"kty", "n",  "e",  "d",   "p",  "q",
                                     "dp",  "dq", "qi", "use", "kid"};
  static const char *const kEc[] = {"kty", "crv", "x", "y", "d", "use", "kid"};
  static const char *const kOct[] = {"kty", "k", "use", "alg", "kid"};
  // The cookbook files list kid and use first; the output does not.
  static const struct {
    const char *file;
    const char *const *order;
    size_t num;
  } kCases[] = {
      {"jose-cookbook/jwk/3_4.rsa_private_key.json", kRsa, 11},
      {"jose-cookbook/jwk/3_2.ec_private_key.json", kEc, 7},
      {"jose-cookbook/jwk/3_6.symmetric_key_encryption.json", kOct, 5},
  };
  for (size_t i = 0; i < 3; i++) {
    json_t *doc = ss_test_vectors_load(kCases[i].file);
    assert_non_null(doc);
    ss_jwk *jwk = parse_object_ok(doc);
    char *out = to_json_ok(jwk, 1);
    assert_member_order(out, kCases[i].order, kCases[i].num);
    ss_test_free_secret_text(out);
    ss_jwk_free(jwk);
    json_decref(doc);
  }
  // Every member at once, given in reverse order.
  char *priv = okp_private_json(kEphemeralPrivateHex, kEphemeralPublicX);
  json_t *obj = json_loads(priv, 0, NULL);
  assert_non_null(obj);
  char input[512];
  snprintf(input, sizeof(input),
           "{\"kid\":\"k1\",\"alg\":\"ECDH-ES\",\"key_ops\":[\"deriveKey\","
           "\"deriveBits\"],\"use\":\"enc\",\"d\":\"%s\",\"x\":\"%s\","
           "\"crv\":\"X25519\",\"kty\":\"OKP\"}",
           json_string_value(json_object_get(obj, "d")), kEphemeralPublicX);
  char expected[512];
  snprintf(expected, sizeof(expected),
           "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"%s\",\"d\":\"%s\","
           "\"use\":\"enc\",\"key_ops\":[\"deriveKey\",\"deriveBits\"],"
           "\"alg\":\"ECDH-ES\",\"kid\":\"k1\"}",
           kEphemeralPublicX, json_string_value(json_object_get(obj, "d")));
  ss_jwk *jwk = ss_test_jwk_parse_ok(input);
  char *out = to_json_ok(jwk, 1);
  assert_string_equal(out, expected);
  // The jansson form holds the same members in the same order.
  ss_status st;
  json_t *as_obj = ss__jwk_to_json_object(jwk, 1, &st);
  assert_non_null(as_obj);
  char *dumped = json_dumps(as_obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  assert_string_equal(dumped, expected);
  ss_test_free_secret_text(dumped);
  json_decref(as_obj);
  ss_test_free_secret_text(out);
  ss_jwk_free(jwk);
  OPENSSL_cleanse(input, sizeof(input));
  OPENSSL_cleanse(expected, sizeof(expected));
  json_decref(obj);
  ss_test_free_secret_text(priv);
}

static void test_metadata_strings_are_escaped_and_round_trip(void **state) {
  (void)state;
  const char *json =
      "{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\","
      "\"kid\":\"a\\\"b\\\\c\\u0001d/\\u00e9\\u2028\",\"use\":\"x\\ty\","
      "\"alg\":\"\\u007f\"}";
  ss_jwk *jwk = ss_test_jwk_parse_ok(json);
  assert_string_equal(ss_jwk_kid(jwk), "a\"b\\c\001d/\xc3\xa9\xe2\x80\xa8");
  char *out = to_json_ok(jwk, 1);
  assert_string_equal(out,
                      "{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\","
                      "\"use\":\"x\\u0009y\",\"alg\":\"\x7f\","
                      "\"kid\":\"a\\\"b\\\\c\\u0001d/\xc3\xa9\xe2\x80\xa8\"}");
  assert_json_text_equal(out, json);
  ss_jwk *again = ss_test_jwk_parse_ok(out);
  assert_string_equal(ss_jwk_kid(again), ss_jwk_kid(jwk));
  assert_string_equal(ss_jwk_alg(again), "\x7f");
  ss_jwk_free(again);
  ss_test_free_secret_text(out);
  ss_jwk_free(jwk);
}

static void test_ecdh_refuses_mismatched_keys(void **state) {
  (void)state;
  ss_jwk *p256 = ss_test_jwk_parse_ok(kP256Private);
  ss_jwk *p256_pub = ss_test_jwk_parse_ok(kP256Public);
  ss_jwk *x25519 = ss_test_jwk_parse_ok(kBobPublic);
  ss_jwk *rsa = ss_test_jwk_parse_ok(fixtures.rsa_private);
  ss_jwk *oct = ss_test_jwk_parse_ok(
      "{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}");
  ss_status st;
  ss_jwk *p384 = ss_jwk_generate("EC", "P-384", 0, &st);
  assert_non_null(p384);
  static const struct {
    int priv, peer;
    const char *message;
  } kCases[] = {
      {0, 2, "ECDH: peer key is X25519, private key is P-256"},
      {0, 5, "ECDH: peer key is P-384, private key is P-256"},
      {5, 1, "ECDH: peer key is P-256, private key is P-384"},
      {0, 3, "ECDH: peer key is RSA, private key is P-256"},
      {0, 4, "ECDH: peer key is oct, private key is P-256"},
      {3, 1, "ECDH needs a private EC or X25519 key"},
      {4, 1, "ECDH needs a private EC or X25519 key"},
      {1, 0, "ECDH needs a private EC or X25519 key"},
      {2, 2, "ECDH needs a private EC or X25519 key"},
  };
  const ss_jwk *keys[] = {p256, p256_pub, x25519, rsa, oct, p384};
  for (size_t i = 0; i < sizeof(kCases) / sizeof(kCases[0]); i++) {
    ss_buf z = {0};
    assert_true(ss_buf_append(&z, "stale", 5));
    assert_false(
        ss__jwk_ecdh(keys[kCases[i].priv], keys[kCases[i].peer], &z, &st));
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(st.msg, kCases[i].message);
    assert_int_equal(z.len, 0);
    ss_buf_cleanup(&z);
  }
  // A private key may also serve as the peer.
  ss_buf z = {0};
  assert_true(ss__jwk_ecdh(p256, p256, &z, &st));
  assert_int_equal(z.len, 32);
  ss_buf_cleanup(&z);
  for (size_t i = 0; i < 6; i++) {
    ss_jwk_free((ss_jwk *)keys[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_thumbprint_matches_rfc7638_section_3_1),
      cmocka_unit_test(test_x25519_shared_secret_matches_rfc8037_appendix_a6),
      cmocka_unit_test(test_x25519_low_order_peer_is_refused_as_all_zero),
      cmocka_unit_test(test_cookbook_keys_parse_and_round_trip),
      cmocka_unit_test(
          test_cookbook_private_keys_reduce_to_cookbook_public_keys),
      cmocka_unit_test(test_wycheproof_ecdh_p256_jwk_vectors),
      cmocka_unit_test(test_wycheproof_ecdh_p384_jwk_vectors),
      cmocka_unit_test(test_wycheproof_ecdh_p521_jwk_vectors),
      cmocka_unit_test(test_wycheproof_x25519_jwk_vectors),
      cmocka_unit_test(
          test_wycheproof_rsa_oaep_private_jwks_parse_and_round_trip),
      cmocka_unit_test(test_generated_keys_of_every_type_round_trip),
      cmocka_unit_test(test_generated_rsa_3072_and_4096_keys_round_trip),
      cmocka_unit_test(test_generate_refuses_unsupported_types_and_sizes),
      cmocka_unit_test(test_rsa_public_key_refusals_name_the_problem),
      cmocka_unit_test(test_rsa_private_key_refusals_name_the_problem),
      cmocka_unit_test(test_ec_refusals_name_the_problem),
      cmocka_unit_test(test_okp_and_oct_refusals_name_the_problem),
      cmocka_unit_test(test_common_member_refusals_name_the_problem),
      cmocka_unit_test(test_parse_enforces_the_size_limit_before_parsing),
      cmocka_unit_test(test_parse_refuses_every_truncation),
      cmocka_unit_test(test_check_use_applies_use_key_ops_and_alg),
      cmocka_unit_test(test_public_drops_private_members_and_keeps_metadata),
      cmocka_unit_test(test_oct_keys_have_no_public_part),
      cmocka_unit_test(test_private_serialization_of_public_key_is_refused),
      cmocka_unit_test(test_serialization_follows_rfc7517_member_order),
      cmocka_unit_test(test_metadata_strings_are_escaped_and_round_trip),
      cmocka_unit_test(test_ecdh_refuses_mismatched_keys),
  };
  return cmocka_run_group_tests(tests, setup_fixtures, teardown_fixtures);
}
