// Test support for the JWK tests; see jwk_testutil.h.
#include "lib/jose/jwk_testutil.h"

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

void ss_test_free_secret_text(char *text) {
  if (text != NULL) {
    OPENSSL_cleanse(text, strlen(text));
    free(text);
  }
}

char *ss_test_jwk_mutated(const char *json, const char *name,
                          const char *value) {
  json_t *obj = json_loads(json, 0, NULL);
  assert_non_null(obj);
  if (value == NULL) {
    assert_int_equal(json_object_del(obj, name), 0);
  } else {
    json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    assert_int_equal(json_object_set_new(obj, name, v), 0);
  }
  char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  assert_non_null(text);
  json_decref(obj);
  return text;
}

ss_jwk *ss_test_jwk_parse_ok(const char *json) {
  ss_status st;
  ss_status_init(&st);
  ss_jwk *jwk = ss_jwk_parse(json, strlen(json), &st);
  if (jwk == NULL) {
    fail_msg("refused: %s", st.msg);
  }
  return jwk;
}

void ss_test_jwk_expect_refused(const char *json, const char *message) {
  ss_status st;
  ss_status_init(&st);
  ss_jwk *jwk = ss_jwk_parse(json, strlen(json), &st);
  if (jwk != NULL) {
    ss_jwk_free(jwk);
    fail_msg("accepted, expected \"%s\"", message);
  }
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(st.msg, message);
}

ss_jwk *ss_test_jwk_from_object(const json_t *obj, ss_status *st) {
  char *text = json_dumps(obj, JSON_COMPACT);
  if (text == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "JWK is not an object");
    return NULL;
  }
  ss_jwk *key = ss_jwk_parse(text, strlen(text), st);
  free(text);
  return key;
}

void ss_test_compact_alg(const char *compact, char *alg, size_t alg_size) {
  alg[0] = '\0';
  const char *dot = strchr(compact, '.');
  if (dot == NULL) {
    return;
  }
  ss_buf header;
  ss_buf_init(&header, 0);
  json_t *object = NULL;
  if (ss_b64url_decode_to(&header, compact, (size_t)(dot - compact), NULL) &&
      header.len > 0) {
    object = json_loadb((const char *)header.data, header.len, 0, NULL);
  }
  const char *value = json_string_value(json_object_get(object, "alg"));
  if (value != NULL) {
    snprintf(alg, alg_size, "%s", value);
  }
  json_decref(object);
  ss_buf_cleanup(&header);
}
