#include "lib/base/bytes.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_cbs_get_bytes_fails_without_advancing(void **state) {
  (void)state;
  const uint8_t data[] = {1, 2, 3};
  ss_cbs cbs, out;
  ss_cbs_init(&cbs, data, sizeof(data));
  assert_false(ss_cbs_get_bytes(&cbs, &out, 4));
  assert_int_equal(cbs.len, 3);
  assert_false(ss_cbs_get_bytes(&cbs, &out, (size_t)0xffffffff));
  assert_false(ss_cbs_get_bytes(&cbs, &out, SIZE_MAX));
  assert_true(ss_cbs_get_bytes(&cbs, &out, 2));
  assert_int_equal(out.len, 2);
  assert_int_equal(out.data[1], 2);
  assert_int_equal(cbs.len, 1);
  uint8_t byte;
  assert_true(ss_cbs_get_u8(&cbs, &byte));
  assert_int_equal(byte, 3);
  assert_false(ss_cbs_get_u8(&cbs, &byte));
  assert_false(ss_cbs_skip(&cbs, 1));
  assert_true(ss_cbs_skip(&cbs, 0));
}

static void test_cbs_get_until_splits_at_delimiter(void **state) {
  (void)state;
  const char *text = "ab.c.";
  ss_cbs cbs, out;
  ss_cbs_init(&cbs, text, strlen(text));
  assert_true(ss_cbs_get_until(&cbs, &out, '.'));
  assert_true(ss_cbs_equal_str(&out, "ab"));
  assert_true(ss_cbs_get_until(&cbs, &out, '.'));
  assert_true(ss_cbs_equal_str(&out, "c"));
  assert_int_equal(cbs.len, 0);
  assert_false(ss_cbs_get_until(&cbs, &out, '.'));
}

static void test_cbs_get_until_without_delimiter_leaves_cursor(void **state) {
  (void)state;
  const char *text = "abc";
  ss_cbs cbs, out;
  ss_cbs_init(&cbs, text, strlen(text));
  assert_false(ss_cbs_get_until(&cbs, &out, '.'));
  assert_int_equal(cbs.len, 3);
  assert_false(ss_cbs_contains(&cbs, '.'));
  assert_true(ss_cbs_contains(&cbs, 'c'));
}

static void test_buf_grows_and_releases_contents(void **state) {
  (void)state;
  ss_buf buf;
  ss_buf_init(&buf, 0);
  for (int i = 0; i < 1000; i++) {
    assert_true(ss_buf_append_u8(&buf, (uint8_t)i));
  }
  assert_true(ss_buf_append_str(&buf, "end"));
  assert_true(ss_buf_nul_terminate(&buf));
  assert_int_equal(buf.len, 1003);
  assert_string_equal((const char *)buf.data + 1000, "end");
  uint8_t *data;
  size_t len;
  assert_true(ss_buf_release(&buf, &data, &len));
  assert_int_equal(len, 1003);
  assert_int_equal(data[999], (uint8_t)999);
  assert_null(buf.data);
  free(data);
}

static void test_buf_refuses_writes_past_cap_and_stays_failed(void **state) {
  (void)state;
  ss_buf buf;
  ss_buf_init(&buf, 4);
  assert_true(ss_buf_append(&buf, "abcd", 4));
  assert_false(ss_buf_append_u8(&buf, 'e'));
  assert_true(buf.failed);
  assert_false(ss_buf_append(&buf, "", 0));
  uint8_t *data;
  size_t len;
  assert_false(ss_buf_release(&buf, &data, &len));
  assert_null(data);
  assert_int_equal(len, 0);
  ss_buf_cleanup(&buf);
  assert_null(buf.data);
  assert_int_equal(buf.len, 0);
}

static void test_buf_reserve_refuses_huge_lengths(void **state) {
  (void)state;
  ss_buf buf;
  ss_buf_init(&buf, 0);
  uint8_t *dst;
  assert_false(ss_buf_reserve(&buf, SIZE_MAX, &dst));
  assert_null(dst);
  ss_buf_cleanup(&buf);
  assert_false(ss_buf_reserve(&buf, SIZE_MAX - 1, &dst));
  ss_buf_cleanup(&buf);
}

static void test_buf_reset_keeps_allocation(void **state) {
  (void)state;
  ss_buf buf;
  ss_buf_init(&buf, 0);
  assert_true(ss_buf_append(&buf, "secret", 6));
  uint8_t *before = buf.data;
  ss_buf_reset(&buf);
  assert_int_equal(buf.len, 0);
  assert_ptr_equal(buf.data, before);
  assert_true(ss_buf_append(&buf, "x", 1));
  assert_ptr_equal(buf.data, before);
  assert_int_equal(buf.len, 1);
  ss_buf_cleanup(&buf);
}

static void test_buf_wipe_clears_written_bytes(void **state) {
  (void)state;
  ss_buf buf;
  ss_buf_init(&buf, 0);
  assert_true(ss_buf_append(&buf, "secret", 6));
  uint8_t *before = buf.data;
  ss_buf_wipe(&buf);
  assert_int_equal(buf.len, 0);
  assert_ptr_equal(buf.data, before);
  assert_memory_equal(before, "\0\0\0\0\0\0", 6);
  ss_buf_cleanup(&buf);
}

static void test_zeroed_buf_is_valid_and_empty(void **state) {
  (void)state;
  ss_buf buf = {0};
  assert_true(ss_buf_append(&buf, "x", 1));
  ss_buf_cleanup(&buf);
  ss_buf_cleanup(&buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cbs_get_bytes_fails_without_advancing),
      cmocka_unit_test(test_cbs_get_until_splits_at_delimiter),
      cmocka_unit_test(test_cbs_get_until_without_delimiter_leaves_cursor),
      cmocka_unit_test(test_buf_grows_and_releases_contents),
      cmocka_unit_test(test_buf_refuses_writes_past_cap_and_stays_failed),
      cmocka_unit_test(test_buf_reserve_refuses_huge_lengths),
      cmocka_unit_test(test_buf_reset_keeps_allocation),
      cmocka_unit_test(test_buf_wipe_clears_written_bytes),
      cmocka_unit_test(test_zeroed_buf_is_valid_and_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
