// Test support for the JWK tests; see jwk_testutil.h.
#include "lib/jose/jwk_testutil.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/base/status.h"

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
