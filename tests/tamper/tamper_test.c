// End to end through an untrusted proxy that misbehaves: the real server,
// the client library, and tamper_proxy between them. Every flipped byte,
// dropped, duplicated, swapped or cut-off message and every replayed stream
// must make the client fail with DATA_LOSS and a message, after delivering
// only rows that match SQLite; the same query through the same proxy
// untampered must succeed. Both serializations are covered.
//
// Usage (from Bazel): tamper_test SERVER_BINARY DEMO_DATA_BINARY
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sealstream/client.h"
#include "sealstream/v1/query.pb-c.h"
#include "tests/support/raw_call.h"
#include "tests/support/result_check.h"
#include "tests/support/server_process.h"
#include "tests/support/fixture.h"
#include "tests/tamper/tamper_fixture.h"
#include "tests/tamper/tamper_proxy.h"

#define EVENT_ROWS 1000
#define DATA_LOSS 15

// Schema, 5 batches of 10 rows, stats: 7 messages.
static const char kSql[] = "SELECT * FROM http_events ORDER BY rowid LIMIT 50";
static const ss_query_options kOptions = {.max_rows_per_batch = 10};
// The shortest stream: schema, one batch, stats.
static const char kTinySql[] = "SELECT 1 AS one";

static const char *server_binary;
static const char *demo_binary;
static char db_path[4096];
static ss_test_server *server;
static ss_tamper_proxy *proxy;

typedef struct form {
  int compact;
  ss_client *client;  // through the proxy; made by setup
} form;

static int group_setup(void **state) {
  (void)state;
  // The server allows plaintext for the recording; the client always sends
  // a key.
  if (!ss_tamper_fixture_start(db_path, sizeof(db_path), "tamper.db",
                               server_binary, demo_binary, EVENT_ROWS, 13,
                               &server, &proxy)) {
    return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  ss_tamper_fixture_free(&server, &proxy);
  return 0;
}

static ss_client *new_client(int compact) {
  return ss_test_fixture_client(ss_tamper_proxy_target(proxy), compact);
}

static int form_setup(void **state) {
  form *f = *state;
  if (proxy == NULL) {
    return -1;
  }
  f->client = new_client(f->compact);
  return f->client == NULL;
}

static int form_teardown(void **state) {
  form *f = *state;
  ss_client_free(f->client);
  f->client = NULL;
  ss_tamper_plan none = {.mode = SS_TAMPER_NONE};
  ss_tamper_proxy_set_plan(proxy, &none);
  return 0;
}

static void set_plan(ss_tamper_mode mode, size_t message) {
  ss_tamper_plan plan = {.mode = mode, .message = message};
  ss_tamper_proxy_set_plan(proxy, &plan);
}

// expect_whole runs |sql| untampered and returns how many messages the
// proxy saw.
static size_t expect_whole(ss_client *client, const char *sql) {
  set_plan(SS_TAMPER_NONE, 0);
  ss_check_outcome out;
  if (!ss_result_check_run(&out, client, db_path, sql, &kOptions)) {
    fail_msg("untampered \"%s\": %s", sql,
             out.mismatch ? out.mismatch_msg : out.error.message);
  }
  return ss_tamper_proxy_recorded(proxy, 0, NULL);
}

// expect_data_loss runs |sql| under the plan already set and checks that the
// plan was carried out, the client failed with DATA_LOSS and a message, and
// every row it delivered before matched SQLite.
static void expect_data_loss(ss_client *client, const char *sql,
                             const char *what) {
  uint64_t applied = ss_tamper_proxy_applied(proxy);
  ss_check_outcome out;
  int ok = ss_result_check_run(&out, client, db_path, sql, &kOptions);
  if (ss_tamper_proxy_applied(proxy) != applied + 1) {
    fail_msg("%s: the proxy did not carry out the plan", what);
  }
  if (out.mismatch) {
    fail_msg("%s: the client delivered wrong data: %s", what, out.mismatch_msg);
  }
  if (ok) {
    fail_msg("%s: the client accepted the stream (%llu rows)", what,
             (unsigned long long)out.rows);
  }
  if (out.error.code != DATA_LOSS) {
    fail_msg("%s: %s (%s), expected DATA_LOSS", what,
             ss_error_code_name(out.error.code), out.error.message);
  }
  if (out.error.message[0] == '\0') {
    fail_msg("%s: DATA_LOSS without a message", what);
  }
}

static void test_untampered_stream_through_the_proxy_is_whole(void **state) {
  form *f = *state;
  assert_int_equal(expect_whole(f->client, kSql), 7);
  assert_int_equal(expect_whole(f->client, kTinySql), 3);
}

static void test_flipped_bytes_are_data_loss(void **state) {
  form *f = *state;
  size_t num = expect_whole(f->client, kSql);
  for (size_t m = 0; m < num; m++) {
    size_t len = 0;
    expect_whole(f->client, kSql);
    ss_tamper_proxy_recorded(proxy, m, &len);
    assert_true(len > 0);
    const size_t offsets[] = {
        0, 1, len / 3, len / 2, len > 17 ? len - 17 : 0, len - 1};
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
      ss_tamper_plan plan = {.mode = SS_TAMPER_FLIP,
                             .message = m,
                             .offset = offsets[i],
                             .xor_mask = 0x01};
      ss_tamper_proxy_set_plan(proxy, &plan);
      char what[96];
      snprintf(what, sizeof(what), "byte %zu of message %zu flipped",
               offsets[i], m);
      expect_data_loss(f->client, kSql, what);
    }
  }
  expect_whole(f->client, kSql);
}

// Every byte of every message of the shortest stream, two ways: the low bit
// (which turns base64url letters invalid or into their neighbours) and 0x20
// (which swaps their case).
static void test_every_single_byte_flip_is_data_loss(void **state) {
  form *f = *state;
  size_t num = expect_whole(f->client, kTinySql);
  size_t lens[8] = {0};
  assert_true(num <= 8);
  for (size_t m = 0; m < num; m++) {
    ss_tamper_proxy_recorded(proxy, m, &lens[m]);
  }
#if defined(__SANITIZE_ADDRESS__)
  const size_t stride = 3;  // a third of the offsets: ASan is slower
#else
  const size_t stride = 1;
#endif
  size_t flips = 0;
  for (size_t m = 0; m < num; m++) {
    for (size_t off = 0; off < lens[m]; off += stride) {
      static const uint8_t kMasks[] = {0x01, 0x20};
      for (size_t k = 0; k < sizeof(kMasks); k++) {
        ss_tamper_plan plan = {.mode = SS_TAMPER_FLIP,
                               .message = m,
                               .offset = off,
                               .xor_mask = kMasks[k]};
        ss_tamper_proxy_set_plan(proxy, &plan);
        char what[96];
        snprintf(what, sizeof(what), "byte %zu of message %zu xor 0x%02x", off,
                 m, kMasks[k]);
        expect_data_loss(f->client, kTinySql, what);
        flips++;
      }
    }
  }
  fprintf(stderr, "%zu single-byte flips, all DATA_LOSS\n", flips);
  assert_true(flips > 100);
  expect_whole(f->client, kTinySql);
}

static void test_dropped_message_is_data_loss(void **state) {
  form *f = *state;
  size_t num = expect_whole(f->client, kSql);
  for (size_t m = 0; m < num; m++) {
    set_plan(SS_TAMPER_DROP, m);
    char what[64];
    snprintf(what, sizeof(what), "message %zu dropped", m);
    expect_data_loss(f->client, kSql, what);
  }
  expect_whole(f->client, kSql);
}

static void test_duplicated_message_is_data_loss(void **state) {
  form *f = *state;
  size_t num = expect_whole(f->client, kSql);
  for (size_t m = 0; m < num; m++) {
    set_plan(SS_TAMPER_DUPLICATE, m);
    char what[64];
    snprintf(what, sizeof(what), "message %zu duplicated", m);
    expect_data_loss(f->client, kSql, what);
  }
  expect_whole(f->client, kSql);
}

static void test_swapped_messages_are_data_loss(void **state) {
  form *f = *state;
  size_t num = expect_whole(f->client, kSql);
  for (size_t m = 0; m + 1 < num; m++) {
    set_plan(SS_TAMPER_SWAP, m);
    char what[64];
    snprintf(what, sizeof(what), "messages %zu and %zu swapped", m, m + 1);
    expect_data_loss(f->client, kSql, what);
  }
  expect_whole(f->client, kSql);
}

static void test_truncated_stream_ending_ok_is_data_loss(void **state) {
  form *f = *state;
  size_t num = expect_whole(f->client, kSql);
  for (size_t m = 0; m + 1 < num; m++) {
    set_plan(SS_TAMPER_TRUNCATE, m);
    char what[64];
    snprintf(what, sizeof(what), "stream cut after message %zu", m);
    expect_data_loss(f->client, kSql, what);
  }
  // Cut after the final message: nothing is missing.
  uint64_t applied = ss_tamper_proxy_applied(proxy);
  set_plan(SS_TAMPER_TRUNCATE, num - 1);
  ss_check_outcome out;
  if (!ss_result_check_run(&out, f->client, db_path, kSql, &kOptions)) {
    fail_msg("stream cut after its final message: %s",
             out.mismatch ? out.mismatch_msg : out.error.message);
  }
  assert_int_equal(ss_tamper_proxy_applied(proxy), applied + 1);
}

static void test_replayed_stream_is_data_loss(void **state) {
  form *f = *state;
  // Recorded from this client's own earlier query, replayed to the same
  // query: same key, same SQL, another request id.
  expect_whole(f->client, kSql);
  set_plan(SS_TAMPER_REPLAY, 0);
  expect_data_loss(f->client, kSql, "own stream replayed");
  // Replayed to another client, with another key.
  ss_client *other = new_client(f->compact);
  assert_non_null(other);
  expect_whole(f->client, kSql);
  set_plan(SS_TAMPER_REPLAY, 0);
  expect_data_loss(other, kSql, "stream replayed to another client");
  ss_client_free(other);
  // Replayed in answer to a different query.
  expect_whole(f->client, kTinySql);
  set_plan(SS_TAMPER_REPLAY, 0);
  expect_data_loss(f->client, kSql, "another query's stream replayed");
  expect_whole(f->client, kSql);
}

// A proxy that answers an encrypted request with a plaintext stream (a real
// one, recorded from a request without a key) tampers like any other.
static void test_plaintext_stream_injected_by_the_proxy_is_data_loss(
    void **state) {
  form *f = *state;
  set_plan(SS_TAMPER_NONE, 0);
  Sealstream__V1__QueryRequest req = SEALSTREAM__V1__QUERY_REQUEST__INIT;
  Sealstream__V1__QueryLimits limits = SEALSTREAM__V1__QUERY_LIMITS__INIT;
  req.query = (char *)kSql;
  limits.max_rows_per_batch = kOptions.max_rows_per_batch;
  req.limits = &limits;
  ss_raw_result out;
  ss_raw_result_init(&out);
  ss_status st;
  assert_true(
      ss_raw_query(&out, ss_tamper_proxy_target(proxy), &req, NULL, &st));
  assert_int_equal(out.code, GRPC_STATUS_OK);
  ss_raw_result_cleanup(&out);
  assert_int_equal(ss_tamper_proxy_recorded(proxy, 0, NULL), 7);
  set_plan(SS_TAMPER_REPLAY, 0);
  expect_data_loss(f->client, kSql, "plaintext stream injected");
  expect_whole(f->client, kSql);
}

static void test_server_exits_zero_on_sigterm(void **state) {
  (void)state;
  ss_tamper_proxy_free(proxy);
  proxy = NULL;
  ss_status st;
  ss_status_init(&st);
  if (!ss_test_fixture_stop(&server, &st)) {
    fail_msg("%s", st.msg);
  }
}

#define FORM_TEST(fn, f) \
  { #fn "_" #f, fn, form_setup, form_teardown, &f }

int main(int argc, char **argv) {
  if (!ss_test_fixture_args(argc, argv, &server_binary, &demo_binary)) {
    return 2;
  }
  static form parts = {.compact = 0};
  static form compact = {.compact = 1};
  const struct CMUnitTest tests[] = {
      FORM_TEST(test_untampered_stream_through_the_proxy_is_whole, parts),
      FORM_TEST(test_untampered_stream_through_the_proxy_is_whole, compact),
      FORM_TEST(test_flipped_bytes_are_data_loss, parts),
      FORM_TEST(test_flipped_bytes_are_data_loss, compact),
      FORM_TEST(test_every_single_byte_flip_is_data_loss, parts),
      FORM_TEST(test_every_single_byte_flip_is_data_loss, compact),
      FORM_TEST(test_dropped_message_is_data_loss, parts),
      FORM_TEST(test_dropped_message_is_data_loss, compact),
      FORM_TEST(test_duplicated_message_is_data_loss, parts),
      FORM_TEST(test_duplicated_message_is_data_loss, compact),
      FORM_TEST(test_swapped_messages_are_data_loss, parts),
      FORM_TEST(test_swapped_messages_are_data_loss, compact),
      FORM_TEST(test_truncated_stream_ending_ok_is_data_loss, parts),
      FORM_TEST(test_truncated_stream_ending_ok_is_data_loss, compact),
      FORM_TEST(test_replayed_stream_is_data_loss, parts),
      FORM_TEST(test_replayed_stream_is_data_loss, compact),
      FORM_TEST(test_plaintext_stream_injected_by_the_proxy_is_data_loss,
                parts),
      FORM_TEST(test_plaintext_stream_injected_by_the_proxy_is_data_loss,
                compact),
      cmocka_unit_test(test_server_exits_zero_on_sigterm),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
