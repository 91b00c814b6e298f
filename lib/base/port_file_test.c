// Tests of port files and loopback addresses.
#include "lib/base/port_file.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

static void tmp_path(char *out, size_t len, const char *name) {
  const char *dir = getenv("TEST_TMPDIR");
  snprintf(out, len, "%s/%s", dir != NULL ? dir : "/tmp", name);
}

static void test_port_file_holds_the_port_and_no_temporary_file(void **state) {
  (void)state;
  char path[512], tmp[600];
  tmp_path(path, sizeof(path), "port");
  ss_status st;
  assert_int_equal(ss_port_file_write(path, 50051, &st), 1);
  assert_int_equal(ss_port_file_write(path, 8443, &st), 1);  // replaced
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char text[32] = {0};
  assert_non_null(fgets(text, sizeof(text), f));
  fclose(f);
  assert_string_equal(text, "8443\n");
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  struct stat sb;
  assert_int_not_equal(stat(tmp, &sb), 0);
}

static void test_port_file_in_a_missing_directory_names_the_file(
    void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  assert_int_equal(ss_port_file_write("/nonexistent/dir/port", 1, &st), 0);
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "/nonexistent/dir/port"));
  assert_non_null(strstr(st.msg, "No such file"));
}

static void test_loopback_addresses_are_told_apart(void **state) {
  (void)state;
  assert_true(ss_addr_is_loopback("127.0.0.1:0"));
  assert_true(ss_addr_is_loopback("localhost:8443"));
  assert_true(ss_addr_is_loopback("[::1]:50051"));
  assert_false(ss_addr_is_loopback("0.0.0.0:8443"));
  assert_false(ss_addr_is_loopback("[::]:8443"));
  assert_false(ss_addr_is_loopback("10.0.0.1:1"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_port_file_holds_the_port_and_no_temporary_file),
      cmocka_unit_test(test_port_file_in_a_missing_directory_names_the_file),
      cmocka_unit_test(test_loopback_addresses_are_told_apart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
