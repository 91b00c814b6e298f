// No plaintext at the proxy: every message byte sealstream-proxy forwards,
// in both directions, is captured by a filter that passes messages on
// unchanged, while the client library runs an encrypted query whose rows all
// hold a marker string. The client must get every row, and the marker must
// never appear in the capture. The control: a plaintext query (no key, the
// server allowing plaintext) through the same proxy shows the marker once per
// row, so the capture does see what passes.
//
// The request's SQL still travels in clear today: requests are encrypted
// together with end-to-end authentication, a later change. So only the
// backend-to-client direction is checked for the SQL's own marker.
//
// Usage (from Bazel): proxy_capture_test SERVER_BINARY DEMO_DATA_BINARY
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <pthread.h>
#include <sqlite3.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "proxy/forward.h"
#include "sealstream/client.h"
#include "sealstream/v1/query.pb-c.h"
#include "tests/support/fixture.h"
#include "tests/support/raw_call.h"
#include "tests/support/server_process.h"
#include "tests/tamper/filter_proxy.h"

// Held by every row the query returns; never in the SQL.
static const char kRowMarker[] = "SEALSTREAM-MARKER-7f3a";
// In the SQL, and a part of kRowMarker.
static const char kQueryMarker[] = "MARKER-7f3a";
// The rows the query returns, each holding kRowMarker, and rows it skips.
#define MARKED_ROWS 2000
#define UNMARKED_ROWS 200
// Filled in with MARKED_ROWS, the total and kRowMarker.
static const char kSchema[] =
    "CREATE TABLE notes(id INTEGER PRIMARY KEY, note TEXT);"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
    "WHERE i < %d) "
    "INSERT INTO notes SELECT i, CASE WHEN i <= %d "
    "THEN 'note ' || i || ' %s of the sealed kind' "
    "ELSE 'note ' || i || ' unmarked' END FROM n;";
static const char kSql[] =
    "SELECT id, note FROM notes WHERE note LIKE '%MARKER-7f3a%' ORDER BY id";
#define ROWS_PER_BATCH 100

// Bytes captured at most, both directions together.
#define CAPTURE_MAX (64u * 1024 * 1024)

// What passed the proxy. Filter callbacks run on the proxy's pump threads;
// the test reads after its call ended, when every message of the call has
// been through the filter (a message reaches its receiver only after).
typedef struct capture {
  pthread_mutex_t mu;
  // Guarded by |mu|.
  ss_buf bytes[2];  // message bytes, by ss_forward_dir, concatenated
  size_t total;     // bytes in both
  int overflow;     // a message did not fit CAPTURE_MAX or memory was short
} capture;

static const char *server_binary;
static const char *demo_binary;
static char db_path[4096];
static ss_test_server *server;
static ss_filter_proxy *proxy;
static capture tap;

static void *capture_call_begin(void *ctx, const char *method) {
  (void)method;
  return ctx;
}

// capture_message appends a copy of |msg| (as the receiver reads it:
// decompressed if gRPC-compressed) and forwards |msg| unchanged.
static void capture_message(void *call_state, ss_forward_dir dir,
                            grpc_byte_buffer *msg, ss_forward_emit *out) {
  capture *c = call_state;
  grpc_byte_buffer_reader reader;
  int readable = grpc_byte_buffer_reader_init(&reader, msg);
  pthread_mutex_lock(&c->mu);
  if (!readable) {
    c->overflow = 1;
  } else {
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    size_t len = GRPC_SLICE_LENGTH(all);
    if (len > CAPTURE_MAX - c->total ||
        !ss_buf_append(&c->bytes[dir], GRPC_SLICE_START_PTR(all), len)) {
      c->overflow = 1;
    } else {
      c->total += len;
    }
    grpc_slice_unref(all);
  }
  pthread_mutex_unlock(&c->mu);
  ss_forward_emit_add(out, msg);
}

static const ss_forward_filter kCaptureFilter = {
    .ctx = &tap,
    .call_begin = capture_call_begin,
    .message = capture_message,
};

static void capture_reset(capture *c) {
  pthread_mutex_lock(&c->mu);
  ss_buf_reset(&c->bytes[0]);
  ss_buf_reset(&c->bytes[1]);
  c->total = 0;
  c->overflow = 0;
  pthread_mutex_unlock(&c->mu);
}

// captured counts the occurrences of |needle| in what went in |dir|, and
// fails the test if the capture is incomplete or empty.
static size_t captured(capture *c, ss_forward_dir dir, const char *needle) {
  size_t needle_len = strlen(needle);
  pthread_mutex_lock(&c->mu);
  int overflow = c->overflow;
  const uint8_t *p = c->bytes[dir].data;
  size_t left = c->bytes[dir].len;
  size_t count = 0;
  const uint8_t *hit;
  while (left > 0 && (hit = memmem(p, left, needle, needle_len)) != NULL) {
    count++;
    left -= (size_t)(hit - p) + 1;
    p = hit + 1;
  }
  size_t len = c->bytes[dir].len;
  pthread_mutex_unlock(&c->mu);
  if (overflow) {
    fail_msg("the capture is incomplete");
  }
  if (len == 0) {
    fail_msg("nothing was captured going %s",
             dir == SS_FORWARD_TO_CLIENT ? "to the client" : "to the backend");
  }
  return count;
}

static int make_db(void) {
  ss_status st;
  ss_status_init(&st);
  if (!ss_test_tmp_path(db_path, sizeof(db_path), "capture.db", &st)) {
    fprintf(stderr, "database: %s\n", st.msg);
    return 0;
  }
  unlink(db_path);
  char sql[sizeof(kSchema) + 64];
  snprintf(sql, sizeof(sql), kSchema, MARKED_ROWS + UNMARKED_ROWS, MARKED_ROWS,
           kRowMarker);
  sqlite3 *db = NULL;
  char *err = NULL;
  int ok = sqlite3_open(db_path, &db) == SQLITE_OK &&
           sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK;
  if (!ok) {
    fprintf(stderr, "database %s: %s\n", db_path,
            err != NULL ? err : sqlite3_errmsg(db));
  }
  sqlite3_free(err);
  sqlite3_close(db);
  return ok;
}

static int group_setup(void **state) {
  (void)state;
  pthread_mutex_init(&tap.mu, NULL);
  ss_buf_init(&tap.bytes[0], 0);
  ss_buf_init(&tap.bytes[1], 0);
  if (!make_db()) {
    return -1;
  }
  // Plaintext allowed for the control run; the client always sends a key.
  ss_test_server_options options = {
      .binary = server_binary, .db_path = db_path, .allow_plaintext = 1};
  server = ss_test_fixture_server(&options);
  if (server == NULL) {
    return -1;
  }
  ss_status st;
  ss_status_init(&st);
  proxy = ss_filter_proxy_new(ss_test_server_target(server), &kCaptureFilter,
                              &st);
  if (proxy == NULL) {
    fprintf(stderr, "proxy: %s\n", st.msg);
    return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  ss_filter_proxy_free(proxy);
  proxy = NULL;
  ss_test_server_kill(server);
  server = NULL;
  ss_buf_cleanup(&tap.bytes[0]);
  ss_buf_cleanup(&tap.bytes[1]);
  pthread_mutex_destroy(&tap.mu);
  return 0;
}

// run_encrypted runs kSql through the proxy with the client library and
// checks that every marked row arrived, each with its marker.
static void run_encrypted(int compact) {
  ss_client *client =
      ss_test_fixture_client(ss_filter_proxy_target(proxy), compact);
  assert_non_null(client);
  ss_query_options options = {.max_rows_per_batch = ROWS_PER_BATCH};
  ss_error err;
  ss_query *query = ss_query_start(client, kSql, &options, &err);
  if (query == NULL) {
    fail_msg("query: %s: %s", ss_error_code_name(err.code), err.message);
  }
  assert_int_equal(ss_query_num_columns(query), 2);
  uint64_t rows = 0;
  uint64_t marked = 0;
  const ss_batch *batch;
  int more;
  while ((more = ss_query_next(query, &batch, &err)) == 1) {
    for (size_t r = 0; r < ss_batch_num_rows(batch); r++) {
      const char *note = ss_batch_string(batch, 1, r, NULL);
      assert_int_equal(ss_batch_int64(batch, 0, r), (int64_t)rows + 1);
      marked += strstr(note, kRowMarker) != NULL;
      rows++;
    }
  }
  if (more < 0) {
    fail_msg("after %llu rows: %s: %s", (unsigned long long)rows,
             ss_error_code_name(err.code), err.message);
  }
  assert_int_equal(rows, MARKED_ROWS);
  assert_int_equal(marked, MARKED_ROWS);
  ss_query_free(query);
  ss_client_free(client);
}

static void test_encrypted_rows_never_cross_the_proxy_in_clear(
    void **state) {
  const int *compact = *state;
  capture_reset(&tap);
  run_encrypted(*compact);
  assert_int_equal(captured(&tap, SS_FORWARD_TO_CLIENT, kRowMarker), 0);
  assert_int_equal(captured(&tap, SS_FORWARD_TO_BACKEND, kRowMarker), 0);
  assert_int_equal(captured(&tap, SS_FORWARD_TO_CLIENT, kQueryMarker), 0);
}

static void test_plaintext_rows_show_in_the_capture(void **state) {
  (void)state;
  capture_reset(&tap);
  Sealstream__V1__QueryRequest req = SEALSTREAM__V1__QUERY_REQUEST__INIT;
  Sealstream__V1__QueryLimits limits = SEALSTREAM__V1__QUERY_LIMITS__INIT;
  req.query = (char *)kSql;
  limits.max_rows_per_batch = ROWS_PER_BATCH;
  req.limits = &limits;
  ss_raw_result out;
  ss_raw_result_init(&out);
  ss_status st;
  ss_status_init(&st);
  if (!ss_raw_query(&out, ss_filter_proxy_target(proxy), &req, NULL, &st)) {
    fail_msg("raw call: %s", st.msg);
  }
  assert_int_equal(out.code, GRPC_STATUS_OK);
  ss_raw_result_cleanup(&out);
  // Once per row: the tap sees every byte the client gets.
  assert_int_equal(captured(&tap, SS_FORWARD_TO_CLIENT, kRowMarker),
                   MARKED_ROWS);
  assert_int_equal(captured(&tap, SS_FORWARD_TO_BACKEND, kQueryMarker), 1);
}

static void test_server_exits_zero_on_sigterm(void **state) {
  (void)state;
  ss_filter_proxy_free(proxy);
  proxy = NULL;
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
  static int parts = 0;
  static int compact = 1;
  const struct CMUnitTest tests[] = {
      {"test_encrypted_rows_never_cross_the_proxy_in_clear_parts",
       test_encrypted_rows_never_cross_the_proxy_in_clear, NULL, NULL,
       &parts},
      {"test_encrypted_rows_never_cross_the_proxy_in_clear_compact",
       test_encrypted_rows_never_cross_the_proxy_in_clear, NULL, NULL,
       &compact},
      cmocka_unit_test(test_plaintext_rows_show_in_the_capture),
      cmocka_unit_test(test_server_exits_zero_on_sigterm),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
