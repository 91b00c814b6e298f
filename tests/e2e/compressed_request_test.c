// End to end: compressed requests to the real server. A request compressed
// with gzip or deflate (by gRPC, or by hand as a hostile client would) still
// works, and a small request that inflates to 512 MiB is refused with
// RESOURCE_EXHAUSTED naming the limit while the server's peak memory grows
// by far less than the inflated size; the server keeps serving.
//
// Usage (from Bazel): compressed_request_test SERVER_BINARY DEMO_DATA_BINARY
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "lib/base/bytes.h"
#include "lib/protocol/names.h"
#include "lib/rpc/sync_call.h"
#include "lib/rpc/test_client.h"
#include "sealstream/v1/query.pb-c.h"
#include "tests/support/fixture.h"
#include "tests/support/proc_stats.h"
#include "tests/support/server_process.h"

#define EVENT_ROWS 100
#define BOMB_BYTES ((size_t)512 << 20)
// The server's request limit (server.h: SS_SERVER_MAX_REQUEST_BYTES).
#define REQUEST_LIMIT "1048576"
#define MAX_GROWTH_KB ((uint64_t)64 << 10)

enum { TAG_SEND, TAG_STATUS, TAG_RECV };

static const char *server_binary;
static const char *demo_binary;
static char db_path[4096];
static ss_test_server *server;

static int group_setup(void **state) {
  (void)state;
  ss_test_server_options options = {.binary = server_binary,
                                    .allow_plaintext = 1};
  server = ss_test_fixture_start(db_path, sizeof(db_path), "compressed.db",
                                 demo_binary, EVENT_ROWS, 7, &options);
  grpc_init();
  return server == NULL;
}

static int group_teardown(void **state) {
  (void)state;
  ss_test_server_kill(server);
  server = NULL;
  grpc_shutdown();
  return 0;
}

// channel_new connects to the server; every message it sends is compressed
// with |algorithm| unless already compressed.
static grpc_channel *channel_new(grpc_compression_algorithm algorithm) {
  grpc_arg args[2];
  memset(args, 0, sizeof(args));
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM;
  args[0].value.integer = (int)algorithm;
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[1].value.integer = 64 * 1024 * 1024;
  grpc_channel_args channel_args = {2, args};
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  grpc_channel *channel = grpc_channel_create(
      ss_test_server_target(server), creds, &channel_args);
  grpc_channel_credentials_release(creds);
  assert_non_null(channel);
  return channel;
}

// deflater compresses a stream the way gRPC does for |algorithm|.
typedef struct deflater {
  z_stream zs;
  ss_buf out;  // the compressed bytes so far
} deflater;

static void deflater_init(deflater *d, grpc_compression_algorithm algorithm) {
  memset(d, 0, sizeof(*d));
  int bits = algorithm == GRPC_COMPRESS_GZIP ? 15 + 16 : 15;
  // Runs of one byte compress best, and fastest, as run-length matches.
  assert_int_equal(
      deflateInit2(&d->zs, Z_BEST_COMPRESSION, Z_DEFLATED, bits, 8, Z_RLE),
      Z_OK);
  ss_buf_init(&d->out, 0);
}

static void deflater_write(deflater *d, const void *data, size_t len,
                           int finish) {
  d->zs.next_in = (Bytef *)data;
  d->zs.avail_in = (uInt)len;
  int zr;
  do {
    uint8_t *dst;
    assert_true(ss_buf_reserve(&d->out, 64 * 1024, &dst));
    d->zs.next_out = dst;
    d->zs.avail_out = 64 * 1024;
    zr = deflate(&d->zs, finish ? Z_FINISH : Z_NO_FLUSH);
    assert_true(zr == Z_OK || zr == Z_STREAM_END || zr == Z_BUF_ERROR);
    ss_buf_advance(&d->out, 64 * 1024 - d->zs.avail_out);
  } while (d->zs.avail_in > 0 || (finish && zr != Z_STREAM_END));
}

static void deflater_cleanup(deflater *d) {
  deflateEnd(&d->zs);
  ss_buf_cleanup(&d->out);
}

// compress_query compresses a plaintext QueryRequest{query: |sql| followed
// by |pad| spaces} with |algorithm| into |d| (initialized here), without
// ever holding the request itself.
static void compress_query(deflater *d, grpc_compression_algorithm algorithm,
                           const char *sql, size_t pad) {
  deflater_init(d, algorithm);
  size_t sql_len = strlen(sql);
  // QueryRequest.query, length-delimited, its length as a five-byte varint
  // (padded with continuation bits, which decoders accept) whatever it is.
  uint64_t len = sql_len + pad;
  uint8_t head[6] = {(1 << 3) | 2};
  for (size_t i = 0; i < 5; i++) {
    head[1 + i] = (uint8_t)(((len >> (7 * i)) & 0x7f) | (i < 4 ? 0x80 : 0));
  }
  deflater_write(d, head, sizeof(head), 0);
  deflater_write(d, sql, sql_len, pad == 0);
  static uint8_t spaces[1 << 20];
  memset(spaces, ' ', sizeof(spaces));
  while (pad > 0) {
    size_t chunk = pad < sizeof(spaces) ? pad : sizeof(spaces);
    pad -= chunk;
    deflater_write(d, spaces, chunk, pad == 0);
  }
}

typedef struct call_result {
  grpc_status_code code;
  char details[512];
  size_t num_messages;
} call_result;

// call_compressed calls ExecuteQuery with |len| bytes of |data|, which are
// already compressed with |algorithm|, as the one request message: gRPC
// sends such a buffer as it is, marked compressed, as a proxy forwards one.
static void call_compressed(grpc_compression_algorithm algorithm,
                            const uint8_t *data, size_t len,
                            call_result *out) {
  memset(out, 0, sizeof(*out));
  grpc_channel *channel = channel_new(algorithm);
  ss_status st;
  ss_status_init(&st);
  gpr_timespec deadline =
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                   gpr_time_from_millis(60000, GPR_TIMESPAN));
  ss_sync_call *call = ss_sync_call_new(
      channel, SS_PROTOCOL_EXECUTE_QUERY_METHOD, deadline, &st);
  assert_non_null(call);
  grpc_slice slice = grpc_slice_from_copied_buffer((const char *)data, len);
  grpc_byte_buffer *request =
      grpc_raw_compressed_byte_buffer_create(&slice, 1, algorithm);
  grpc_slice_unref(slice);
  grpc_metadata_array initial_md;
  grpc_metadata_array trailing_md;
  grpc_metadata_array_init(&initial_md);
  grpc_metadata_array_init(&trailing_md);
  grpc_slice details = grpc_empty_slice();

  grpc_op ops[4];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = request;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
  assert_true(ss_sync_call_start(call, TAG_SEND, ops, 4, &st));
  grpc_op status_op;
  memset(&status_op, 0, sizeof(status_op));
  status_op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  status_op.data.recv_status_on_client.trailing_metadata = &trailing_md;
  status_op.data.recv_status_on_client.status = &out->code;
  status_op.data.recv_status_on_client.status_details = &details;
  assert_true(ss_sync_call_start(call, TAG_STATUS, &status_op, 1, &st));
  for (;;) {
    grpc_byte_buffer *msg = NULL;
    grpc_op recv;
    memset(&recv, 0, sizeof(recv));
    recv.op = GRPC_OP_RECV_MESSAGE;
    recv.data.recv_message.recv_message = &msg;
    int ok = 0;
    assert_true(ss_sync_call_run(call, TAG_RECV, &recv, 1, &ok, &st));
    if (!ok || msg == NULL) {
      break;
    }
    out->num_messages++;
    grpc_byte_buffer_destroy(msg);
  }
  int ok = 0;
  assert_true(ss_sync_call_wait(call, TAG_SEND, &ok, &st));
  assert_true(ss_sync_call_wait(call, TAG_STATUS, &ok, &st));
  assert_true(ok);
  snprintf(out->details, sizeof(out->details), "%.*s",
           (int)GRPC_SLICE_LENGTH(details),
           (const char *)GRPC_SLICE_START_PTR(details));
  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&initial_md);
  grpc_metadata_array_destroy(&trailing_md);
  ss_sync_call_free(call);
  grpc_byte_buffer_destroy(request);
  grpc_channel_destroy(channel);
}

static uint64_t server_peak_kb(void) {
  ss_status st;
  uint64_t kb = 0;
  if (!ss_proc_peak_rss_kb(ss_test_server_pid(server), &kb, &st)) {
    fail_msg("server VmHWM: %s", st.msg);
  }
  return kb;
}

// expect_query_works sends a plaintext "SELECT ... FROM http_events",
// compressed by hand with |algorithm|, and expects OK with messages.
static void expect_query_works(grpc_compression_algorithm algorithm) {
  deflater d;
  compress_query(&d, algorithm, "SELECT rowid, path FROM http_events", 4000);
  call_result r;
  call_compressed(algorithm, d.out.data, d.out.len, &r);
  if (r.code != GRPC_STATUS_OK) {
    fail_msg("compressed query: status %d: %s", r.code, r.details);
  }
  assert_true(r.num_messages >= 1);
  deflater_cleanup(&d);
}

static void test_a_request_inflating_past_the_limit_costs_the_server_little(
    void **state) {
  (void)state;
  static const grpc_compression_algorithm kAlgorithms[] = {
      GRPC_COMPRESS_GZIP, GRPC_COMPRESS_DEFLATE};
  // The first query sets the server's working size.
  expect_query_works(GRPC_COMPRESS_GZIP);
  for (size_t a = 0; a < 2; a++) {
    deflater d;
    compress_query(&d, kAlgorithms[a], "SELECT 1", BOMB_BYTES);
    assert_true(d.out.len < 1024 * 1024);  // under the request limit as sent
    uint64_t before_kb = server_peak_kb();
    call_result r;
    call_compressed(kAlgorithms[a], d.out.data, d.out.len, &r);
    uint64_t after_kb = server_peak_kb();
    fprintf(stderr,
            "%s request of %zu bytes inflating to %zu: status %d \"%s\"; "
            "server VmHWM %" PRIu64 " KiB before, %" PRIu64 " KiB after\n",
            a == 0 ? "gzip" : "deflate", d.out.len, BOMB_BYTES, r.code,
            r.details, before_kb, after_kb);
    assert_int_equal(r.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
    if (strstr(r.details, "inflates past " REQUEST_LIMIT " bytes") == NULL) {
      fail_msg("status message does not name the limit: %s", r.details);
    }
    assert_true(after_kb - before_kb < MAX_GROWTH_KB);
    deflater_cleanup(&d);
    expect_query_works(kAlgorithms[a]);
  }
}

static void test_a_request_compressed_by_hand_with_either_algorithm_works(
    void **state) {
  (void)state;
  expect_query_works(GRPC_COMPRESS_GZIP);
  expect_query_works(GRPC_COMPRESS_DEFLATE);
}

static void test_a_request_compressed_by_grpc_works(void **state) {
  (void)state;
  // gRPC sends a message uncompressed when compressing does not shrink it,
  // so the query is padded with a comment that compresses well.
  char sql[4096];
  int n = snprintf(sql, sizeof(sql), "SELECT rowid, path FROM http_events /* ");
  memset(sql + n, 'x', 3000);
  snprintf(sql + n + 3000, sizeof(sql) - (size_t)n - 3000, " */");
  Sealstream__V1__QueryRequest req = SEALSTREAM__V1__QUERY_REQUEST__INIT;
  req.query = sql;
  size_t len = sealstream__v1__query_request__get_packed_size(&req);
  uint8_t *packed = malloc(len);
  assert_non_null(packed);
  sealstream__v1__query_request__pack(&req, packed);
  static const grpc_compression_algorithm kAlgorithms[] = {
      GRPC_COMPRESS_GZIP, GRPC_COMPRESS_DEFLATE};
  for (size_t a = 0; a < 2; a++) {
    grpc_channel *channel = channel_new(kAlgorithms[a]);
    ss_test_call *call = ss_test_call_start(
        channel, SS_PROTOCOL_EXECUTE_QUERY_METHOD, packed, len, 30000);
    assert_non_null(call);
    ss_buf msg;
    ss_buf_init(&msg, 0);
    size_t num = 0;
    while (ss_test_call_recv(call, &msg)) {
      num++;
    }
    char details[256];
    grpc_status_code code = ss_test_call_status(call, details, sizeof(details));
    if (code != GRPC_STATUS_OK) {
      fail_msg("query compressed by gRPC: status %d: %s", code, details);
    }
    assert_true(num >= 1);
    ss_buf_cleanup(&msg);
    ss_test_call_free(call);
    grpc_channel_destroy(channel);
  }
  free(packed);
}

static void test_server_exits_zero_on_sigterm_after_all_of_it(void **state) {
  (void)state;
  ss_status st;
  if (!ss_test_fixture_stop(&server, &st)) {
    fail_msg("%s", st.msg);
  }
}

int main(int argc, char **argv) {
  if (!ss_test_fixture_args(argc, argv, &server_binary, &demo_binary)) {
    return 2;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(
          test_a_request_inflating_past_the_limit_costs_the_server_little),
      cmocka_unit_test(
          test_a_request_compressed_by_hand_with_either_algorithm_works),
      cmocka_unit_test(test_a_request_compressed_by_grpc_works),
      cmocka_unit_test(test_server_exits_zero_on_sigterm_after_all_of_it),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
