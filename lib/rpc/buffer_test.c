// Byte-buffer conversions: multi-slice flattening, caps, protobuf round trips,
// and what is left after each kind of failure.
#include "lib/rpc/buffer.h"

#include <grpc/grpc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buffer_read_joins_every_slice),
      cmocka_unit_test(
          test_buffer_read_refuses_a_message_over_the_cap_leaving_out_empty),
      cmocka_unit_test(test_buffer_take_hands_the_bytes_to_grpc),
      cmocka_unit_test(test_buffer_pack_and_unpack_round_trip_a_message),
      cmocka_unit_test(
          test_buffer_unpack_refuses_malformed_and_missing_messages),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
