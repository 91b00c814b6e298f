// The tamper proxy itself, seen through raw gRPC calls to a real server
// started with --allow-plaintext, so every message can be read: untampered,
// it forwards messages, status and errors unchanged; each plan does exactly
// what it says and nothing else. This is what lets tamper_test trust that a
// client's DATA_LOSS comes from the tampering it asked for.
//
// Usage (from Bazel): tamper_proxy_test SERVER_BINARY DEMO_DATA_BINARY
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sealstream/v1/query.pb-c.h"
#include "tests/support/raw_call.h"
#include "tests/support/server_process.h"
#include "tests/support/fixture.h"
#include "tests/tamper/tamper_fixture.h"
#include "tests/tamper/tamper_proxy.h"

#define EVENT_ROWS 1000
// SELECT ... LIMIT 50 in batches of 10: schema, 5 batches, stats.
#define NUM_MESSAGES 7

static const char kSql[] = "SELECT * FROM http_events ORDER BY rowid LIMIT 50";

static const char *server_binary;
static const char *demo_binary;
static char db_path[4096];
static ss_test_server *server;
static ss_tamper_proxy *proxy;

static int group_setup(void **state) {
  (void)state;
  if (!ss_tamper_fixture_start(db_path, sizeof(db_path), "tamper_proxy.db",
                               server_binary, demo_binary, EVENT_ROWS, 9,
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

static void plaintext_request(Sealstream__V1__QueryRequest *req,
                              Sealstream__V1__QueryLimits *limits,
                              const char *sql) {
  sealstream__v1__query_request__init(req);
  sealstream__v1__query_limits__init(limits);
  req->query = (char *)sql;
  limits->max_rows_per_batch = 10;
  req->limits = limits;
}

static void call(ss_raw_result *out, const char *target, const char *sql,
                 const ss_raw_call_options *options) {
  Sealstream__V1__QueryRequest req;
  Sealstream__V1__QueryLimits limits;
  plaintext_request(&req, &limits, sql);
  ss_raw_result_init(out);
  ss_status st;
  if (!ss_raw_query(out, target, &req, options, &st)) {
    fail_msg("raw call: %s", st.msg);
  }
}

static void set_plan(ss_tamper_mode mode, size_t message) {
  ss_tamper_plan plan = {.mode = mode, .message = message};
  ss_tamper_proxy_set_plan(proxy, &plan);
}

// payload_of returns the packed StreamPayload of a plaintext response with
// the stats' duration zeroed (it differs between runs), so the payloads of
// two runs of one query compare equal byte for byte. Returns NULL if the
// message does not parse. Free with free().
static uint8_t *payload_of(const ss_raw_message *msg, size_t *out_len) {
  Sealstream__V1__QueryResponse *resp =
      sealstream__v1__query_response__unpack(NULL, msg->len, msg->data);
  if (resp == NULL ||
      resp->message_case != SEALSTREAM__V1__QUERY_RESPONSE__MESSAGE_PLAINTEXT) {
    sealstream__v1__query_response__free_unpacked(resp, NULL);
    return NULL;
  }
  if (resp->plaintext->payload_case ==
      SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_STATS) {
    resp->plaintext->stats->duration_us = 0;
  }
  size_t len = sealstream__v1__stream_payload__get_packed_size(resp->plaintext);
  uint8_t *bytes = malloc(len + 1);
  assert_non_null(bytes);
  sealstream__v1__stream_payload__pack(resp->plaintext, bytes);
  sealstream__v1__query_response__free_unpacked(resp, NULL);
  *out_len = len;
  return bytes;
}

static int same_payload(const ss_raw_message *a, const ss_raw_message *b) {
  size_t alen = 0;
  size_t blen = 0;
  uint8_t *pa = payload_of(a, &alen);
  uint8_t *pb = payload_of(b, &blen);
  int same =
      pa != NULL && pb != NULL && alen == blen && memcmp(pa, pb, alen) == 0;
  free(pa);
  free(pb);
  return same;
}

// expect_sequence checks that |got| holds the payloads of |want|'s messages
// in the order |order| gives (|num| of them).
static void expect_sequence(const ss_raw_result *got, const ss_raw_result *want,
                            const size_t *order, size_t num) {
  assert_int_equal(got->num_messages, num);
  for (size_t i = 0; i < num; i++) {
    if (!same_payload(&got->messages[i], &want->messages[order[i]])) {
      fail_msg("message %zu is not the server's message %zu", i, order[i]);
    }
  }
}

static void direct(ss_raw_result *out) {
  call(out, ss_test_server_target(server), kSql, NULL);
  assert_int_equal(out->code, GRPC_STATUS_OK);
  assert_int_equal(out->num_messages, NUM_MESSAGES);
}

static void test_untampered_calls_are_forwarded_unchanged(void **state) {
  (void)state;
  ss_raw_result want;
  direct(&want);
  set_plan(SS_TAMPER_NONE, 0);
  ss_raw_result got;
  call(&got, ss_tamper_proxy_target(proxy), kSql, NULL);
  assert_int_equal(got.code, GRPC_STATUS_OK);
  size_t order[NUM_MESSAGES] = {0, 1, 2, 3, 4, 5, 6};
  expect_sequence(&got, &want, order, NUM_MESSAGES);
  ss_raw_result_cleanup(&got);
  ss_raw_result_cleanup(&want);
}

static void test_errors_are_forwarded_with_their_message(void **state) {
  (void)state;
  set_plan(SS_TAMPER_NONE, 0);
  ss_raw_result want;
  ss_raw_result got;
  call(&want, ss_test_server_target(server), "SELECT * FROM nope", NULL);
  call(&got, ss_tamper_proxy_target(proxy), "SELECT * FROM nope", NULL);
  assert_int_equal(want.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(got.code, want.code);
  assert_string_equal(got.details, want.details);
  assert_int_equal(got.num_messages, 0);
  ss_raw_result_cleanup(&got);
  ss_raw_result_cleanup(&want);

  // Any method is forwarded; the server's answer comes back.
  static const uint8_t kNothing[1] = {0};
  ss_status st;
  ss_raw_result_init(&got);
  assert_true(ss_raw_call(&got, ss_tamper_proxy_target(proxy),
                          "/no.such.Service/Method", kNothing, 0, NULL, &st));
  assert_int_equal(got.code, GRPC_STATUS_UNIMPLEMENTED);
  ss_raw_result_cleanup(&got);
}

static void test_flip_changes_exactly_one_byte(void **state) {
  (void)state;
  ss_raw_result want;
  direct(&want);
  uint64_t applied = ss_tamper_proxy_applied(proxy);
  ss_tamper_plan plan = {.mode = SS_TAMPER_FLIP,
                         .message = 2,
                         .offset = SIZE_MAX,
                         .xor_mask = 0x01};
  ss_tamper_proxy_set_plan(proxy, &plan);
  ss_raw_result got;
  call(&got, ss_tamper_proxy_target(proxy), kSql, NULL);
  assert_int_equal(ss_tamper_proxy_applied(proxy), applied + 1);
  assert_int_equal(got.code, GRPC_STATUS_OK);
  assert_int_equal(got.num_messages, NUM_MESSAGES);
  for (size_t i = 0; i < NUM_MESSAGES; i++) {
    if (i == 2) {
      continue;
    }
    assert_true(same_payload(&got.messages[i], &want.messages[i]));
  }
  // The last byte is the last value of the batch's last column: the message
  // still parses and differs from the server's in that byte alone.
  size_t glen = 0;
  size_t wlen = 0;
  uint8_t *g = payload_of(&got.messages[2], &glen);
  uint8_t *w = payload_of(&want.messages[2], &wlen);
  assert_non_null(g);
  assert_non_null(w);
  assert_int_equal(glen, wlen);
  size_t diffs = 0;
  for (size_t i = 0; i < glen; i++) {
    diffs += g[i] != w[i];
  }
  assert_int_equal(diffs, 1);
  assert_int_equal(g[glen - 1] ^ w[wlen - 1], 0x01);
  free(g);
  free(w);
  ss_raw_result_cleanup(&got);
  ss_raw_result_cleanup(&want);
}

static void test_drop_duplicate_swap_truncate_do_what_they_say(void **state) {
  (void)state;
  ss_raw_result want;
  direct(&want);
  static const struct {
    ss_tamper_mode mode;
    size_t message;
    size_t order[NUM_MESSAGES + 1];
    size_t num;
  } kCases[] = {
      {SS_TAMPER_DROP, 0, {1, 2, 3, 4, 5, 6}, 6},
      {SS_TAMPER_DROP, 3, {0, 1, 2, 4, 5, 6}, 6},
      {SS_TAMPER_DROP, 6, {0, 1, 2, 3, 4, 5}, 6},
      {SS_TAMPER_DUPLICATE, 0, {0, 0, 1, 2, 3, 4, 5, 6}, 8},
      {SS_TAMPER_DUPLICATE, 6, {0, 1, 2, 3, 4, 5, 6, 6}, 8},
      {SS_TAMPER_SWAP, 0, {1, 0, 2, 3, 4, 5, 6}, 7},
      {SS_TAMPER_SWAP, 5, {0, 1, 2, 3, 4, 6, 5}, 7},
      {SS_TAMPER_TRUNCATE, 0, {0}, 1},
      {SS_TAMPER_TRUNCATE, 4, {0, 1, 2, 3, 4}, 5},
  };
  for (size_t i = 0; i < sizeof(kCases) / sizeof(kCases[0]); i++) {
    uint64_t applied = ss_tamper_proxy_applied(proxy);
    set_plan(kCases[i].mode, kCases[i].message);
    ss_raw_result got;
    call(&got, ss_tamper_proxy_target(proxy), kSql, NULL);
    assert_int_equal(got.code, GRPC_STATUS_OK);
    expect_sequence(&got, &want, kCases[i].order, kCases[i].num);
    assert_int_equal(ss_tamper_proxy_applied(proxy), applied + 1);
    ss_raw_result_cleanup(&got);
  }
  ss_raw_result_cleanup(&want);
}

static void test_plan_past_the_end_changes_nothing(void **state) {
  (void)state;
  ss_raw_result want;
  direct(&want);
  static const ss_tamper_mode kModes[] = {
      SS_TAMPER_FLIP, SS_TAMPER_DROP, SS_TAMPER_DUPLICATE, SS_TAMPER_TRUNCATE};
  size_t order[NUM_MESSAGES] = {0, 1, 2, 3, 4, 5, 6};
  for (size_t i = 0; i < sizeof(kModes) / sizeof(kModes[0]); i++) {
    uint64_t applied = ss_tamper_proxy_applied(proxy);
    // TRUNCATE after the last message cuts nothing either.
    set_plan(kModes[i], kModes[i] == SS_TAMPER_TRUNCATE ? NUM_MESSAGES - 1
                                                        : NUM_MESSAGES + 3);
    ss_raw_result got;
    call(&got, ss_tamper_proxy_target(proxy), kSql, NULL);
    assert_int_equal(got.code, GRPC_STATUS_OK);
    expect_sequence(&got, &want, order, NUM_MESSAGES);
    if (kModes[i] != SS_TAMPER_TRUNCATE) {
      assert_int_equal(ss_tamper_proxy_applied(proxy), applied);
    }
    ss_raw_result_cleanup(&got);
  }
  ss_raw_result_cleanup(&want);
}

static void test_replay_sends_the_last_stream_byte_for_byte(void **state) {
  (void)state;
  set_plan(SS_TAMPER_NONE, 0);
  ss_raw_result first;
  call(&first, ss_tamper_proxy_target(proxy), kSql, NULL);
  assert_int_equal(first.code, GRPC_STATUS_OK);
  assert_int_equal(ss_tamper_proxy_recorded(proxy, 0, NULL), NUM_MESSAGES);
  set_plan(SS_TAMPER_REPLAY, 0);
  ss_raw_result again;
  // Another query entirely: the proxy answers with the recorded stream,
  // never the server's.
  call(&again, ss_tamper_proxy_target(proxy), "SELECT 1", NULL);
  assert_int_equal(again.code, GRPC_STATUS_OK);
  assert_int_equal(again.num_messages, first.num_messages);
  for (size_t i = 0; i < first.num_messages; i++) {
    assert_int_equal(again.messages[i].len, first.messages[i].len);
    assert_memory_equal(again.messages[i].data, first.messages[i].data,
                        first.messages[i].len);
  }
  ss_raw_result_cleanup(&again);
  ss_raw_result_cleanup(&first);
}

static void test_cancel_and_deadline_pass_through(void **state) {
  (void)state;
  set_plan(SS_TAMPER_NONE, 0);
  static const char kEndless[] =
      "SELECT a.rowid, b.rowid FROM http_events a, http_events b, "
      "http_events c";
  ss_raw_call_options cancel = {.cancel_after = 3};
  ss_raw_result got;
  call(&got, ss_tamper_proxy_target(proxy), kEndless, &cancel);
  assert_int_equal(got.code, GRPC_STATUS_CANCELLED);
  ss_raw_result_cleanup(&got);
  static const char kNoRow[] =
      "SELECT count(*) FROM http_events a, http_events b, http_events c";
  ss_raw_call_options deadline = {.timeout_ms = 300};
  call(&got, ss_tamper_proxy_target(proxy), kNoRow, &deadline);
  assert_int_equal(got.code, GRPC_STATUS_DEADLINE_EXCEEDED);
  ss_raw_result_cleanup(&got);
  // The proxy and server still work.
  ss_raw_result want;
  direct(&want);
  ss_raw_result_cleanup(&want);
  call(&got, ss_tamper_proxy_target(proxy), kSql, NULL);
  assert_int_equal(got.code, GRPC_STATUS_OK);
  ss_raw_result_cleanup(&got);
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

int main(int argc, char **argv) {
  if (!ss_test_fixture_args(argc, argv, &server_binary, &demo_binary)) {
    return 2;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_untampered_calls_are_forwarded_unchanged),
      cmocka_unit_test(test_errors_are_forwarded_with_their_message),
      cmocka_unit_test(test_flip_changes_exactly_one_byte),
      cmocka_unit_test(test_drop_duplicate_swap_truncate_do_what_they_say),
      cmocka_unit_test(test_plan_past_the_end_changes_nothing),
      cmocka_unit_test(test_replay_sends_the_last_stream_byte_for_byte),
      cmocka_unit_test(test_cancel_and_deadline_pass_through),
      cmocka_unit_test(test_server_exits_zero_on_sigterm),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
