// Client library tests that need no server: options validation, key
// rotation and its reference counting, the payload decoder behind the batch
// accessors (fed packed StreamPayloads through a detached query), and one
// real gRPC call to a port where nothing listens.
#include "sealstream/client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "client/client_internal.h"
#include "lib/protocol/names.h"
#include "lib/base/status.h"
#include "lib/jose/jwk.h"
#include "sealstream/v1/query.pb-c.h"

// --- helpers ---

static int64_t now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec;
}

// A target nothing listens on; making a channel to it connects nowhere.
static const char kNowhere[] = "127.0.0.1:1";

// nowhere_options sets |options| to the defaults with a target no test
// connects to, so that ss_client_new fails only for what a test changes.
static void nowhere_options(ss_client_options *options) {
  ss_client_options_init(options);
  options->target = kNowhere;
}

static ss_client *new_client(ss_key_type type, uint32_t rotate_queries,
                             uint32_t rotate_seconds) {
  ss_client_options options;
  nowhere_options(&options);
  options.key_type = type;
  options.rotate_after_queries = rotate_queries;
  options.rotate_after_seconds = rotate_seconds;
  ss_error err;
  ss_client *client = ss_client_new(&options, &err);
  if (client == NULL) {
    fail_msg("ss_client_new: %s: %s", ss_error_code_name(err.code),
             err.message);
  }
  return client;
}

static void expect_invalid_options(const ss_client_options *options,
                                   const char *fragment) {
  ss_error err;
  ss_client *client = ss_client_new(options, &err);
  if (client != NULL) {
    ss_client_free(client);
    fail_msg("options accepted; expected an error mentioning %s", fragment);
  }
  assert_int_equal(err.code, GRPC_STATUS_INVALID_ARGUMENT);
  if (strstr(err.message, fragment) == NULL) {
    fail_msg("message \"%s\" does not mention \"%s\"", err.message, fragment);
  }
}

// write_temp_file writes |text| to a new file in the test's temp folder and
// returns its path in |path|.
static void write_temp_file(char *path, size_t path_len, const char *name,
                            const char *text) {
  const char *dir = getenv("TEST_TMPDIR");
  snprintf(path, path_len, "%s/%s", dir != NULL ? dir : "/tmp", name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

// --- error codes and options ---

static void test_error_code_names_follow_grpc(void **state) {
  (void)state;
  assert_string_equal(ss_error_code_name(0), "OK");
  assert_string_equal(ss_error_code_name(3), "INVALID_ARGUMENT");
  assert_string_equal(ss_error_code_name(14), "UNAVAILABLE");
  assert_string_equal(ss_error_code_name(15), "DATA_LOSS");
  assert_string_equal(ss_error_code_name(16), "UNAUTHENTICATED");
  assert_string_equal(ss_error_code_name(-1), "UNKNOWN");
  assert_string_equal(ss_error_code_name(17), "UNKNOWN");
}

static void test_options_init_sets_defaults(void **state) {
  (void)state;
  ss_client_options options;
  memset(&options, 0xa5, sizeof(options));
  ss_client_options_init(&options);
  assert_null(options.target);
  assert_int_equal(options.key_type, SS_KEY_EC_P256);
  assert_null(options.content_alg);
  assert_int_equal(options.compact, 0);
  assert_int_equal(options.compress, 0);
  assert_int_equal(options.use_tls, 0);
  assert_null(options.tls_ca_file);
  assert_null(options.route);
  assert_null(options.auth_token);
  assert_int_equal(options.rotate_after_queries, 0);
  assert_int_equal(options.rotate_after_seconds, 0);
  assert_int_equal(options.max_message_bytes, 0);
}

static void test_client_new_rejects_missing_options_and_target(void **state) {
  (void)state;
  ss_error err;
  assert_null(ss_client_new(NULL, &err));
  assert_int_equal(err.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_client_options options;
  ss_client_options_init(&options);
  expect_invalid_options(&options, "target");
  options.target = "";
  expect_invalid_options(&options, "target");
}

static void test_client_new_rejects_unknown_algorithms(void **state) {
  (void)state;
  ss_client_options options;
  nowhere_options(&options);
  options.key_type = (ss_key_type)7;
  expect_invalid_options(&options, "key_type");
  options.key_type = SS_KEY_EC_P256;
  options.content_alg = "A256CTR";
  expect_invalid_options(&options, "content_alg");
}

static void test_client_new_rejects_tls_files_without_tls(void **state) {
  (void)state;
  ss_client_options options;
  nowhere_options(&options);
  options.tls_cert_file = "cert.pem";
  options.tls_key_file = "key.pem";
  expect_invalid_options(&options, "TLS is off");
  nowhere_options(&options);
  options.tls_server_name = "server.example";
  expect_invalid_options(&options, "TLS is off");
  nowhere_options(&options);
  options.use_tls = 1;
  options.tls_cert_file = "cert.pem";
  expect_invalid_options(&options, "both tls_cert_file and tls_key_file");
}

static void test_client_new_rejects_metadata_gRPC_cannot_send(void **state) {
  (void)state;
  ss_client_options options;
  nowhere_options(&options);
  options.route = "tenant\n7";
  expect_invalid_options(&options, "route");
  options.route = "";
  expect_invalid_options(&options, "route");
  options.route = "tenant-7";
  char *token = malloc(SS__MAX_METADATA_VALUE + 2);
  assert_non_null(token);
  memset(token, 'a', SS__MAX_METADATA_VALUE + 1);
  token[SS__MAX_METADATA_VALUE + 1] = '\0';
  options.auth_token = token;
  expect_invalid_options(&options, "auth_token");
  free(token);
}

static void test_client_new_rejects_oversized_message_limit(void **state) {
  (void)state;
  ss_client_options options;
  nowhere_options(&options);
  options.max_message_bytes = (size_t)1 << 40;
  expect_invalid_options(&options, "max_message_bytes");
}

static void test_client_new_fails_cleanly_for_unreadable_ca_file(
    void **state) {
  (void)state;
  ss_client_options options;
  nowhere_options(&options);
  options.tls_ca_file = "/nonexistent/sealstream/ca.pem";
  expect_invalid_options(&options, "tls_ca_file /nonexistent/sealstream/ca.pem");
  // A directory opens but cannot be read.
  options.tls_ca_file = "/";
  expect_invalid_options(&options, "tls_ca_file");
}

static void test_client_new_refuses_ca_file_without_certificate(
    void **state) {
  (void)state;
  char path[512];
  write_temp_file(path, sizeof(path), "not_a_ca.pem", "hello\n");
  ss_client_options options;
  nowhere_options(&options);
  options.tls_ca_file = path;
  expect_invalid_options(&options, "holds no PEM certificate");
}

static void test_client_new_with_defaults_makes_p256_key(void **state) {
  (void)state;
  ss_client *client = new_client(SS_KEY_EC_P256, 0, 0);
  ss_status st;
  ss__client_key *key = ss__client_acquire_key(client, now_seconds(), &st);
  assert_non_null(key);
  assert_string_equal(ss__client_key_alg(key), "ECDH-ES+A256KW");
  const char *json = ss__client_key_public_json(key);
  assert_non_null(strstr(json, "\"crv\":\"P-256\""));
  assert_null(strstr(json, "\"d\""));  // the private part never leaves
  assert_true(ss_jwk_is_private(ss__client_key_jwk(key)));
  ss__client_key_release(key);
  ss_client_free(client);
}

static void test_client_new_makes_x25519_and_rsa_keys(void **state) {
  (void)state;
  ss_status st;
  ss_client *client = new_client(SS_KEY_X25519, 0, 0);
  ss__client_key *key = ss__client_acquire_key(client, now_seconds(), &st);
  assert_non_null(key);
  assert_string_equal(ss__client_key_alg(key), "ECDH-ES+A256KW");
  assert_non_null(
      strstr(ss__client_key_public_json(key), "\"crv\":\"X25519\""));
  ss__client_key_release(key);
  ss_client_free(client);

  client = new_client(SS_KEY_RSA_4096, 0, 0);
  key = ss__client_acquire_key(client, now_seconds(), &st);
  assert_non_null(key);
  assert_string_equal(ss__client_key_alg(key), "RSA-OAEP-256");
  assert_int_equal(ss_jwk_bits(ss__client_key_jwk(key)), 4096);
  ss__client_key_release(key);
  ss_client_free(client);
}

static void test_client_free_ignores_null(void **state) {
  (void)state;
  ss_client_free(NULL);
  ss_query_free(NULL);
  ss_query_cancel(NULL);
}

// --- key rotation ---

static void test_key_rotates_after_the_query_limit(void **state) {
  (void)state;
  ss_client *client = new_client(SS_KEY_EC_P256, 2, 0);
  ss_status st;
  int64_t now = now_seconds();
  ss__client_key *first = ss__client_acquire_key(client, now, &st);
  ss__client_key *second = ss__client_acquire_key(client, now, &st);
  ss__client_key *third = ss__client_acquire_key(client, now, &st);
  assert_non_null(first);
  assert_ptr_equal(first, second);
  assert_non_null(third);
  assert_ptr_not_equal(first, third);
  assert_string_not_equal(ss__client_key_public_json(first),
                          ss__client_key_public_json(third));
  ss__client_key_release(first);
  ss__client_key_release(second);
  ss__client_key_release(third);
  ss_client_free(client);
}

static void test_key_rotates_after_the_time_limit(void **state) {
  (void)state;
  int64_t start = now_seconds();
  ss_client *client = new_client(SS_KEY_X25519, 0, 10);
  ss_status st;
  ss__client_key *a = ss__client_acquire_key(client, start + 5, &st);
  ss__client_key *b = ss__client_acquire_key(client, start + 100, &st);
  ss__client_key *c = ss__client_acquire_key(client, start + 105, &st);
  assert_non_null(a);
  assert_non_null(b);
  assert_ptr_not_equal(a, b);  // 100 s old: past the 10 s limit
  assert_ptr_equal(b, c);      // made at +100, 5 s old at +105
  ss__client_key_release(a);
  ss__client_key_release(b);
  ss__client_key_release(c);
  ss_client_free(client);
}

static void test_key_in_use_survives_rotation(void **state) {
  (void)state;
  ss_client *client = new_client(SS_KEY_EC_P256, 1, 0);
  ss_status st;
  ss__client_key *old = ss__client_acquire_key(client, now_seconds(), &st);
  ss__client_key *fresh = ss__client_acquire_key(client, now_seconds(), &st);
  assert_ptr_not_equal(old, fresh);
  // The client dropped its reference to |old|; the query's keeps it whole.
  ss_client_free(client);
  char *json = ss_jwk_to_json(ss__client_key_jwk(old), 1, &st);
  assert_non_null(json);
  assert_non_null(strstr(json, "\"d\""));
  OPENSSL_cleanse(json, strlen(json));
  free(json);
  ss__client_key_release(old);
  ss__client_key_release(fresh);
}

// --- payload decoding through a detached query ---

#define NUM_ROWS 3

typedef struct column_def {
  const char *name;
  Sealstream__V1__ColumnType type;
} column_def;

static const column_def kColumns[] = {
    {"id", SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_INT64},
    {"name", SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_STRING},
    {"score", SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_DOUBLE},
    {"ok", SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL},
    {"blob", SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_BYTES},
    {"ts", SEALSTREAM__V1__COLUMN_TYPE__COLUMN_TYPE_TIMESTAMP},
};
#define NUM_COLUMNS (sizeof(kColumns) / sizeof(kColumns[0]))

typedef struct packed {
  uint8_t *data;
  size_t len;
} packed;

static packed pack_payload(const Sealstream__V1__StreamPayload *payload) {
  packed out;
  out.len = sealstream__v1__stream_payload__get_packed_size(payload);
  out.data = malloc(out.len > 0 ? out.len : 1);
  assert_non_null(out.data);
  sealstream__v1__stream_payload__pack(payload, out.data);
  return out;
}

static packed pack_schema(const column_def *defs, size_t n) {
  Sealstream__V1__ColumnSchema cols[NUM_COLUMNS + 1];
  Sealstream__V1__ColumnSchema *ptrs[NUM_COLUMNS + 1];
  assert_true(n <= NUM_COLUMNS + 1);
  for (size_t i = 0; i < n; i++) {
    sealstream__v1__column_schema__init(&cols[i]);
    cols[i].name = (char *)defs[i].name;
    cols[i].type = defs[i].type;
    ptrs[i] = &cols[i];
  }
  Sealstream__V1__Schema schema = SEALSTREAM__V1__SCHEMA__INIT;
  schema.n_columns = n;
  schema.columns = ptrs;
  Sealstream__V1__StreamPayload payload = SEALSTREAM__V1__STREAM_PAYLOAD__INIT;
  payload.payload_case = SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_SCHEMA;
  payload.schema = &schema;
  return pack_payload(&payload);
}

// The batch of the tests: three rows, row 1 null in "name", row 2 with an
// empty blob. Tests alter it through the pointers it exposes before packing.
typedef struct test_batch {
  int64_t ids[NUM_ROWS];
  char *names[NUM_ROWS];
  protobuf_c_boolean name_nulls[NUM_ROWS];
  double scores[NUM_ROWS];
  protobuf_c_boolean oks[NUM_ROWS];
  ProtobufCBinaryData blobs[NUM_ROWS];
  int64_t stamps[NUM_ROWS];
  Sealstream__V1__Int64Column id_data;
  Sealstream__V1__StringColumn name_data;
  Sealstream__V1__DoubleColumn score_data;
  Sealstream__V1__BoolColumn ok_data;
  Sealstream__V1__BytesColumn blob_data;
  Sealstream__V1__Int64Column ts_data;
  Sealstream__V1__Column columns[NUM_COLUMNS];
  Sealstream__V1__Column *column_ptrs[NUM_COLUMNS];
  Sealstream__V1__RowBatch rows;
  Sealstream__V1__StreamPayload payload;
} test_batch;

static void test_batch_init(test_batch *b) {
  static uint8_t blob0[] = {0x00, 0xff, 0x10};
  static uint8_t blob1[] = {'x'};
  memset(b, 0, sizeof(*b));
  const int64_t ids[NUM_ROWS] = {1, -2, INT64_MAX};
  memcpy(b->ids, ids, sizeof(ids));
  b->names[0] = (char *)"alice";
  b->names[1] = (char *)"";
  b->names[2] = (char *)"carol \xc3\xa9";
  b->name_nulls[1] = 1;
  b->scores[0] = 0.5;
  b->scores[1] = -1e300;
  b->scores[2] = 3.25;
  b->oks[0] = 1;
  b->oks[2] = 1;
  b->blobs[0].data = blob0;
  b->blobs[0].len = sizeof(blob0);
  b->blobs[1].data = blob1;
  b->blobs[1].len = sizeof(blob1);
  b->stamps[0] = 1700000000123456789LL;
  b->stamps[1] = 0;
  b->stamps[2] = -1;

  sealstream__v1__int64_column__init(&b->id_data);
  b->id_data.n_data = NUM_ROWS;
  b->id_data.data = b->ids;
  sealstream__v1__string_column__init(&b->name_data);
  b->name_data.n_data = NUM_ROWS;
  b->name_data.data = b->names;
  sealstream__v1__double_column__init(&b->score_data);
  b->score_data.n_data = NUM_ROWS;
  b->score_data.data = b->scores;
  sealstream__v1__bool_column__init(&b->ok_data);
  b->ok_data.n_data = NUM_ROWS;
  b->ok_data.data = b->oks;
  sealstream__v1__bytes_column__init(&b->blob_data);
  b->blob_data.n_data = NUM_ROWS;
  b->blob_data.data = b->blobs;
  sealstream__v1__int64_column__init(&b->ts_data);
  b->ts_data.n_data = NUM_ROWS;
  b->ts_data.data = b->stamps;

  for (size_t i = 0; i < NUM_COLUMNS; i++) {
    sealstream__v1__column__init(&b->columns[i]);
    b->column_ptrs[i] = &b->columns[i];
  }
  b->columns[0].data_case = SEALSTREAM__V1__COLUMN__DATA_INT64_DATA;
  b->columns[0].int64_data = &b->id_data;
  b->columns[1].data_case = SEALSTREAM__V1__COLUMN__DATA_STRING_DATA;
  b->columns[1].string_data = &b->name_data;
  b->columns[1].n_nulls = NUM_ROWS;
  b->columns[1].nulls = b->name_nulls;
  b->columns[2].data_case = SEALSTREAM__V1__COLUMN__DATA_DOUBLE_DATA;
  b->columns[2].double_data = &b->score_data;
  b->columns[3].data_case = SEALSTREAM__V1__COLUMN__DATA_BOOL_DATA;
  b->columns[3].bool_data = &b->ok_data;
  b->columns[4].data_case = SEALSTREAM__V1__COLUMN__DATA_BYTES_DATA;
  b->columns[4].bytes_data = &b->blob_data;
  b->columns[5].data_case = SEALSTREAM__V1__COLUMN__DATA_TIMESTAMP_DATA;
  b->columns[5].timestamp_data = &b->ts_data;

  sealstream__v1__row_batch__init(&b->rows);
  b->rows.num_rows = NUM_ROWS;
  b->rows.n_columns = NUM_COLUMNS;
  b->rows.columns = b->column_ptrs;
  sealstream__v1__stream_payload__init(&b->payload);
  b->payload.payload_case = SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_BATCH;
  b->payload.batch = &b->rows;
}

static packed pack_stats(uint64_t rows, uint64_t batches) {
  Sealstream__V1__QueryStats stats = SEALSTREAM__V1__QUERY_STATS__INIT;
  stats.rows = rows;
  stats.batches = batches;
  Sealstream__V1__StreamPayload payload = SEALSTREAM__V1__STREAM_PAYLOAD__INIT;
  payload.payload_case = SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_STATS;
  payload.stats = &stats;
  return pack_payload(&payload);
}

// take feeds |p| to |query| and frees it.
static int take(ss_query *query, packed p, int final, const ss_batch **batch,
                ss_status *st) {
  ss_status_init(st);
  int r = ss__query_take_payload(query, p.data, p.len, final, batch, st);
  free(p.data);
  return r;
}

static int setup_query(void **state) {
  ss_status st;
  ss_query *query = ss__query_new_detached(&st);
  if (query == NULL) {
    return 1;
  }
  const ss_batch *batch;
  if (take(query, pack_schema(kColumns, NUM_COLUMNS), 0, &batch, &st) != 1 ||
      batch != NULL) {
    ss_query_free(query);
    return 1;
  }
  *state = query;
  return 0;
}

static int teardown_query(void **state) {
  ss_query_free(*state);
  return 0;
}

// take_good_batch fills |b| with the unaltered test batch and feeds it to
// |query|; fails the test unless it is accepted. Returns the batch handed
// out (borrowed from |query|).
static const ss_batch *take_good_batch(ss_query *query, test_batch *b) {
  test_batch_init(b);
  ss_status st;
  const ss_batch *batch;
  assert_int_equal(take(query, pack_payload(&b->payload), 0, &batch, &st), 1);
  assert_non_null(batch);
  return batch;
}

// expect_batch_refused packs |b|, feeds it, and checks it is DATA_LOSS
// mentioning |fragment|, with no batch handed out.
static void expect_batch_refused(ss_query *query, test_batch *b,
                                 const char *fragment) {
  ss_status st;
  const ss_batch *batch = (const ss_batch *)1;
  assert_int_equal(take(query, pack_payload(&b->payload), 0, &batch, &st),
                   -1);
  assert_null(batch);
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
  if (strstr(st.msg, fragment) == NULL) {
    fail_msg("message \"%s\" does not mention \"%s\"", st.msg, fragment);
  }
}

static void test_schema_is_exposed_through_query_accessors(void **state) {
  ss_query *query = *state;
  assert_int_equal(ss_query_num_columns(query), NUM_COLUMNS);
  for (size_t i = 0; i < NUM_COLUMNS; i++) {
    assert_string_equal(ss_query_column_name(query, i), kColumns[i].name);
    assert_int_equal(ss_query_column_type(query, i), (int)kColumns[i].type);
  }
  assert_null(ss_query_column_name(query, NUM_COLUMNS));
  assert_int_equal(ss_query_column_type(query, NUM_COLUMNS), 0);
  assert_string_equal(ss_query_id(query), "");
  assert_int_equal(ss_query_total_rows(query), 0);
}

static void test_batch_accessors_read_every_type(void **state) {
  ss_query *query = *state;
  test_batch b;
  const ss_batch *batch = take_good_batch(query, &b);
  assert_int_equal(ss_batch_num_rows(batch), NUM_ROWS);
  for (size_t row = 0; row < NUM_ROWS; row++) {
    assert_int_equal(ss_batch_int64(batch, 0, row), b.ids[row]);
    assert_true(ss_batch_double(batch, 2, row) == b.scores[row]);
    assert_int_equal(ss_batch_bool(batch, 3, row), b.oks[row]);
    assert_int_equal(ss_batch_timestamp(batch, 5, row), b.stamps[row]);
    assert_int_equal(ss_batch_is_null(batch, 1, row), row == 1);
    assert_int_equal(ss_batch_is_null(batch, 0, row), 0);
  }
  size_t len;
  assert_string_equal(ss_batch_string(batch, 1, 0, &len), "alice");
  assert_int_equal(len, 5);
  assert_string_equal(ss_batch_string(batch, 1, 1, &len), "");
  assert_int_equal(len, 0);
  assert_string_equal(ss_batch_string(batch, 1, 2, &len), "carol \xc3\xa9");
  assert_int_equal(len, 8);
  const uint8_t *blob = ss_batch_bytes(batch, 4, 0, &len);
  assert_int_equal(len, 3);
  assert_memory_equal(blob, "\x00\xff\x10", 3);
  // An empty value is an empty, non-NULL pointer: NULL means an error.
  blob = ss_batch_bytes(batch, 4, 2, &len);
  assert_non_null(blob);
  assert_int_equal(len, 0);
}

static void test_batch_accessors_refuse_out_of_range_and_wrong_type(
    void **state) {
  ss_query *query = *state;
  test_batch b;
  const ss_batch *batch = take_good_batch(query, &b);
  size_t len = 99;
  // Out of range.
  assert_int_equal(ss_batch_int64(batch, 0, NUM_ROWS), 0);
  assert_int_equal(ss_batch_int64(batch, NUM_COLUMNS, 0), 0);
  assert_int_equal(ss_batch_int64(batch, SIZE_MAX, SIZE_MAX), 0);
  assert_int_equal(ss_batch_is_null(batch, 1, NUM_ROWS), 0);
  assert_int_equal(ss_batch_is_null(batch, NUM_COLUMNS, 1), 0);
  assert_null(ss_batch_string(batch, 1, NUM_ROWS, &len));
  assert_int_equal(len, 0);
  // Wrong type.
  assert_int_equal(ss_batch_int64(batch, 1, 0), 0);
  assert_true(ss_batch_double(batch, 0, 0) == 0.0);
  assert_int_equal(ss_batch_bool(batch, 0, 0), 0);
  assert_int_equal(ss_batch_timestamp(batch, 0, 0), 0);  // int64 column
  assert_int_equal(ss_batch_int64(batch, 5, 0), 0);      // timestamp column
  len = 99;
  assert_null(ss_batch_string(batch, 4, 0, &len));
  assert_int_equal(len, 0);
  len = 99;
  assert_null(ss_batch_bytes(batch, 1, 0, &len));
  assert_int_equal(len, 0);
  // No batch at all.
  assert_int_equal(ss_batch_num_rows(NULL), 0);
  assert_int_equal(ss_batch_int64(NULL, 0, 0), 0);
  assert_null(ss_batch_string(NULL, 0, 0, NULL));
}

static void test_batch_with_missing_values_is_data_loss(void **state) {
  test_batch b;
  test_batch_init(&b);
  b.score_data.n_data = NUM_ROWS - 1;
  expect_batch_refused(*state, &b, "column 2 holds 2 values for 3 rows");
}

static void test_batch_claiming_more_rows_is_data_loss(void **state) {
  test_batch b;
  test_batch_init(&b);
  b.rows.num_rows = 0x80000000ULL;
  expect_batch_refused(*state, &b, "for 2147483648 rows");
  test_batch_init(&b);
  b.rows.num_rows = UINT64_MAX;
  expect_batch_refused(*state, &b, "rows");
}

static void test_batch_with_extra_values_is_data_loss(void **state) {
  test_batch b;
  test_batch_init(&b);
  b.rows.num_rows = NUM_ROWS - 1;
  expect_batch_refused(*state, &b, "column 0 holds 3 values for 2 rows");
}

static void test_batch_with_wrong_column_count_is_data_loss(void **state) {
  test_batch b;
  test_batch_init(&b);
  b.rows.n_columns = NUM_COLUMNS - 1;
  expect_batch_refused(*state, &b, "the schema has 6");
}

static void test_batch_with_wrong_column_type_is_data_loss(void **state) {
  test_batch b;
  test_batch_init(&b);
  // The id column's values sent as timestamps.
  b.columns[0].data_case = SEALSTREAM__V1__COLUMN__DATA_TIMESTAMP_DATA;
  b.columns[0].timestamp_data = &b.id_data;
  expect_batch_refused(*state, &b, "column 0 holds data of another type");
  test_batch_init(&b);
  b.columns[3].data_case = SEALSTREAM__V1__COLUMN__DATA__NOT_SET;
  expect_batch_refused(*state, &b, "column 3");
}

static void test_batch_with_short_null_flags_is_data_loss(void **state) {
  test_batch b;
  test_batch_init(&b);
  b.columns[1].n_nulls = NUM_ROWS - 1;
  expect_batch_refused(*state, &b, "column 1 has 2 null flags for 3 rows");
}

static void test_final_batch_is_data_loss(void **state) {
  test_batch b;
  test_batch_init(&b);
  ss_status st;
  const ss_batch *batch;
  assert_int_equal(take(*state, pack_payload(&b.payload), 1, &batch, &st), -1);
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
  assert_null(batch);
}

static void test_second_schema_is_data_loss(void **state) {
  ss_status st;
  const ss_batch *batch;
  assert_int_equal(
      take(*state, pack_schema(kColumns, NUM_COLUMNS), 0, &batch, &st), -1);
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
  assert_non_null(strstr(st.msg, "second schema"));
}

static void test_garbage_plaintext_is_data_loss(void **state) {
  ss_status st;
  const ss_batch *batch;
  packed p = {malloc(4), 4};
  memcpy(p.data, "\xff\xff\xff\xff", 4);
  assert_int_equal(take(*state, p, 0, &batch, &st), -1);
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
}

static void test_totals_end_the_stream(void **state) {
  ss_query *query = *state;
  test_batch b;
  const ss_batch *batch = take_good_batch(query, &b);
  ss_status st;
  assert_int_equal(take(query, pack_payload(&b.payload), 0, &batch, &st), 1);
  assert_int_equal(take(query, pack_stats(2 * NUM_ROWS, 2), 1, &batch, &st),
                   0);
  assert_null(batch);
  assert_int_equal(ss_query_total_rows(query), 2 * NUM_ROWS);
  assert_int_equal(ss_query_total_batches(query), 2);
}

static void test_totals_before_the_end_are_data_loss(void **state) {
  ss_status st;
  const ss_batch *batch;
  assert_int_equal(take(*state, pack_stats(0, 0), 0, &batch, &st), -1);
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
}

static void test_totals_that_disagree_are_data_loss(void **state) {
  ss_query *query = *state;
  test_batch b;
  const ss_batch *batch = take_good_batch(query, &b);
  ss_status st;
  assert_int_equal(take(query, pack_stats(NUM_ROWS + 1, 1), 1, &batch, &st),
                   -1);
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
  assert_non_null(strstr(st.msg, "reports 4 rows in 1 batches"));
}

static void test_stream_must_begin_with_schema(void **state) {
  (void)state;
  ss_status st;
  ss_query *query = ss__query_new_detached(&st);
  assert_non_null(query);
  const ss_batch *batch;
  test_batch b;
  test_batch_init(&b);
  assert_int_equal(take(query, pack_payload(&b.payload), 0, &batch, &st), -1);
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
  assert_non_null(strstr(st.msg, "expected the schema"));
  // A final schema: the stream would end without totals.
  assert_int_equal(take(query, pack_schema(kColumns, 1), 1, &batch, &st), -1);
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
  // A column type this client does not know.
  column_def unknown = {"x", (Sealstream__V1__ColumnType)42};
  assert_int_equal(take(query, pack_schema(&unknown, 1), 0, &batch, &st), -1);
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
  assert_non_null(strstr(st.msg, "unknown type 42"));
  assert_int_equal(ss_query_num_columns(query), 0);
  ss_query_free(query);
}

static void test_zero_column_batch_cannot_claim_rows(void **state) {
  (void)state;
  ss_status st;
  ss_query *query = ss__query_new_detached(&st);
  assert_non_null(query);
  const ss_batch *batch;
  assert_int_equal(take(query, pack_schema(kColumns, 0), 0, &batch, &st), 1);
  Sealstream__V1__RowBatch rows = SEALSTREAM__V1__ROW_BATCH__INIT;
  rows.num_rows = 1000000;
  Sealstream__V1__StreamPayload payload = SEALSTREAM__V1__STREAM_PAYLOAD__INIT;
  payload.payload_case = SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_BATCH;
  payload.batch = &rows;
  assert_int_equal(take(query, pack_payload(&payload), 0, &batch, &st), -1);
  assert_int_equal(st.code, GRPC_STATUS_DATA_LOSS);
  ss_query_free(query);
}

// --- gRPC ---

static void test_method_path_matches_service_descriptor(void **state) {
  (void)state;
  const ProtobufCServiceDescriptor *service =
      &sealstream__v1__query_service__descriptor;
  assert_int_equal(service->n_methods, 1);
  char path[128];
  snprintf(path, sizeof(path), "/%s/%s", service->name,
           service->methods[0].name);
  assert_string_equal(path, SS_PROTOCOL_EXECUTE_QUERY_METHOD);
}

static void test_query_start_rejects_bad_arguments(void **state) {
  (void)state;
  ss_client *client = new_client(SS_KEY_EC_P256, 0, 0);
  ss_error err;
  assert_null(ss_query_start(client, NULL, NULL, &err));
  assert_int_equal(err.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_query_options options = {.timeout_ms = -1};
  assert_null(ss_query_start(client, "SELECT 1", &options, &err));
  assert_int_equal(err.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(err.message, "timeout_ms"));
  ss_client_free(client);
}

static void test_query_start_reports_unreachable_server(void **state) {
  (void)state;
  ss_client *client = new_client(SS_KEY_EC_P256, 0, 0);
  ss_error err;
  ss_query_options options = {.timeout_ms = 20000};
  ss_query *query = ss_query_start(client, "SELECT 1", &options, &err);
  assert_null(query);
  assert_int_equal(err.code, GRPC_STATUS_UNAVAILABLE);
  assert_true(err.message[0] != '\0');
  ss_client_free(client);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_code_names_follow_grpc),
      cmocka_unit_test(test_options_init_sets_defaults),
      cmocka_unit_test(test_client_new_rejects_missing_options_and_target),
      cmocka_unit_test(test_client_new_rejects_unknown_algorithms),
      cmocka_unit_test(test_client_new_rejects_tls_files_without_tls),
      cmocka_unit_test(test_client_new_rejects_metadata_gRPC_cannot_send),
      cmocka_unit_test(test_client_new_rejects_oversized_message_limit),
      cmocka_unit_test(test_client_new_fails_cleanly_for_unreadable_ca_file),
      cmocka_unit_test(test_client_new_refuses_ca_file_without_certificate),
      cmocka_unit_test(test_client_new_with_defaults_makes_p256_key),
      cmocka_unit_test(test_client_new_makes_x25519_and_rsa_keys),
      cmocka_unit_test(test_client_free_ignores_null),
      cmocka_unit_test(test_key_rotates_after_the_query_limit),
      cmocka_unit_test(test_key_rotates_after_the_time_limit),
      cmocka_unit_test(test_key_in_use_survives_rotation),
      cmocka_unit_test_setup_teardown(
          test_schema_is_exposed_through_query_accessors, setup_query,
          teardown_query),
      cmocka_unit_test_setup_teardown(test_batch_accessors_read_every_type,
                                      setup_query, teardown_query),
      cmocka_unit_test_setup_teardown(
          test_batch_accessors_refuse_out_of_range_and_wrong_type,
          setup_query, teardown_query),
      cmocka_unit_test_setup_teardown(
          test_batch_with_missing_values_is_data_loss, setup_query,
          teardown_query),
      cmocka_unit_test_setup_teardown(
          test_batch_claiming_more_rows_is_data_loss, setup_query,
          teardown_query),
      cmocka_unit_test_setup_teardown(
          test_batch_with_extra_values_is_data_loss, setup_query,
          teardown_query),
      cmocka_unit_test_setup_teardown(
          test_batch_with_wrong_column_count_is_data_loss, setup_query,
          teardown_query),
      cmocka_unit_test_setup_teardown(
          test_batch_with_wrong_column_type_is_data_loss, setup_query,
          teardown_query),
      cmocka_unit_test_setup_teardown(
          test_batch_with_short_null_flags_is_data_loss, setup_query,
          teardown_query),
      cmocka_unit_test_setup_teardown(test_final_batch_is_data_loss,
                                      setup_query, teardown_query),
      cmocka_unit_test_setup_teardown(test_second_schema_is_data_loss,
                                      setup_query, teardown_query),
      cmocka_unit_test_setup_teardown(test_garbage_plaintext_is_data_loss,
                                      setup_query, teardown_query),
      cmocka_unit_test_setup_teardown(test_totals_end_the_stream, setup_query,
                                      teardown_query),
      cmocka_unit_test_setup_teardown(
          test_totals_before_the_end_are_data_loss, setup_query,
          teardown_query),
      cmocka_unit_test_setup_teardown(
          test_totals_that_disagree_are_data_loss, setup_query,
          teardown_query),
      cmocka_unit_test(test_stream_must_begin_with_schema),
      cmocka_unit_test(test_zero_column_batch_cannot_claim_rows),
      cmocka_unit_test(test_method_path_matches_service_descriptor),
      cmocka_unit_test(test_query_start_rejects_bad_arguments),
      cmocka_unit_test(test_query_start_reports_unreachable_server),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
