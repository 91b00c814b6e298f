// End to end through sealstream-proxy with TLS on both hops: the client
// library talks TLS to the proxy (bearer tokens), the proxy talks TLS to the
// real server, certificates from a PKI made by the test. Results must equal
// SQLite's for every key type and serialization; every error path must give
// its gRPC code with a message naming what was wrong, and leave the proxy
// serving.
//
// Usage (from Bazel): proxy_e2e_test SERVER DEMO_DATA PROXY
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "grpc/health/v1/health.pb-c.h"
#include "lib/rpc/test_client.h"
#include "sealstream/client.h"
#include "tests/proxy/proxy_fixture.h"
#include "tests/support/fixture.h"
#include "tests/support/result_check.h"
#include "tests/support/server_process.h"
#include "tests/support/test_db.h"
#include "tests/support/test_pki.h"

#define EVENT_ROWS 5000
#define CANCELLED 1
#define DEADLINE_EXCEEDED 4
#define NOT_FOUND 5
#define PERMISSION_DENIED 7
#define UNAUTHENTICATED 16
#define INVALID_ARGUMENT 3
#define UNAVAILABLE 14
#define DATA_LOSS 15

// 25 million rows, produced as fast as the client reads.
static const char kEndless[] =
    "SELECT a.rowid AS r1, b.rowid AS r2, a.path FROM http_events a, "
    "http_events b";
// No row for a very long time.
static const char kNoRow[] =
    "SELECT count(*) FROM http_events a, http_events b, http_events c";
static const char kGood[] = "SELECT * FROM all_types ORDER BY id";

static ss_proxy_test_binaries bin;
static char db_path[4096];
static char tokens_path[4200];
static ss_test_pki *pki;
static ss_test_server *server;  // route "main"
static ss_test_server *victim;  // route "victim", killed by one test
static ss_test_server *proxy;
static char *alice_token;  // every route
static char *bob_token;    // route "main" only
static ss_client *client;  // alice on "main", P-256, parts

static ss_client *new_client(const char *route, const char *token,
                             ss_key_type key_type, int compact) {
  ss_status st;
  ss_client *c = ss_test_proxy_client(ss_test_server_target(proxy), pki, route,
                                      token, key_type, compact, &st);
  if (c == NULL) {
    fail_msg("%s", st.msg);
  }
  return c;
}

static int group_setup(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  pki = ss_test_pki_new(&st);
  if (pki == NULL) {
    fprintf(stderr, "PKI: %s\n", st.msg);
    return -1;
  }
  if (!ss_test_fixture_db(db_path, sizeof(db_path), "proxy_e2e.db", bin.demo,
                          EVENT_ROWS, 11)) {
    return -1;
  }
  server = ss_test_tls_server_start(bin.server, db_path, pki, &st);
  victim = server != NULL
               ? ss_test_tls_server_start(bin.server, db_path, pki, &st)
               : NULL;
  if (victim == NULL) {
    fprintf(stderr, "server: %s\n", st.msg);
    return -1;
  }
  char *tokens_text = NULL;
  alice_token = ss_test_token(&tokens_text, "alice", "*", &st);
  bob_token = alice_token != NULL
                  ? ss_test_token(&tokens_text, "bob", "main", &st)
                  : NULL;
  int ok = bob_token != NULL &&
           ss_test_tmp_path(tokens_path, sizeof(tokens_path),
                            "proxy_e2e.tokens", &st) &&
           ss_test_write_file(tokens_path, tokens_text, &st);
  free(tokens_text);
  if (!ok) {
    fprintf(stderr, "tokens: %s\n", st.msg);
    return -1;
  }
  // A port nothing listens on: bound once, then closed.
  int closed_port = ss_test_free_port();
  static char routes[4][64];
  snprintf(routes[0], sizeof(routes[0]), "main=%s",
           ss_test_server_target(server));
  snprintf(routes[1], sizeof(routes[1]), "victim=%s",
           ss_test_server_target(victim));
  snprintf(routes[2], sizeof(routes[2]), "down=127.0.0.1:%d", closed_port);
  snprintf(routes[3], sizeof(routes[3]), "other=%s",
           ss_test_server_target(server));
  ss_test_proxy_options options = {
      .binary = bin.proxy,
      .routes = {routes[0], routes[1], routes[2], routes[3]},
      .num_routes = 4,
      .pki = pki,
      .tokens_file = tokens_path,
      .drain_timeout_s = 5,
  };
  proxy = ss_test_proxy_start(&options, &st);
  if (proxy == NULL) {
    fprintf(stderr, "proxy: %s\n", st.msg);
    return -1;
  }
  client = ss_test_proxy_client(ss_test_server_target(proxy), pki, "main",
                                alice_token, SS_KEY_EC_P256, 0, &st);
  if (client == NULL) {
    fprintf(stderr, "%s\n", st.msg);
    return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  ss_client_free(client);
  int ok = ss_test_stop_daemon(&proxy, "proxy");
  ok = ss_test_stop_daemon(&server, "server") && ok;
  ss_test_server_kill(victim);
  free(alice_token);
  free(bob_token);
  ss_test_pki_free(pki);
  return ok ? 0 : -1;
}

// expect_still_serving runs a good query through the proxy.
static void expect_still_serving(void) {
  ss_check_outcome out;
  if (!ss_result_check_run(&out, client, db_path, kGood, NULL)) {
    fail_msg("good query through the proxy afterwards: %s",
             out.mismatch ? out.mismatch_msg : out.error.message);
  }
  assert_int_equal(out.rows, SS_TEST_DB_ALL_TYPES_ROWS);
}

// expect_refused starts |sql| on |c| and checks it fails with |code| and a
// message containing |needle|.
static void expect_refused(ss_client *c, const char *sql, int code,
                           const char *needle) {
  ss_error err;
  ss_query *query = ss_query_start(c, sql, NULL, &err);
  if (query != NULL) {
    const ss_batch *batch;
    int rc;
    while ((rc = ss_query_next(query, &batch, &err)) == 1) {
    }
    ss_query_free(query);
    if (rc == 0) {
      fail_msg("%s: succeeded, expected %s", sql, ss_error_code_name(code));
    }
  }
  if (err.code != code) {
    fail_msg("%s: %s (%s), expected %s", sql, ss_error_code_name(err.code),
             err.message, ss_error_code_name(code));
  }
  if (strstr(err.message, needle) == NULL) {
    fail_msg("%s: message \"%s\" does not name \"%s\"", sql, err.message,
             needle);
  }
}

static void check_all_tables(ss_client *c, const char *what) {
  static const char *const kQueries[] = {
      "SELECT * FROM http_events ORDER BY rowid",
      "SELECT * FROM all_types ORDER BY id",
  };
  for (size_t i = 0; i < sizeof(kQueries) / sizeof(kQueries[0]); i++) {
    ss_check_outcome out;
    if (!ss_result_check_run(&out, c, db_path, kQueries[i], NULL)) {
      fail_msg("%s, %s: %s", what, kQueries[i],
               out.mismatch ? out.mismatch_msg : out.error.message);
    }
    assert_true(out.rows > 0);
  }
  // text_edge holds TEXT that is not a proto3 string as stored; the server
  // serves it transformed (test_db.h), so it is compared with the served
  // form rather than with SQLite.
  ss_error err;
  ss_query *query =
      ss_query_start(c, "SELECT s FROM text_edge ORDER BY id", NULL, &err);
  if (query == NULL) {
    fail_msg("%s, text_edge: %s", what, err.message);
  }
  size_t row = 0;
  const ss_batch *batch;
  int rc;
  while ((rc = ss_query_next(query, &batch, &err)) == 1) {
    for (size_t i = 0; i < ss_batch_num_rows(batch); i++, row++) {
      assert_true(row < SS_TEST_DB_TEXT_EDGE_ROWS);
      assert_string_equal(ss_batch_string(batch, 0, i, NULL),
                          ss_test_db_text_edges[row].served);
    }
  }
  assert_int_equal(rc, 0);
  assert_int_equal(row, SS_TEST_DB_TEXT_EDGE_ROWS);
  ss_query_free(query);
}

static void test_results_through_the_proxy_equal_sqlite_for_every_key_and_form(
    void **state) {
  (void)state;
  static const struct {
    ss_key_type key;
    int compact;
    const char *name;
  } kCases[] = {
      {SS_KEY_EC_P256, 0, "P-256, parts"},
      {SS_KEY_EC_P256, 1, "P-256, compact"},
      {SS_KEY_X25519, 0, "X25519, parts"},
      {SS_KEY_X25519, 1, "X25519, compact"},
  };
  for (size_t i = 0; i < sizeof(kCases) / sizeof(kCases[0]); i++) {
    ss_client *c =
        new_client("main", alice_token, kCases[i].key, kCases[i].compact);
    check_all_tables(c, kCases[i].name);
    ss_client_free(c);
  }
  // The same queries straight to the server agree with SQLite as well, so
  // the proxy's results equal a direct query's.
  ss_client_options options;
  ss_client_options_init(&options);
  options.target = ss_test_server_target(server);
  options.tls_ca_file = ss_test_pki_path(pki, SS_TEST_PKI_CA_CERT);
  options.tls_server_name = "localhost";
  ss_error err;
  ss_client *direct = ss_client_new(&options, &err);
  if (direct == NULL) {
    fail_msg("direct client: %s", err.message);
  }
  check_all_tables(direct, "direct");
  ss_client_free(direct);
}

static void test_unknown_route_is_not_found_naming_it(void **state) {
  (void)state;
  ss_client *c = new_client("nosuchroute", alice_token, SS_KEY_EC_P256, 0);
  expect_refused(c, kGood, NOT_FOUND, "nosuchroute");
  ss_client_free(c);
  expect_still_serving();
}

static void test_no_route_header_without_default_route_names_the_header(
    void **state) {
  (void)state;
  ss_client *c = new_client(NULL, alice_token, SS_KEY_EC_P256, 0);
  expect_refused(c, kGood, INVALID_ARGUMENT, "x-sealstream-route");
  ss_client_free(c);
  expect_still_serving();
}

static void test_route_to_a_closed_port_is_unavailable_naming_the_route(
    void **state) {
  (void)state;
  ss_client *c = new_client("down", alice_token, SS_KEY_EC_P256, 0);
  expect_refused(c, kGood, UNAVAILABLE, "route 'down'");
  ss_client_free(c);
  expect_still_serving();
}

static void test_backend_killed_mid_stream_fails_naming_the_route_no_wrong_row(
    void **state) {
  (void)state;
  ss_client *c = new_client("victim", alice_token, SS_KEY_EC_P256, 0);
  ss_status st;
  ss_result_check *check = ss_result_check_new(db_path, kEndless, &st);
  assert_non_null(check);
  ss_query_options options = {.max_rows_per_batch = 1000};
  ss_error err;
  ss_query *query = ss_query_start(c, kEndless, &options, &err);
  if (query == NULL) {
    fail_msg("start: %s", err.message);
  }
  assert_true(ss_result_check_schema(check, query, &st));
  const ss_batch *batch;
  int rc = 0;
  for (int i = 0; i < 3; i++) {
    rc = ss_query_next(query, &batch, &err);
    assert_int_equal(rc, 1);
    if (!ss_result_check_batch(check, query, batch, &st)) {
      fail_msg("before the kill: %s", st.msg);
    }
  }
  assert_int_equal(kill(ss_test_server_pid(victim), SIGKILL), 0);
  // Whatever still arrives must be the right rows; then an error.
  while ((rc = ss_query_next(query, &batch, &err)) == 1) {
    if (!ss_result_check_batch(check, query, batch, &st)) {
      fail_msg("after the kill, a wrong row: %s", st.msg);
    }
  }
  assert_int_equal(rc, -1);
  if (err.code != UNAVAILABLE ||
      strstr(err.message, "route 'victim'") == NULL) {
    fail_msg(
        "backend killed: %s (%s), expected UNAVAILABLE naming route "
        "'victim'",
        ss_error_code_name(err.code), err.message);
  }
  ss_query_free(query);
  ss_result_check_free(check);
  ss_client_free(c);
  ss_test_server_kill(victim);
  victim = NULL;
  expect_still_serving();
}

static void test_client_cancel_shows_in_server_and_proxy_logs(void **state) {
  (void)state;
  ss_query_options options = {.max_rows_per_batch = 1000};
  ss_error err;
  ss_query *query = ss_query_start(client, kEndless, &options, &err);
  if (query == NULL) {
    fail_msg("start: %s", err.message);
  }
  char id[128];
  snprintf(id, sizeof(id), "id=%s ", ss_query_id(query));
  const ss_batch *batch;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(ss_query_next(query, &batch, &err), 1);
  }
  ss_query_cancel(query);
  int rc;
  while ((rc = ss_query_next(query, &batch, &err)) == 1) {
  }
  assert_int_equal(rc, -1);
  assert_int_equal(err.code, CANCELLED);
  ss_query_free(query);
  if (!ss_test_wait_log_line(server, id, "status=CANCELLED", 10000)) {
    fail_msg("the server's log has no line with \"%s\" and status=CANCELLED",
             id);
  }
  if (!ss_test_wait_log_line(proxy, "access route=main", "code=CANCELLED",
                             10000)) {
    fail_msg("the proxy's access log has no CANCELLED call on route main");
  }
  expect_still_serving();
}

// The proxy's side of a call whose deadline passes ends as well; the race
// between the client's deadline and the backend's DEADLINE_EXCEEDED is run
// a number of times, since the proxy lost it only in some runs.
#define DEADLINE_RUNS 10

static void test_deadline_on_a_slow_query_is_deadline_exceeded(void **state) {
  (void)state;
  int before = ss_test_log_count_lines(proxy, "access route=main",
                                       "code=DEADLINE_EXCEEDED");
  for (int i = 0; i < DEADLINE_RUNS; i++) {
    ss_query_options options = {.timeout_ms = 500};
    ss_error err;
    ss_query *query = ss_query_start(client, kNoRow, &options, &err);
    if (query != NULL) {
      const ss_batch *batch;
      int rc;
      while ((rc = ss_query_next(query, &batch, &err)) == 1) {
      }
      assert_int_equal(rc, -1);
      ss_query_free(query);
    }
    if (err.code != DEADLINE_EXCEEDED) {
      fail_msg("run %d: slow query with a 500 ms deadline: %s (%s)", i,
               ss_error_code_name(err.code), err.message);
    }
    // The proxy must end its side of the call too, not hold it forever.
    int logged = 0;
    for (int waited = 0; waited < 5000 && !logged; waited += 20) {
      logged = ss_test_log_count_lines(proxy, "access route=main",
                                       "code=DEADLINE_EXCEEDED") > before + i;
      if (!logged) {
        ss_test_sleep_ms(20);
      }
    }
    if (!logged) {
      fail_msg(
          "run %d: 5 s after the client's deadline the proxy's access "
          "log has no line for the call: the proxy still holds it",
          i);
    }
  }
  expect_still_serving();
}

static void test_bad_token_is_unauthenticated(void **state) {
  (void)state;
  ss_client *c =
      new_client("main", "sst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                 SS_KEY_EC_P256, 0);
  ss_error err;
  ss_query *query = ss_query_start(c, kGood, NULL, &err);
  assert_null(query);
  if (err.code != UNAUTHENTICATED || err.message[0] == '\0') {
    fail_msg("bad token: %s (%s)", ss_error_code_name(err.code), err.message);
  }
  // The token is a secret: never echoed.
  assert_null(strstr(err.message, "AAAAAAAAAAAAAAAA"));
  ss_client_free(c);
  expect_still_serving();
}

static void test_missing_token_is_unauthenticated_naming_the_header(
    void **state) {
  (void)state;
  ss_client *c = new_client("main", NULL, SS_KEY_EC_P256, 0);
  expect_refused(c, kGood, UNAUTHENTICATED, "authorization");
  ss_client_free(c);
  expect_still_serving();
}

static void test_route_not_allowed_for_the_token_is_permission_denied(
    void **state) {
  (void)state;
  ss_client *c = new_client("other", bob_token, SS_KEY_EC_P256, 0);
  expect_refused(c, kGood, PERMISSION_DENIED, "other");
  ss_client_free(c);
  // bob may use "main".
  ss_client *ok = new_client("main", bob_token, SS_KEY_EC_P256, 0);
  ss_check_outcome out;
  if (!ss_result_check_run(&out, ok, db_path, kGood, NULL)) {
    fail_msg("bob on main: %s", out.error.message);
  }
  ss_client_free(ok);
  expect_still_serving();
}

static void test_health_check_through_tls_is_serving(void **state) {
  (void)state;
  grpc_channel *channel = ss_test_channel_new_tls(
      ss_test_server_port(proxy), ss_test_pki_pem(pki, SS_TEST_PKI_CA_CERT),
      NULL, NULL, "localhost");
  assert_non_null(channel);
  ss_buf response;
  ss_buf_init(&response, 1 << 20);
  char details[256];
  // An empty HealthCheckRequest: the whole proxy.
  grpc_status_code code =
      ss_test_unary(channel, "/grpc.health.v1.Health/Check", "", 0, &response,
                    details, sizeof(details), 5000);
  if (code != GRPC_STATUS_OK) {
    fail_msg("health check: %d (%s)", code, details);
  }
  Grpc__Health__V1__HealthCheckResponse *r =
      grpc__health__v1__health_check_response__unpack(NULL, response.len,
                                                      response.data);
  assert_non_null(r);
  assert_int_equal(
      r->status,
      GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  grpc__health__v1__health_check_response__free_unpacked(r, NULL);
  ss_buf_cleanup(&response);
  grpc_channel_destroy(channel);
  grpc_shutdown();
}

int main(int argc, char **argv) {
  if (!ss_proxy_test_args(argc, argv, &bin)) {
    return 2;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(
          test_results_through_the_proxy_equal_sqlite_for_every_key_and_form),
      cmocka_unit_test(test_unknown_route_is_not_found_naming_it),
      cmocka_unit_test(
          test_no_route_header_without_default_route_names_the_header),
      cmocka_unit_test(
          test_route_to_a_closed_port_is_unavailable_naming_the_route),
      cmocka_unit_test(
          test_backend_killed_mid_stream_fails_naming_the_route_no_wrong_row),
      cmocka_unit_test(test_client_cancel_shows_in_server_and_proxy_logs),
      cmocka_unit_test(test_bad_token_is_unauthenticated),
      cmocka_unit_test(test_missing_token_is_unauthenticated_naming_the_header),
      cmocka_unit_test(
          test_route_not_allowed_for_the_token_is_permission_denied),
      cmocka_unit_test(test_health_check_through_tls_is_serving),
      cmocka_unit_test(test_deadline_on_a_slow_query_is_deadline_exceeded),
  };
  if (getenv("SS_TEST_FILTER") != NULL) {
    cmocka_set_test_filter(getenv("SS_TEST_FILTER"));
  }
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
