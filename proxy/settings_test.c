// Tests of the proxy's reloadable settings: routes looked up by untrusted
// bytes, backend channels shared and kept across reloads only while their
// target and TLS files are unchanged, TLS mistakes named by route.
#include "proxy/settings.h"

#include <grpc/grpc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "proxy/config.h"
#include "tests/support/test_pki.h"

static ss_test_pki *pki;

static int group_setup(void **state) {
  (void)state;
  ss_status st;
  grpc_init();
  pki = ss_test_pki_new(&st);
  if (pki == NULL) {
    fprintf(stderr, "test PKI: %s\n", st.msg);
    return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  ss_test_pki_free(pki);
  grpc_shutdown();
  return 0;
}

// parse makes a config from the NULL-terminated proxy flags |args|.
static ss_proxy_config *parse(const char *const *args) {
  char *argv[32];
  int argc = 0;
  argv[argc++] = "sealstream-proxy";
  for (; args[argc - 1] != NULL; argc++) {
    argv[argc] = (char *)args[argc - 1];
  }
  argv[argc] = NULL;
  ss_status st;
  ss_proxy_config *config = ss_proxy_config_parse(argc, argv, &st);
  if (config == NULL) {
    fail_msg("config: %s", st.msg);
  }
  return config;
}

static ss_proxy_settings *settings_of(const char *const *args,
                                      const ss_proxy_settings *previous) {
  ss_proxy_config *config = parse(args);
  ss_status st;
  ss_proxy_settings *s = ss_proxy_settings_new(config, previous, &st);
  ss_proxy_config_free(config);
  if (s == NULL) {
    fail_msg("settings: %s", st.msg);
  }
  return s;
}

static const ss_proxy_backend_route *route(const ss_proxy_settings *s,
                                           const char *name) {
  return ss_proxy_settings_route(s, (const uint8_t *)name, strlen(name));
}

static void test_routes_are_found_by_their_exact_name_only(void **state) {
  (void)state;
  const char *args[] = {"--plaintext", "--no-auth", "--backend-plaintext",
                        "--route", "orders=127.0.0.1:1001", "--route",
                        "orders-eu=127.0.0.1:1002", "--default-route",
                        "orders", NULL};
  ss_proxy_settings *s = settings_of(args, NULL);
  assert_string_equal(route(s, "orders")->name, "orders");
  assert_string_equal(route(s, "orders-eu")->name, "orders-eu");
  assert_null(route(s, "order"));
  assert_null(route(s, "orders-e"));
  assert_null(route(s, ""));
  // Untrusted bytes: no NUL needed, none accepted inside.
  assert_non_null(ss_proxy_settings_route(s, (const uint8_t *)"ordersXX", 6));
  assert_null(ss_proxy_settings_route(s, (const uint8_t *)"orders\0", 7));
  assert_string_equal(ss_proxy_settings_default_route(s), "orders");
  assert_string_equal(ss_proxy_settings_route_header(s), "x-sealstream-route");
  assert_string_equal(ss_proxy_settings_auth_header(s), "authorization");
  assert_null(ss_proxy_settings_tokens(s));  // --no-auth
  assert_true(route(s, "orders")->pass_host);
  ss_proxy_settings_unref(s);
}

static void test_routes_to_one_backend_share_its_channel(void **state) {
  (void)state;
  const char *args[] = {"--plaintext", "--no-auth", "--backend-plaintext",
                        "--route", "a=127.0.0.1:1001", "--route",
                        "b=127.0.0.1:1001", "--route", "c=127.0.0.1:1003",
                        NULL};
  ss_proxy_settings *s = settings_of(args, NULL);
  assert_ptr_equal(route(s, "a")->channel, route(s, "b")->channel);
  assert_ptr_not_equal(route(s, "a")->channel, route(s, "c")->channel);
  ss_proxy_settings_unref(s);
}

static void test_a_reload_keeps_unchanged_backends_only(void **state) {
  (void)state;
  const char *before[] = {"--plaintext", "--no-auth", "--backend-plaintext",
                          "--route", "a=127.0.0.1:1001", "--route",
                          "b=127.0.0.1:1002", NULL};
  const char *after[] = {"--plaintext", "--no-auth", "--backend-plaintext",
                         "--route", "a=127.0.0.1:1001", "--route",
                         "b=127.0.0.1:2002", "--route", "c=127.0.0.1:1001",
                         NULL};
  ss_proxy_settings *old = settings_of(before, NULL);
  ss_proxy_settings *next = settings_of(after, old);
  grpc_channel *kept = route(old, "a")->channel;
  assert_ptr_equal(route(next, "a")->channel, kept);
  assert_ptr_equal(route(next, "c")->channel, kept);  // same target as a
  assert_ptr_not_equal(route(next, "b")->channel, route(old, "b")->channel);
  // The old settings go; the channel they share with the new ones stays.
  ss_proxy_settings_unref(old);
  assert_int_equal(
      grpc_channel_check_connectivity_state(route(next, "a")->channel, 0),
      GRPC_CHANNEL_IDLE);
  ss_proxy_settings_unref(next);
}

static void test_a_tls_file_changed_in_place_gets_a_new_channel(
    void **state) {
  (void)state;
  const char *ca = ss_test_pki_path(pki, SS_TEST_PKI_CA_CERT);
  const char *args[] = {"--plaintext", "--no-auth", "--backend-ca", ca,
                        "--route", "t=localhost:1001", NULL};
  ss_proxy_settings *old = settings_of(args, NULL);
  assert_false(route(old, "t")->pass_host);
  ss_proxy_settings *same = settings_of(args, old);
  assert_ptr_equal(route(same, "t")->channel, route(old, "t")->channel);
  // A rotated certificate: the same path, written anew.
  struct timespec times[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
  assert_int_equal(utimensat(AT_FDCWD, ca, times, 0), 0);
  ss_proxy_settings *rotated = settings_of(args, same);
  assert_ptr_not_equal(route(rotated, "t")->channel, route(same, "t")->channel);
  ss_proxy_settings_unref(old);
  ss_proxy_settings_unref(same);
  ss_proxy_settings_unref(rotated);
}

static void test_a_wrong_backend_tls_file_is_named_with_its_route(
    void **state) {
  (void)state;
  const char *args[] = {"--plaintext", "--no-auth", "--backend-ca",
                        ss_test_pki_path(pki, SS_TEST_PKI_SERVER_KEY),
                        "--route", "secure=localhost:1001", NULL};
  ss_proxy_config *config = parse(args);
  ss_status st;
  ss_status_init(&st);
  assert_null(ss_proxy_settings_new(config, NULL, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "route 'secure'"));
  assert_non_null(strstr(st.msg, "tls_ca_file"));
  ss_proxy_config_free(config);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_routes_are_found_by_their_exact_name_only),
      cmocka_unit_test(test_routes_to_one_backend_share_its_channel),
      cmocka_unit_test(test_a_reload_keeps_unchanged_backends_only),
      cmocka_unit_test(test_a_tls_file_changed_in_place_gets_a_new_channel),
      cmocka_unit_test(test_a_wrong_backend_tls_file_is_named_with_its_route),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
