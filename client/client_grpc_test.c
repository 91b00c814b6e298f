// The client against an in-process scripted gRPC server (gRPC core, no
// sealstream server needed): a whole stream in each serialization and key
// type, the request the client sends, and every way a call can end badly:
// a server status before or after the schema, a truncated or tampered
// stream, a message after the final one, an oversized message, a cancel
// from another thread, a free while running, a deadline; and threads
// sharing one client while its key rotates.
#include "sealstream/client.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "client/client_internal.h"
#include "lib/protocol/names.h"
#include "lib/base/status.h"
#include "lib/protocol/stream.h"
#include "sealstream/v1/query.pb-c.h"

#define QUERY_ID "q-test-1"
#define MAX_STEPS 8

typedef enum step_kind {
  STEP_END,             // end of script: status OK
  STEP_SCHEMA,          // (id INT64, name STRING)
  STEP_BATCH,           // |rows| rows, names of |name_len| bytes
  STEP_TAMPERED_BATCH,  // a batch with one ciphertext bit flipped
  STEP_STATS,           // final totals: |rows| rows, |batches| batches
  STEP_REPEAT_LAST,     // the previous response again
  STEP_STATUS,          // end with |code| and |message|
  STEP_WAIT_FOR_CANCEL,  // wait until the client cancels (or times out)
} step_kind;

typedef struct step {
  step_kind kind;
  uint64_t rows;
  uint64_t batches;
  size_t name_len;
  grpc_status_code code;
  const char *message;
} step;

// What the server saw, copied for the test to check after the call.
typedef struct observed {
  char sql[128];
  size_t request_id_len;
  char key_alg[32];
  char content_alg[32];
  int has_private_d;  // the public JWK held a "d" member
  Sealstream__V1__Serialization serialization;
  Sealstream__V1__Compression compression;
  uint32_t max_rows_per_batch;
  uint64_t max_total_rows;
  char route[64];
  char authorization[64];
  int cancelled;  // RECV_CLOSE_ON_SERVER reported a cancelled call
} observed;

typedef struct fake_server {
  grpc_server *server;
  grpc_completion_queue *cq;
  pthread_t thread;
  char target[64];
  step script[MAX_STEPS];
  observed seen;
  char error[SS_STATUS_MSG_MAX];  // the server thread's own failure, if any
  int closed;        // the RECV_CLOSE_ON_SERVER tag came
  int shutdown;      // the shutdown tag came
  int num_calls;     // calls to serve, one at a time (0: 1)
  int thread_started;
  int thread_joined;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  int call_done;     // guarded by mu: the call was handled
} fake_server;

// Tags: distinct addresses.
static int kTagNew, kTagOp, kTagClose, kTagShutdown;

static void server_fail(fake_server *fs, const char *what) {
  if (fs->error[0] == '\0') {
    snprintf(fs->error, sizeof(fs->error), "%s", what);
  }
}

// wait_tag waits for |tag|, noting the close and shutdown tags on the way.
// Returns the event's success.
static int wait_tag(fake_server *fs, void *tag) {
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        fs->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE) {
      server_fail(fs, "completion queue shut down early");
      return 0;
    }
    if (ev.tag == &kTagClose) {
      fs->closed = 1;
    } else if (ev.tag == &kTagShutdown) {
      fs->shutdown = 1;
    }
    if (ev.tag == tag) {
      return ev.success;
    }
  }
}

static int run_ops(fake_server *fs, grpc_call *call, const grpc_op *ops,
                   size_t n) {
  if (grpc_call_start_batch(call, ops, n, &kTagOp, NULL) != GRPC_CALL_OK) {
    server_fail(fs, "grpc_call_start_batch failed");
    return 0;
  }
  return wait_tag(fs, &kTagOp);
}

static void copy_metadata(const grpc_metadata_array *md, const char *key,
                          char *out, size_t out_len) {
  for (size_t i = 0; i < md->count; i++) {
    const grpc_metadata *m = &md->metadata[i];
    if (grpc_slice_str_cmp(m->key, key) == 0) {
      size_t len = GRPC_SLICE_LENGTH(m->value);
      if (len >= out_len) {
        len = out_len - 1;
      }
      memcpy(out, GRPC_SLICE_START_PTR(m->value), len);
      out[len] = '\0';
    }
  }
}

static void pack_schema(ss_buf *out) {
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
  uint8_t *dst;
  size_t len = sealstream__v1__stream_payload__get_packed_size(&p);
  ss_buf_reserve(out, len, &dst);
  sealstream__v1__stream_payload__pack(&p, dst);
  ss_buf_advance(out, len);
}

// pack_batch packs rows (i, "nnn...") for i in [first, first + n).
static void pack_batch(ss_buf *out, uint64_t first, size_t n,
                       size_t name_len) {
  int64_t *ids = calloc(n + 1, sizeof(*ids));
  char **names = calloc(n + 1, sizeof(*names));
  char *name = malloc(name_len + 1);
  memset(name, 'n', name_len);
  name[name_len] = '\0';
  for (size_t i = 0; i < n; i++) {
    ids[i] = (int64_t)(first + i);
    names[i] = name;
  }
  Sealstream__V1__Int64Column id_data = SEALSTREAM__V1__INT64_COLUMN__INIT;
  id_data.n_data = n;
  id_data.data = ids;
  Sealstream__V1__StringColumn name_data = SEALSTREAM__V1__STRING_COLUMN__INIT;
  name_data.n_data = n;
  name_data.data = names;
  Sealstream__V1__Column cols[2];
  Sealstream__V1__Column *ptrs[2] = {&cols[0], &cols[1]};
  sealstream__v1__column__init(&cols[0]);
  cols[0].data_case = SEALSTREAM__V1__COLUMN__DATA_INT64_DATA;
  cols[0].int64_data = &id_data;
  sealstream__v1__column__init(&cols[1]);
  cols[1].data_case = SEALSTREAM__V1__COLUMN__DATA_STRING_DATA;
  cols[1].string_data = &name_data;
  Sealstream__V1__RowBatch rows = SEALSTREAM__V1__ROW_BATCH__INIT;
  rows.num_rows = n;
  rows.n_columns = 2;
  rows.columns = ptrs;
  Sealstream__V1__StreamPayload p = SEALSTREAM__V1__STREAM_PAYLOAD__INIT;
  p.payload_case = SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_BATCH;
  p.batch = &rows;
  uint8_t *dst;
  size_t len = sealstream__v1__stream_payload__get_packed_size(&p);
  ss_buf_reserve(out, len, &dst);
  sealstream__v1__stream_payload__pack(&p, dst);
  ss_buf_advance(out, len);
  free(ids);
  free(names);
  free(name);
}

static void pack_stats(ss_buf *out, uint64_t rows, uint64_t batches) {
  Sealstream__V1__QueryStats stats = SEALSTREAM__V1__QUERY_STATS__INIT;
  stats.rows = rows;
  stats.batches = batches;
  Sealstream__V1__StreamPayload p = SEALSTREAM__V1__STREAM_PAYLOAD__INIT;
  p.payload_case = SEALSTREAM__V1__STREAM_PAYLOAD__PAYLOAD_STATS;
  p.stats = &stats;
  uint8_t *dst;
  size_t len = sealstream__v1__stream_payload__get_packed_size(&p);
  ss_buf_reserve(out, len, &dst);
  sealstream__v1__stream_payload__pack(&p, dst);
  ss_buf_advance(out, len);
}

static int send_bytes(fake_server *fs, grpc_call *call, const uint8_t *data,
                      size_t len) {
  grpc_slice slice = grpc_slice_from_copied_buffer((const char *)data, len);
  grpc_byte_buffer *buffer = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_SEND_MESSAGE;
  op.data.send_message.send_message = buffer;
  int ok = run_ops(fs, call, &op, 1);
  grpc_byte_buffer_destroy(buffer);
  return ok;
}

// play runs the script on |call| with |sealer|. Returns the status to end
// with in |*out_code| / |*out_message|.
static void play(fake_server *fs, grpc_call *call, ss_stream_sealer *sealer,
                 grpc_status_code *out_code, const char **out_message) {
  ss_buf payload = {0};
  ss_buf last = {0};  // the last packed response, for STEP_REPEAT_LAST
  uint64_t next_id = 0;
  *out_code = GRPC_STATUS_OK;
  *out_message = "";
  for (size_t i = 0; i < MAX_STEPS; i++) {
    const step *s = &fs->script[i];
    ss_buf_reset(&payload);
    switch (s->kind) {
      case STEP_END:
        goto done;
      case STEP_STATUS:
        *out_code = s->code;
        *out_message = s->message;
        goto done;
      case STEP_WAIT_FOR_CANCEL:
        if (!fs->closed) {
          wait_tag(fs, &kTagClose);
          fs->closed = 1;
        }
        *out_code = GRPC_STATUS_CANCELLED;
        goto done;
      case STEP_REPEAT_LAST:
        send_bytes(fs, call, last.data, last.len);
        continue;
      case STEP_SCHEMA:
        pack_schema(&payload);
        break;
      case STEP_BATCH:
      case STEP_TAMPERED_BATCH:
        pack_batch(&payload, next_id, (size_t)s->rows, s->name_len);
        next_id += s->rows;
        break;
      case STEP_STATS:
        pack_stats(&payload, s->rows, s->batches);
        break;
    }
    Sealstream__V1__QueryResponse response;
    ss_status st;
    if (!ss_stream_sealer_seal(sealer, payload.data, payload.len,
                               s->kind == STEP_STATS, &response, &st)) {
      server_fail(fs, st.msg);
      goto done;
    }
    if (s->kind == STEP_TAMPERED_BATCH &&
        response.message_case ==
            SEALSTREAM__V1__QUERY_RESPONSE__MESSAGE_JWE_PARTS) {
      // The parts borrow the sealer's buffers, which are not read again.
      response.jwe_parts->ciphertext.data[0] ^= 1;
    }
    ss_buf_reset(&last);
    size_t len = sealstream__v1__query_response__get_packed_size(&response);
    uint8_t *dst;
    ss_buf_reserve(&last, len, &dst);
    sealstream__v1__query_response__pack(&response, dst);
    ss_buf_advance(&last, len);
    if (!send_bytes(fs, call, last.data, last.len)) {
      break;  // the client went away
    }
  }
done:
  ss_buf_cleanup(&payload);
  ss_buf_cleanup(&last);
}

static void observe_request(fake_server *fs,
                            const Sealstream__V1__QueryRequest *req) {
  observed *o = &fs->seen;
  snprintf(o->sql, sizeof(o->sql), "%s", req->query);
  o->request_id_len = req->client_request_id.len;
  if (req->limits != NULL) {
    o->max_rows_per_batch = req->limits->max_rows_per_batch;
    o->max_total_rows = req->limits->max_total_rows;
  }
  if (req->encryption != NULL) {
    snprintf(o->key_alg, sizeof(o->key_alg), "%s", req->encryption->key_alg);
    snprintf(o->content_alg, sizeof(o->content_alg), "%s",
             req->encryption->content_alg);
    o->has_private_d = strstr(req->encryption->public_jwk, "\"d\"") != NULL;
    o->serialization = req->encryption->serialization;
    o->compression = req->encryption->compression;
  }
}

static void handle_call(fake_server *fs, grpc_call *call,
                        const grpc_metadata_array *md) {
  copy_metadata(md, SS_PROTOCOL_ROUTE_HEADER, fs->seen.route,
                sizeof(fs->seen.route));
  copy_metadata(md, "authorization", fs->seen.authorization,
                sizeof(fs->seen.authorization));
  grpc_byte_buffer *request = NULL;
  grpc_op ops[2];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_RECV_MESSAGE;
  ops[1].data.recv_message.recv_message = &request;
  int cancelled = 0;
  grpc_op close_op;
  memset(&close_op, 0, sizeof(close_op));
  close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  close_op.data.recv_close_on_server.cancelled = &cancelled;
  if (grpc_call_start_batch(call, &close_op, 1, &kTagClose, NULL) !=
      GRPC_CALL_OK) {
    server_fail(fs, "cannot wait for close");
    return;
  }
  Sealstream__V1__QueryRequest *req = NULL;
  ss_stream_sealer *sealer = NULL;
  grpc_status_code code = GRPC_STATUS_INTERNAL;
  const char *message = "fake server failed";
  if (run_ops(fs, call, ops, 2) && request != NULL) {
    grpc_byte_buffer_reader reader;
    grpc_byte_buffer_reader_init(&reader, request);
    grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    req = sealstream__v1__query_request__unpack(
        NULL, GRPC_SLICE_LENGTH(slice), GRPC_SLICE_START_PTR(slice));
    grpc_slice_unref(slice);
  }
  if (request != NULL) {
    grpc_byte_buffer_destroy(request);
  }
  if (req == NULL || req->encryption == NULL) {
    server_fail(fs, "no request or no encryption options");
  } else {
    observe_request(fs, req);
    ss_status st;
    sealer = ss_stream_sealer_new(req->encryption, QUERY_ID,
                                  req->client_request_id.data,
                                  req->client_request_id.len, &st);
    if (sealer == NULL) {
      server_fail(fs, st.msg);
    } else {
      play(fs, call, sealer, &code, &message);
    }
  }
  grpc_op status_op;
  memset(&status_op, 0, sizeof(status_op));
  grpc_slice details = grpc_slice_from_static_string(message);
  status_op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  status_op.data.send_status_from_server.status = code;
  status_op.data.send_status_from_server.status_details = &details;
  run_ops(fs, call, &status_op, 1);  // fails harmlessly after a cancel
  if (!fs->closed) {
    wait_tag(fs, &kTagClose);
    fs->closed = 1;
  }
  fs->seen.cancelled = cancelled;
  ss_stream_sealer_free(sealer);
  sealstream__v1__query_request__free_unpacked(req, NULL);
}

static void *serve(void *arg) {
  fake_server *fs = arg;
  int calls = fs->num_calls > 0 ? fs->num_calls : 1;
  for (int i = 0; i < calls; i++) {
    grpc_call *call = NULL;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_call_details_init(&details);
    grpc_metadata_array_init(&md);
    fs->closed = 0;
    int got = 0;
    if (grpc_server_request_call(fs->server, &call, &details, &md, fs->cq,
                                 fs->cq, &kTagNew) != GRPC_CALL_OK) {
      server_fail(fs, "grpc_server_request_call failed");
    } else if ((got = wait_tag(fs, &kTagNew))) {
      if (grpc_slice_str_cmp(details.method, SS_PROTOCOL_EXECUTE_QUERY_METHOD) != 0) {
        server_fail(fs, "wrong method path");
      }
      handle_call(fs, call, &md);
      grpc_call_unref(call);
    }
    grpc_call_details_destroy(&details);
    grpc_metadata_array_destroy(&md);
    if (!got) {
      break;  // shutting down
    }
  }
  pthread_mutex_lock(&fs->mu);
  fs->call_done = 1;
  pthread_cond_broadcast(&fs->cond);
  pthread_mutex_unlock(&fs->mu);
  while (!fs->shutdown) {
    wait_tag(fs, &kTagShutdown);
  }
  return NULL;
}

static int setup_server(void **state) {
  grpc_init();
  fake_server *fs = calloc(1, sizeof(*fs));
  if (fs == NULL) {
    return 1;
  }
  pthread_mutex_init(&fs->mu, NULL);
  pthread_cond_init(&fs->cond, NULL);
  fs->cq = grpc_completion_queue_create_for_next(NULL);
  fs->server = grpc_server_create(NULL, NULL);
  grpc_server_register_completion_queue(fs->server, fs->cq, NULL);
  grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
  int port = grpc_server_add_http2_port(fs->server, "127.0.0.1:0", creds);
  grpc_server_credentials_release(creds);
  if (port == 0) {
    return 1;
  }
  snprintf(fs->target, sizeof(fs->target), "127.0.0.1:%d", port);
  grpc_server_start(fs->server);
  *state = fs;
  return 0;
}

// start_script copies |steps| (ending with STEP_END or STEP_STATUS) and
// starts the server thread for one call.
static void start_script(fake_server *fs, const step *steps, size_t n) {
  assert_true(n <= MAX_STEPS);
  memcpy(fs->script, steps, n * sizeof(*steps));
  assert_int_equal(pthread_create(&fs->thread, NULL, serve, fs), 0);
  fs->thread_started = 1;
}

// wait_call_done waits up to 10 s for the server thread to finish its call.
static int wait_call_done(fake_server *fs) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  pthread_mutex_lock(&fs->mu);
  while (!fs->call_done &&
         pthread_cond_timedwait(&fs->cond, &fs->mu, &until) == 0) {
  }
  int done = fs->call_done;
  pthread_mutex_unlock(&fs->mu);
  return done;
}

// stop_server shuts the server down and joins its thread (once).
static void stop_server(fake_server *fs) {
  if (fs->thread_joined) {
    return;
  }
  grpc_server_shutdown_and_notify(fs->server, fs->cq, &kTagShutdown);
  grpc_server_cancel_all_calls(fs->server);
  if (fs->thread_started) {
    pthread_join(fs->thread, NULL);
  } else {
    // No thread: take the shutdown tag here.
    while (!fs->shutdown) {
      wait_tag(fs, &kTagShutdown);
    }
  }
  fs->thread_joined = 1;
}

static int teardown_server(void **state) {
  fake_server *fs = *state;
  stop_server(fs);
  grpc_server_destroy(fs->server);
  grpc_completion_queue_shutdown(fs->cq);
  while (grpc_completion_queue_next(fs->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                    NULL)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(fs->cq);
  int failed = fs->error[0] != '\0';
  if (failed) {
    fprintf(stderr, "fake server: %s\n", fs->error);
  }
  pthread_mutex_destroy(&fs->mu);
  pthread_cond_destroy(&fs->cond);
  free(fs);
  grpc_shutdown();
  return failed;
}

static ss_client *client_for(const fake_server *fs,
                             ss_client_options *options) {
  ss_client_options defaults;
  if (options == NULL) {
    ss_client_options_init(&defaults);
    options = &defaults;
  }
  options->target = fs->target;
  ss_error err;
  ss_client *client = ss_client_new(options, &err);
  if (client == NULL) {
    fail_msg("ss_client_new: %s", err.message);
  }
  return client;
}

// start_scripted_query plays |steps| (|num_steps| of them) on the fake
// server and starts "SELECT 1" with |query_options| (NULL: defaults) through
// a new client of it made with |options| (NULL: defaults). Fails the test
// unless the query starts. The caller frees the query, then |*out_client|.
static ss_query *start_scripted_query(fake_server *fs, const step *steps,
                                      size_t num_steps,
                                      ss_client_options *options,
                                      const ss_query_options *query_options,
                                      ss_client **out_client) {
  start_script(fs, steps, num_steps);
  *out_client = client_for(fs, options);
  ss_error err;
  ss_query *query =
      ss_query_start(*out_client, "SELECT 1", query_options, &err);
  if (query == NULL) {
    fail_msg("start: %s: %s", ss_error_code_name(err.code), err.message);
  }
  return query;
}

static void expect_error(const ss_error *err, int code, const char *fragment) {
  if (err->code != code || strstr(err->message, fragment) == NULL) {
    fail_msg("got %s: %s; want %s mentioning \"%s\"",
             ss_error_code_name(err->code), err->message,
             ss_error_code_name(code), fragment);
  }
}

// expect_stream_fails plays |steps| (|num_steps| of them) to a query
// through a client made with |options| (NULL: defaults) and expects
// |num_batches| batches, then ss_query_next failing with |code| and a message
// mentioning |fragment| ("" for any message), with no batch handed out.
static void expect_stream_fails(fake_server *fs, const step *steps,
                                size_t num_steps, ss_client_options *options,
                                int num_batches, int code,
                                const char *fragment) {
  ss_client *client;
  ss_query *query =
      start_scripted_query(fs, steps, num_steps, options, NULL, &client);
  ss_error err;
  const ss_batch *batch;
  for (int i = 0; i < num_batches; i++) {
    assert_int_equal(ss_query_next(query, &batch, &err), 1);
  }
  assert_int_equal(ss_query_next(query, &batch, &err), -1);
  expect_error(&err, code, fragment);
  assert_null(batch);
  ss_query_free(query);
  ss_client_free(client);
}

// read_whole_stream expects batches of |rows_a| and |rows_b| rows, then the
// end with matching totals.
static void read_whole_stream(ss_client *client, uint64_t rows_a,
                              uint64_t rows_b) {
  ss_error err;
  ss_query_options qopts = {.max_rows_per_batch = 77,
                            .max_total_rows = 1000,
                            .timeout_ms = 30000};
  ss_query *query = ss_query_start(client, "SELECT id, name FROM t", &qopts,
                                   &err);
  if (query == NULL) {
    fail_msg("start: %s: %s", ss_error_code_name(err.code), err.message);
  }
  assert_int_equal(ss_query_num_columns(query), 2);
  assert_string_equal(ss_query_column_name(query, 1), "name");
  assert_int_equal(ss_query_column_type(query, 0), SS_COLUMN_INT64);
  assert_string_equal(ss_query_id(query), QUERY_ID);
  const ss_batch *batch;
  assert_int_equal(ss_query_next(query, &batch, &err), 1);
  assert_int_equal(ss_batch_num_rows(batch), rows_a);
  assert_int_equal(ss_batch_int64(batch, 0, rows_a - 1), rows_a - 1);
  assert_string_equal(ss_batch_string(batch, 1, 0, NULL), "nnnn");
  assert_int_equal(ss_query_next(query, &batch, &err), 1);
  assert_int_equal(ss_batch_num_rows(batch), rows_b);
  assert_int_equal(ss_batch_int64(batch, 0, 0), rows_a);
  int got = ss_query_next(query, &batch, &err);
  if (got != 0) {
    fail_msg("end: %d %s: %s", got, ss_error_code_name(err.code),
             err.message);
  }
  assert_null(batch);
  assert_int_equal(ss_query_next(query, &batch, &err), 0);  // stays ended
  assert_int_equal(ss_query_total_rows(query), rows_a + rows_b);
  assert_int_equal(ss_query_total_batches(query), 2);
  assert_true(ss_query_bytes_received(query) > 0);
  ss_query_free(query);
}

static const step kWholeStream[] = {
    {.kind = STEP_SCHEMA},
    {.kind = STEP_BATCH, .rows = 3, .name_len = 4},
    {.kind = STEP_BATCH, .rows = 2, .name_len = 4},
    {.kind = STEP_STATS, .rows = 5, .batches = 2},
    {.kind = STEP_END},
};

static void test_query_reads_every_batch_then_the_totals(void **state) {
  fake_server *fs = *state;
  start_script(fs, kWholeStream, 5);
  ss_client *client = client_for(fs, NULL);
  read_whole_stream(client, 3, 2);
  ss_client_free(client);
  assert_true(wait_call_done(fs));
  assert_string_equal(fs->seen.sql, "SELECT id, name FROM t");
  assert_int_equal(fs->seen.request_id_len, 16);
  assert_string_equal(fs->seen.key_alg, "ECDH-ES+A256KW");
  assert_string_equal(fs->seen.content_alg, "A256GCM");
  assert_false(fs->seen.has_private_d);
  assert_int_equal(fs->seen.serialization,
                   SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS);
  assert_int_equal(fs->seen.compression,
                   SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE);
  assert_int_equal(fs->seen.max_rows_per_batch, 77);
  assert_int_equal(fs->seen.max_total_rows, 1000);
  assert_string_equal(fs->seen.route, "");
  assert_string_equal(fs->seen.authorization, "");
}

static void test_compact_compressed_x25519_stream_carries_proxy_metadata(
    void **state) {
  fake_server *fs = *state;
  start_script(fs, kWholeStream, 5);
  ss_client_options options;
  ss_client_options_init(&options);
  options.key_type = SS_KEY_X25519;
  options.content_alg = "A128CBC-HS256";
  options.compact = 1;
  options.compress = 1;
  options.route = "tenant-7";
  options.auth_token = "s3cret";
  ss_client *client = client_for(fs, &options);
  read_whole_stream(client, 3, 2);
  ss_client_free(client);
  assert_true(wait_call_done(fs));
  assert_string_equal(fs->seen.key_alg, "ECDH-ES+A256KW");
  assert_string_equal(fs->seen.content_alg, "A128CBC-HS256");
  assert_int_equal(fs->seen.serialization,
                   SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_COMPACT);
  assert_int_equal(fs->seen.compression,
                   SEALSTREAM__V1__COMPRESSION__COMPRESSION_DEFLATE);
  assert_string_equal(fs->seen.route, "tenant-7");
  assert_string_equal(fs->seen.authorization, "Bearer s3cret");
}

static void test_rsa_key_stream(void **state) {
  fake_server *fs = *state;
  start_script(fs, kWholeStream, 5);
  ss_client_options options;
  ss_client_options_init(&options);
  options.key_type = SS_KEY_RSA_4096;
  ss_client *client = client_for(fs, &options);
  read_whole_stream(client, 3, 2);
  ss_client_free(client);
  assert_true(wait_call_done(fs));
  assert_string_equal(fs->seen.key_alg, "RSA-OAEP-256");
}

static void test_server_error_before_schema_fails_start(void **state) {
  fake_server *fs = *state;
  const step steps[] = {{.kind = STEP_STATUS,
                         .code = GRPC_STATUS_INVALID_ARGUMENT,
                         .message = "no such table: nope\x1b[2J"}};
  start_script(fs, steps, 1);
  ss_client *client = client_for(fs, NULL);
  ss_error err;
  assert_null(ss_query_start(client, "SELECT * FROM nope", NULL, &err));
  expect_error(&err, GRPC_STATUS_INVALID_ARGUMENT, "no such table: nope");
  // The escape byte from the server was not passed through.
  assert_null(strchr(err.message, '\x1b'));
  ss_client_free(client);
}

static void test_server_error_after_a_batch_fails_next(void **state) {
  fake_server *fs = *state;
  const step steps[] = {
      {.kind = STEP_SCHEMA},
      {.kind = STEP_BATCH, .rows = 2, .name_len = 1},
      {.kind = STEP_STATUS,
       .code = GRPC_STATUS_RESOURCE_EXHAUSTED,
       .message = "server busy"},
  };
  ss_client *client;
  ss_query *query = start_scripted_query(fs, steps, 3, NULL, NULL, &client);
  ss_error err;
  const ss_batch *batch;
  assert_int_equal(ss_query_next(query, &batch, &err), 1);
  assert_int_equal(ss_query_next(query, &batch, &err), -1);
  expect_error(&err, GRPC_STATUS_RESOURCE_EXHAUSTED, "server busy");
  assert_null(batch);
  // The error stays.
  assert_int_equal(ss_query_next(query, &batch, &err), -1);
  expect_error(&err, GRPC_STATUS_RESOURCE_EXHAUSTED, "server busy");
  ss_query_free(query);
  ss_client_free(client);
}

static void test_stream_ending_without_final_message_is_data_loss(
    void **state) {
  fake_server *fs = *state;
  const step steps[] = {
      {.kind = STEP_SCHEMA},
      {.kind = STEP_BATCH, .rows = 2, .name_len = 1},
      {.kind = STEP_END},
  };
  expect_stream_fails(fs, steps, 3, NULL, 1, GRPC_STATUS_DATA_LOSS,
                      "truncated");
}

static void test_tampered_batch_is_data_loss(void **state) {
  fake_server *fs = *state;
  const step steps[] = {
      {.kind = STEP_SCHEMA},
      {.kind = STEP_TAMPERED_BATCH, .rows = 2, .name_len = 1},
      {.kind = STEP_STATS, .rows = 2, .batches = 1},
      {.kind = STEP_END},
  };
  expect_stream_fails(fs, steps, 4, NULL, 0, GRPC_STATUS_DATA_LOSS,
                      "message 1");
}

static void test_message_after_the_final_one_is_data_loss(void **state) {
  fake_server *fs = *state;
  const step steps[] = {
      {.kind = STEP_SCHEMA},
      {.kind = STEP_STATS, .rows = 0, .batches = 0},
      {.kind = STEP_REPEAT_LAST},
      {.kind = STEP_END},
  };
  expect_stream_fails(fs, steps, 4, NULL, 0, GRPC_STATUS_DATA_LOSS,
                      "followed the final one");
}

static void test_message_over_the_limit_is_resource_exhausted(void **state) {
  fake_server *fs = *state;
  const step steps[] = {
      {.kind = STEP_SCHEMA},
      {.kind = STEP_BATCH, .rows = 4, .name_len = 2000},
      {.kind = STEP_STATS, .rows = 4, .batches = 1},
      {.kind = STEP_END},
  };
  ss_client_options options;
  ss_client_options_init(&options);
  options.max_message_bytes = 4096;
  expect_stream_fails(fs, steps, 4, &options, 0, GRPC_STATUS_RESOURCE_EXHAUSTED,
                      "");
}

static void *cancel_later(void *arg) {
  struct timespec delay = {.tv_sec = 0, .tv_nsec = 100000000};
  nanosleep(&delay, NULL);
  ss_query_cancel(arg);
  return NULL;
}

static const step kSchemaThenWait[] = {
    {.kind = STEP_SCHEMA},
    {.kind = STEP_WAIT_FOR_CANCEL},
};

static void test_cancel_from_another_thread_ends_next(void **state) {
  fake_server *fs = *state;
  ss_client *client;
  ss_query *query =
      start_scripted_query(fs, kSchemaThenWait, 2, NULL, NULL, &client);
  ss_error err;
  pthread_t canceller;
  assert_int_equal(pthread_create(&canceller, NULL, cancel_later, query), 0);
  const ss_batch *batch;
  assert_int_equal(ss_query_next(query, &batch, &err), -1);  // blocks first
  pthread_join(canceller, NULL);
  expect_error(&err, GRPC_STATUS_CANCELLED, "cancelled");
  assert_int_equal(ss_query_next(query, &batch, &err), -1);
  assert_int_equal(err.code, GRPC_STATUS_CANCELLED);
  ss_query_free(query);
  ss_client_free(client);
  assert_true(wait_call_done(fs));
  assert_true(fs->seen.cancelled);
}

static void test_free_while_running_cancels_the_call(void **state) {
  fake_server *fs = *state;
  ss_client *client;
  ss_query *query =
      start_scripted_query(fs, kSchemaThenWait, 2, NULL, NULL, &client);
  ss_query_free(query);
  ss_client_free(client);
  // The server saw the cancel before anything else could cancel the call.
  assert_true(wait_call_done(fs));
  assert_true(fs->seen.cancelled);
}

static void test_deadline_ends_a_stalled_query(void **state) {
  fake_server *fs = *state;
  ss_query_options qopts = {.timeout_ms = 300};
  ss_client *client;
  ss_query *query =
      start_scripted_query(fs, kSchemaThenWait, 2, NULL, &qopts, &client);
  ss_error err;
  const ss_batch *batch;
  assert_int_equal(ss_query_next(query, &batch, &err), -1);
  assert_int_equal(err.code, GRPC_STATUS_DEADLINE_EXCEEDED);
  ss_query_free(query);
  ss_client_free(client);
}

#define NUM_THREADS 4
#define QUERIES_PER_THREAD 5

static void *query_repeatedly(void *arg) {
  ss_client *client = arg;
  for (int i = 0; i < QUERIES_PER_THREAD; i++) {
    ss_error err;
    ss_query *query = ss_query_start(client, "SELECT 1", NULL, &err);
    if (query == NULL) {
      return (void *)1;
    }
    const ss_batch *batch;
    int got;
    uint64_t rows = 0;
    while ((got = ss_query_next(query, &batch, &err)) == 1) {
      rows += ss_batch_num_rows(batch);
    }
    ss_query_free(query);
    if (got != 0 || rows != 5) {
      return (void *)1;
    }
  }
  return NULL;
}

static void test_threads_share_a_client_across_key_rotations(void **state) {
  fake_server *fs = *state;
  fs->num_calls = NUM_THREADS * QUERIES_PER_THREAD;
  start_script(fs, kWholeStream, 5);
  ss_client_options options;
  ss_client_options_init(&options);
  options.rotate_after_queries = 3;
  ss_client *client = client_for(fs, &options);
  pthread_t threads[NUM_THREADS];
  for (int i = 0; i < NUM_THREADS; i++) {
    assert_int_equal(
        pthread_create(&threads[i], NULL, query_repeatedly, client), 0);
  }
  int failures = 0;
  for (int i = 0; i < NUM_THREADS; i++) {
    void *result;
    pthread_join(threads[i], &result);
    failures += result != NULL;
  }
  ss_client_free(client);
  assert_int_equal(failures, 0);
  assert_true(wait_call_done(fs));
}

#define SERVER_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_server, \
                                                        teardown_server)

int main(void) {
  const struct CMUnitTest tests[] = {
      SERVER_TEST(test_query_reads_every_batch_then_the_totals),
      SERVER_TEST(test_compact_compressed_x25519_stream_carries_proxy_metadata),
      SERVER_TEST(test_rsa_key_stream),
      SERVER_TEST(test_server_error_before_schema_fails_start),
      SERVER_TEST(test_server_error_after_a_batch_fails_next),
      SERVER_TEST(test_stream_ending_without_final_message_is_data_loss),
      SERVER_TEST(test_tampered_batch_is_data_loss),
      SERVER_TEST(test_message_after_the_final_one_is_data_loss),
      SERVER_TEST(test_message_over_the_limit_is_resource_exhausted),
      SERVER_TEST(test_cancel_from_another_thread_ends_next),
      SERVER_TEST(test_free_while_running_cancels_the_call),
      SERVER_TEST(test_deadline_ends_a_stalled_query),
      SERVER_TEST(test_threads_share_a_client_across_key_rotations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
