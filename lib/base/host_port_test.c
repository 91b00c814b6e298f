// Tests of HOST:PORT and [IPV6]:PORT splitting.
#include "lib/base/host_port.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void expect_split(const char *text, const char *host, int port,
                         int bracketed) {
  ss_cbs got;
  int got_port, got_bracketed;
  if (!ss_host_port_split(text, strlen(text), &got, &got_port,
                          &got_bracketed)) {
    fail_msg("'%s' refused", text);
  }
  assert_int_equal(got.len, strlen(host));
  assert_memory_equal(got.data, host, got.len);
  assert_int_equal(got_port, port);
  assert_int_equal(got_bracketed, bracketed);
}

static void expect_refused(const char *text, size_t len) {
  ss_cbs host;
  int port = -1, bracketed = -1;
  if (ss_host_port_split(text, len, &host, &port, &bracketed)) {
    fail_msg("'%.*s' accepted", (int)len, text);
  }
  assert_int_equal(host.len, 0);
  assert_int_equal(port, 0);
  assert_int_equal(bracketed, 0);
}

static void test_names_ipv4_and_bracketed_ipv6_are_split(void **state) {
  (void)state;
  expect_split("localhost:8443", "localhost", 8443, 0);
  expect_split("127.0.0.1:0", "127.0.0.1", 0, 0);
  expect_split("[::1]:50051", "::1", 50051, 1);
  expect_split("[fe80::1%eth0]:65535", "fe80::1%eth0", 65535, 1);
  expect_split("h:00080", "h", 80, 0);
}

static void test_malformed_addresses_are_refused(void **state) {
  (void)state;
  const char *bad[] = {"",          "localhost",   ":80",      "host:",
                       "host:65536", "host:123456", "host:8a",  "host:-1",
                       "::1:80",    "[::1]",       "[::1]80",  "[]:80",
                       "[::1:80",   "host:80:90",  "host: 80", "host:+80"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    expect_refused(bad[i], strlen(bad[i]));
  }
}

static void test_every_truncation_of_an_address_is_handled(void **state) {
  (void)state;
  // Only the prefixes that end in a complete port are addresses.
  const char *text = "[::1]:8443";
  for (size_t len = 0; len < strlen(text); len++) {
    ss_cbs host;
    int port, bracketed;
    int ok = ss_host_port_split(text, len, &host, &port, &bracketed);
    assert_int_equal(ok, len >= 7);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names_ipv4_and_bracketed_ipv6_are_split),
      cmocka_unit_test(test_malformed_addresses_are_refused),
      cmocka_unit_test(test_every_truncation_of_an_address_is_handled),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
