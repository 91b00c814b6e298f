// Byte-buffer conversions: multi-slice flattening, caps, protobuf round trips,
// bounded inflation of compressed messages, and what is left after each kind
// of failure.
#include "lib/rpc/buffer.h"

#include <grpc/grpc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "grpc/health/v1/health.pb-c.h"

static int setup(void **state) {
  (void)state;
  grpc_init();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  grpc_shutdown();
  return 0;
}

static grpc_byte_buffer *three_slices(void) {
  grpc_slice slices[3] = {grpc_slice_from_copied_string("abc"),
                          grpc_slice_from_copied_string("defg"),
                          grpc_slice_from_copied_string("h")};
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(slices, 3);
  for (int i = 0; i < 3; i++) {
    grpc_slice_unref(slices[i]);
  }
  return bb;
}

// compress_bytes compresses |len| bytes of |data| the way gRPC does for
// |algorithm| (gzip: RFC 1952; deflate: an RFC 1950 zlib stream), then
// |zeros| more zero bytes, into a new malloc'd buffer. Returns its length.
static size_t compress_bytes(grpc_compression_algorithm algorithm,
                             const void *data, size_t len, size_t zeros,
                             uint8_t **out) {
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  int bits = algorithm == GRPC_COMPRESS_GZIP ? 15 + 16 : 15;
  assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY),
                   Z_OK);
  size_t cap = deflateBound(&zs, len) + zeros / 1000 + 1024;
  uint8_t *buf = malloc(cap);
  assert_non_null(buf);
  zs.next_out = buf;
  zs.avail_out = (uInt)cap;
  zs.next_in = (Bytef *)data;
  zs.avail_in = (uInt)len;
  static uint8_t zero_chunk[1 << 20];
  int zr;
  do {
    if (zs.avail_in == 0 && zeros > 0) {
      size_t n = zeros < sizeof(zero_chunk) ? zeros : sizeof(zero_chunk);
      zs.next_in = zero_chunk;
      zs.avail_in = (uInt)n;
      zeros -= n;
    }
    zr = deflate(&zs, zeros == 0 ? Z_FINISH : Z_NO_FLUSH);
    assert_true(zr == Z_OK || zr == Z_STREAM_END);
    assert_true(zs.avail_out > 0);
  } while (zr != Z_STREAM_END);
  size_t out_len = cap - zs.avail_out;
  deflateEnd(&zs);
  *out = buf;
  return out_len;
}

// compressed_buffer wraps |len| bytes of |data| in a byte buffer marked as
// compressed with |algorithm|, as a server with keep_compressed receives
// it, cut into slices of |slice_len| bytes (0: one slice).
static grpc_byte_buffer *compressed_buffer(grpc_compression_algorithm algorithm,
                                           const uint8_t *data, size_t len,
                                           size_t slice_len) {
  if (slice_len == 0 || slice_len > len) {
    slice_len = len > 0 ? len : 1;
  }
  size_t num = len == 0 ? 0 : (len + slice_len - 1) / slice_len;
  grpc_slice *slices = calloc(num > 0 ? num : 1, sizeof(*slices));
  assert_non_null(slices);
  for (size_t i = 0; i < num; i++) {
    size_t n = len - i * slice_len < slice_len ? len - i * slice_len : slice_len;
    slices[i] = grpc_slice_from_copied_buffer((const char *)data + i * slice_len,
                                              n);
  }
  grpc_byte_buffer *bb =
      grpc_raw_compressed_byte_buffer_create(slices, num, algorithm);
  for (size_t i = 0; i < num; i++) {
    grpc_slice_unref(slices[i]);
  }
  free(slices);
  return bb;
}

static const grpc_compression_algorithm kAlgorithms[] = {GRPC_COMPRESS_GZIP,
                                                         GRPC_COMPRESS_DEFLATE};

// Text that compresses, so the tests see real deflate blocks.
static void fill_text(uint8_t *p, size_t len) {
  static const char kWords[] = "SELECT path, status FROM http_events; ";
  for (size_t i = 0; i < len; i++) {
    p[i] = (uint8_t)kWords[(i * 7 + i / 13) % (sizeof(kWords) - 1)];
  }
}

// expect_refused reads |bb| into a buffer capped at |cap| holding old bytes
// and checks the call fails with |code|, leaving the buffer empty.
static void expect_refused(grpc_byte_buffer *bb, size_t cap,
                           grpc_status_code code, const char *needle) {
  ss_buf out;
  ss_buf_init(&out, cap);
  assert_true(ss_buf_append(&out, "old", 3));
  ss_status st;
  ss_status_init(&st);
  assert_false(ss_rpc_buffer_read(bb, &out, &st));
  assert_int_equal(st.code, code);
  if (needle != NULL && strstr(st.msg, needle) == NULL) {
    fail_msg("status \"%s\" does not contain \"%s\"", st.msg, needle);
  }
  assert_int_equal(out.len, 0);
  ss_buf_cleanup(&out);
}

static void test_buffer_read_joins_every_slice(void **state) {
  (void)state;
  grpc_byte_buffer *bb = three_slices();
  ss_buf out;
  ss_buf_init(&out, 8);
  ss_status st;
  assert_true(ss_rpc_buffer_read(bb, &out, &st));
  assert_int_equal(out.len, 8);
  assert_memory_equal(out.data, "abcdefgh", 8);
  ss_buf_cleanup(&out);
  grpc_byte_buffer_destroy(bb);
}

static void test_buffer_read_refuses_a_message_over_the_cap_leaving_out_empty(
    void **state) {
  (void)state;
  grpc_byte_buffer *bb = three_slices();
  ss_buf out;
  ss_buf_init(&out, 7);
  assert_true(ss_buf_append(&out, "old", 3));
  ss_status st;
  assert_false(ss_rpc_buffer_read(bb, &out, &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_int_equal(out.len, 0);
  assert_false(ss_rpc_buffer_read(NULL, &out, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_buf_cleanup(&out);
  grpc_byte_buffer_destroy(bb);
}

static void test_buffer_take_hands_the_bytes_to_grpc(void **state) {
  (void)state;
  uint8_t *data = malloc(5);
  memcpy(data, "hello", 5);
  ss_status st;
  grpc_byte_buffer *bb = ss_rpc_buffer_take(data, 5, &st);
  assert_non_null(bb);
  grpc_byte_buffer *copy = grpc_byte_buffer_copy(bb);
  grpc_byte_buffer_destroy(bb);
  // |data| lives on in the copy and is freed with it (LSan checks).
  ss_buf out = {0};
  assert_true(ss_rpc_buffer_read(copy, &out, &st));
  assert_memory_equal(out.data, "hello", 5);
  ss_buf_cleanup(&out);
  grpc_byte_buffer_destroy(copy);
  assert_null(ss_rpc_buffer_take(NULL, 0, &st));
}

static void test_buffer_pack_and_unpack_round_trip_a_message(void **state) {
  (void)state;
  Grpc__Health__V1__HealthCheckRequest req =
      GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  req.service = "sealstream.v1.QueryService";
  ss_status st;
  grpc_byte_buffer *bb = ss_rpc_buffer_pack(&req.base, &st);
  assert_non_null(bb);
  Grpc__Health__V1__HealthCheckRequest *back =
      (Grpc__Health__V1__HealthCheckRequest *)ss_rpc_buffer_unpack(
          &grpc__health__v1__health_check_request__descriptor, bb, 1024,
          "health", &st);
  assert_non_null(back);
  assert_string_equal(back->service, "sealstream.v1.QueryService");
  protobuf_c_message_free_unpacked(&back->base, NULL);
  assert_null(
      ss_rpc_buffer_unpack(&grpc__health__v1__health_check_request__descriptor,
                           bb, 10, "health", &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  grpc_byte_buffer_destroy(bb);

  // An empty message packs to zero bytes and still unpacks.
  Grpc__Health__V1__HealthCheckRequest empty =
      GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  bb = ss_rpc_buffer_pack(&empty.base, &st);
  assert_non_null(bb);
  assert_int_equal(grpc_byte_buffer_length(bb), 0);
  back = (Grpc__Health__V1__HealthCheckRequest *)ss_rpc_buffer_unpack(
      &grpc__health__v1__health_check_request__descriptor, bb, 10, "health",
      &st);
  assert_non_null(back);
  assert_string_equal(back->service, "");
  protobuf_c_message_free_unpacked(&back->base, NULL);
  grpc_byte_buffer_destroy(bb);
}

static void test_buffer_unpack_refuses_malformed_and_missing_messages(
    void **state) {
  (void)state;
  // Field 1, length-delimited, claiming 100 bytes of which 2 follow.
  static const uint8_t truncated[] = {0x0a, 100, 'a', 'b'};
  ss_status st;
  grpc_byte_buffer *bb = ss_rpc_buffer_copy(truncated, sizeof(truncated), &st);
  assert_null(
      ss_rpc_buffer_unpack(&grpc__health__v1__health_check_request__descriptor,
                           bb, 1024, "health", &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.msg, "health: malformed"));
  grpc_byte_buffer_destroy(bb);
  assert_null(
      ss_rpc_buffer_unpack(&grpc__health__v1__health_check_request__descriptor,
                           NULL, 1024, "health", &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_buffer_read_inflates_gzip_and_deflate_in_any_slicing(
    void **state) {
  (void)state;
  uint8_t plain[5000];
  fill_text(plain, sizeof(plain));
  for (size_t a = 0; a < 2; a++) {
    uint8_t *z;
    size_t z_len = compress_bytes(kAlgorithms[a], plain, sizeof(plain), 0, &z);
    assert_true(z_len < sizeof(plain));
    static const size_t kSliceLens[] = {0, 1, 7, 100};
    for (size_t s = 0; s < 4; s++) {
      grpc_byte_buffer *bb =
          compressed_buffer(kAlgorithms[a], z, z_len, kSliceLens[s]);
      ss_buf out;
      ss_buf_init(&out, sizeof(plain));
      ss_status st;
      assert_true(ss_rpc_buffer_read(bb, &out, &st));
      assert_int_equal(out.len, sizeof(plain));
      assert_memory_equal(out.data, plain, sizeof(plain));
      ss_buf_cleanup(&out);
      grpc_byte_buffer_destroy(bb);
    }
    free(z);
  }
}

static void test_buffer_read_inflates_a_message_of_exactly_the_cap(
    void **state) {
  (void)state;
  for (size_t a = 0; a < 2; a++) {
    // 100000 bytes: the cap falls inside a step of output, not on its edge.
    uint8_t *z;
    size_t z_len = compress_bytes(kAlgorithms[a], "x", 1, 99999, &z);
    grpc_byte_buffer *bb = compressed_buffer(kAlgorithms[a], z, z_len, 0);
    ss_buf out;
    ss_buf_init(&out, 100000);
    ss_status st;
    assert_true(ss_rpc_buffer_read(bb, &out, &st));
    assert_int_equal(out.len, 100000);
    assert_int_equal(out.data[0], 'x');
    assert_int_equal(out.data[99999], 0);
    ss_buf_cleanup(&out);
    grpc_byte_buffer_destroy(bb);
    free(z);
  }
}

static void test_buffer_read_refuses_a_message_inflating_one_byte_past_the_cap(
    void **state) {
  (void)state;
  for (size_t a = 0; a < 2; a++) {
    uint8_t *z;
    size_t z_len = compress_bytes(kAlgorithms[a], "x", 1, 100000, &z);
    grpc_byte_buffer *bb = compressed_buffer(kAlgorithms[a], z, z_len, 0);
    expect_refused(bb, 100000, GRPC_STATUS_RESOURCE_EXHAUSTED,
                   "inflates past 100000 bytes");
    grpc_byte_buffer_destroy(bb);
    free(z);
  }
}

static void test_buffer_read_stops_inflating_a_bomb_at_the_cap(void **state) {
  (void)state;
  for (size_t a = 0; a < 2; a++) {
    // 256 MiB of zeros in about 256 KiB.
    uint8_t *z;
    size_t z_len = compress_bytes(kAlgorithms[a], NULL, 0, 256u << 20, &z);
    assert_true(z_len < 1024 * 1024);
    grpc_byte_buffer *bb = compressed_buffer(kAlgorithms[a], z, z_len, 0);
    ss_buf out;
    ss_buf_init(&out, 1024 * 1024);
    ss_status st;
    assert_false(ss_rpc_buffer_read(bb, &out, &st));
    assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(st.msg, "inflates past 1048576 bytes"));
    assert_int_equal(out.len, 0);
    // What was allocated is bounded by the cap (ss_buf grows by doubling),
    // not by the inflated size.
    assert_true(out.cap <= 2 * 1024 * 1024 + 64);
    ss_buf_cleanup(&out);
    grpc_byte_buffer_destroy(bb);
    free(z);
  }
}

static void test_buffer_read_refuses_corrupt_compressed_messages(void **state) {
  (void)state;
  uint8_t plain[3000];
  fill_text(plain, sizeof(plain));
  for (size_t a = 0; a < 2; a++) {
    uint8_t *z;
    size_t z_len = compress_bytes(kAlgorithms[a], plain, sizeof(plain), 0, &z);
    // A wrong header byte, a flipped byte in the checksum trailer, and the
    // stream of the other algorithm.
    uint8_t *bad = malloc(z_len);
    assert_non_null(bad);
    memcpy(bad, z, z_len);
    bad[0] ^= 0xff;
    grpc_byte_buffer *bb = compressed_buffer(kAlgorithms[a], bad, z_len, 0);
    expect_refused(bb, 0, GRPC_STATUS_INVALID_ARGUMENT, "corrupt");
    grpc_byte_buffer_destroy(bb);
    memcpy(bad, z, z_len);
    bad[z_len - 1] ^= 0x01;
    bb = compressed_buffer(kAlgorithms[a], bad, z_len, 0);
    expect_refused(bb, 0, GRPC_STATUS_INVALID_ARGUMENT, "corrupt");
    grpc_byte_buffer_destroy(bb);
    bb = compressed_buffer(kAlgorithms[1 - a], z, z_len, 0);
    expect_refused(bb, 0, GRPC_STATUS_INVALID_ARGUMENT, "corrupt");
    grpc_byte_buffer_destroy(bb);
    // Plain bytes marked compressed.
    bb = compressed_buffer(kAlgorithms[a], plain, sizeof(plain), 0);
    expect_refused(bb, 0, GRPC_STATUS_INVALID_ARGUMENT, "corrupt");
    grpc_byte_buffer_destroy(bb);
    free(bad);
    free(z);
  }
}

static void test_buffer_read_refuses_compressed_messages_cut_at_every_length(
    void **state) {
  (void)state;
  uint8_t plain[2000];
  fill_text(plain, sizeof(plain));
  for (size_t a = 0; a < 2; a++) {
    uint8_t *z;
    size_t z_len = compress_bytes(kAlgorithms[a], plain, sizeof(plain), 0, &z);
    for (size_t cut = 1; cut < z_len; cut++) {
      grpc_byte_buffer *bb = compressed_buffer(kAlgorithms[a], z, cut, 3);
      ss_buf out;
      ss_buf_init(&out, sizeof(plain));
      ss_status st;
      ss_status_init(&st);
      assert_false(ss_rpc_buffer_read(bb, &out, &st));
      assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
      assert_int_equal(out.len, 0);
      ss_buf_cleanup(&out);
      grpc_byte_buffer_destroy(bb);
    }
    free(z);
  }
}

static void test_buffer_read_refuses_bytes_after_the_compressed_stream(
    void **state) {
  (void)state;
  for (size_t a = 0; a < 2; a++) {
    uint8_t *z;
    size_t z_len = compress_bytes(kAlgorithms[a], "abc", 3, 0, &z);
    uint8_t *longer = malloc(2 * z_len);
    assert_non_null(longer);
    memcpy(longer, z, z_len);
    // One stray byte, then a whole second stream (gRPC inflates one).
    longer[z_len] = 0;
    grpc_byte_buffer *bb =
        compressed_buffer(kAlgorithms[a], longer, z_len + 1, 0);
    expect_refused(bb, 0, GRPC_STATUS_INVALID_ARGUMENT, "after the end");
    grpc_byte_buffer_destroy(bb);
    memcpy(longer + z_len, z, z_len);
    bb = compressed_buffer(kAlgorithms[a], longer, 2 * z_len, 5);
    expect_refused(bb, 0, GRPC_STATUS_INVALID_ARGUMENT, "after the end");
    grpc_byte_buffer_destroy(bb);
    free(longer);
    free(z);
  }
}

static void test_buffer_read_takes_an_empty_compressed_message_as_empty(
    void **state) {
  (void)state;
  for (size_t a = 0; a < 2; a++) {
    grpc_byte_buffer *bb = compressed_buffer(kAlgorithms[a], NULL, 0, 0);
    ss_buf out;
    ss_buf_init(&out, 10);
    ss_status st;
    assert_true(ss_rpc_buffer_read(bb, &out, &st));
    assert_int_equal(out.len, 0);
    ss_buf_cleanup(&out);
    grpc_byte_buffer_destroy(bb);
  }
}

static void test_buffer_unpack_inflates_a_compressed_message(void **state) {
  (void)state;
  Grpc__Health__V1__HealthCheckRequest req =
      GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  char service[600];
  memset(service, 's', sizeof(service) - 1);
  service[sizeof(service) - 1] = '\0';
  req.service = service;
  size_t len = grpc__health__v1__health_check_request__get_packed_size(&req);
  uint8_t *packed = malloc(len);
  assert_non_null(packed);
  grpc__health__v1__health_check_request__pack(&req, packed);
  uint8_t *z;
  size_t z_len = compress_bytes(GRPC_COMPRESS_GZIP, packed, len, 0, &z);
  grpc_byte_buffer *bb = compressed_buffer(GRPC_COMPRESS_GZIP, z, z_len, 0);
  ss_status st;
  Grpc__Health__V1__HealthCheckRequest *back =
      (Grpc__Health__V1__HealthCheckRequest *)ss_rpc_buffer_unpack(
          &grpc__health__v1__health_check_request__descriptor, bb, len,
          "health", &st);
  assert_non_null(back);
  assert_string_equal(back->service, service);
  protobuf_c_message_free_unpacked(&back->base, NULL);
  assert_null(
      ss_rpc_buffer_unpack(&grpc__health__v1__health_check_request__descriptor,
                           bb, len - 1, "health", &st));
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(st.msg, "health: gzip message inflates past"));
  grpc_byte_buffer_destroy(bb);
  free(z);
  free(packed);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buffer_read_joins_every_slice),
      cmocka_unit_test(
          test_buffer_read_refuses_a_message_over_the_cap_leaving_out_empty),
      cmocka_unit_test(test_buffer_take_hands_the_bytes_to_grpc),
      cmocka_unit_test(test_buffer_pack_and_unpack_round_trip_a_message),
      cmocka_unit_test(
          test_buffer_unpack_refuses_malformed_and_missing_messages),
      cmocka_unit_test(
          test_buffer_read_inflates_gzip_and_deflate_in_any_slicing),
      cmocka_unit_test(test_buffer_read_inflates_a_message_of_exactly_the_cap),
      cmocka_unit_test(
          test_buffer_read_refuses_a_message_inflating_one_byte_past_the_cap),
      cmocka_unit_test(test_buffer_read_stops_inflating_a_bomb_at_the_cap),
      cmocka_unit_test(test_buffer_read_refuses_corrupt_compressed_messages),
      cmocka_unit_test(
          test_buffer_read_refuses_compressed_messages_cut_at_every_length),
      cmocka_unit_test(
          test_buffer_read_refuses_bytes_after_the_compressed_stream),
      cmocka_unit_test(
          test_buffer_read_takes_an_empty_compressed_message_as_empty),
      cmocka_unit_test(test_buffer_unpack_inflates_a_compressed_message),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
