#include "lib/jose/json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_LEN 4096

// parse parses the NUL-terminated |text| as a "JWK" of at most MAX_LEN bytes.
static json_t *parse(const char *text, ss_status *st) {
  ss_status_init(st);
  return ss_json_parse_object(text, strlen(text), MAX_LEN, "JWK", st);
}

static void assert_msg_contains(const ss_status *st, const char *text) {
  if (strstr(st->msg, text) == NULL) {
    fail_msg("\"%s\" does not contain \"%s\"", st->msg, text);
  }
}

// The fixture object most getter tests read.
static int object_setup(void **state) {
  ss_status st;
  json_t *obj = parse(
      "{\"kty\":\"oct\",\"k\":\"Zm9vYmFy\",\"num\":5,\"nul\":null,"
      "\"obj\":{},\"arr\":[\"x\"],\"flag\":true,\"empty\":\"\","
      "\"bad\":\"Zm9v+mFy\",\"padded\":\"Zg==\"}",
      &st);
  if (obj == NULL) {
    return -1;
  }
  *state = obj;
  return 0;
}

static int object_teardown(void **state) {
  json_decref(*state);
  return 0;
}

static void test_json_parse_object_accepts_an_object(void **state) {
  (void)state;
  ss_status st;
  json_t *obj = parse("{\"alg\":\"dir\",\"enc\":\"A256GCM\"}", &st);
  assert_non_null(obj);
  assert_true(json_is_object(obj));
  assert_int_equal(json_object_size(obj), 2);
  json_decref(obj);
}

static void test_json_parse_object_reads_only_len_bytes(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  const char text[] = {'{', '}', 'x', 'x'};  // no NUL terminator
  json_t *obj = ss_json_parse_object(text, 2, MAX_LEN, "JWK", &st);
  assert_non_null(obj);
  assert_int_equal(json_object_size(obj), 0);
  json_decref(obj);
}

static void test_json_parse_object_refuses_duplicate_members(void **state) {
  (void)state;
  ss_status st;
  assert_null(parse("{\"kty\":\"oct\",\"kty\":\"RSA\"}", &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_msg_contains(&st, "JWK: invalid JSON");
  assert_null(parse("{\"a\":{\"b\":1,\"b\":1}}", &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_json_parse_object_refuses_non_objects(void **state) {
  (void)state;
  static const char *const kTexts[] = {"[]", "[{}]", "\"x\"", "1",
                                       "null", "true", ""};
  for (size_t i = 0; i < sizeof(kTexts) / sizeof(kTexts[0]); i++) {
    ss_status st;
    assert_null(parse(kTexts[i], &st));
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    assert_msg_contains(&st, "JWK: ");
  }
  ss_status st;
  assert_null(parse("[1,2]", &st));
  assert_msg_contains(&st, "expected a JSON object");
}

// The size limit is checked before any byte is read: text that is not JSON
// gets the size error, and a length far beyond the buffer reads nothing.
static void test_json_parse_object_checks_size_before_parsing(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  const char *junk = "this is not JSON";
  assert_null(ss_json_parse_object(junk, strlen(junk), 8, "JWKS", &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_msg_contains(&st, "JWKS: 16 bytes exceeds the limit of 8");
  char one = '{';
  assert_null(ss_json_parse_object(&one, SIZE_MAX, MAX_LEN, "JWK", &st));
  assert_msg_contains(&st, "exceeds the limit");
  assert_null(ss_json_parse_object(&one, 0x80000000u, MAX_LEN, "JWK", &st));
  assert_msg_contains(&st, "exceeds the limit");
  // Exactly at the limit is allowed.
  const char *text = "{\"a\":1}";
  json_t *obj = ss_json_parse_object(text, 7, 7, "JWK", &st);
  assert_non_null(obj);
  json_decref(obj);
  assert_null(ss_json_parse_object(text, 7, 6, "JWK", &st));
}

static void test_json_parse_object_refuses_invalid_json_with_a_message(
    void **state) {
  (void)state;
  static const char *const kTexts[] = {
      "{\"a\":",         "{\"a\":1,}",   "{\"a\":1} {}", "{a:1}",
      "{\"a\":'x'}",     "{\"a\":01}",   "{\"a\":\"\\x\"}",
      "{\"a\":\"\\u0000\"}",
  };
  for (size_t i = 0; i < sizeof(kTexts) / sizeof(kTexts[0]); i++) {
    ss_status st;
    ss_status_init(&st);
    json_t *obj = ss_json_parse_object(kTexts[i], strlen(kTexts[i]), MAX_LEN,
                                       "JWE protected header", &st);
    if (obj != NULL) {
      json_decref(obj);
      fail_msg("accepted text %zu", i);
    }
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    assert_msg_contains(&st, "JWE protected header: invalid JSON at byte ");
  }
}

static void test_json_parse_errors_never_echo_the_input(void **state) {
  (void)state;
  static const char *const inputs[] = {
      "{\"d\":supersecretvalue}",
      "{\"supersecretkey\":1,\"supersecretkey\":2}",
      "{\"k\":\"supersecret",
  };
  for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
    ss_status st;
    ss_status_init(&st);
    json_t *obj =
        ss_json_parse_object(inputs[i], strlen(inputs[i]), 1024, "JWK", &st);
    assert_null(obj);
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(st.msg, "JWK: invalid JSON at byte"));
    if (strstr(st.msg, "supersecret") != NULL) {
      fail_msg("message repeats the input: %s", st.msg);
    }
  }
}

static void test_json_get_string_returns_a_member(void **state) {
  json_t *obj = *state;
  ss_status st;
  ss_status_init(&st);
  const char *value;
  size_t len;
  assert_true(ss_json_get_string(obj, "kty", 1, "JWK", &value, &len, &st));
  assert_string_equal(value, "oct");
  assert_int_equal(len, 3);
  assert_true(ss_json_get_string(obj, "empty", 1, "JWK", &value, &len, &st));
  assert_string_equal(value, "");
  assert_int_equal(len, 0);
}

static void test_json_get_string_refuses_missing_required_member(
    void **state) {
  json_t *obj = *state;
  ss_status st;
  ss_status_init(&st);
  const char *value = "stale";
  size_t len = 9;
  assert_false(ss_json_get_string(obj, "crv", 1, "JWK", &value, &len, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(st.msg, "JWK: missing \"crv\"");
  assert_null(value);
  assert_int_equal(len, 0);
}

static void test_json_get_string_allows_missing_optional_member(void **state) {
  json_t *obj = *state;
  ss_status st;
  ss_status_init(&st);
  const char *value = "stale";
  size_t len = 9;
  assert_true(ss_json_get_string(obj, "kid", 0, "JWK", &value, &len, &st));
  assert_null(value);
  assert_int_equal(len, 0);
  assert_true(ss_status_ok(&st));
}

static void test_json_get_string_refuses_other_types(void **state) {
  json_t *obj = *state;
  static const char *const kKeys[] = {"num", "nul", "obj", "arr", "flag"};
  for (size_t i = 0; i < sizeof(kKeys) / sizeof(kKeys[0]); i++) {
    for (int required = 0; required < 2; required++) {
      ss_status st;
      ss_status_init(&st);
      const char *value = "stale";
      size_t len = 9;
      assert_false(ss_json_get_string(obj, kKeys[i], required, "JWK", &value,
                                      &len, &st));
      assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
      assert_msg_contains(&st, "must be a string");
      assert_msg_contains(&st, kKeys[i]);
      assert_null(value);
      assert_int_equal(len, 0);
    }
  }
}

// The parser refuses \u0000, but an object built in memory can hold a NUL,
// which C string users would silently truncate at.
static void test_json_get_string_refuses_embedded_nul(void **state) {
  (void)state;
  json_t *obj = json_object();
  assert_non_null(obj);
  assert_int_equal(json_object_set_new(obj, "kid", json_stringn("a\0b", 3)),
                   0);
  ss_status st;
  ss_status_init(&st);
  const char *value = "stale";
  size_t len = 9;
  assert_false(ss_json_get_string(obj, "kid", 1, "JWK", &value, &len, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(st.msg, "JWK: \"kid\" contains a NUL character");
  assert_null(value);
  assert_int_equal(len, 0);
  json_decref(obj);
  assert_null(parse("{\"kid\":\"a\\u0000b\"}", &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
}

// init_stale_buf starts |buf| with bytes left from an earlier use, which
// ss_json_get_b64 must replace or, for a missing member, clear.
static void init_stale_buf(ss_buf *buf) {
  ss_buf_init(buf, 0);
  assert_true(ss_buf_append(buf, "old", 3));
}

static void test_json_get_b64_decodes_a_member(void **state) {
  json_t *obj = *state;
  ss_status st;
  ss_status_init(&st);
  ss_buf buf;
  init_stale_buf(&buf);
  int present = 0;
  assert_true(ss_json_get_b64(obj, "k", 1, "JWK", &buf, &present, &st));
  assert_int_equal(present, 1);
  assert_int_equal(buf.len, 6);
  assert_memory_equal(buf.data, "foobar", 6);
  assert_true(ss_json_get_b64(obj, "empty", 1, "JWK", &buf, NULL, &st));
  assert_int_equal(buf.len, 0);
  ss_buf_cleanup(&buf);
}

static void test_json_get_b64_handles_missing_members(void **state) {
  json_t *obj = *state;
  ss_status st;
  ss_status_init(&st);
  ss_buf buf;
  init_stale_buf(&buf);
  int present = 1;
  assert_true(ss_json_get_b64(obj, "x5c", 0, "JWK", &buf, &present, &st));
  assert_int_equal(present, 0);
  assert_int_equal(buf.len, 0);
  assert_true(ss_json_get_b64(obj, "x5c", 0, "JWK", &buf, NULL, &st));
  present = 1;
  assert_false(ss_json_get_b64(obj, "d", 1, "JWK", &buf, &present, &st));
  assert_int_equal(present, 0);
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(st.msg, "JWK: missing \"d\"");
  ss_buf_cleanup(&buf);
}

static void test_json_get_b64_names_member_of_invalid_base64url(
    void **state) {
  json_t *obj = *state;
  ss_buf buf;
  ss_buf_init(&buf, 0);
  ss_status st;
  ss_status_init(&st);
  int present = 1;
  assert_false(ss_json_get_b64(obj, "bad", 1, "JWK", &buf, &present, &st));
  assert_int_equal(present, 0);
  assert_int_equal(buf.len, 0);
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_msg_contains(&st, "JWK: \"bad\": invalid base64url");
  assert_msg_contains(&st, "at offset 4");
  assert_false(ss_json_get_b64(obj, "padded", 0, "JWK", &buf, &present, &st));
  assert_msg_contains(&st, "JWK: \"padded\": invalid base64url");
  assert_msg_contains(&st, "at offset 2");
  assert_false(ss_json_get_b64(obj, "num", 0, "JWK", &buf, &present, &st));
  assert_msg_contains(&st, "\"num\" must be a string");
  ss_buf_cleanup(&buf);
}

static void test_json_set_b64_round_trips_through_dump_compact(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  json_t *obj = json_object();
  assert_non_null(obj);
  const uint8_t tail[] = {0xfb, 0xff};
  assert_true(ss_json_set_b64(obj, "z", tail, sizeof(tail), &st));
  assert_true(ss_json_set_b64(obj, "a", (const uint8_t *)"foobar", 6, &st));
  assert_true(ss_json_set_b64(obj, "e", (const uint8_t *)"", 0, &st));
  size_t len = 99;
  char *text = ss_json_dump_compact(obj, &len, &st);
  assert_non_null(text);
  // Compact, and members in insertion order.
  assert_string_equal(text, "{\"z\":\"-_8\",\"a\":\"Zm9vYmFy\",\"e\":\"\"}");
  assert_int_equal(len, strlen(text));
  json_t *back = ss_json_parse_object(text, len, MAX_LEN, "JWK", &st);
  assert_non_null(back);
  ss_buf buf;
  ss_buf_init(&buf, 0);
  assert_true(ss_json_get_b64(back, "z", 1, "JWK", &buf, NULL, &st));
  assert_int_equal(buf.len, sizeof(tail));
  assert_memory_equal(buf.data, tail, sizeof(tail));
  assert_true(ss_json_get_b64(back, "a", 1, "JWK", &buf, NULL, &st));
  assert_int_equal(buf.len, 6);
  assert_memory_equal(buf.data, "foobar", 6);
  ss_buf_cleanup(&buf);
  json_decref(back);
  free(text);
  json_decref(obj);
}

static void test_json_set_b64_replaces_a_member(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  json_t *obj = json_object();
  assert_non_null(obj);
  assert_true(ss_json_set_b64(obj, "k", (const uint8_t *)"f", 1, &st));
  assert_true(ss_json_set_b64(obj, "k", (const uint8_t *)"fo", 2, &st));
  size_t len;
  char *text = ss_json_dump_compact(obj, &len, &st);
  assert_non_null(text);
  assert_string_equal(text, "{\"k\":\"Zm8\"}");
  free(text);
  json_decref(obj);
}

// A large member exercises the vector paths of the codec through JSON.
static void test_json_set_b64_round_trips_a_large_member(void **state) {
  (void)state;
  enum { kLen = 100003 };
  uint8_t *data = malloc(kLen);
  assert_non_null(data);
  for (size_t i = 0; i < kLen; i++) {
    data[i] = (uint8_t)(i * 131 + (i >> 8));
  }
  ss_status st;
  ss_status_init(&st);
  json_t *obj = json_object();
  assert_non_null(obj);
  assert_true(ss_json_set_b64(obj, "ciphertext", data, kLen, &st));
  size_t len;
  char *text = ss_json_dump_compact(obj, &len, &st);
  assert_non_null(text);
  json_t *back = ss_json_parse_object(text, len, 2 * kLen, "JWE", &st);
  assert_non_null(back);
  ss_buf buf;
  ss_buf_init(&buf, 0);
  int present = 0;
  assert_true(
      ss_json_get_b64(back, "ciphertext", 1, "JWE", &buf, &present, &st));
  assert_int_equal(present, 1);
  assert_int_equal(buf.len, kLen);
  assert_memory_equal(buf.data, data, kLen);
  ss_buf_cleanup(&buf);
  json_decref(back);
  json_decref(obj);
  free(text);
  free(data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_parse_object_accepts_an_object),
      cmocka_unit_test(test_json_parse_object_reads_only_len_bytes),
      cmocka_unit_test(test_json_parse_object_refuses_duplicate_members),
      cmocka_unit_test(test_json_parse_object_refuses_non_objects),
      cmocka_unit_test(test_json_parse_object_checks_size_before_parsing),
      cmocka_unit_test(
          test_json_parse_object_refuses_invalid_json_with_a_message),
      cmocka_unit_test(test_json_parse_errors_never_echo_the_input),
      cmocka_unit_test_setup_teardown(test_json_get_string_returns_a_member,
                                      object_setup, object_teardown),
      cmocka_unit_test_setup_teardown(
          test_json_get_string_refuses_missing_required_member, object_setup,
          object_teardown),
      cmocka_unit_test_setup_teardown(
          test_json_get_string_allows_missing_optional_member, object_setup,
          object_teardown),
      cmocka_unit_test_setup_teardown(test_json_get_string_refuses_other_types,
                                      object_setup, object_teardown),
      cmocka_unit_test(test_json_get_string_refuses_embedded_nul),
      cmocka_unit_test_setup_teardown(test_json_get_b64_decodes_a_member,
                                      object_setup, object_teardown),
      cmocka_unit_test_setup_teardown(test_json_get_b64_handles_missing_members,
                                      object_setup, object_teardown),
      cmocka_unit_test_setup_teardown(
          test_json_get_b64_names_member_of_invalid_base64url, object_setup,
          object_teardown),
      cmocka_unit_test(test_json_set_b64_round_trips_through_dump_compact),
      cmocka_unit_test(test_json_set_b64_replaces_a_member),
      cmocka_unit_test(test_json_set_b64_round_trips_a_large_member),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
