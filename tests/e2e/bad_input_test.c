// End to end: bad requests to the real server get the right gRPC status and
// a message, change nothing in the database, and leave the server serving.
// Requests the client library would never send (a crafted JWK, no key, an
// unsupported algorithm, garbage bytes) go through a raw gRPC call; bad SQL
// and over-the-cap limits go through the client library too, to see the
// status reach the user. Also: --max-streams, and the health service.
//
// Usage (from Bazel): bad_input_test SERVER_BINARY DEMO_DATA_BINARY
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "lib/jose/b64url.h"
#include "lib/jose/jwk.h"
#include "grpc/health/v1/health.pb-c.h"
#include "sealstream/client.h"
#include "sealstream/v1/query.pb-c.h"
#include "tests/support/fixture.h"
#include "lib/protocol/names.h"
#include "tests/support/raw_call.h"
#include "tests/support/result_check.h"
#include "tests/support/server_process.h"
#include "tests/support/test_db.h"

#define EVENT_ROWS 5000
// Marks input that must never be echoed in an error message.
#define MARKER "Zq9MarkerXy"

static const char *server_binary;
static const char *demo_binary;
static char db_path[4096];
static ss_test_server *server;            // plaintext refused (the default)
static ss_test_server *plaintext_server;  // started with --allow-plaintext
static char *public_jwk;                  // an EC P-256 public JWK, JSON
static char *private_jwk;                 // its private form, JSON
static ss_client *client;

static const uint8_t kRequestId[16] = {0x10, 0x32, 0x54, 0x76, 0x98, 0xba,
                                       0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67,
                                       0x89, 0xab, 0xcd, 0xef};

static int group_setup(void **state) {
  (void)state;
  ss_test_server_options options = {.binary = server_binary};
  server = ss_test_fixture_start(db_path, sizeof(db_path), "bad_input.db",
                                 demo_binary, EVENT_ROWS, 3, &options);
  options.allow_plaintext = 1;
  options.db_path = db_path;
  plaintext_server = server != NULL ? ss_test_fixture_server(&options) : NULL;
  if (plaintext_server == NULL) {
    return -1;
  }
  ss_status st;
  ss_status_init(&st);
  ss_jwk *key = ss_jwk_generate("EC", "P-256", 0, &st);
  ss_jwk *pub = key != NULL ? ss_jwk_public(key, &st) : NULL;
  public_jwk = pub != NULL ? ss_jwk_to_json(pub, 0, &st) : NULL;
  private_jwk = key != NULL ? ss_jwk_to_json(key, 1, &st) : NULL;
  ss_jwk_free(pub);
  ss_jwk_free(key);
  if (public_jwk == NULL || private_jwk == NULL) {
    fprintf(stderr, "key: %s\n", st.msg);
    return -1;
  }
  client = ss_test_fixture_client(ss_test_server_target(server), 0);
  return client != NULL ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  ss_client_free(client);
  ss_test_server_kill(server);
  ss_test_server_kill(plaintext_server);
  free(public_jwk);
  if (private_jwk != NULL) {
    memset(private_jwk, 0, strlen(private_jwk));
    free(private_jwk);
  }
  return 0;
}

// request holds a QueryRequest and the messages it points to.
typedef struct request {
  Sealstream__V1__QueryRequest req;
  Sealstream__V1__EncryptionOptions enc;
  Sealstream__V1__QueryLimits limits;
} request;

// request_init makes an encrypted request for |sql| to the test key.
static void request_init(request *r, const char *sql) {
  sealstream__v1__query_request__init(&r->req);
  sealstream__v1__encryption_options__init(&r->enc);
  sealstream__v1__query_limits__init(&r->limits);
  r->req.query = (char *)sql;
  r->req.client_request_id.data = (uint8_t *)kRequestId;
  r->req.client_request_id.len = sizeof(kRequestId);
  r->req.limits = &r->limits;
  r->enc.public_jwk = public_jwk;
  r->req.encryption = &r->enc;
}

// expect_refused_at sends |r| to |target| and checks the status is |code|
// with a message that contains |needle| (when not NULL) and no key material
// (MARKER, planted in JWK members), and that no data came with it. Names
// such as an unsupported "alg" may be quoted; key bytes never.
static void expect_refused_at(const char *target, const request *r,
                              grpc_status_code code, const char *needle) {
  ss_raw_result out;
  ss_raw_result_init(&out);
  ss_status st;
  if (!ss_raw_query(&out, target, &r->req, NULL, &st)) {
    fail_msg("raw call: %s", st.msg);
  }
  if (out.code != code) {
    fail_msg("query \"%.60s\": status %s (%s), expected %s", r->req.query,
             ss_status_code_name(out.code), out.details,
             ss_status_code_name(code));
  }
  if (out.details[0] == '\0') {
    fail_msg("query \"%.60s\": %s without a message", r->req.query,
             ss_status_code_name(code));
  }
  if (needle != NULL && strstr(out.details, needle) == NULL) {
    fail_msg("query \"%.60s\": message \"%s\" lacks \"%s\"", r->req.query,
             out.details, needle);
  }
  if (strstr(out.details, MARKER) != NULL) {
    fail_msg("message \"%s\" echoes the request's input", out.details);
  }
  assert_int_equal(out.num_messages, 0);
  ss_raw_result_cleanup(&out);
}

static void expect_refused(const request *r, grpc_status_code code,
                           const char *needle) {
  expect_refused_at(ss_test_server_target(server), r, code, needle);
}

// expect_still_serving runs a good query through the client library.
static void expect_still_serving(void) {
  ss_check_outcome out;
  if (!ss_result_check_run(&out, client, db_path,
                           "SELECT * FROM all_types ORDER BY id", NULL)) {
    fail_msg("good query after a bad one: %s",
             out.mismatch ? out.mismatch_msg : out.error.message);
  }
  assert_int_equal(out.rows, SS_TEST_DB_ALL_TYPES_ROWS);
}

static void test_malformed_jwk_is_invalid_argument(void **state) {
  (void)state;
  static const char *const kBadJwks[] = {
      "{not json " MARKER,
      "",
      "[]",
      "{\"kty\":\"EC\",\"crv\":\"P-256\"}",
      // Coordinates of the wrong length.
      "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" MARKER "\",\"y\":\"" MARKER
      "\"}",
      // A point not on the curve: (1, 1).
      "{\"kty\":\"EC\",\"crv\":\"P-256\","
      "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\","
      "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}",
      "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AAAA\"}",
      "{\"kty\":\"XYZ\",\"k\":\"" MARKER "\"}",
      // A symmetric key has no public part to encrypt to.
      "{\"kty\":\"oct\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
  };
  for (size_t i = 0; i < sizeof(kBadJwks) / sizeof(kBadJwks[0]); i++) {
    request r;
    request_init(&r, "SELECT 1");
    r.enc.public_jwk = (char *)kBadJwks[i];
    expect_refused(&r, GRPC_STATUS_INVALID_ARGUMENT, NULL);
  }
  expect_still_serving();
}

static void test_private_key_in_request_is_invalid_argument(void **state) {
  (void)state;
  request r;
  request_init(&r, "SELECT 1");
  r.enc.public_jwk = private_jwk;
  expect_refused(&r, GRPC_STATUS_INVALID_ARGUMENT, NULL);
  expect_still_serving();
}

// weak_rsa_jwk returns the public JWK of a new 1024-bit RSA key.
static char *weak_rsa_jwk(void) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
  EVP_PKEY *pkey = NULL;
  assert_non_null(ctx);
  assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
  assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 1024), 1);
  assert_int_equal(EVP_PKEY_keygen(ctx, &pkey), 1);
  const RSA *rsa = EVP_PKEY_get0_RSA(pkey);
  const BIGNUM *n = NULL;
  const BIGNUM *e = NULL;
  RSA_get0_key(rsa, &n, &e, NULL);
  uint8_t n_bytes[128];
  uint8_t e_bytes[8];
  size_t n_len = (size_t)BN_num_bytes(n);
  size_t e_len = (size_t)BN_num_bytes(e);
  assert_int_equal(n_len, sizeof(n_bytes));
  assert_true(e_len <= sizeof(e_bytes));
  BN_bn2bin(n, n_bytes);
  BN_bn2bin(e, e_bytes);
  char n_b64[200];
  char e_b64[16];
  ss_b64url_encode(n_b64, n_bytes, n_len);
  n_b64[ss_b64url_encoded_len(n_len)] = '\0';
  ss_b64url_encode(e_b64, e_bytes, e_len);
  e_b64[ss_b64url_encoded_len(e_len)] = '\0';
  char *json = malloc(400);
  assert_non_null(json);
  snprintf(json, 400, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}", n_b64,
           e_b64);
  EVP_PKEY_free(pkey);
  EVP_PKEY_CTX_free(ctx);
  return json;
}

static void test_weak_rsa_key_is_invalid_argument(void **state) {
  (void)state;
  char *jwk = weak_rsa_jwk();
  request r;
  request_init(&r, "SELECT 1");
  r.enc.public_jwk = jwk;
  r.enc.key_alg = "RSA-OAEP-256";
  expect_refused(&r, GRPC_STATUS_INVALID_ARGUMENT, "1024");
  r.enc.key_alg = "";
  expect_refused(&r, GRPC_STATUS_INVALID_ARGUMENT, NULL);
  free(jwk);
  expect_still_serving();
}

static void test_unsupported_algorithms_are_invalid_argument(void **state) {
  (void)state;
  static const char *const kBadKeyAlgs[] = {
      "RSA1_5", "none",      "PBES2-HS256+A128KW", "dir",
      "A128KW", "A256GCMKW", "RSA-OAEP-256",       "ECDH-ES+A999KW"};
  for (size_t i = 0; i < sizeof(kBadKeyAlgs) / sizeof(kBadKeyAlgs[0]); i++) {
    request r;
    request_init(&r, "SELECT 1");
    r.enc.key_alg = (char *)kBadKeyAlgs[i];
    expect_refused(&r, GRPC_STATUS_INVALID_ARGUMENT, NULL);
  }
  static const char *const kBadEncs[] = {"A512GCM", "none", "A128CBC"};
  for (size_t i = 0; i < sizeof(kBadEncs) / sizeof(kBadEncs[0]); i++) {
    request r;
    request_init(&r, "SELECT 1");
    r.enc.content_alg = (char *)kBadEncs[i];
    expect_refused(&r, GRPC_STATUS_INVALID_ARGUMENT, NULL);
  }
  expect_still_serving();
}

static void test_missing_key_is_failed_precondition(void **state) {
  (void)state;
  request r;
  request_init(&r, "SELECT * FROM http_events");
  r.req.encryption = NULL;
  expect_refused(&r, GRPC_STATUS_FAILED_PRECONDITION, NULL);
  expect_still_serving();
}

static void test_plaintext_server_answers_a_request_without_key(void **state) {
  (void)state;
  request r;
  request_init(&r, "SELECT * FROM http_events ORDER BY rowid");
  r.req.encryption = NULL;
  r.limits.max_rows_per_batch = 1000;
  ss_raw_result out;
  ss_raw_result_init(&out);
  ss_status st;
  if (!ss_raw_query(&out, ss_test_server_target(plaintext_server), &r.req, NULL,
                    &st)) {
    fail_msg("raw call: %s", st.msg);
  }
  if (out.code != GRPC_STATUS_OK) {
    fail_msg("%s: %s", ss_status_code_name(out.code), out.details);
  }
  // Schema, EVENT_ROWS / 1000 batches, stats, all in the clear.
  assert_int_equal(out.num_messages, EVENT_ROWS / 1000 + 2);
  uint64_t rows = 0;
  for (size_t i = 0; i < out.num_messages; i++) {
    Sealstream__V1__QueryResponse *resp =
        sealstream__v1__query_response__unpack(NULL, out.messages[i].len,
                                               out.messages[i].data);
    assert_non_null(resp);
    assert_int_equal(resp->message_case,
                     SEALSTREAM__V1__QUERY_RESPONSE__MESSAGE_PLAINTEXT);
    Sealstream__V1__StreamPayload *p = resp->plaintext;
    if (i == 0) {
      assert_int_equal(p->payload_case,
                       SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_SCHEMA);
      assert_int_equal(p->schema->n_columns, 9);
    } else if (i + 1 == out.num_messages) {
      assert_int_equal(p->payload_case,
                       SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_STATS);
      assert_int_equal(p->stats->rows, EVENT_ROWS);
      assert_int_equal(p->stats->batches, EVENT_ROWS / 1000);
    } else {
      assert_int_equal(p->payload_case,
                       SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_BATCH);
      rows += p->batch->num_rows;
    }
    sealstream__v1__query_response__free_unpacked(resp, NULL);
  }
  assert_int_equal(rows, EVENT_ROWS);
  ss_raw_result_cleanup(&out);

  // The same server still refuses what is wrong with a keyed request.
  request_init(&r, "SELECT 1");
  r.enc.public_jwk = "{not json";
  expect_refused_at(ss_test_server_target(plaintext_server), &r,
                    GRPC_STATUS_INVALID_ARGUMENT, NULL);
}

// expect_client_error runs |sql| through the client library and checks the
// error code and that the message contains |needle|.
static void expect_client_error(const char *sql, const ss_query_options *o,
                                int code, const char *needle) {
  ss_error err;
  memset(&err, 0, sizeof(err));
  ss_query *query = ss_query_start(client, sql, o, &err);
  if (query != NULL) {
    const ss_batch *batch;
    int rc;
    while ((rc = ss_query_next(query, &batch, &err)) == 1) {
    }
    ss_query_free(query);
    if (rc == 0) {
      fail_msg("\"%.60s\" succeeded; expected %s", sql,
               ss_error_code_name(code));
    }
  }
  if (err.code != code) {
    fail_msg("\"%.60s\": %s (%s), expected %s", sql,
             ss_error_code_name(err.code), err.message,
             ss_error_code_name(code));
  }
  if (needle != NULL && strstr(err.message, needle) == NULL) {
    fail_msg("\"%.60s\": message \"%s\" lacks \"%s\"", sql, err.message,
             needle);
  }
}

static void test_bad_sql_is_invalid_argument_with_sqlite_message(void **state) {
  (void)state;
  static const struct {
    const char *sql;
    const char *message;  // SQLite's own words
  } kCases[] = {
      {"SELEC 1", "syntax error"},
      {"SELECT * FROM no_such_table", "no such table: no_such_table"},
      {"SELECT no_such_column FROM http_events",
       "no such column: no_such_column"},
      {"SELECT count(*) FROM http_events GROUP BY", "incomplete input"},
      {"SELECT no_such_function(1)", "no such function: no_such_function"},
  };
  for (size_t i = 0; i < sizeof(kCases) / sizeof(kCases[0]); i++) {
    request r;
    request_init(&r, kCases[i].sql);
    expect_refused(&r, GRPC_STATUS_INVALID_ARGUMENT, kCases[i].message);
    expect_client_error(kCases[i].sql, NULL, 3, kCases[i].message);
  }
  expect_still_serving();
}

static void test_empty_query_is_invalid_argument(void **state) {
  (void)state;
  static const char *const kEmpty[] = {"", "   ", "-- only a comment",
                                       "/* nothing */ ;"};
  for (size_t i = 0; i < sizeof(kEmpty) / sizeof(kEmpty[0]); i++) {
    request r;
    request_init(&r, kEmpty[i]);
    expect_refused(&r, GRPC_STATUS_INVALID_ARGUMENT, NULL);
  }
  expect_still_serving();
}

// db_fingerprint sets counts that any write would change.
static void db_fingerprint(uint64_t out[3]) {
  ss_status st;
  assert_true(ss_test_db_count(db_path, "http_events", &out[0], &st));
  assert_true(ss_test_db_count(db_path, "all_types", &out[1], &st));
  assert_true(ss_test_db_count(db_path, "sqlite_master", &out[2], &st));
}

static void test_write_statements_are_refused(void **state) {
  (void)state;
  static const char *const kWrites[] = {
      "DELETE FROM http_events",
      "INSERT INTO all_types(id) VALUES (1000)",
      "UPDATE http_events SET status = 0",
      "REPLACE INTO all_types(id, i) VALUES (1, 0)",
      "WITH x AS (SELECT 1) DELETE FROM http_events",
      "DROP TABLE all_types",
      "CREATE TABLE t(x)",
      "CREATE TEMP TABLE t(x)",
      "CREATE VIEW v AS SELECT 1",
      "CREATE INDEX i1 ON http_events(status)",
      "ALTER TABLE all_types ADD COLUMN z",
      "PRAGMA user_version = 5",
      "PRAGMA writable_schema = 1",
      "PRAGMA journal_mode = DELETE",
      "VACUUM",
      "VACUUM INTO '/tmp/sealstream_vacuum_copy.db'",
      "REINDEX",
      "ANALYZE",
      "BEGIN",
      "SAVEPOINT s1",
      "SELECT load_extension('/tmp/none.so')",
  };
  uint64_t before[3];
  db_fingerprint(before);
  for (size_t i = 0; i < sizeof(kWrites) / sizeof(kWrites[0]); i++) {
    request r;
    request_init(&r, kWrites[i]);
    expect_refused(&r, GRPC_STATUS_INVALID_ARGUMENT, NULL);
  }
  expect_client_error("DELETE FROM http_events", NULL, 3, "read-only");
  uint64_t after[3];
  db_fingerprint(after);
  assert_memory_equal(before, after, sizeof(before));
  struct stat sb;
  assert_int_not_equal(stat("/tmp/sealstream_vacuum_copy.db", &sb), 0);
  expect_still_serving();
}

static void test_attach_is_refused(void **state) {
  (void)state;
  char other[4200];
  snprintf(other, sizeof(other), "%s.attached", db_path);
  char attach[4400];
  snprintf(attach, sizeof(attach), "ATTACH DATABASE '%s' AS other", other);
  static const char *const kAttach[] = {
      "ATTACH DATABASE ':memory:' AS m",
      "ATTACH 'file:x?mode=memory' AS m",
      "DETACH DATABASE main",
  };
  request r;
  request_init(&r, attach);
  expect_refused(&r, GRPC_STATUS_INVALID_ARGUMENT, NULL);
  for (size_t i = 0; i < sizeof(kAttach) / sizeof(kAttach[0]); i++) {
    request_init(&r, kAttach[i]);
    expect_refused(&r, GRPC_STATUS_INVALID_ARGUMENT, NULL);
  }
  struct stat sb;
  assert_int_not_equal(stat(other, &sb), 0);
  expect_still_serving();
}

static void test_more_than_one_statement_is_refused(void **state) {
  (void)state;
  uint64_t before[3];
  db_fingerprint(before);
  static const char *const kMulti[] = {
      "SELECT 1; SELECT 2",
      "SELECT 1; DELETE FROM http_events",
      "SELECT 1;;; SELECT 2",
  };
  for (size_t i = 0; i < sizeof(kMulti) / sizeof(kMulti[0]); i++) {
    request r;
    request_init(&r, kMulti[i]);
    expect_refused(&r, GRPC_STATUS_INVALID_ARGUMENT, NULL);
  }
  uint64_t after[3];
  db_fingerprint(after);
  assert_memory_equal(before, after, sizeof(before));
  expect_still_serving();
}

static void test_limits_over_the_caps_are_resource_exhausted(void **state) {
  (void)state;
  request r;
  request_init(&r, "SELECT * FROM http_events");
  r.limits.max_rows_per_batch = 1000001;
  expect_refused(&r, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL);
  r.limits.max_rows_per_batch = UINT32_MAX;
  expect_refused(&r, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL);
  r.limits.max_rows_per_batch = 0;
  r.limits.max_bytes_per_batch = 16 * 1024 * 1024 + 1;
  expect_refused(&r, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL);
  r.limits.max_bytes_per_batch = UINT64_MAX;
  expect_refused(&r, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL);

  // Through the client library the status reaches the caller unchanged.
  ss_query_options o = {.max_rows_per_batch = 2000000};
  expect_client_error("SELECT 1", &o, 8, NULL);
  ss_query_options o2 = {.max_bytes_per_batch = UINT64_MAX};
  expect_client_error("SELECT 1", &o2, 8, NULL);

  // SQL longer than the server's 64 KiB cap.
  size_t len = 64 * 1024 + 100;
  char *sql = malloc(len + 1);
  assert_non_null(sql);
  memcpy(sql, "SELECT 1", 8);
  memset(sql + 8, ' ', len - 8);
  sql[len] = '\0';
  request_init(&r, sql);
  expect_refused(&r, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL);
  free(sql);
  expect_still_serving();
}

static void test_oversized_request_message_is_refused(void **state) {
  (void)state;
  // Larger than any request the server accepts (gRPC's receive cap).
  size_t len = 8 * 1024 * 1024;
  char *sql = malloc(len + 1);
  assert_non_null(sql);
  memcpy(sql, "SELECT 1", 8);
  memset(sql + 8, ' ', len - 8);
  sql[len] = '\0';
  request r;
  request_init(&r, sql);
  expect_refused(&r, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL);
  free(sql);
  expect_still_serving();
}

static void test_oversized_request_id_is_invalid_argument(void **state) {
  (void)state;
  uint8_t long_id[65];
  memset(long_id, 7, sizeof(long_id));
  request r;
  request_init(&r, "SELECT 1");
  r.req.client_request_id.data = long_id;
  r.req.client_request_id.len = sizeof(long_id);
  expect_refused(&r, GRPC_STATUS_INVALID_ARGUMENT, NULL);
  expect_still_serving();
}

static void test_garbage_request_bytes_are_invalid_argument(void **state) {
  (void)state;
  static const uint8_t kGarbage[][8] = {
      {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
      {0x0a, 0x7f, 's', 'e', 'l', 'e', 'c', 't'},        // length past the end
      {0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // group wire type
  };
  for (size_t i = 0; i < sizeof(kGarbage) / sizeof(kGarbage[0]); i++) {
    ss_raw_result out;
    ss_raw_result_init(&out);
    ss_status st;
    assert_true(ss_raw_call(&out, ss_test_server_target(server),
                            SS_PROTOCOL_EXECUTE_QUERY_METHOD, kGarbage[i],
                            sizeof(kGarbage[i]), NULL, &st));
    if (out.code != GRPC_STATUS_INVALID_ARGUMENT) {
      fail_msg("garbage request %zu: %s (%s)", i, ss_status_code_name(out.code),
               out.details);
    }
    assert_true(out.details[0] != '\0');
    assert_int_equal(out.num_messages, 0);
    ss_raw_result_cleanup(&out);
  }
  expect_still_serving();
}

static void test_unknown_method_is_unimplemented(void **state) {
  (void)state;
  ss_raw_result out;
  ss_raw_result_init(&out);
  ss_status st;
  static const uint8_t kEmpty[1] = {0};
  assert_true(ss_raw_call(&out, ss_test_server_target(server),
                          "/sealstream.v1.QueryService/NoSuchMethod", kEmpty, 0,
                          NULL, &st));
  assert_int_equal(out.code, GRPC_STATUS_UNIMPLEMENTED);
  assert_int_equal(out.num_messages, 0);
  ss_raw_result_cleanup(&out);
  expect_still_serving();
}

static void test_queries_over_max_streams_are_resource_exhausted(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  ss_test_server_options options = {
      .binary = server_binary, .db_path = db_path, .max_streams = 2};
  ss_test_server *s = ss_test_fixture_server(&options);
  assert_non_null(s);
  ss_client *c = ss_test_fixture_client(ss_test_server_target(s), 0);
  assert_non_null(c);
  ss_error err;
  static const char kEndless[] =
      "SELECT a.rowid, b.rowid FROM http_events a, http_events b";
  ss_query_options query_options = {.max_rows_per_batch = 10};
  for (int round = 0; round < 3; round++) {
    // Two running queries fill the server; a third is refused; once they
    // are gone the slots are free again.
    ss_query *running[2];
    for (int i = 0; i < 2; i++) {
      running[i] = ss_query_start(c, kEndless, &query_options, &err);
      // The wait below sees one slot free; the other may take a moment
      // longer to be released by the previous round's cancel.
      for (int attempt = 0; attempt < 50 && running[i] == NULL &&
                            round > 0 && err.code == 8;
           attempt++) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        running[i] = ss_query_start(c, kEndless, &query_options, &err);
      }
      if (running[i] == NULL) {
        fail_msg("round %d query %d: %s: %s", round, i,
                 ss_error_code_name(err.code), err.message);
      }
    }
    ss_query *third = ss_query_start(c, "SELECT 1", NULL, &err);
    if (third != NULL) {
      const ss_batch *batch;
      int rc;
      while ((rc = ss_query_next(third, &batch, &err)) == 1) {
      }
      ss_query_free(third);
      assert_int_equal(rc, -1);
    }
    if (err.code != 8) {
      fail_msg("round %d: third query: %s (%s), expected RESOURCE_EXHAUSTED",
               round, ss_error_code_name(err.code), err.message);
    }
    assert_true(err.message[0] != '\0');
    ss_query_free(running[0]);
    ss_query_free(running[1]);
    // The server frees the slots when it sees the cancels.
    int served = 0;
    for (int attempt = 0; attempt < 50 && !served; attempt++) {
      ss_check_outcome out;
      served = ss_result_check_run(&out, c, db_path,
                                   "SELECT * FROM all_types ORDER BY id", NULL);
      if (!served) {
        if (out.error.code != 8) {
          fail_msg("after the cancels: %s",
                   out.mismatch ? out.mismatch_msg : out.error.message);
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
      }
    }
    if (!served) {
      fail_msg(
          "round %d: the server never freed the slots of cancelled "
          "queries",
          round);
    }
  }
  ss_client_free(c);
  if (!ss_test_server_stop(s, 60, &st)) {
    fail_msg("%s", st.msg);
  }
}

// health_check calls grpc.health.v1.Health/Check for |service|. Returns the
// call's status; sets |*out_serving| from the response when OK.
static grpc_status_code health_check(const char *service, int *out_serving) {
  Grpc__Health__V1__HealthCheckRequest req =
      GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  req.service = (char *)service;
  uint8_t packed[256];
  size_t len = grpc__health__v1__health_check_request__get_packed_size(&req);
  assert_true(len <= sizeof(packed));
  grpc__health__v1__health_check_request__pack(&req, packed);
  ss_raw_result out;
  ss_raw_result_init(&out);
  ss_status st;
  if (!ss_raw_call(&out, ss_test_server_target(server),
                   "/grpc.health.v1.Health/Check", packed, len, NULL, &st)) {
    fail_msg("raw call: %s", st.msg);
  }
  *out_serving = 0;
  if (out.code == GRPC_STATUS_OK) {
    assert_int_equal(out.num_messages, 1);
    Grpc__Health__V1__HealthCheckResponse *resp =
        grpc__health__v1__health_check_response__unpack(
            NULL, out.messages[0].len, out.messages[0].data);
    assert_non_null(resp);
    *out_serving =
        resp->status ==
        GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
  }
  grpc_status_code code = out.code;
  ss_raw_result_cleanup(&out);
  return code;
}

static void test_health_check_reports_serving(void **state) {
  (void)state;
  int serving = 0;
  assert_int_equal(health_check("", &serving), GRPC_STATUS_OK);
  assert_true(serving);
  assert_int_equal(health_check("sealstream.v1.QueryService", &serving),
                   GRPC_STATUS_OK);
  assert_true(serving);
  assert_int_equal(health_check("no.such.Service", &serving),
                   GRPC_STATUS_NOT_FOUND);
  expect_still_serving();
}

static void test_servers_exit_zero_on_sigterm(void **state) {
  (void)state;
  ss_status st;
  ss_status_init(&st);
  ss_client_free(client);
  client = NULL;
  // The group teardown kills the plaintext server if the first stop fails.
  if (!ss_test_fixture_stop(&server, &st)) {
    fail_msg("%s", st.msg);
  }
  if (!ss_test_fixture_stop(&plaintext_server, &st)) {
    fail_msg("--allow-plaintext server: %s", st.msg);
  }
}

int main(int argc, char **argv) {
  if (!ss_test_fixture_args(argc, argv, &server_binary, &demo_binary)) {
    return 2;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_malformed_jwk_is_invalid_argument),
      cmocka_unit_test(test_private_key_in_request_is_invalid_argument),
      cmocka_unit_test(test_weak_rsa_key_is_invalid_argument),
      cmocka_unit_test(test_unsupported_algorithms_are_invalid_argument),
      cmocka_unit_test(test_missing_key_is_failed_precondition),
      cmocka_unit_test(test_plaintext_server_answers_a_request_without_key),
      cmocka_unit_test(test_bad_sql_is_invalid_argument_with_sqlite_message),
      cmocka_unit_test(test_empty_query_is_invalid_argument),
      cmocka_unit_test(test_write_statements_are_refused),
      cmocka_unit_test(test_attach_is_refused),
      cmocka_unit_test(test_more_than_one_statement_is_refused),
      cmocka_unit_test(test_limits_over_the_caps_are_resource_exhausted),
      cmocka_unit_test(test_oversized_request_message_is_refused),
      cmocka_unit_test(test_oversized_request_id_is_invalid_argument),
      cmocka_unit_test(test_garbage_request_bytes_are_invalid_argument),
      cmocka_unit_test(test_unknown_method_is_unimplemented),
      cmocka_unit_test(test_queries_over_max_streams_are_resource_exhausted),
      cmocka_unit_test(test_health_check_reports_serving),
      cmocka_unit_test(test_servers_exit_zero_on_sigterm),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
