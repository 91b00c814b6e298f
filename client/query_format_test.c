// sealstream-query's output formats: value renderings (RFC 3339, RFC 4648,
// RFC 8259 and RFC 4180 vectors, hostile text) and whole outputs of the
// three formats for batches decoded by a detached query.
#include "client/query_format.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/client_internal.h"
#include "lib/base/status.h"
#include "sealstream/v1/query.pb-c.h"

static void expect_text(const ss_text *text, const char *want) {
  assert_false(text->failed);
  assert_non_null(text->data);
  assert_string_equal(text->data, want);
}

static void expect_timestamp(int64_t ns, const char *want) {
  ss_text t = {0};
  ss_format_timestamp(&t, ns);
  expect_text(&t, want);
  ss_text_cleanup(&t);
}

static void test_timestamps_are_rfc3339_utc(void **state) {
  (void)state;
  expect_timestamp(0, "1970-01-01T00:00:00Z");
  expect_timestamp(1500000000, "1970-01-01T00:00:01.5Z");
  expect_timestamp(1700000000123456789LL, "2023-11-14T22:13:20.123456789Z");
  expect_timestamp(1700000000120000000LL, "2023-11-14T22:13:20.12Z");
  expect_timestamp(-1, "1969-12-31T23:59:59.999999999Z");
  expect_timestamp(INT64_MIN, "1677-09-21T00:12:43.145224192Z");
  expect_timestamp(INT64_MAX, "2262-04-11T23:47:16.854775807Z");
}

static void expect_double(double v, const char *want) {
  ss_text t = {0};
  ss_format_double(&t, v);
  expect_text(&t, want);
  ss_text_cleanup(&t);
}

static void test_doubles_are_shortest_round_trip(void **state) {
  (void)state;
  expect_double(0.1, "0.1");
  expect_double(3.0, "3");
  expect_double(-0.0, "-0");
  expect_double(1e300, "1e+300");
  expect_double(0.1 + 0.2, "0.30000000000000004");
  expect_double(NAN, "NaN");
  expect_double(INFINITY, "Infinity");
  expect_double(-INFINITY, "-Infinity");
}

static void test_base64_matches_rfc4648_vectors(void **state) {
  (void)state;
  static const char *const kVectors[][2] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
      {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (size_t i = 0; i < sizeof(kVectors) / sizeof(kVectors[0]); i++) {
    ss_text t = {0};
    ss_format_base64(&t, (const uint8_t *)kVectors[i][0],
                     strlen(kVectors[i][0]));
    expect_text(&t, kVectors[i][1]);
    ss_text_cleanup(&t);
  }
}

static void expect_json(const char *in, size_t len, const char *want) {
  ss_text t = {0};
  ss_format_json_string(&t, in, len);
  expect_text(&t, want);
  ss_text_cleanup(&t);
}

static void test_json_strings_escape_and_repair_utf8(void **state) {
  (void)state;
  expect_json("", 0, "\"\"");
  expect_json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
  expect_json("l1\nl2\r\t", 7, "\"l1\\nl2\\r\\t\"");
  expect_json("\x01\x1f", 2, "\"\\u0001\\u001f\"");
  expect_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
              "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  expect_json("\xff", 1, "\"\\ufffd\"");
  expect_json("\xc0\x80", 2, "\"\\ufffd\\ufffd\"");          // overlong NUL
  expect_json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");  // surrogate
  expect_json("\xe2\x82", 2, "\"\\ufffd\\ufffd\"");          // cut short
  expect_json("\xf4\x90\x80\x80", 4,
              "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // above U+10FFFF
}

static void expect_csv(const char *in, const char *want) {
  ss_text t = {0};
  ss_format_csv_field(&t, in, strlen(in));
  expect_text(&t, want);
  ss_text_cleanup(&t);
}

static void test_csv_fields_are_quoted_per_rfc4180(void **state) {
  (void)state;
  expect_csv("plain", "plain");
  expect_csv("", "\"\"");
  expect_csv("a,b", "\"a,b\"");
  expect_csv("say \"hi\"", "\"say \"\"hi\"\"\"");
  expect_csv("\"", "\"\"\"\"");
  expect_csv("two\r\nlines", "\"two\r\nlines\"");
  expect_csv(" spaced ", " spaced ");
}

static void expect_display(const char *in, size_t len, const char *want,
                           size_t want_width) {
  ss_text t = {0};
  size_t width = ss_format_display_text(&t, in, len);
  expect_text(&t, want);
  assert_int_equal(width, want_width);
  ss_text_cleanup(&t);
}

static void test_display_text_cannot_drive_the_terminal(void **state) {
  (void)state;
  expect_display("a\nb", 3, "a\\nb", 4);
  expect_display("\x1b[31mred", 8, "\\x1b[31mred", 11);
  expect_display("\x7f", 1, "\\x7f", 4);
  expect_display("\xc2\x9b" "2J", 4, "\\u009b2J", 8);  // C1 CSI
  expect_display("caf\xc3\xa9", 5, "caf\xc3\xa9", 4);
  expect_display("\xff", 1, "\xef\xbf\xbd", 1);
}

// --- whole outputs ---

static void feed(ss_query *query, const Sealstream__V1__StreamPayload *p,
                 int expect, const ss_batch **out_batch) {
  size_t len = sealstream__v1__stream_payload__get_packed_size(p);
  uint8_t *data = malloc(len > 0 ? len : 1);
  assert_non_null(data);
  sealstream__v1__stream_payload__pack(p, data);
  ss_status st;
  ss_status_init(&st);
  int r = ss__query_take_payload(query, data, len, 0, out_batch, &st);
  free(data);
  if (r != expect) {
    fail_msg("take_payload returned %d: %s", r, st.msg);
  }
}

static ss_query *query_with_schema(void) {
  ss_status st;
  ss_query *query = ss__query_new_detached(&st);
  assert_non_null(query);
  Sealstream__V1__ColumnSchema cols[2];
  Sealstream__V1__ColumnSchema *ptrs[2] = {&cols[0], &cols[1]};
  sealstream__v1__column_schema__init(&cols[0]);
  cols[0].name = (char *)"id";
  cols[0].type = SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64;
  sealstream__v1__column_schema__init(&cols[1]);
  cols[1].name = (char *)"name";
  cols[1].type = SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_STRING;
  Sealstream__V1__Schema schema = SEALSTREAM__V1__SCHEMA__INIT;
  schema.n_columns = 2;
  schema.columns = ptrs;
  Sealstream__V1__StreamPayload p = SEALSTREAM__V1__STREAM_PAYLOAD__INIT;
  p.payload_case = SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_SCHEMA;
  p.schema = &schema;
  const ss_batch *none;
  feed(query, &p, 1, &none);
  return query;
}

// feed_rows hands |n| rows (id, name; a NULL name is a null) to |query|
// and returns the batch.
static const ss_batch *feed_rows(ss_query *query, size_t n,
                                 const int64_t *ids,
                                 const char *const *names) {
  int64_t id_values[4];
  char *name_values[4];
  protobuf_c_boolean nulls[4] = {0};
  int any_null = 0;
  assert_true(n <= 4);
  for (size_t i = 0; i < n; i++) {
    id_values[i] = ids[i];
    name_values[i] = (char *)(names[i] != NULL ? names[i] : "");
    nulls[i] = names[i] == NULL;
    any_null |= nulls[i];
  }
  Sealstream__V1__Int64Column id_data = SEALSTREAM__V1__INT64_COLUMN__INIT;
  id_data.n_data = n;
  id_data.data = id_values;
  Sealstream__V1__StringColumn name_data = SEALSTREAM__V1__STRING_COLUMN__INIT;
  name_data.n_data = n;
  name_data.data = name_values;
  Sealstream__V1__Column cols[2];
  Sealstream__V1__Column *ptrs[2] = {&cols[0], &cols[1]};
  sealstream__v1__column__init(&cols[0]);
  cols[0].data_case = SEALSTREAM__V1__COLUMN__DATA_INT64_DATA;
  cols[0].int64_data = &id_data;
  sealstream__v1__column__init(&cols[1]);
  cols[1].data_case = SEALSTREAM__V1__COLUMN__DATA_STRING_DATA;
  cols[1].string_data = &name_data;
  if (any_null) {
    cols[1].n_nulls = n;
    cols[1].nulls = nulls;
  }
  Sealstream__V1__RowBatch rows = SEALSTREAM__V1__ROW_BATCH__INIT;
  rows.num_rows = n;
  rows.n_columns = 2;
  rows.columns = ptrs;
  Sealstream__V1__StreamPayload p = SEALSTREAM__V1__STREAM_PAYLOAD__INIT;
  p.payload_case = SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_BATCH;
  p.batch = &rows;
  const ss_batch *batch;
  feed(query, &p, 1, &batch);
  return batch;
}

// print_sample prints two batches, (1, alice), (22, null) then
// (333, "b,\"o\"\nb"), in |format| and returns the output (free()).
static char *print_sample(ss_output_format format, int empty) {
  ss_query *query = query_with_schema();
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  assert_non_null(out);
  ss_printer *printer = ss_printer_new(out, format, query);
  assert_non_null(printer);
  if (!empty) {
    const int64_t ids1[] = {1, 22};
    const char *const names1[] = {"alice", NULL};
    assert_true(ss_printer_batch(printer, feed_rows(query, 2, ids1, names1)));
    const int64_t ids2[] = {333};
    const char *const names2[] = {"b,\"o\"\nb"};
    assert_true(ss_printer_batch(printer, feed_rows(query, 1, ids2, names2)));
  }
  assert_true(ss_printer_finish(printer));
  assert_int_equal(ss_printer_rows(printer), empty ? 0 : 3);
  ss_printer_free(printer);
  ss_query_free(query);
  assert_int_equal(fclose(out), 0);
  return text;
}

static void test_table_aligns_per_batch_and_escapes(void **state) {
  (void)state;
  char *text = print_sample(SS_OUTPUT_TABLE, 0);
  assert_string_equal(text,
                      "id | name\n"
                      "---+------\n"
                      " 1 | alice\n"
                      "22 | NULL\n"
                      "333 | b,\"o\"\\nb\n"
                      "(3 rows)\n");
  free(text);
  text = print_sample(SS_OUTPUT_TABLE, 1);
  assert_string_equal(text,
                      "id | name\n"
                      "---+-----\n"
                      "(0 rows)\n");
  free(text);
}

static void test_csv_output_has_header_and_crlf(void **state) {
  (void)state;
  char *text = print_sample(SS_OUTPUT_CSV, 0);
  assert_string_equal(text,
                      "id,name\r\n"
                      "1,alice\r\n"
                      "22,\r\n"
                      "333,\"b,\"\"o\"\"\nb\"\r\n");
  free(text);
  text = print_sample(SS_OUTPUT_CSV, 1);
  assert_string_equal(text, "id,name\r\n");
  free(text);
}

static void test_jsonl_output_is_one_object_per_row(void **state) {
  (void)state;
  char *text = print_sample(SS_OUTPUT_JSONL, 0);
  assert_string_equal(text,
                      "{\"id\":1,\"name\":\"alice\"}\n"
                      "{\"id\":22,\"name\":null}\n"
                      "{\"id\":333,\"name\":\"b,\\\"o\\\"\\nb\"}\n");
  free(text);
  text = print_sample(SS_OUTPUT_JSONL, 1);
  assert_true(text == NULL || text[0] == '\0');
  free(text);
}

static void test_format_names_parse(void **state) {
  (void)state;
  ss_output_format f;
  assert_true(ss_output_format_parse("table", &f));
  assert_int_equal(f, SS_OUTPUT_TABLE);
  assert_true(ss_output_format_parse("csv", &f));
  assert_int_equal(f, SS_OUTPUT_CSV);
  assert_true(ss_output_format_parse("jsonl", &f));
  assert_int_equal(f, SS_OUTPUT_JSONL);
  assert_false(ss_output_format_parse("json", &f));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timestamps_are_rfc3339_utc),
      cmocka_unit_test(test_doubles_are_shortest_round_trip),
      cmocka_unit_test(test_base64_matches_rfc4648_vectors),
      cmocka_unit_test(test_json_strings_escape_and_repair_utf8),
      cmocka_unit_test(test_csv_fields_are_quoted_per_rfc4180),
      cmocka_unit_test(test_display_text_cannot_drive_the_terminal),
      cmocka_unit_test(test_table_aligns_per_batch_and_escapes),
      cmocka_unit_test(test_csv_output_has_header_and_crlf),
      cmocka_unit_test(test_jsonl_output_is_one_object_per_row),
      cmocka_unit_test(test_format_names_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
