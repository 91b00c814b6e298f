// ss_proxy_config: every flag, every refusal and its message, the JSON file
// (each member, unknown members, duplicates, wrong types, size cap,
// truncation), flags over the file, reload, and route lookup. Files live in
// $TEST_TMPDIR.
#include "proxy/config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/tokens.h"

// The SHA-256 of "tok-one" and of "tok-two".
#define HASH_ONE \
  "74d78edfd99a054a0e5d2778ab14f56738ebf942f7c984f919a272ca6ccaff6d"
#define HASH_TWO \
  "a05bf8e81fed8e648cbd7b067a4c72c8ec61025fddd7d1f28249991b2fb85e88"

static char g_dir[512];
static char g_tokens[640];      // a valid tokens file with one entry
static char g_tokens_two[640];  // a valid tokens file with two entries
static char g_config[640];      // written by each test that needs one

#define ARGS(...) ((const char *[]){__VA_ARGS__, NULL})

static void write_file(const char *path, const char *text, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static void write_str(const char *path, const char *text) {
  write_file(path, text, strlen(text));
}

static int dir_setup(void **state) {
  (void)state;
  const char *dir = getenv("TEST_TMPDIR");
  if (dir == NULL) {
    return 1;
  }
  snprintf(g_dir, sizeof(g_dir), "%s", dir);
  snprintf(g_tokens, sizeof(g_tokens), "%s/tokens.txt", g_dir);
  snprintf(g_tokens_two, sizeof(g_tokens_two), "%s/tokens2.txt", g_dir);
  snprintf(g_config, sizeof(g_config), "%s/proxy.json", g_dir);
  write_str(g_tokens, "# one entry\none " HASH_ONE " *\n");
  write_str(g_tokens_two, "one " HASH_ONE
                          " *\n"
                          "two " HASH_TWO " a,b\n");
  return 0;
}

// parse builds argv from "sealstream-proxy" and |args| (NULL-terminated).
static ss_proxy_config *parse(const char *const *args, ss_status *st) {
  char *argv[64];
  int argc = 0;
  argv[argc++] = "sealstream-proxy";
  for (size_t i = 0; args[i] != NULL; i++) {
    assert_true(argc < 63);
    argv[argc++] = (char *)args[i];
  }
  argv[argc] = NULL;
  ss_status_init(st);
  ss_proxy_config *config = ss_proxy_config_parse(argc, argv, st);
  if (config == NULL) {
    assert_int_not_equal(st->code, GRPC_STATUS_OK);
  } else if (st->code != GRPC_STATUS_OK) {
    fail_msg("config returned with status %s", st->msg);
  }
  return config;
}

static ss_proxy_config *parse_ok(const char *const *args) {
  ss_status st;
  ss_proxy_config *config = parse(args, &st);
  if (config == NULL) {
    fail_msg("refused: %s", st.msg);
  }
  return config;
}

// expect_refused checks that |args| are refused with INVALID_ARGUMENT and a
// message containing |want|.
static void expect_refused(const char *const *args, const char *want) {
  ss_status st;
  ss_proxy_config *config = parse(args, &st);
  if (config != NULL) {
    ss_proxy_config_free(config);
    fail_msg("accepted; expected a refusal with \"%s\"", want);
  }
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  if (strstr(st.msg, want) == NULL) {
    fail_msg("message \"%s\" lacks \"%s\"", st.msg, want);
  }
}

// expect_file_refused writes |json| as the config file and checks that
// --config refuses it naming the file and |want|.
static void expect_file_refused(const char *json, const char *want) {
  write_str(g_config, json);
  ss_status st;
  ss_proxy_config *config = parse(ARGS("--config", g_config), &st);
  if (config != NULL) {
    ss_proxy_config_free(config);
    fail_msg("accepted %s", json);
  }
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  if (strstr(st.msg, "config ") == NULL || strstr(st.msg, want) == NULL) {
    fail_msg("message \"%s\" lacks \"config \" or \"%s\"", st.msg, want);
  }
}

// expect_limits checks every field of |l| against the values that follow,
// in ss_proxy_limits order.
static void expect_limits(const ss_proxy_limits *l, int max_streams,
                          int per_token, int message, int metadata, int idle,
                          int drain, int threads) {
  assert_int_equal(l->max_streams, max_streams);
  assert_int_equal(l->max_streams_per_token, per_token);
  assert_int_equal(l->max_message_bytes, message);
  assert_int_equal(l->max_metadata_bytes, metadata);
  assert_int_equal(l->idle_timeout_s, idle);
  assert_int_equal(l->drain_timeout_s, drain);
  assert_int_equal(l->threads, threads);
}

// expect_client_tls checks the client-facing TLS files.
static void expect_client_tls(const ss_proxy_config *c, const char *cert,
                              const char *key, const char *client_ca) {
  assert_int_equal(c->plaintext, 0);
  assert_string_equal(c->tls_cert_file, cert);
  assert_string_equal(c->tls_key_file, key);
  assert_string_equal(c->tls_client_ca_file, client_ca);
}

static void test_config_minimal_flags_get_the_documented_defaults(
    void **state) {
  (void)state;
  ss_proxy_config *c = parse_ok(
      ARGS("--route", "a=backend:443", "--tokens", g_tokens, "--plaintext"));
  assert_int_equal(c->mode, SS_PROXY_MODE_SERVE);
  assert_null(c->config_file);
  assert_string_equal(c->listen_addr, "0.0.0.0:8443");
  assert_null(c->port_file);
  assert_null(c->metrics_addr);
  assert_int_equal(c->num_routes, 1);
  assert_string_equal(c->routes[0].name, "a");
  assert_string_equal(c->routes[0].target, "backend:443");
  assert_int_equal(c->routes[0].plaintext, 0);  // TLS with system roots
  assert_null(c->routes[0].tls_ca_file);
  assert_null(c->routes[0].tls_cert_file);
  assert_null(c->routes[0].tls_key_file);
  assert_null(c->routes[0].tls_server_name);
  assert_null(c->default_route);
  assert_string_equal(c->route_header, "x-sealstream-route");
  assert_string_equal(c->auth_header, "authorization");
  assert_string_equal(c->tokens_file, g_tokens);
  assert_non_null(c->tokens);
  assert_int_equal(ss_proxy_tokens_count(c->tokens), 1);
  assert_int_equal(c->no_auth, 0);
  assert_int_equal(c->plaintext, 1);
  assert_null(c->tls_cert_file);
  expect_limits(&c->limits, 10000, 1000, 64 * 1024 * 1024, 16 * 1024, 0, 30, 2);
  assert_int_equal(c->access_log, 1);
  assert_int_equal(c->reload_kept, 0);
  assert_null(c->reload_note);
  assert_null(c->gen_token_name);
  ss_proxy_config_free(c);
  ss_proxy_config_free(NULL);
}

static void test_config_every_flag_sets_its_field(void **state) {
  (void)state;
  ss_proxy_config *c = parse_ok(
      ARGS("--listen", "127.0.0.1:0", "--port-file", "/run/p.port",
           "--metrics=[::1]:9090", "--route", "orders=orders.internal:443",
           "--route=users=10.0.0.2:8443", "--default-route", "users",
           "--route-header", "x-route", "--tokens", g_tokens, "--auth-header",
           "x-auth", "--tls-cert", "srv.pem", "--tls-key", "srv.key",
           "--tls-client-ca", "clients.pem", "--backend-ca", "be-ca.pem",
           "--backend-cert", "be.pem", "--backend-key", "be.key",
           "--backend-server-name", "internal.example", "--max-streams", "5",
           "--max-streams-per-token", "3", "--max-message-bytes", "1024",
           "--max-metadata-bytes=1048576", "--idle-timeout", "86400",
           "--drain-timeout", "0", "--threads", "64", "--no-access-log"));
  assert_string_equal(c->listen_addr, "127.0.0.1:0");
  assert_string_equal(c->port_file, "/run/p.port");
  assert_string_equal(c->metrics_addr, "[::1]:9090");
  assert_int_equal(c->num_routes, 2);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(c->routes[i].plaintext, 0);
    assert_string_equal(c->routes[i].tls_ca_file, "be-ca.pem");
    assert_string_equal(c->routes[i].tls_cert_file, "be.pem");
    assert_string_equal(c->routes[i].tls_key_file, "be.key");
    assert_string_equal(c->routes[i].tls_server_name, "internal.example");
  }
  assert_string_equal(c->routes[1].target, "10.0.0.2:8443");
  assert_ptr_equal(c->default_route, &c->routes[1]);
  assert_string_equal(c->route_header, "x-route");
  assert_string_equal(c->auth_header, "x-auth");
  expect_client_tls(c, "srv.pem", "srv.key", "clients.pem");
  expect_limits(&c->limits, 5, 3, 1024, 1048576, 86400, 0, 64);
  assert_int_equal(c->access_log, 0);
  ss_proxy_config_free(c);
}

static void test_config_no_auth_and_backend_plaintext_flags(void **state) {
  (void)state;
  ss_proxy_config *c =
      parse_ok(ARGS("--no-auth", "--plaintext", "--route", "a=h:1",
                    "--backend-plaintext", "--route", "b=h:2"));
  assert_int_equal(c->no_auth, 1);
  assert_null(c->tokens);
  assert_null(c->tokens_file);
  assert_int_equal(c->routes[0].plaintext, 1);
  assert_int_equal(c->routes[1].plaintext, 1);
  assert_null(c->routes[1].tls_ca_file);
  ss_proxy_config_free(c);
}

static void test_config_help_anywhere_asks_for_usage(void **state) {
  (void)state;
  ss_proxy_config *c = parse_ok(ARGS("--help"));
  assert_int_equal(c->mode, SS_PROXY_MODE_HELP);
  ss_proxy_config_free(c);
  c = parse_ok(ARGS("--route", "a=h:1", "--bogus", "-h"));
  assert_int_equal(c->mode, SS_PROXY_MODE_HELP);
  ss_proxy_config_free(c);
  c = parse_ok(ARGS("gen-token", "--help"));
  assert_int_equal(c->mode, SS_PROXY_MODE_HELP);
  ss_proxy_config_free(c);
}

static void test_config_usage_lists_every_flag_and_default(void **state) {
  (void)state;
  static const char *const kWant[] = {"--config FILE",
                                      "--listen HOST:PORT",
                                      "0.0.0.0:8443",
                                      "--port-file FILE",
                                      "--metrics HOST:PORT",
                                      "--route NAME=HOST:PORT",
                                      "--default-route",
                                      "--route-header",
                                      "x-sealstream-route",
                                      "--backend-ca",
                                      "--backend-cert",
                                      "--backend-key",
                                      "--backend-server-name",
                                      "--backend-plaintext",
                                      "--tokens FILE",
                                      "--no-auth",
                                      "--auth-header",
                                      "authorization",
                                      "--tls-cert",
                                      "--tls-key",
                                      "--tls-client-ca",
                                      "--plaintext",
                                      "--max-streams N",
                                      "default 10000",
                                      "--max-streams-per-token N",
                                      "default 1000",
                                      "--max-message-bytes N",
                                      "default 67108864",
                                      "--max-metadata-bytes N",
                                      "default 16384",
                                      "--idle-timeout S",
                                      "default 0",
                                      "--drain-timeout S",
                                      "default 30",
                                      "--threads N",
                                      "default 2",
                                      "--no-access-log",
                                      "--help",
                                      "gen-token NAME ROUTES"};
  const char *usage = ss_proxy_config_usage();
  for (size_t i = 0; i < sizeof(kWant) / sizeof(kWant[0]); i++) {
    if (strstr(usage, kWant[i]) == NULL) {
      fail_msg("usage lacks \"%s\"", kWant[i]);
    }
  }
  assert_int_equal(usage[strlen(usage) - 1], '\n');
}

static void test_config_gen_token_mode_checks_name_and_routes(void **state) {
  (void)state;
  ss_proxy_config *c = parse_ok(ARGS("gen-token", "billing", "orders,users"));
  assert_int_equal(c->mode, SS_PROXY_MODE_GEN_TOKEN);
  assert_string_equal(c->gen_token_name, "billing");
  assert_string_equal(c->gen_token_routes, "orders,users");
  assert_null(c->listen_addr);
  ss_proxy_config_free(c);
  c = parse_ok(ARGS("gen-token", "ops", "*"));
  assert_string_equal(c->gen_token_routes, "*");
  ss_proxy_config_free(c);
  expect_refused(ARGS("gen-token"), "gen-token: expected NAME ROUTES");
  expect_refused(ARGS("gen-token", "a"), "gen-token: expected NAME ROUTES");
  expect_refused(ARGS("gen-token", "a", "b", "c"),
                 "gen-token: expected NAME ROUTES");
  expect_refused(ARGS("gen-token", "bad name", "*"),
                 "gen-token NAME 'bad name'");
  expect_refused(ARGS("gen-token", "a", "x,,y"),
                 "gen-token ROUTES: route 2 is empty");
  expect_refused(ARGS("gen-token", "a", "x,*"), "must stand alone");
}

static void test_config_refuses_unknown_and_malformed_flags(void **state) {
  (void)state;
  expect_refused(ARGS("--foo"), "unknown flag --foo");
  expect_refused(ARGS("--foo=1"), "unknown flag --foo");
  expect_refused(ARGS("--"), "unknown flag --");
  expect_refused(ARGS("serve"), "unexpected argument 'serve'");
  expect_refused(ARGS("-x"), "unexpected argument '-x'");
  expect_refused(ARGS("--route", "a=h:1", "gen-token"),
                 "unexpected argument 'gen-token'");
  expect_refused(ARGS("--listen"), "--listen expects a value");
  expect_refused(ARGS("--no-auth=1"), "--no-auth takes no value");
  expect_refused(ARGS("--listen", "a:1", "--listen", "b:2"),
                 "--listen given twice");
  expect_refused(ARGS("--plaintext", "--plaintext"), "--plaintext given twice");
  expect_refused(ARGS("--threads", "2", "--threads=3"),
                 "--threads given twice");
}

static void test_config_refuses_bad_routes(void **state) {
  (void)state;
  expect_refused(ARGS("--route", "x"), "--route 'x': expected NAME=HOST:PORT");
  expect_refused(ARGS("--route", "=h:1"), "--route '=h:1' is empty");
  expect_refused(ARGS("--route", "a b=h:1"), "--route 'a b=h:1'");
  expect_refused(ARGS("--route", "a=h"), "expected HOST:PORT");
  expect_refused(ARGS("--route", "a=h:0"), "a port from 1 to 65535");
  expect_refused(ARGS("--route", "a=h:65536"), "got 'h:65536'");
  expect_refused(ARGS("--route", "a=:80"), "got ':80'");
  expect_refused(ARGS("--route", "a=h:8x"), "got 'h:8x'");
  expect_refused(ARGS("--route", "a=::1:80"), "got '::1:80'");
  expect_refused(ARGS("--route", "a=[::1]80"), "got '[::1]80'");
  expect_refused(ARGS("--route", "a=h:1", "--route", "a=h:2"),
                 "route 'a' is defined twice");
  expect_refused(ARGS("--route", "a=h:1", "--default-route", "y", "--no-auth",
                      "--plaintext"),
                 "--default-route 'y' names no route");
  expect_refused(ARGS("--default-route", "b/c"), "--default-route 'b/c'");
  expect_refused(ARGS("--no-auth", "--plaintext"),
                 "no routes: give --route NAME=HOST:PORT");
}

static void test_config_refuses_reserved_and_malformed_header_names(
    void **state) {
  (void)state;
  expect_refused(ARGS("--route-header", "grpc-route"),
                 "--route-header 'grpc-route': grpc-*");
  expect_refused(ARGS("--route-header", "authorization"),
                 "--route-header 'authorization': reserved");
  expect_refused(ARGS("--route-header", ":authority"),
                 "--route-header ':authority': expected a header name");
  expect_refused(ARGS("--route-header", "X-Route"),
                 "--route-header 'X-Route': expected a header name of 1 to "
                 "64 lowercase");
  expect_refused(ARGS("--route-header", "route-bin"),
                 "--route-header 'route-bin'");
  expect_refused(ARGS("--route-header", ""), "--route-header '': expected");
  expect_refused(ARGS("--auth-header", "te"), "--auth-header 'te': reserved");
  expect_refused(ARGS("--auth-header", "content-type"),
                 "--auth-header 'content-type': reserved");
  expect_refused(ARGS("--route", "a=h:1", "--no-auth", "--plaintext",
                      "--route-header", "x-h", "--auth-header", "x-h"),
                 "the route header and the auth header are both 'x-h'");
  ss_proxy_config *c =
      parse_ok(ARGS("--route", "a=h:1", "--no-auth", "--plaintext",
                    "--route-header", "x-a.b_c-9"));
  assert_string_equal(c->route_header, "x-a.b_c-9");
  ss_proxy_config_free(c);
}

static void test_config_requires_exactly_one_auth_choice(void **state) {
  (void)state;
  expect_refused(ARGS("--route", "a=h:1", "--plaintext"),
                 "no client authentication chosen: give --tokens FILE, or "
                 "--no-auth");
  expect_refused(ARGS("--route", "a=h:1", "--plaintext", "--no-auth",
                      "--tokens", g_tokens),
                 "--tokens and --no-auth exclude each other");
  char missing[700];
  snprintf(missing, sizeof(missing), "%s/absent-tokens", g_dir);
  expect_refused(ARGS("--route", "a=h:1", "--plaintext", "--tokens", missing),
                 "absent-tokens: cannot open");
  char bad[700];
  snprintf(bad, sizeof(bad), "%s/bad-tokens", g_dir);
  write_str(bad, "# c\n\nname NOTHEX *\n");
  expect_refused(ARGS("--route", "a=h:1", "--plaintext", "--tokens", bad),
                 "bad-tokens line 3: SHA256HEX");
  expect_refused(ARGS("--tokens", ""), "--tokens: expected a file path");
}

static void test_config_requires_exactly_one_client_transport(void **state) {
  (void)state;
  expect_refused(ARGS("--route", "a=h:1", "--no-auth"),
                 "no client transport chosen: give --tls-cert FILE "
                 "--tls-key FILE, or --plaintext");
  expect_refused(ARGS("--plaintext", "--tls-cert", "c.pem"),
                 "--plaintext and --tls-cert exclude each other");
  expect_refused(ARGS("--tls-client-ca", "ca.pem", "--plaintext"),
                 "--plaintext and --tls-client-ca exclude each other");
  expect_refused(ARGS("--route", "a=h:1", "--no-auth", "--tls-cert", "c.pem"),
                 "TLS for clients needs a key: give --tls-key FILE");
  expect_refused(ARGS("--route", "a=h:1", "--no-auth", "--tls-key", "k.pem"),
                 "TLS for clients needs a certificate: give --tls-cert");
  expect_refused(
      ARGS("--route", "a=h:1", "--no-auth", "--tls-client-ca", "ca.pem"),
      "needs a certificate");
}

static void test_config_refuses_backend_flags_without_routes_or_together(
    void **state) {
  (void)state;
  expect_refused(ARGS("--backend-ca", "ca.pem"),
                 "--backend-ca applies to routes given with --route");
  expect_refused(ARGS("--backend-server-name", "x"),
                 "--backend-server-name applies to routes");
  expect_refused(ARGS("--backend-plaintext"),
                 "--backend-plaintext applies to routes given with --route");
  expect_refused(
      ARGS("--route", "a=h:1", "--backend-plaintext", "--backend-ca", "c"),
      "--backend-plaintext and --backend-ca exclude each other");
  expect_refused(ARGS("--route", "a=h:1", "--backend-cert", "c.pem"),
                 "--backend-cert and --backend-key go together");
  expect_refused(ARGS("--route", "a=h:1", "--backend-key", "k.pem"),
                 "--backend-cert and --backend-key go together");
  expect_refused(ARGS("--backend-server-name", "bad_name!"),
                 "--backend-server-name 'bad_name!': expected a DNS name");
}

static void test_config_refuses_bad_addresses(void **state) {
  (void)state;
  expect_refused(ARGS("--listen", "8443"), "--listen: expected HOST:PORT");
  expect_refused(ARGS("--listen", "h:99999"), "got 'h:99999'");
  expect_refused(ARGS("--listen", ""), "--listen: expected HOST:PORT");
  expect_refused(ARGS("--metrics", "localhost"),
                 "--metrics: expected HOST:PORT");
  expect_refused(ARGS("--metrics", "[zz]:1"), "got '[zz]:1'");
  expect_refused(ARGS("--port-file", ""), "--port-file: expected a file path");
}

static void test_config_refuses_limits_out_of_range(void **state) {
  (void)state;
  expect_refused(ARGS("--max-streams", "0"),
                 "--max-streams: 0 is out of range; expected 1 to 1000000");
  expect_refused(ARGS("--max-streams", "1000001"),
                 "--max-streams: 1000001 is out of range");
  expect_refused(ARGS("--max-streams-per-token", "0"),
                 "--max-streams-per-token: 0 is out of range");
  expect_refused(ARGS("--max-message-bytes", "1023"),
                 "--max-message-bytes: 1023 is out of range; expected 1024 "
                 "to 1073741824");
  expect_refused(ARGS("--max-metadata-bytes", "2097152"),
                 "--max-metadata-bytes: 2097152 is out of range");
  expect_refused(ARGS("--idle-timeout", "86401"),
                 "--idle-timeout: 86401 is out of range");
  expect_refused(ARGS("--drain-timeout", "3601"),
                 "--drain-timeout: 3601 is out of range");
  expect_refused(ARGS("--threads", "0"), "--threads: 0 is out of range");
  expect_refused(ARGS("--threads", "65"), "--threads: 65 is out of range");
  expect_refused(ARGS("--threads", "-1"),
                 "--threads: expected a whole number from 1 to 64, got '-1'");
  expect_refused(ARGS("--threads", "+2"), "got '+2'");
  expect_refused(ARGS("--threads", " 2"), "got ' 2'");
  expect_refused(ARGS("--threads", "2.5"), "got '2.5'");
  expect_refused(ARGS("--threads", ""), "got ''");
  expect_refused(ARGS("--max-streams", "99999999999999999999"),
                 "--max-streams: expected a whole number");
}

// A config file that sets every member.
static const char kFullJson[] =
    "{\n"
    "  \"listen\": \"127.0.0.1:7000\",\n"
    "  \"port_file\": \"p.port\",\n"
    "  \"metrics\": \"127.0.0.1:9090\",\n"
    "  \"routes\": [\n"
    "    {\"name\": \"orders\", \"target\": \"orders.internal:443\",\n"
    "     \"tls\": {\"ca\": \"ca.pem\", \"cert\": \"c.pem\", \"key\": "
    "\"k.pem\",\n"
    "             \"server_name\": \"orders.internal\"}},\n"
    "    {\"name\": \"local\", \"target\": \"127.0.0.1:50051\", "
    "\"plaintext\": true},\n"
    "    {\"name\": \"roots\", \"target\": \"roots:443\", \"tls\": {}}\n"
    "  ],\n"
    "  \"default_route\": \"local\",\n"
    "  \"route_header\": \"x-r\",\n"
    "  \"tokens\": \"TOKENS\",\n"
    "  \"auth_header\": \"x-a\",\n"
    "  \"tls\": {\"cert\": \"srv.pem\", \"key\": \"srv.key\", \"client_ca\": "
    "\"cl.pem\"},\n"
    "  \"max_streams\": 7, \"max_streams_per_token\": 6,\n"
    "  \"max_message_bytes\": 2048, \"max_metadata_bytes\": 4096,\n"
    "  \"idle_timeout\": 60, \"drain_timeout\": 5, \"threads\": 4,\n"
    "  \"access_log\": false\n"
    "}\n";

// write_full_json writes kFullJson with "TOKENS" replaced by |tokens|.
static void write_full_json(const char *tokens) {
  char text[4096];
  const char *at = strstr(kFullJson, "TOKENS");
  snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - kFullJson), kFullJson,
           tokens, at + 6);
  write_str(g_config, text);
}

static void test_config_file_sets_every_member(void **state) {
  (void)state;
  write_full_json(g_tokens);
  ss_proxy_config *c = parse_ok(ARGS("--config", g_config));
  assert_string_equal(c->config_file, g_config);
  assert_string_equal(c->listen_addr, "127.0.0.1:7000");
  assert_string_equal(c->port_file, "p.port");
  assert_string_equal(c->metrics_addr, "127.0.0.1:9090");
  assert_int_equal(c->num_routes, 3);
  assert_string_equal(c->routes[0].name, "orders");
  assert_string_equal(c->routes[0].target, "orders.internal:443");
  assert_int_equal(c->routes[0].plaintext, 0);
  assert_string_equal(c->routes[0].tls_ca_file, "ca.pem");
  assert_string_equal(c->routes[0].tls_cert_file, "c.pem");
  assert_string_equal(c->routes[0].tls_key_file, "k.pem");
  assert_string_equal(c->routes[0].tls_server_name, "orders.internal");
  assert_int_equal(c->routes[1].plaintext, 1);
  assert_int_equal(c->routes[2].plaintext, 0);
  assert_null(c->routes[2].tls_ca_file);
  assert_ptr_equal(c->default_route, &c->routes[1]);
  assert_string_equal(c->route_header, "x-r");
  assert_string_equal(c->auth_header, "x-a");
  assert_string_equal(c->tokens_file, g_tokens);
  assert_int_equal(ss_proxy_tokens_count(c->tokens), 1);
  expect_client_tls(c, "srv.pem", "srv.key", "cl.pem");
  expect_limits(&c->limits, 7, 6, 2048, 4096, 60, 5, 4);
  assert_int_equal(c->access_log, 0);
  ss_proxy_config_free(c);

  write_str(g_config,
            "{\"routes\": [{\"name\": \"a\", \"target\": \"h:1\"}], "
            "\"no_auth\": true, \"plaintext\": true, \"access_log\": true}");
  c = parse_ok(ARGS("--config", g_config));
  assert_int_equal(c->no_auth, 1);
  assert_int_equal(c->plaintext, 1);
  assert_int_equal(c->access_log, 1);
  ss_proxy_config_free(c);
}

static void test_config_file_refuses_unknown_members_at_every_level(
    void **state) {
  (void)state;
  expect_file_refused("{\"listn\": \"h:1\"}", "unknown member \"listn\"");
  expect_file_refused("{\"config\": \"x\"}", "unknown member \"config\"");
  expect_file_refused("{\"backend_ca\": \"x\"}",
                      "unknown member \"backend_ca\"");
  expect_file_refused(
      "{\"routes\": [{\"name\": \"a\", \"target\": \"h:1\"}, {\"name\": "
      "\"b\", \"target\": \"h:2\", \"weight\": 1}]}",
      "member \"routes\"[1].weight: unknown member");
  expect_file_refused(
      "{\"routes\": [{\"name\": \"a\", \"target\": \"h:1\", \"tls\": "
      "{\"sni\": \"x\"}}]}",
      "member \"routes\"[0].tls.sni: unknown member");
  expect_file_refused("{\"tls\": {\"ca\": \"x\"}}",
                      "member \"tls\".ca: unknown member");
}

static void test_config_file_refuses_duplicate_members(void **state) {
  (void)state;
  expect_file_refused("{\"listen\": \"h:1\", \"listen\": \"h:2\"}",
                      "duplicate");
  expect_file_refused(
      "{\"routes\": [{\"name\": \"a\", \"name\": \"b\", \"target\": "
      "\"h:1\"}]}",
      "duplicate");
  expect_file_refused("{\"tls\": {\"cert\": \"a\", \"cert\": \"b\"}}",
                      "duplicate");
  expect_file_refused(
      "{\"routes\": [{\"name\": \"a\", \"target\": \"h:1\"}, {\"name\": "
      "\"a\", \"target\": \"h:2\"}]}",
      "member \"routes\"[1]: route 'a' is defined twice");
}

static void test_config_file_refuses_wrong_types(void **state) {
  (void)state;
  expect_file_refused("{\"listen\": 8443}",
                      "member \"listen\": expected a string");
  expect_file_refused("{\"listen\": null}",
                      "member \"listen\": expected a string");
  expect_file_refused("{\"no_auth\": 1}",
                      "member \"no_auth\": expected true or false");
  expect_file_refused("{\"access_log\": \"yes\"}",
                      "member \"access_log\": expected true or false");
  expect_file_refused("{\"threads\": 2.0}",
                      "member \"threads\": expected a whole number from 1 "
                      "to 64");
  expect_file_refused("{\"threads\": \"2\"}",
                      "member \"threads\": expected a whole number");
  expect_file_refused("{\"threads\": 0}",
                      "member \"threads\": 0 is out of range");
  expect_file_refused("{\"max_streams\": 99999999999999}",
                      "member \"max_streams\": 99999999999999 is out of "
                      "range");
  expect_file_refused("{\"max_streams\": -5}", "-5 is out of range");
  expect_file_refused("{\"routes\": {}}",
                      "member \"routes\": expected an array");
  expect_file_refused("{\"routes\": [\"a=h:1\"]}",
                      "member \"routes\"[0]: expected an object");
  expect_file_refused("{\"routes\": [{\"name\": 1, \"target\": \"h:1\"}]}",
                      "member \"routes\"[0].name: expected a string");
  expect_file_refused("{\"routes\": [{\"name\": \"a\", \"target\": \"h\"}]}",
                      "member \"routes\"[0].target: expected HOST:PORT");
  expect_file_refused(
      "{\"routes\": [{\"name\": \"a\", \"target\": \"h:1\", \"plaintext\": "
      "\"no\"}]}",
      "member \"routes\"[0].plaintext: expected true or false");
  expect_file_refused(
      "{\"routes\": [{\"name\": \"a\", \"target\": \"h:1\", \"tls\": "
      "true}]}",
      "member \"routes\"[0].tls: expected an object");
  expect_file_refused(
      "{\"routes\": [{\"name\": \"a\", \"target\": \"h:1\", \"tls\": "
      "{\"ca\": 5}}]}",
      "member \"routes\"[0].tls.ca: expected a string");
  expect_file_refused("{\"tls\": []}", "member \"tls\": expected an object");
  expect_file_refused("{\"tls\": {\"cert\": \"\"}}",
                      "member \"tls\".cert: expected a file path");
  expect_file_refused("[]", "expected a JSON object at the top level");
  expect_file_refused("\"text\"", "line 1");
}

static void test_config_file_refuses_bad_values_and_combinations(void **state) {
  (void)state;
  expect_file_refused("{\"routes\": [{\"target\": \"h:1\"}]}",
                      "member \"routes\"[0]: \"name\" is missing");
  expect_file_refused("{\"routes\": [{\"name\": \"a\"}]}",
                      "member \"routes\"[0]: \"target\" is missing");
  expect_file_refused(
      "{\"routes\": [{\"name\": \"a b\", \"target\": \"h:1\"}]}",
      "member \"routes\"[0].name 'a b'");
  expect_file_refused(
      "{\"routes\": [{\"name\": \"a\", \"target\": \"h:1\", \"plaintext\": "
      "true, \"tls\": {}}]}",
      "member \"routes\"[0]: \"plaintext\": true and \"tls\" exclude each "
      "other");
  expect_file_refused(
      "{\"routes\": [{\"name\": \"a\", \"target\": \"h:1\", \"tls\": "
      "{\"cert\": \"c\"}}]}",
      "member \"routes\"[0].tls: \"cert\" and \"key\" go together");
  expect_file_refused(
      "{\"routes\": [{\"name\": \"a\", \"target\": \"h:1\", \"tls\": "
      "{\"server_name\": \"x y\"}}]}",
      "member \"routes\"[0].tls.server_name 'x y'");
  expect_file_refused("{\"tokens\": \"t\", \"no_auth\": true}",
                      "members \"tokens\" and \"no_auth\": true exclude");
  expect_file_refused("{\"tls\": {\"cert\": \"c\"}, \"plaintext\": true}",
                      "members \"tls\" and \"plaintext\": true exclude");
  expect_file_refused("{\"route_header\": \"grpc-x\"}",
                      "member \"route_header\" 'grpc-x'");
  expect_file_refused("{\"listen\": \"nope\"}",
                      "member \"listen\": expected HOST:PORT");
  expect_file_refused(
      "{\"routes\": [{\"name\": \"a\", \"target\": \"h:1\"}], "
      "\"default_route\": \"b\", \"no_auth\": true, \"plaintext\": true}",
      "member \"default_route\" 'b' names no route");
  expect_file_refused("{}", "no routes");
  char missing[700];
  snprintf(missing, sizeof(missing), "%s/absent.json", g_dir);
  ss_status st;
  assert_null(parse(ARGS("--config", missing), &st));
  assert_non_null(strstr(st.msg, "config "));
  assert_non_null(strstr(st.msg, "absent.json: cannot open"));
}

static void test_config_file_over_the_size_cap_is_refused(void **state) {
  (void)state;
  // Valid JSON padded with spaces to one byte over the cap.
  size_t len = SS_PROXY_CONFIG_MAX_FILE_BYTES + 1;
  char *text = malloc(len);
  assert_non_null(text);
  memset(text, ' ', len);
  memcpy(text, "{}", 2);
  write_file(g_config, text, len);
  ss_status st;
  assert_null(parse(ARGS("--config", g_config), &st));
  assert_non_null(strstr(st.msg, "larger than 1048576 bytes"));
  // At the cap it is read (and refused only for having no routes).
  write_file(g_config, text, len - 1);
  assert_null(parse(ARGS("--config", g_config), &st));
  assert_non_null(strstr(st.msg, "no routes"));
  free(text);
}

static void test_config_file_truncated_anywhere_is_refused_cleanly(
    void **state) {
  (void)state;
  write_full_json(g_tokens);
  char text[4096];
  FILE *f = fopen(g_config, "rb");
  assert_non_null(f);
  size_t len = fread(text, 1, sizeof(text), f);
  fclose(f);
  // Every cut before the closing brace leaves invalid JSON.
  size_t close = len - 2;
  assert_int_equal(text[close], '}');
  for (size_t cut = 0; cut <= close; cut++) {
    write_file(g_config, text, cut);
    ss_status st;
    ss_proxy_config *c = parse(ARGS("--config", g_config), &st);
    if (c != NULL) {
      ss_proxy_config_free(c);
      fail_msg("accepted a file cut at %zu bytes", cut);
    }
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(st.msg, "proxy.json: line "));
  }
}

static void test_config_flags_override_the_file(void **state) {
  (void)state;
  write_full_json(g_tokens);
  ss_proxy_config *c = parse_ok(
      ARGS("--config", g_config, "--listen", "0.0.0.0:1", "--threads", "8",
           "--max-streams", "9", "--tls-key", "other.key", "--route-header",
           "x-other", "--no-access-log", "--default-route", "orders"));
  assert_string_equal(c->listen_addr, "0.0.0.0:1");
  assert_int_equal(c->limits.threads, 8);
  assert_int_equal(c->limits.max_streams, 9);
  assert_int_equal(c->limits.max_streams_per_token, 6);  // from the file
  // Each TLS flag overrides its own member.
  assert_string_equal(c->tls_cert_file, "srv.pem");
  assert_string_equal(c->tls_key_file, "other.key");
  assert_string_equal(c->tls_client_ca_file, "cl.pem");
  assert_string_equal(c->route_header, "x-other");
  assert_string_equal(c->auth_header, "x-a");
  assert_ptr_equal(c->default_route, &c->routes[0]);
  assert_int_equal(c->access_log, 0);
  ss_proxy_config_free(c);

  // --plaintext, --no-auth and --route replace the file's choices.
  c = parse_ok(ARGS("--config", g_config, "--plaintext", "--no-auth", "--route",
                    "solo=h:9", "--default-route", "solo"));
  assert_int_equal(c->plaintext, 1);
  assert_null(c->tls_cert_file);
  assert_int_equal(c->no_auth, 1);
  assert_null(c->tokens);
  assert_int_equal(c->num_routes, 1);
  assert_string_equal(c->default_route->name, "solo");
  ss_proxy_config_free(c);

  // The file's default route must name one of the routes given by flags.
  expect_refused(ARGS("--config", g_config, "--route", "solo=h:9"),
                 "member \"default_route\" 'local' names no route (routes "
                 "given with --route replace the config file's)");

  // --tokens over the file's "no_auth", --tls-cert over its "plaintext".
  write_str(g_config,
            "{\"routes\": [{\"name\": \"a\", \"target\": \"h:1\"}], "
            "\"no_auth\": true, \"plaintext\": true}");
  c = parse_ok(ARGS("--config", g_config, "--tokens", g_tokens_two,
                    "--tls-cert", "c", "--tls-key", "k"));
  assert_int_equal(c->no_auth, 0);
  assert_int_equal(ss_proxy_tokens_count(c->tokens), 2);
  assert_int_equal(c->plaintext, 0);
  assert_string_equal(c->tls_key_file, "k");
  ss_proxy_config_free(c);
}

static void test_config_reload_reads_a_changed_tokens_file(void **state) {
  (void)state;
  char path[700];
  snprintf(path, sizeof(path), "%s/reload-tokens.txt", g_dir);
  write_str(path, "one " HASH_ONE " *\n");
  ss_proxy_config *old =
      parse_ok(ARGS("--route", "a=h:1", "--plaintext", "--tokens", path));
  ss_proxy_tokens *old_tokens = old->tokens;
  assert_int_equal(ss_proxy_tokens_count(old_tokens), 1);

  write_str(path, "one " HASH_ONE
                  " *\n"
                  "two " HASH_TWO " a\n");
  ss_status st;
  ss_status_init(&st);
  ss_proxy_config *next = ss_proxy_config_reload(old, &st);
  assert_non_null(next);
  assert_int_equal(ss_proxy_tokens_count(next->tokens), 2);
  assert_ptr_equal(old->tokens, old_tokens);
  assert_int_equal(ss_proxy_tokens_count(old->tokens), 1);
  assert_int_equal(next->reload_kept, 0);
  assert_null(next->reload_note);

  // A broken tokens file: no new config, the running one untouched.
  write_str(path, "one " HASH_ONE " *\none " HASH_ONE " *\n");
  ss_proxy_config *bad = ss_proxy_config_reload(next, &st);
  assert_null(bad);
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "reload: tokens file "));
  assert_non_null(strstr(st.msg, "line 2: duplicate name 'one'"));
  assert_int_equal(ss_proxy_tokens_count(next->tokens), 2);
  assert_string_equal(next->routes[0].name, "a");

  // The old tokens outlive their config while a call holds them.
  ss_proxy_tokens *held = ss_proxy_tokens_ref(old->tokens);
  ss_proxy_config_free(old);
  assert_int_equal(ss_proxy_tokens_count(held), 1);
  ss_proxy_tokens_unref(held);
  ss_proxy_config_free(next);
}

static void test_config_reload_keeps_settings_that_need_a_restart(
    void **state) {
  (void)state;
  write_full_json(g_tokens);
  ss_proxy_config *old = parse_ok(ARGS("--config", g_config));

  // Change everything the restart-only settings cover, and a limit.
  char text[4096];
  FILE *f = fopen(g_config, "rb");
  assert_non_null(f);
  size_t len = fread(text, 1, sizeof(text) - 1, f);
  fclose(f);
  text[len] = '\0';
  static const char *const kSwap[][2] = {
      {"127.0.0.1:7000", "127.0.0.1:7001"},
      {"p.port", "q.port"},
      {"127.0.0.1:9090", "127.0.0.1:9091"},
      {"srv.key", "new.key"},
      {"\"threads\": 4", "\"threads\": 5"},
      {"\"max_streams\": 7", "\"max_streams\": 8"},
  };
  for (size_t i = 0; i < sizeof(kSwap) / sizeof(kSwap[0]); i++) {
    char *at = strstr(text, kSwap[i][0]);
    assert_non_null(at);
    assert_int_equal(strlen(kSwap[i][0]), strlen(kSwap[i][1]));
    memcpy(at, kSwap[i][1], strlen(kSwap[i][1]));
  }
  write_str(g_config, text);
  ss_status st;
  ss_status_init(&st);
  ss_proxy_config *next = ss_proxy_config_reload(old, &st);
  assert_non_null(next);
  assert_int_equal(next->reload_kept, SS_PROXY_RELOAD_KEPT_LISTEN |
                                          SS_PROXY_RELOAD_KEPT_PORT_FILE |
                                          SS_PROXY_RELOAD_KEPT_METRICS |
                                          SS_PROXY_RELOAD_KEPT_TLS |
                                          SS_PROXY_RELOAD_KEPT_THREADS);
  assert_string_equal(next->listen_addr, "127.0.0.1:7000");
  assert_string_equal(next->port_file, "p.port");
  assert_string_equal(next->metrics_addr, "127.0.0.1:9090");
  assert_string_equal(next->tls_key_file, "srv.key");
  assert_int_equal(next->limits.threads, 4);
  assert_int_equal(next->limits.max_streams, 8);  // reloadable
  assert_non_null(next->reload_note);
  assert_non_null(strstr(next->reload_note,
                         "listen, port file, metrics, "
                         "client TLS, threads"));
  assert_non_null(strstr(next->reload_note, "restart"));

  // A broken config file: refused, both configs untouched.
  write_str(g_config, "{\"listen\": ");
  assert_null(ss_proxy_config_reload(next, &st));
  assert_non_null(strstr(st.msg, "reload: config "));
  assert_int_equal(next->limits.max_streams, 8);
  assert_int_equal(old->limits.max_streams, 7);
  ss_proxy_config_free(next);
  ss_proxy_config_free(old);
}

static void test_config_reload_needs_a_serving_config(void **state) {
  (void)state;
  ss_proxy_config *help = parse_ok(ARGS("--help"));
  ss_status st;
  ss_status_init(&st);
  assert_null(ss_proxy_config_reload(help, &st));
  assert_int_equal(st.code, GRPC_STATUS_FAILED_PRECONDITION);
  ss_proxy_config_free(help);
}

static void test_config_find_route_compares_untrusted_bytes_exactly(
    void **state) {
  (void)state;
  ss_proxy_config *c = parse_ok(ARGS("--no-auth", "--plaintext", "--route",
                                     "orders=h:1", "--route", "ord=h:2"));
  const char buf[] = "ordersXYZ";
  assert_ptr_equal(ss_proxy_config_find_route(c, (const uint8_t *)buf, 6),
                   &c->routes[0]);
  assert_ptr_equal(ss_proxy_config_find_route(c, (const uint8_t *)buf, 3),
                   &c->routes[1]);
  assert_null(ss_proxy_config_find_route(c, (const uint8_t *)buf, 5));
  assert_null(ss_proxy_config_find_route(c, (const uint8_t *)buf, 9));
  assert_null(ss_proxy_config_find_route(c, (const uint8_t *)"", 0));
  assert_null(ss_proxy_config_find_route(c, NULL, 0));
  assert_null(ss_proxy_config_find_route(c, (const uint8_t *)"orders\0", 7));
  ss_proxy_config_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_minimal_flags_get_the_documented_defaults),
      cmocka_unit_test(test_config_every_flag_sets_its_field),
      cmocka_unit_test(test_config_no_auth_and_backend_plaintext_flags),
      cmocka_unit_test(test_config_help_anywhere_asks_for_usage),
      cmocka_unit_test(test_config_usage_lists_every_flag_and_default),
      cmocka_unit_test(test_config_gen_token_mode_checks_name_and_routes),
      cmocka_unit_test(test_config_refuses_unknown_and_malformed_flags),
      cmocka_unit_test(test_config_refuses_bad_routes),
      cmocka_unit_test(test_config_refuses_reserved_and_malformed_header_names),
      cmocka_unit_test(test_config_requires_exactly_one_auth_choice),
      cmocka_unit_test(test_config_requires_exactly_one_client_transport),
      cmocka_unit_test(
          test_config_refuses_backend_flags_without_routes_or_together),
      cmocka_unit_test(test_config_refuses_bad_addresses),
      cmocka_unit_test(test_config_refuses_limits_out_of_range),
      cmocka_unit_test(test_config_file_sets_every_member),
      cmocka_unit_test(test_config_file_refuses_unknown_members_at_every_level),
      cmocka_unit_test(test_config_file_refuses_duplicate_members),
      cmocka_unit_test(test_config_file_refuses_wrong_types),
      cmocka_unit_test(test_config_file_refuses_bad_values_and_combinations),
      cmocka_unit_test(test_config_file_over_the_size_cap_is_refused),
      cmocka_unit_test(test_config_file_truncated_anywhere_is_refused_cleanly),
      cmocka_unit_test(test_config_flags_override_the_file),
      cmocka_unit_test(test_config_reload_reads_a_changed_tokens_file),
      cmocka_unit_test(test_config_reload_keeps_settings_that_need_a_restart),
      cmocka_unit_test(test_config_reload_needs_a_serving_config),
      cmocka_unit_test(test_config_find_route_compares_untrusted_bytes_exactly),
  };
  return cmocka_run_group_tests(tests, dir_setup, NULL);
}
