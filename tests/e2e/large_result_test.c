// End to end: a result of a million rows and more than 100 MB streams
// through the real server and the client library in bounded memory. The
// peak RSS (VmHWM) of this process (the client) and of the server is taken
// after a small query and again after the large one: streaming means the
// large result adds little (less than MAX_GROWTH_KB) to either, however big
// the result is. Every row is also compared with SQLite as it arrives.
//
// Usage (from Bazel): large_result_test SERVER_BINARY DEMO_DATA_BINARY
// SS_LARGE_ROWS overrides the row count (default 1000000, also under
// AddressSanitizer, where the run takes a few times longer); the query pads
// rows so the result stays above MIN_RESULT_BYTES with fewer of them.
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sealstream/client.h"
#include "tests/support/fixture.h"
#include "tests/support/proc_stats.h"
#include "tests/support/result_check.h"
#include "tests/support/server_process.h"

#define DEFAULT_ROWS 1000000
#define MIN_RESULT_BYTES (100ull * 1000 * 1000)
#define MAX_GROWTH_KB (32 * 1024)

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer keeps freed memory in a quarantine (256 MB by default),
// which would count as growth; a small one keeps its use-after-free checks
// and lets peak RSS measure the program. The server gets the same through
// ASAN_OPTIONS (see group_setup).
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "quarantine_size_mb=8"; }
#endif

static const char *server_binary;
static const char *demo_binary;
static char db_path[4096];
static ss_test_server *server;
static uint64_t num_rows;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int group_setup(void **state) {
  (void)state;
  num_rows = DEFAULT_ROWS;
  const char *env = getenv("SS_LARGE_ROWS");
  if (env != NULL && env[0] != '\0') {
    num_rows = strtoull(env, NULL, 10);
  }
  double t0 = now_s();
  if (!ss_test_fixture_db(db_path, sizeof(db_path), "large.db", demo_binary,
                          num_rows, 11)) {
    return -1;
  }
  fprintf(stderr, "made %" PRIu64 " rows in %.1f s\n", num_rows, now_s() - t0);
#if defined(__SANITIZE_ADDRESS__)
  // Appended, so the test's own ASAN_OPTIONS stay in force.
  const char *asan = getenv("ASAN_OPTIONS");
  char asan_options[1024];
  snprintf(asan_options, sizeof(asan_options), "%s%squarantine_size_mb=8",
           asan != NULL ? asan : "",
           asan != NULL && asan[0] != '\0' ? ":" : "");
  setenv("ASAN_OPTIONS", asan_options, 1);
#endif
  ss_test_server_options options = {.binary = server_binary,
                                    .db_path = db_path};
  server = ss_test_fixture_server(&options);
  return server != NULL ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  ss_test_server_kill(server);
  server = NULL;
  return 0;
}

typedef struct peaks {
  uint64_t client_kb;
  uint64_t server_kb;
} peaks;

static void read_peaks(peaks *out) {
  ss_status st;
  if (!ss_proc_peak_rss_kb(0, &out->client_kb, &st) ||
      !ss_proc_peak_rss_kb(ss_test_server_pid(server), &out->server_kb, &st)) {
    fail_msg("%s", st.msg);
  }
}

static ss_check_outcome run_checked(ss_client *client, const char *sql) {
  ss_check_outcome out;
  if (!ss_result_check_run(&out, client, db_path, sql, NULL)) {
    if (out.mismatch) {
      fail_msg("%s: wrong result: %s", sql, out.mismatch_msg);
    }
    fail_msg("%s: %s: %s", sql, ss_error_code_name(out.error.code),
             out.error.message);
  }
  return out;
}

static void test_large_result_streams_in_bounded_memory(void **state) {
  (void)state;
  ss_client_options options;
  ss_client_options_init(&options);
  options.target = ss_test_server_target(server);
  ss_error err;
  ss_client *client = ss_client_new(&options, &err);
  assert_non_null(client);

  // Pad rows so the result passes MIN_RESULT_BYTES with the rows there are:
  // an http_events row holds 60 to 100 bytes of values.
  uint64_t pad = 0;
  if (num_rows > 0 && MIN_RESULT_BYTES * 6 / 5 / num_rows > 60) {
    pad = MIN_RESULT_BYTES * 6 / 5 / num_rows - 60;
  }
  char sql[256];
  snprintf(sql, sizeof(sql),
           "SELECT *, substr(hex(zeroblob(%" PRIu64 ")), 1, %" PRIu64
           ") AS pad FROM http_events ORDER BY rowid",
           (pad + 1) / 2 + 1, pad);
  char small_sql[320];
  snprintf(small_sql, sizeof(small_sql), "%.*s LIMIT 20000", (int)strlen(sql),
           sql);

  // The small run warms up both processes (gRPC, SQLite's cache, buffers
  // of a full batch) so the second reading holds only what size adds.
  ss_check_outcome small = run_checked(client, small_sql);
  assert_int_equal(small.rows, num_rows < 20000 ? num_rows : 20000);
  peaks before;
  read_peaks(&before);

  double t0 = now_s();
  ss_check_outcome big = run_checked(client, sql);
  double elapsed = now_s() - t0;
  peaks after;
  read_peaks(&after);

  fprintf(stderr,
          "%" PRIu64 " rows, %" PRIu64
          " batches, %.1f MB of values in %.1f s; "
          "peak RSS client %" PRIu64 " -> %" PRIu64 " KiB, server %" PRIu64
          " -> %" PRIu64 " KiB\n",
          big.rows, big.batches, (double)big.data_bytes / 1e6, elapsed,
          before.client_kb, after.client_kb, before.server_kb, after.server_kb);
  assert_int_equal(big.rows, num_rows);
  assert_true(big.data_bytes > MIN_RESULT_BYTES);
  if (after.client_kb - before.client_kb >= MAX_GROWTH_KB) {
    fail_msg("client peak RSS grew by %" PRIu64 " KiB for a %.0f MB result",
             after.client_kb - before.client_kb, (double)big.data_bytes / 1e6);
  }
  if (after.server_kb - before.server_kb >= MAX_GROWTH_KB) {
    fail_msg("server peak RSS grew by %" PRIu64 " KiB for a %.0f MB result",
             after.server_kb - before.server_kb, (double)big.data_bytes / 1e6);
  }
  ss_client_free(client);
}

static void test_server_exits_zero_on_sigterm(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  if (!ss_test_fixture_stop(&server, &st)) {
    fail_msg("%s", st.msg);
  }
}

int main(int argc, char **argv) {
  if (!ss_test_fixture_args(argc, argv, &server_binary, &demo_binary)) {
    return 2;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_large_result_streams_in_bounded_memory),
      cmocka_unit_test(test_server_exits_zero_on_sigterm),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
