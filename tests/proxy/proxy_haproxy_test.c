// Two sealstream-proxy replicas behind Debian's haproxy in TCP mode, end to
// end: streams through haproxy reach both replicas and return SQLite's
// values; when one replica is stopped with SIGTERM mid-run, every stream in
// flight completes (the other replica's, and the stopped one's, which it
// drains), and new calls go to the survivor (haproxy health-checks the
// replicas every 100 ms; "option redispatch" and "retries" move a connect
// that fails on the stopped one to the survivor).
//
// haproxy is started by the test with its own config file (haproxy -f FILE
// -db) and stopped by its pid.
//
// Usage (from Bazel): proxy_haproxy_test SERVER DEMO_DATA PROXY
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sealstream/client.h"
#include "tests/proxy/proxy_fixture.h"
#include "tests/support/fixture.h"
#include "tests/support/result_check.h"
#include "tests/support/server_process.h"

#define EVENT_ROWS 20000
#define NUM_STREAMS 6
#define NEW_CALLS 10

static const char kEvents[] = "SELECT * FROM http_events ORDER BY rowid";

static ss_proxy_test_binaries bin;
static ss_test_backend backend;  // route "main", one token
static char config_path[4200];
static char haproxy_log[4200];
static char haproxy_target[64];
static ss_test_server *replicas[2];
static pid_t haproxy_pid = -1;

// find_haproxy writes the path of haproxy, as `command -v haproxy` finds
// it on PATH (or in /usr/sbin, where Debian puts it), to |out|.
static int find_haproxy(char *out, size_t out_len) {
  const char *path = getenv("PATH");
  char dirs[8192];
  snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/usr/local/sbin",
           path != NULL ? path : "/usr/bin");
  for (char *dir = strtok(dirs, ":"); dir != NULL; dir = strtok(NULL, ":")) {
    snprintf(out, out_len, "%s/haproxy", dir);
    if (access(out, X_OK) == 0) {
      return 1;
    }
  }
  return 0;
}

static int port_accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return 0;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons((uint16_t)port);
  int ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
  close(fd);
  return ok;
}

static int start_haproxy(void) {
  char binary[4096];
  if (!find_haproxy(binary, sizeof(binary))) {
    fprintf(stderr,
            "haproxy not found (command -v haproxy): install Debian's "
            "haproxy package (apt-get install haproxy) to run this test\n");
    return 0;
  }
  int port = ss_test_free_port();
  ss_status st;
  if (port < 0 ||
      !ss_test_tmp_path(config_path, sizeof(config_path), "haproxy.cfg", &st) ||
      !ss_test_tmp_path(haproxy_log, sizeof(haproxy_log), "haproxy.log", &st)) {
    fprintf(stderr, "haproxy: no port or temporary path\n");
    return 0;
  }
  char config[2048];
  snprintf(config, sizeof(config),
           "global\n"
           "  maxconn 1000\n"
           "defaults\n"
           "  mode tcp\n"
           "  timeout connect 2s\n"
           "  timeout client 120s\n"
           "  timeout server 120s\n"
           "  retries 3\n"
           "  option redispatch\n"
           "frontend sealstream\n"
           "  bind 127.0.0.1:%d\n"
           "  default_backend replicas\n"
           "backend replicas\n"
           "  balance roundrobin\n"
           "  server replica0 %s check inter 100 fall 1 rise 2\n"
           "  server replica1 %s check inter 100 fall 1 rise 2\n",
           port, ss_test_server_target(replicas[0]),
           ss_test_server_target(replicas[1]));
  if (!ss_test_write_file(config_path, config, &st)) {
    fprintf(stderr, "haproxy config: %s\n", st.msg);
    return 0;
  }
  snprintf(haproxy_target, sizeof(haproxy_target), "127.0.0.1:%d", port);
  char *argv[] = {binary, "-f", config_path, "-db", NULL};
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    return 0;
  }
  if (pid == 0) {
    // Only async-signal-safe calls: the parent runs gRPC threads.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
      _exit(127);
    }
    int fd = open(haproxy_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(binary, argv);
    _exit(127);
  }
  haproxy_pid = pid;
  // Serving once the frontend accepts and both replicas passed two checks.
  for (int waited = 0; waited < 10000; waited += 50) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      haproxy_pid = -1;
      fprintf(stderr, "haproxy exited at start; see %s\n", haproxy_log);
      return 0;
    }
    if (port_accepts(port) && waited >= 300) {
      return 1;
    }
    ss_test_sleep_ms(50);
  }
  fprintf(stderr, "haproxy did not listen on %d within 10 s\n", port);
  return 0;
}

static void stop_haproxy(void) {
  if (haproxy_pid > 0) {
    kill(haproxy_pid, SIGTERM);
    int status;
    waitpid(haproxy_pid, &status, 0);
    haproxy_pid = -1;
  }
}

static int group_setup(void **state) {
  (void)state;
  if (!ss_test_backend_start(&backend, "proxy_ha", &bin, EVENT_ROWS, 29, 0)) {
    return -1;
  }
  ss_status st;
  ss_status_init(&st);
  for (int i = 0; i < 2; i++) {
    ss_test_proxy_options proxy_options = {
        .binary = bin.proxy,
        .routes = {backend.route},
        .num_routes = 1,
        .default_route = "main",
        .tokens_file = backend.tokens_path,
        .drain_timeout_s = 30,
    };
    replicas[i] = ss_test_proxy_start(&proxy_options, &st);
    if (replicas[i] == NULL) {
      fprintf(stderr, "replica %d: %s\n", i, st.msg);
      return -1;
    }
  }
  return start_haproxy() ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  stop_haproxy();
  int ok = ss_test_stop_daemon(&replicas[0], "replica 0");
  ok = ss_test_stop_daemon(&replicas[1], "replica 1") && ok;
  ok = ss_test_backend_stop(&backend) && ok;
  return ok ? 0 : -1;
}

// new_client makes a client of haproxy: each has its own connection, so
// haproxy balances clients over the replicas.
static ss_client *new_client(void) {
  ss_status st;
  ss_client *c = ss_test_proxy_client(haproxy_target, NULL, NULL, backend.token,
                                      SS_KEY_EC_P256, 0, &st);
  if (c == NULL) {
    fail_msg("%s", st.msg);
  }
  return c;
}

static void expect_good_calls(int n, const char *when) {
  for (int i = 0; i < n; i++) {
    ss_client *c = new_client();
    ss_check_outcome out;
    if (!ss_result_check_run(&out, c, backend.db_path,
                             "SELECT * FROM all_types ORDER BY id", NULL)) {
      fail_msg("%s, call %d: %s", when, i,
               out.mismatch ? out.mismatch_msg : out.error.message);
    }
    ss_client_free(c);
  }
}

static void test_streams_through_haproxy_reach_both_replicas(void **state) {
  (void)state;
  expect_good_calls(NEW_CALLS, "through haproxy");
  for (int i = 0; i < 2; i++) {
    if (!ss_test_server_log_contains(replicas[i], "access route=main")) {
      fail_msg("replica %d served none of %d calls through haproxy", i,
               NEW_CALLS);
    }
  }
}

typedef struct stream {
  ss_client *client;
  ss_query *query;
  ss_result_check *check;
} stream;

static void test_stopping_a_replica_mid_run_loses_no_stream(void **state) {
  (void)state;
  stream streams[NUM_STREAMS];
  memset(streams, 0, sizeof(streams));
  ss_status st;
  ss_error err;
  const ss_batch *batch;
  for (int i = 0; i < NUM_STREAMS; i++) {
    streams[i].client = new_client();
    streams[i].check = ss_result_check_new(backend.db_path, kEvents, &st);
    assert_non_null(streams[i].check);
    ss_query_options options = {.max_rows_per_batch = 200};
    streams[i].query =
        ss_query_start(streams[i].client, kEvents, &options, &err);
    if (streams[i].query == NULL) {
      fail_msg("stream %d: %s", i, err.message);
    }
    assert_true(
        ss_result_check_schema(streams[i].check, streams[i].query, &st));
    assert_int_equal(ss_query_next(streams[i].query, &batch, &err), 1);
    assert_true(
        ss_result_check_batch(streams[i].check, streams[i].query, batch, &st));
  }
  // Streams went to both replicas (round robin over connections).
  assert_true(ss_test_server_log_contains(replicas[0], "access") ||
              ss_test_server_log_contains(replicas[1], "access"));

  // Stop replica 0 mid-run: it drains its streams.
  assert_int_equal(kill(ss_test_server_pid(replicas[0]), SIGTERM), 0);
  if (!ss_test_wait_log(replicas[0], "SIGTERM: stopped accepting", 10000)) {
    fail_msg("replica 0 did not start draining");
  }
  for (int i = 0; i < NUM_STREAMS; i++) {
    int rc;
    while ((rc = ss_query_next(streams[i].query, &batch, &err)) == 1) {
      if (!ss_result_check_batch(streams[i].check, streams[i].query, batch,
                                 &st)) {
        fail_msg("stream %d: %s", i, st.msg);
      }
    }
    if (rc != 0) {
      fail_msg("stream %d after %" PRIu64 " rows: %s (%s)", i,
               ss_result_check_rows(streams[i].check),
               ss_error_code_name(err.code), err.message);
    }
    assert_true(ss_result_check_end(streams[i].check, &st));
    assert_int_equal(ss_result_check_rows(streams[i].check), EVENT_ROWS);
    ss_query_free(streams[i].query);
    ss_result_check_free(streams[i].check);
    ss_client_free(streams[i].client);
  }
  if (!ss_test_stop_daemon(&replicas[0], "replica 0")) {
    fail_msg("replica 0 did not exit 0 after SIGTERM");
  }
  // Replica 0 is gone: a connect to it fails and is redispatched, and the
  // health check takes it out; every new call goes to the survivor.
  expect_good_calls(NEW_CALLS, "after replica 0 stopped");
}

int main(int argc, char **argv) {
  if (!ss_proxy_test_args(argc, argv, &bin)) {
    return 2;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_streams_through_haproxy_reach_both_replicas),
      cmocka_unit_test(test_stopping_a_replica_mid_run_loses_no_stream),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
