// The sealstream server end to end over loopback gRPC, with a real SQLite
// file and a real client key: encrypted streams that decrypt and check,
// plaintext only when allowed, every refusal with its status code, health,
// cancel and deadline freeing the query, drain with its grace and timeout,
// the stream cap, the request log, and the sealstream-server binary's
// start-up and SIGTERM.
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "grpc/health/v1/health.pb-c.h"
#include "lib/base/bytes.h"
#include "lib/jose/jwk.h"
#include "lib/protocol/names.h"
#include "lib/protocol/stream.h"
#include "lib/rpc/health.h"
#include "lib/rpc/test_client.h"
#include "sealstream/v1/query.pb-c.h"

#define NUM_ROWS 2000
// Rows without end, produced as fast as SQLite can count.
#define ENDLESS_SQL                                                  \
  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) " \
  "SELECT x FROM c"
// A statement that never yields a row: it keeps SQLite busy in one step.
#define STUCK_SQL                                                    \
  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) " \
  "SELECT count(*) FROM c"

static char g_db_path[512];
static ss_jwk *g_key;        // the client's private key
static char *g_public_jwk;   // its public JWK, JSON
static char *g_private_jwk;  // the private JWK, JSON (sent by mistake)
static const uint8_t kRequestId[16] = {9, 8, 7, 6, 5, 4, 3, 2,
                                       1, 0, 1, 2, 3, 4, 5, 6};

typedef struct fixture {
  ss_server *server;
  grpc_channel *channel;
  FILE *log;
  char *log_text;
  size_t log_len;
} fixture;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// --- database and key --------------------------------------------------------

static int make_db(void) {
  const char *tmp = getenv("TEST_TMPDIR");
  snprintf(g_db_path, sizeof(g_db_path), "%s/server_test.db",
           tmp != NULL ? tmp : "/tmp");
  unlink(g_db_path);
  sqlite3 *db;
  if (sqlite3_open(g_db_path, &db) != SQLITE_OK) {
    return 0;
  }
  char *err = NULL;
  int rc = sqlite3_exec(
      db,
      "CREATE TABLE events(id INTEGER, name TEXT, value REAL, ok BOOL, "
      "ts TIMESTAMP, data BLOB);"
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
      "LIMIT 2000) "
      "INSERT INTO events SELECT x, 'event ' || x, x / 4.0, x % 2, "
      "1700000000000000000 + x, zeroblob(x % 7) FROM c;",
      NULL, NULL, &err);
  sqlite3_free(err);
  sqlite3_close(db);
  return rc == SQLITE_OK;
}

static int group_setup(void **state) {
  (void)state;
  if (!make_db()) {
    return -1;
  }
  ss_status st;
  g_key = ss_jwk_generate("EC", "P-256", 0, &st);
  if (g_key == NULL) {
    return -1;
  }
  ss_jwk *pub = ss_jwk_public(g_key, &st);
  g_public_jwk = ss_jwk_to_json(pub, 0, &st);
  ss_jwk_free(pub);
  g_private_jwk = ss_jwk_to_json(g_key, 1, &st);
  return g_public_jwk == NULL || g_private_jwk == NULL;
}

static int group_teardown(void **state) {
  (void)state;
  ss_jwk_free(g_key);
  free(g_public_jwk);
  free(g_private_jwk);
  unlink(g_db_path);
  return 0;
}

// --- fixtures ----------------------------------------------------------------

static int start_fixture(void **state, int allow_plaintext, int max_streams,
                         int64_t drain_timeout_ms, int64_t drain_grace_ms,
                         int64_t max_query_ms) {
  fixture *f = calloc(1, sizeof(*f));
  f->log = open_memstream(&f->log_text, &f->log_len);
  ss_server_options options;
  ss_server_options_init(&options);
  options.db_path = g_db_path;
  options.listen_addr = "127.0.0.1:0";
  options.allow_plaintext = allow_plaintext;
  options.num_workers = 2;
  options.log = f->log;
  if (max_streams > 0) {
    options.max_streams = max_streams;
  }
  options.drain_timeout_ms = drain_timeout_ms;
  options.drain_grace_ms = drain_grace_ms;
  options.max_query_ms = max_query_ms;
  ss_status st;
  f->server = ss_server_start(&options, &st);
  if (f->server == NULL) {
    print_error("server: %s\n", st.msg);
    fclose(f->log);
    free(f->log_text);
    free(f);
    return -1;
  }
  f->channel = ss_test_channel_new(ss_server_port(f->server));
  *state = f;
  return 0;
}

static int setup(void **state) {
  return start_fixture(state, 0, 0, 5000, 0, 0);
}

static int setup_plaintext(void **state) {
  return start_fixture(state, 1, 0, 5000, 0, 0);
}

static int setup_one_stream(void **state) {
  return start_fixture(state, 0, 1, 200, 0, 0);
}

static int setup_grace(void **state) {
  return start_fixture(state, 0, 0, 10000, 400, 0);
}

static int setup_query_cap(void **state) {
  return start_fixture(state, 0, 0, 5000, 0, 200);
}

// stop_fixture stops the server (if not yet) and closes the log, whose
// text stays readable in f->log_text.
static void stop_fixture(fixture *f) {
  if (f->channel != NULL) {
    grpc_channel_destroy(f->channel);
    grpc_shutdown();
    f->channel = NULL;
  }
  ss_server_free(f->server);
  f->server = NULL;
  if (f->log != NULL) {
    fclose(f->log);
    f->log = NULL;
  }
}

static int teardown(void **state) {
  fixture *f = *state;
  stop_fixture(f);
  free(f->log_text);
  free(f);
  return 0;
}

static int count_lines(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL;
       p++) {
    n++;
  }
  return n;
}

static int wait_no_queries(const fixture *f) {
  int64_t until = now_ms() + 5000;
  while (ss_server_active_queries(f->server) != 0 && now_ms() < until) {
    usleep(2000);
  }
  return ss_server_active_queries(f->server) == 0;
}

// --- requests ----------------------------------------------------------------

typedef struct request_opts {
  const char *sql;
  const char *jwk;  // NULL: no EncryptionOptions
  uint32_t rows_per_batch;
  int compact;
  int serialization;  // nonzero: sent as is instead of what |compact| says
  int compression;    // sent as is
} request_opts;

static uint8_t *pack_request(const request_opts *o, size_t *out_len) {
  Sealstream__V1__QueryRequest req = SEALSTREAM__V1__QUERY_REQUEST__INIT;
  Sealstream__V1__QueryLimits limits = SEALSTREAM__V1__QUERY_LIMITS__INIT;
  Sealstream__V1__EncryptionOptions enc =
      SEALSTREAM__V1__ENCRYPTION_OPTIONS__INIT;
  req.query = (char *)o->sql;
  req.client_request_id.data = (uint8_t *)kRequestId;
  req.client_request_id.len = sizeof(kRequestId);
  if (o->rows_per_batch != 0) {
    limits.max_rows_per_batch = o->rows_per_batch;
    req.limits = &limits;
  }
  if (o->jwk != NULL) {
    enc.public_jwk = (char *)o->jwk;
    enc.serialization =
        o->compact ? SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_COMPACT
                   : SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS;
    if (o->serialization != 0) {
      enc.serialization = (Sealstream__V1__Serialization)o->serialization;
    }
    enc.compression = (Sealstream__V1__Compression)o->compression;
    req.encryption = &enc;
  }
  *out_len = sealstream__v1__query_request__get_packed_size(&req);
  uint8_t *data = malloc(*out_len + 1);
  sealstream__v1__query_request__pack(&req, data);
  return data;
}

typedef struct result {
  grpc_status_code code;
  char details[512];
  int messages;        // responses received
  int compact;         // responses that were compact JWEs
  int plaintext;       // responses that were plaintext
  int schema_columns;  // columns in the Schema message
  uint64_t rows;       // rows over every RowBatch
  int got_stats;
  uint64_t stats_rows;
  char query_id[80];
  int stream_ok;  // every message opened and the stream finished
  char stream_error[SS_STATUS_MSG_MAX];
} result;

static void take_payload(result *r, const uint8_t *data, size_t len) {
  Sealstream__V1__StreamPayload *p =
      sealstream__v1__stream_payload__unpack(NULL, len, data);
  assert_non_null(p);
  switch (p->payload_case) {
    case SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_SCHEMA:
      assert_int_equal(r->messages, 1);
      r->schema_columns = (int)p->schema->n_columns;
      break;
    case SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_BATCH:
      r->rows += p->batch->num_rows;
      break;
    case SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_STATS:
      r->got_stats = 1;
      r->stats_rows = p->stats->rows;
      break;
    default:
      fail_msg("payload without a case");
  }
  sealstream__v1__stream_payload__free_unpacked(p, NULL);
}

// read_stream receives up to |max_messages| responses (0: all), opening and
// checking each one.
static void read_stream(ss_test_call *call, result *r, int max_messages) {
  ss_status st;
  ss_stream_opener *opener =
      ss_stream_opener_new(g_key, kRequestId, sizeof(kRequestId), 0, &st);
  assert_non_null(opener);
  r->stream_ok = 1;
  ss_buf msg = {0}, plain = {0};
  while ((max_messages == 0 || r->messages < max_messages) &&
         ss_test_call_recv(call, &msg)) {
    r->messages++;
    Sealstream__V1__QueryResponse *resp =
        sealstream__v1__query_response__unpack(NULL, msg.len, msg.data);
    assert_non_null(resp);
    snprintf(r->query_id, sizeof(r->query_id), "%s", resp->query_id);
    if (resp->message_case ==
        SEALSTREAM__V1__QUERY_RESPONSE__MESSAGE_PLAINTEXT) {
      r->plaintext++;
      size_t len =
          sealstream__v1__stream_payload__get_packed_size(resp->plaintext);
      uint8_t *data = malloc(len + 1);
      sealstream__v1__stream_payload__pack(resp->plaintext, data);
      take_payload(r, data, len);
      free(data);
    } else {
      if (resp->message_case ==
          SEALSTREAM__V1__QUERY_RESPONSE__MESSAGE_JWE_COMPACT) {
        r->compact++;
      }
      int final = 0;
      if (r->stream_ok &&
          ss_stream_opener_open(opener, resp, &plain, &final, &st)) {
        take_payload(r, plain.data, plain.len);
      } else if (r->stream_ok) {
        r->stream_ok = 0;
        snprintf(r->stream_error, sizeof(r->stream_error), "%s", st.msg);
      }
    }
    sealstream__v1__query_response__free_unpacked(resp, NULL);
  }
  if (max_messages == 0 && r->stream_ok && r->plaintext == 0 &&
      !ss_stream_opener_finish(opener, &st)) {
    r->stream_ok = 0;
    snprintf(r->stream_error, sizeof(r->stream_error), "%s", st.msg);
  }
  ss_buf_cleanup(&msg);
  ss_buf_cleanup(&plain);
  ss_stream_opener_free(opener);
}

static ss_test_call *start_query(grpc_channel *channel, const request_opts *o,
                                 int64_t timeout_ms) {
  size_t len;
  uint8_t *req = pack_request(o, &len);
  ss_test_call *call = ss_test_call_start(
      channel, SS_PROTOCOL_EXECUTE_QUERY_METHOD, req, len, timeout_ms);
  free(req);
  assert_non_null(call);
  return call;
}

static void run_query(grpc_channel *channel, const request_opts *o,
                      int64_t timeout_ms, result *r) {
  memset(r, 0, sizeof(*r));
  ss_test_call *call = start_query(channel, o, timeout_ms);
  read_stream(call, r, 0);
  r->code = ss_test_call_status(call, r->details, sizeof(r->details));
  ss_test_call_free(call);
}

static void expect_refusal(fixture *f, const request_opts *o,
                           grpc_status_code code, const char *needle) {
  result r;
  run_query(f->channel, o, 5000, &r);
  if (r.code != code || strstr(r.details, needle) == NULL) {
    fail_msg("expected %s \"%s\", got %s \"%s\"", ss_status_code_name(code),
             needle, ss_status_code_name(r.code), r.details);
  }
  assert_int_equal(r.messages, 0);
}

static grpc_status_code health(grpc_channel *channel, const char *service,
                               int *out_status) {
  Grpc__Health__V1__HealthCheckRequest req =
      GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  req.service = (char *)service;
  uint8_t buf[256];
  size_t len = grpc__health__v1__health_check_request__pack(&req, buf);
  ss_buf resp = {0};
  grpc_status_code code = ss_test_unary(channel, SS_RPC_HEALTH_CHECK_METHOD,
                                        buf, len, &resp, NULL, 0, 5000);
  *out_status = -1;
  if (code == GRPC_STATUS_OK) {
    Grpc__Health__V1__HealthCheckResponse *r =
        grpc__health__v1__health_check_response__unpack(
            NULL, resp.len, resp.data != NULL ? resp.data : buf);
    assert_non_null(r);
    *out_status = r->status;
    grpc__health__v1__health_check_response__free_unpacked(r, NULL);
  }
  ss_buf_cleanup(&resp);
  return code;
}

// --- tests
// ---------------------------------------------------------------------

static void test_query_streams_schema_batches_and_stats_sealed_to_the_key(
    void **state) {
  fixture *f = *state;
  request_opts o = {.sql = "SELECT * FROM events ORDER BY id",
                    .jwk = g_public_jwk,
                    .rows_per_batch = 300};
  result r;
  run_query(f->channel, &o, 10000, &r);
  if (r.code != GRPC_STATUS_OK || !r.stream_ok) {
    fail_msg("%s \"%s\"; stream: %s", ss_status_code_name(r.code), r.details,
             r.stream_error);
  }
  // Schema, ceil(2000 / 300) = 7 batches, stats.
  assert_int_equal(r.messages, 1 + 7 + 1);
  assert_int_equal(r.schema_columns, 6);
  assert_int_equal(r.rows, NUM_ROWS);
  assert_true(r.got_stats);
  assert_int_equal(r.stats_rows, NUM_ROWS);
  assert_int_equal(r.compact, 0);
  assert_int_equal(r.plaintext, 0);
  assert_int_equal(strlen(r.query_id), 16);
  assert_int_equal(strspn(r.query_id, "0123456789abcdef"), 16);
}

static void test_query_ids_differ_and_compact_form_is_honoured(void **state) {
  fixture *f = *state;
  request_opts o = {.sql = "SELECT id, name FROM events WHERE id <= 10",
                    .jwk = g_public_jwk,
                    .compact = 1};
  result a, b;
  run_query(f->channel, &o, 10000, &a);
  run_query(f->channel, &o, 10000, &b);
  assert_int_equal(a.code, GRPC_STATUS_OK);
  assert_true(a.stream_ok);
  assert_int_equal(a.compact, a.messages);
  assert_int_equal(a.rows, 10);
  assert_string_not_equal(a.query_id, b.query_id);
}

static void test_request_without_a_key_is_refused_when_encryption_is_required(
    void **state) {
  request_opts o = {.sql = "SELECT 1"};
  expect_refusal(*state, &o, GRPC_STATUS_FAILED_PRECONDITION,
                 "this server requires encryption: send "
                 "encryption.public_jwk");
}

static void test_plaintext_is_answered_when_allowed(void **state) {
  fixture *f = *state;
  // The server writes QueryResponse by hand: its field numbers must match.
  assert_int_equal(protobuf_c_message_descriptor_get_field_by_name(
                       &sealstream__v1__query_response__descriptor, "query_id")
                       ->id,
                   1);
  assert_int_equal(protobuf_c_message_descriptor_get_field_by_name(
                       &sealstream__v1__query_response__descriptor, "plaintext")
                       ->id,
                   4);
  request_opts o = {.sql = "SELECT * FROM events", .rows_per_batch = 1000};
  result r;
  run_query(f->channel, &o, 10000, &r);
  assert_int_equal(r.code, GRPC_STATUS_OK);
  assert_int_equal(r.plaintext, r.messages);
  assert_int_equal(r.messages, 1 + 2 + 1);
  assert_int_equal(r.rows, NUM_ROWS);
  assert_int_equal(r.stats_rows, NUM_ROWS);
  // A key is still honoured.
  o.jwk = g_public_jwk;
  run_query(f->channel, &o, 10000, &r);
  assert_int_equal(r.code, GRPC_STATUS_OK);
  assert_true(r.stream_ok);
  assert_int_equal(r.plaintext, 0);
  stop_fixture(f);
  assert_non_null(strstr(f->log_text, "mode=plaintext"));
  assert_non_null(strstr(f->log_text, "mode=jwe"));
}

static void test_malformed_and_private_keys_are_invalid_argument(void **state) {
  request_opts o = {.sql = "SELECT 1", .jwk = "{\"kty\":\"EC\",\"crv\""};
  expect_refusal(*state, &o, GRPC_STATUS_INVALID_ARGUMENT, "");
  o.jwk = "";
  expect_refusal(*state, &o, GRPC_STATUS_INVALID_ARGUMENT, "");
  o.jwk = g_private_jwk;
  expect_refusal(*state, &o, GRPC_STATUS_INVALID_ARGUMENT, "");
}

static void test_bad_sql_is_invalid_argument_with_sqlites_message(
    void **state) {
  request_opts o = {.sql = "SELEC 1", .jwk = g_public_jwk};
  expect_refusal(*state, &o, GRPC_STATUS_INVALID_ARGUMENT, "syntax error");
  o.sql = "SELECT nope FROM events";
  expect_refusal(*state, &o, GRPC_STATUS_INVALID_ARGUMENT, "no such column");
}

static void test_write_statements_are_invalid_argument(void **state) {
  request_opts o = {.sql = "DELETE FROM events", .jwk = g_public_jwk};
  expect_refusal(*state, &o, GRPC_STATUS_INVALID_ARGUMENT, "");
  o.sql = "CREATE TABLE t(x)";
  expect_refusal(*state, &o, GRPC_STATUS_INVALID_ARGUMENT, "");
  // Nothing was deleted.
  o.sql = "SELECT count(*) FROM events";
  result r;
  run_query(((fixture *)*state)->channel, &o, 10000, &r);
  assert_int_equal(r.code, GRPC_STATUS_OK);
  assert_int_equal(r.rows, 1);
}

static void test_malformed_requests_are_invalid_argument(void **state) {
  fixture *f = *state;
  ss_buf resp = {0};
  char details[256];
  // Field 1 claims 100 bytes of which 2 follow.
  static const uint8_t truncated[] = {0x0a, 100, 'a', 'b'};
  assert_int_equal(
      ss_test_unary(f->channel, SS_PROTOCOL_EXECUTE_QUERY_METHOD, truncated,
                    sizeof(truncated), &resp, details, sizeof(details), 5000),
      GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(details, "malformed QueryRequest"));
  // A NUL inside the query would cut it short without a word.
  static const uint8_t with_nul[] = {0x0a, 10,  'S', 'E', 'L', 'E',
                                     'C',  'T', ' ', '1', 0,   'x'};
  assert_int_equal(
      ss_test_unary(f->channel, SS_PROTOCOL_EXECUTE_QUERY_METHOD, with_nul,
                    sizeof(with_nul), &resp, details, sizeof(details), 5000),
      GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(details, "NUL"));
  // No message at all.
  assert_int_equal(
      ss_test_unary(f->channel, SS_PROTOCOL_EXECUTE_QUERY_METHOD, NULL, 0, &resp,
                    details, sizeof(details), 5000),
      GRPC_STATUS_INVALID_ARGUMENT);
  ss_buf_cleanup(&resp);
}

static void test_unknown_enum_values_are_invalid_argument_naming_the_field(
    void **state) {
  request_opts o = {.sql = "SELECT 1", .jwk = g_public_jwk,
                    .serialization = 99};
  expect_refusal(*state, &o, GRPC_STATUS_INVALID_ARGUMENT,
                 "QueryRequest.encryption.serialization is 99");
  o.serialization = 0;
  o.compression = 99;
  expect_refusal(*state, &o, GRPC_STATUS_INVALID_ARGUMENT,
                 "QueryRequest.encryption.compression is 99");
  o.compression = -1;
  expect_refusal(*state, &o, GRPC_STATUS_INVALID_ARGUMENT,
                 "QueryRequest.encryption.compression is -1");
  // Every defined value is still taken.
  o.compression = SEALSTREAM__V1__COMPRESSION__COMPRESSION_DEFLATE;
  o.serialization = SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_COMPACT;
  result r;
  run_query(((fixture *)*state)->channel, &o, 10000, &r);
  assert_int_equal(r.code, GRPC_STATUS_OK);
  assert_true(r.stream_ok);
}

static void test_a_kid_too_long_for_the_header_is_refused_naming_the_limit(
    void **state) {
  // The public JWK with a 10 KB "kid" added in front.
  assert_null(strstr(g_public_jwk, "\"kid\""));
  size_t kid_len = 10000;
  size_t len = strlen(g_public_jwk) + kid_len + 16;
  char *jwk = malloc(len);
  assert_non_null(jwk);
  memcpy(jwk, "{\"kid\":\"", 8);
  memset(jwk + 8, 'k', kid_len);
  snprintf(jwk + 8 + kid_len, len - 8 - kid_len, "\",%s", g_public_jwk + 1);
  request_opts o = {.sql = "SELECT 1", .jwk = jwk};
  expect_refusal(*state, &o, GRPC_STATUS_RESOURCE_EXHAUSTED,
                 "over the limit of 8192 (the key's kid is 10000 bytes)");
  free(jwk);
}

static void test_unknown_method_is_unimplemented(void **state) {
  fixture *f = *state;
  ss_buf resp = {0};
  assert_int_equal(ss_test_unary(f->channel, "/sealstream.v1.QueryService/Drop",
                                 "", 0, &resp, NULL, 0, 5000),
                   GRPC_STATUS_UNIMPLEMENTED);
  assert_int_equal(ss_test_unary(f->channel, "/grpc.health.v1.Health/Watch", "",
                                 0, &resp, NULL, 0, 5000),
                   GRPC_STATUS_UNIMPLEMENTED);
  ss_buf_cleanup(&resp);
}

static void test_health_reports_serving_and_not_found_for_other_services(
    void **state) {
  fixture *f = *state;
  int status;
  assert_int_equal(health(f->channel, "", &status), GRPC_STATUS_OK);
  assert_int_equal(
      status, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  assert_int_equal(health(f->channel, SS_PROTOCOL_QUERY_SERVICE, &status),
                   GRPC_STATUS_OK);
  assert_int_equal(
      status, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  assert_int_equal(health(f->channel, "other.Service", &status),
                   GRPC_STATUS_NOT_FOUND);
}

static void test_client_cancel_mid_stream_frees_the_query(void **state) {
  fixture *f = *state;
  request_opts o = {
      .sql = ENDLESS_SQL, .jwk = g_public_jwk, .rows_per_batch = 100};
  ss_test_call *call = start_query(f->channel, &o, 0);
  result r;
  memset(&r, 0, sizeof(r));
  read_stream(call, &r, 5);
  assert_int_equal(r.messages, 5);
  assert_true(r.stream_ok);
  assert_int_equal(ss_server_active_queries(f->server), 1);
  ss_test_call_cancel(call);
  assert_int_equal(ss_test_call_status(call, NULL, 0), GRPC_STATUS_CANCELLED);
  ss_test_call_free(call);
  assert_true(wait_no_queries(f));
  stop_fixture(f);
  assert_non_null(strstr(f->log_text, "status=CANCELLED"));
}

static void test_deadline_stops_a_query_stuck_in_sqlite(void **state) {
  fixture *f = *state;
  request_opts o = {.sql = STUCK_SQL, .jwk = g_public_jwk};
  int64_t start = now_ms();
  result r;
  run_query(f->channel, &o, 300, &r);
  assert_int_equal(r.code, GRPC_STATUS_DEADLINE_EXCEEDED);
  assert_true(now_ms() - start < 3000);
  assert_true(wait_no_queries(f));
  stop_fixture(f);
  assert_non_null(strstr(f->log_text, "status=DEADLINE_EXCEEDED"));
}

static void test_server_query_time_cap_stops_a_query_without_deadline(
    void **state) {
  fixture *f = *state;
  request_opts o = {.sql = STUCK_SQL, .jwk = g_public_jwk};
  int64_t start = now_ms();
  result r;
  run_query(f->channel, &o, 0, &r);
  assert_int_equal(r.code, GRPC_STATUS_DEADLINE_EXCEEDED);
  assert_true(now_ms() - start >= 150);
  assert_true(now_ms() - start < 3000);
  assert_true(wait_no_queries(f));
}

static void test_oversized_request_is_refused(void **state) {
  fixture *f = *state;
  size_t len = 2 * SS_SERVER_MAX_REQUEST_BYTES;
  char *sql = malloc(len + 1);
  memset(sql, ' ', len);
  memcpy(sql, "SELECT 1", 8);
  sql[len] = '\0';
  request_opts o = {.sql = sql, .jwk = g_public_jwk};
  result r;
  run_query(f->channel, &o, 5000, &r);
  free(sql);
  assert_int_equal(r.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_int_equal(r.messages, 0);
  assert_true(wait_no_queries(f));
}

static void test_deadline_ends_an_endless_stream(void **state) {
  fixture *f = *state;
  request_opts o = {
      .sql = ENDLESS_SQL, .jwk = g_public_jwk, .rows_per_batch = 1000};
  result r;
  run_query(f->channel, &o, 300, &r);
  assert_int_equal(r.code, GRPC_STATUS_DEADLINE_EXCEEDED);
  assert_true(r.messages > 1);
  assert_true(wait_no_queries(f));
}

static void test_many_concurrent_queries_complete(void **state) {
  fixture *f = *state;
  enum { kCalls = 12 };
  request_opts o = {.sql = "SELECT id, name FROM events",
                    .jwk = g_public_jwk,
                    .rows_per_batch = 250};
  ss_test_call *calls[kCalls];
  for (int i = 0; i < kCalls; i++) {
    calls[i] = start_query(f->channel, &o, 20000);
  }
  for (int i = 0; i < kCalls; i++) {
    result r;
    memset(&r, 0, sizeof(r));
    read_stream(calls[i], &r, 0);
    assert_int_equal(ss_test_call_status(calls[i], NULL, 0), GRPC_STATUS_OK);
    assert_true(r.stream_ok);
    assert_int_equal(r.rows, NUM_ROWS);
    ss_test_call_free(calls[i]);
  }
  assert_true(wait_no_queries(f));
  stop_fixture(f);
  assert_int_equal(count_lines(f->log_text, "status=OK"), kCalls);
}

static void test_stream_cap_refuses_a_query_over_it(void **state) {
  fixture *f = *state;
  request_opts o = {
      .sql = ENDLESS_SQL, .jwk = g_public_jwk, .rows_per_batch = 10};
  ss_test_call *call = start_query(f->channel, &o, 0);
  result r;
  memset(&r, 0, sizeof(r));
  read_stream(call, &r, 1);
  request_opts second = {.sql = "SELECT 1", .jwk = g_public_jwk};
  expect_refusal(f, &second, GRPC_STATUS_RESOURCE_EXHAUSTED, "server busy");
  ss_test_call_free(call);
  assert_true(wait_no_queries(f));
}

typedef struct stopper {
  ss_server *server;
  pthread_t thread;
} stopper;

static void *stop_main(void *arg) {
  ss_server_stop(arg);
  return NULL;
}

static void test_drain_reports_not_serving_and_lets_a_stream_finish(
    void **state) {
  fixture *f = *state;
  request_opts o = {
      .sql = "SELECT * FROM events", .jwk = g_public_jwk, .rows_per_batch = 20};
  ss_test_call *call = start_query(f->channel, &o, 20000);
  result r;
  memset(&r, 0, sizeof(r));
  ss_status st;
  ss_stream_opener *opener =
      ss_stream_opener_new(g_key, kRequestId, sizeof(kRequestId), 0, &st);
  ss_buf msg = {0}, plain = {0};
  assert_true(ss_test_call_recv(call, &msg));  // the schema

  pthread_t stop_thread;
  assert_int_equal(pthread_create(&stop_thread, NULL, stop_main, f->server), 0);
  // Within the grace the server still answers, and says it is draining.
  int status = -1;
  int64_t until = now_ms() + 2000;
  while (
      status !=
          GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING &&
      now_ms() < until) {
    assert_int_equal(health(f->channel, "", &status), GRPC_STATUS_OK);
  }
  assert_int_equal(
      status,
      GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);

  // The stream in flight runs to its end.
  Sealstream__V1__QueryResponse *resp =
      sealstream__v1__query_response__unpack(NULL, msg.len, msg.data);
  int final = 0;
  assert_true(ss_stream_opener_open(opener, resp, &plain, &final, &st));
  sealstream__v1__query_response__free_unpacked(resp, NULL);
  int messages = 1;
  while (ss_test_call_recv(call, &msg)) {
    messages++;
    resp = sealstream__v1__query_response__unpack(NULL, msg.len, msg.data);
    assert_true(ss_stream_opener_open(opener, resp, &plain, &final, &st));
    sealstream__v1__query_response__free_unpacked(resp, NULL);
    usleep(1000);  // a slowish reader
  }
  assert_int_equal(messages, 1 + NUM_ROWS / 20 + 1);
  assert_int_equal(ss_test_call_status(call, NULL, 0), GRPC_STATUS_OK);
  assert_true(ss_stream_opener_finish(opener, &st));
  ss_test_call_free(call);
  pthread_join(stop_thread, NULL);
  ss_buf_cleanup(&msg);
  ss_buf_cleanup(&plain);
  ss_stream_opener_free(opener);
  stop_fixture(f);
  assert_int_equal(count_lines(f->log_text, "status=OK"), 1);
  assert_null(strstr(f->log_text, "drain timeout"));
}

static void test_drain_timeout_cancels_a_stream_whose_client_stalls(
    void **state) {
  fixture *f = *state;
  request_opts o = {
      .sql = ENDLESS_SQL, .jwk = g_public_jwk, .rows_per_batch = 1000};
  ss_test_call *call = start_query(f->channel, &o, 0);
  result r;
  memset(&r, 0, sizeof(r));
  read_stream(call, &r, 1);
  // The client reads no more: flow control stops the server's sends.
  int64_t start = now_ms();
  ss_server_stop(f->server);
  int64_t took = now_ms() - start;
  assert_true(took >= 150);
  assert_true(took < 5000);
  // gRPC gives the client its status once it has read what was delivered.
  ss_buf msg = {0};
  while (ss_test_call_recv(call, &msg)) {
  }
  ss_buf_cleanup(&msg);
  assert_int_not_equal(ss_test_call_status(call, NULL, 0), GRPC_STATUS_OK);
  ss_test_call_free(call);
  stop_fixture(f);
  assert_non_null(strstr(f->log_text, "drain timeout: cancelling 1 queries"));
  assert_int_equal(count_lines(f->log_text, "sealstream-server: query "), 1);
}

static void test_log_line_names_the_request_without_its_sql(void **state) {
  fixture *f = *state;
  const char *sql = "SELECT 'secret-literal-4711' AS s FROM events LIMIT 3";
  request_opts o = {.sql = sql, .jwk = g_public_jwk};
  result r;
  run_query(f->channel, &o, 10000, &r);
  assert_int_equal(r.code, GRPC_STATUS_OK);
  stop_fixture(f);
  char expect[64];
  snprintf(expect, sizeof(expect), "sql_bytes=%zu ", strlen(sql));
  assert_non_null(strstr(f->log_text, expect));
  assert_non_null(strstr(f->log_text, r.query_id));
  assert_non_null(strstr(f->log_text, "rows=3 "));
  assert_non_null(strstr(f->log_text, "peer=ipv4:127.0.0.1:"));
  assert_non_null(strstr(f->log_text, "status=OK"));
  assert_null(strstr(f->log_text, "secret-literal"));
  assert_int_equal(count_lines(f->log_text, "\n"), 1);
}

static void test_start_refuses_bad_options(void **state) {
  (void)state;
  ss_server_options options;
  ss_status st;
  ss_server_options_init(&options);
  options.listen_addr = "127.0.0.1:0";
  assert_null(ss_server_start(&options, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  options.db_path = "/nonexistent/db.sqlite";
  assert_null(ss_server_start(&options, &st));
  assert_non_null(strstr(st.msg, "/nonexistent/db.sqlite"));
  options.db_path = g_db_path;
  options.num_workers = 0;
  assert_null(ss_server_start(&options, &st));
  assert_non_null(strstr(st.msg, "workers"));
  options.num_workers = 1;
  options.listen_addr = "not an address";
  assert_null(ss_server_start(&options, &st));
  assert_int_equal(st.code, GRPC_STATUS_UNAVAILABLE);
  ss_server_free(NULL);
}

// --- the binary
// ------------------------------------------------------------------

static pid_t spawn(char *const argv[], const char *stderr_path) {
  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 2);
    }
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static int wait_exit(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_binary_serves_until_sigterm_then_exits_zero(void **state) {
  (void)state;
  const char *tmp = getenv("TEST_TMPDIR");
  char port_file[600], log_path[600];
  snprintf(port_file, sizeof(port_file), "%s/port", tmp != NULL ? tmp : "/tmp");
  snprintf(log_path, sizeof(log_path), "%s/server.log",
           tmp != NULL ? tmp : "/tmp");
  unlink(port_file);
  char *argv[] = {"server/sealstream-server",
                  "--db",
                  g_db_path,
                  "--listen",
                  "127.0.0.1:0",
                  "--port-file",
                  port_file,
                  "--workers",
                  "2",
                  "--drain-timeout",
                  "2",
                  NULL};
  pid_t pid = spawn(argv, log_path);
  assert_true(pid > 0);
  int port = 0;
  for (int64_t until = now_ms() + 10000; port == 0 && now_ms() < until;) {
    FILE *pf = fopen(port_file, "r");
    if (pf != NULL) {
      if (fscanf(pf, "%d", &port) != 1) {
        port = 0;
      }
      fclose(pf);
    }
    if (port == 0) {
      usleep(10000);
    }
  }
  assert_int_not_equal(port, 0);
  grpc_channel *channel = ss_test_channel_new(port);
  int status;
  assert_int_equal(health(channel, "", &status), GRPC_STATUS_OK);
  request_opts o = {.sql = "SELECT id FROM events", .jwk = g_public_jwk};
  result r;
  run_query(channel, &o, 10000, &r);
  assert_int_equal(r.code, GRPC_STATUS_OK);
  assert_int_equal(r.rows, NUM_ROWS);
  grpc_channel_destroy(channel);
  grpc_shutdown();
  assert_int_equal(kill(pid, SIGTERM), 0);
  assert_int_equal(wait_exit(pid), 0);

  FILE *lf = fopen(log_path, "r");
  assert_non_null(lf);
  char text[4096];
  size_t n = fread(text, 1, sizeof(text) - 1, lf);
  text[n] = '\0';
  fclose(lf);
  assert_non_null(strstr(text, "status=OK"));
  assert_non_null(strstr(text, "SIGTERM: draining"));
  assert_non_null(strstr(text, "stopped"));
}

static void test_binary_usage_errors_exit_two(void **state) {
  (void)state;
  const char *tmp = getenv("TEST_TMPDIR");
  char log_path[600];
  snprintf(log_path, sizeof(log_path), "%s/usage.log",
           tmp != NULL ? tmp : "/tmp");
  char *no_db[] = {"server/sealstream-server", NULL};
  assert_int_equal(wait_exit(spawn(no_db, log_path)), 2);
  char *bad_workers[] = {
      "server/sealstream-server", "--db", g_db_path, "--workers", "0", NULL};
  assert_int_equal(wait_exit(spawn(bad_workers, log_path)), 2);
  char *half_tls[] = {"server/sealstream-server",
                      "--db",
                      g_db_path,
                      "--tls-cert",
                      "x.pem",
                      NULL};
  assert_int_equal(wait_exit(spawn(half_tls, log_path)), 2);
  char *missing_db[] = {"server/sealstream-server",
                        "--db",
                        "/nonexistent/db",
                        "--listen",
                        "127.0.0.1:0",
                        NULL};
  assert_int_equal(wait_exit(spawn(missing_db, log_path)), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_query_streams_schema_batches_and_stats_sealed_to_the_key, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_query_ids_differ_and_compact_form_is_honoured, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_request_without_a_key_is_refused_when_encryption_is_required,
          setup, teardown),
      cmocka_unit_test_setup_teardown(test_plaintext_is_answered_when_allowed,
                                      setup_plaintext, teardown),
      cmocka_unit_test_setup_teardown(
          test_malformed_and_private_keys_are_invalid_argument, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_bad_sql_is_invalid_argument_with_sqlites_message, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_write_statements_are_invalid_argument, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_malformed_requests_are_invalid_argument, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_unknown_enum_values_are_invalid_argument_naming_the_field, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_a_kid_too_long_for_the_header_is_refused_naming_the_limit, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_unknown_method_is_unimplemented,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_health_reports_serving_and_not_found_for_other_services, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_client_cancel_mid_stream_frees_the_query, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_deadline_stops_a_query_stuck_in_sqlite, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_server_query_time_cap_stops_a_query_without_deadline,
          setup_query_cap, teardown),
      cmocka_unit_test_setup_teardown(test_oversized_request_is_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_deadline_ends_an_endless_stream,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_concurrent_queries_complete,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_cap_refuses_a_query_over_it,
                                      setup_one_stream, teardown),
      cmocka_unit_test_setup_teardown(
          test_drain_reports_not_serving_and_lets_a_stream_finish, setup_grace,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_drain_timeout_cancels_a_stream_whose_client_stalls,
          setup_one_stream, teardown),
      cmocka_unit_test_setup_teardown(
          test_log_line_names_the_request_without_its_sql, setup, teardown),
      cmocka_unit_test(test_start_refuses_bad_options),
      cmocka_unit_test(test_binary_serves_until_sigterm_then_exits_zero),
      cmocka_unit_test(test_binary_usage_errors_exit_two),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
