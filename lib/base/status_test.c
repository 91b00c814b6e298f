#include "lib/base/status.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_status_set_records_code_and_formatted_message(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  assert_true(ss_status_ok(&st));
  assert_int_equal(ss_status_set(&st, GRPC_STATUS_INVALID_ARGUMENT,
                                 "modulus is %d bits", 1024),
                   0);
  assert_false(ss_status_ok(&st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(st.msg, "modulus is 1024 bits");
}

static void test_status_prefix_prepends_context_and_keeps_code(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  ss_status_set(&st, GRPC_STATUS_DATA_LOSS, "tag mismatch");
  ss_status_prefix(&st, "JWE %s: ", "ciphertext");
  assert_string_equal(st.msg, "JWE ciphertext: tag mismatch");
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
}

static void test_status_prefix_on_ok_status_does_nothing(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  ss_status_prefix(&st, "context: ");
  assert_string_equal(st.msg, "");
  assert_true(ss_status_ok(&st));
}

static void test_status_truncates_long_messages_safely(void **state) {
  (void)state;
  char long_text[2 * SS_STATUS_MSG_MAX];
  memset(long_text, 'x', sizeof(long_text) - 1);
  long_text[sizeof(long_text) - 1] = '\0';
  ss_status st;
  ss_status_set(&st, GRPC_STATUS_INTERNAL, "%s", long_text);
  assert_int_equal(strlen(st.msg), SS_STATUS_MSG_MAX - 1);
  ss_status_prefix(&st, "%s", long_text);
  assert_int_equal(strlen(st.msg), SS_STATUS_MSG_MAX - 1);
  ss_status_set(&st, GRPC_STATUS_INTERNAL, "short");
  ss_status_prefix(&st, "%s", long_text);
  assert_int_equal(strlen(st.msg), SS_STATUS_MSG_MAX - 1);
}

static void test_status_ignores_null(void **state) {
  (void)state;
  ss_status_init(NULL);
  assert_int_equal(ss_status_set(NULL, GRPC_STATUS_INTERNAL, "x"), 0);
  ss_status_prefix(NULL, "y");
  assert_true(ss_status_ok(NULL));
}

static void test_status_code_names_are_canonical(void **state) {
  (void)state;
  assert_string_equal(ss_status_code_name(GRPC_STATUS_DATA_LOSS), "DATA_LOSS");
  assert_string_equal(ss_status_code_name(GRPC_STATUS_INVALID_ARGUMENT),
                      "INVALID_ARGUMENT");
  assert_string_equal(ss_status_code_name((grpc_status_code)99), "UNKNOWN");
}

static void test_status_shown_is_bounded_and_printable(void **state) {
  (void)state;
  char out[SS_STATUS_SHOWN_MAX + 4];
  assert_string_equal(ss_status_shown(out, "A\x1b[31m\nB", 8), "A?[31m?B");
  assert_string_equal(ss_status_shown(out, "", 0), "");
  assert_string_equal(ss_status_shown(out, "a\0b", 3), "a?b");
  char long_text[100];
  memset(long_text, 'x', sizeof(long_text));
  ss_status_shown(out, long_text, sizeof(long_text));
  assert_int_equal(strlen(out), SS_STATUS_SHOWN_MAX + 3);
  assert_string_equal(out + SS_STATUS_SHOWN_MAX, "...");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_set_records_code_and_formatted_message),
      cmocka_unit_test(test_status_prefix_prepends_context_and_keeps_code),
      cmocka_unit_test(test_status_prefix_on_ok_status_does_nothing),
      cmocka_unit_test(test_status_truncates_long_messages_safely),
      cmocka_unit_test(test_status_ignores_null),
      cmocka_unit_test(test_status_code_names_are_canonical),
      cmocka_unit_test(test_status_shown_is_bounded_and_printable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
