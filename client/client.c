// The sealstream client (sealstream/client.h): its options and channel, and
// the query call, which runs QueryService.ExecuteQuery
// (protos/sealstream/v1/query.proto) over gRPC core's C API and reads the
// result stream one message at a time. The key pairs are in client_keys.c;
// the decoding of opened messages and the batch accessors in client_batch.c.
//
// Trust: everything the channel delivers is untrusted until the stream
// opener (lib/protocol/stream.h) has authenticated the message and checked
// its place in the stream; only then is the plaintext handed to the decoder.
// Status details from the server or proxy are printable-ASCII-filtered
// before being shown.
#include "sealstream/client.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "client/client_internal.h"
#include "lib/protocol/names.h"
#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "lib/protocol/stream.h"
#include "lib/rpc/sync_call.h"
#include "lib/rpc/tls.h"
#include "sealstream/v1/query.pb-c.h"

static int64_t monotonic_seconds(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
    return 0;  // cannot happen on Linux; rotation by count still works
  }
  return (int64_t)ts.tv_sec;
}

static void error_clear(ss_error *err) {
  if (err != NULL) {
    err->code = GRPC_STATUS_OK;
    err->message[0] = '\0';
  }
}

static void error_from_status(ss_error *err, const ss_status *st) {
  if (err == NULL) {
    return;
  }
  err->code = st->code != GRPC_STATUS_OK ? (int)st->code : GRPC_STATUS_UNKNOWN;
  snprintf(err->message, sizeof(err->message), "%s",
           st->msg[0] != '\0' ? st->msg : "unknown error");
}

const char *ss_error_code_name(int code) {
  if (code < GRPC_STATUS_OK || code > GRPC_STATUS_UNAUTHENTICATED) {
    return "UNKNOWN";
  }
  return ss_status_code_name((grpc_status_code)code);
}

void ss_client_options_init(ss_client_options *options) {
  memset(options, 0, sizeof(*options));
  options->key_type = SS_KEY_EC_P256;
}

// --- Options ---

static const char *const kContentAlgs[] = {
    "A128GCM",       "A192GCM",       "A256GCM",
    "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512",
};

static int check_metadata_value(const char *what, const char *value,
                                ss_status *st) {
  size_t len = strlen(value);
  if (len == 0 || len > SS__MAX_METADATA_VALUE) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s is %zu bytes; it must hold 1 to %d", what, len,
                         SS__MAX_METADATA_VALUE);
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)value[i];
    if (c < 0x20 || c > 0x7e) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "%s holds a byte 0x%02x at offset %zu; gRPC "
                           "metadata allows printable ASCII only",
                           what, c, i);
    }
  }
  return 1;
}

static int validate_options(const ss_client_options *options, ss_status *st) {
  if (options == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "options are NULL; call ss_client_options_init");
  }
  if (options->target == NULL || options->target[0] == '\0') {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "target is empty; set it to the server's or "
                         "proxy's \"host:port\"");
  }
  if ((unsigned)options->key_type > (unsigned)SS_KEY_RSA_4096) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "key_type %d is unknown; use SS_KEY_EC_P256, "
                         "SS_KEY_X25519 or SS_KEY_RSA_4096",
                         (int)options->key_type);
  }
  if (options->content_alg != NULL) {
    int known = 0;
    for (size_t i = 0; i < sizeof(kContentAlgs) / sizeof(kContentAlgs[0]);
         i++) {
      known |= strcmp(options->content_alg, kContentAlgs[i]) == 0;
    }
    if (!known) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "content_alg is not supported; use A128GCM, "
                           "A192GCM, A256GCM, A128CBC-HS256, A192CBC-HS384 "
                           "or A256CBC-HS512");
    }
  }
  int tls = options->use_tls || options->tls_ca_file != NULL;
  if (!tls && (options->tls_cert_file != NULL ||
               options->tls_key_file != NULL ||
               options->tls_server_name != NULL)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "a TLS client certificate, key or server name is "
                         "set but TLS is off; set use_tls or tls_ca_file");
  }
  if ((options->tls_cert_file == NULL) != (options->tls_key_file == NULL)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "mutual TLS needs both tls_cert_file and "
                         "tls_key_file");
  }
  if (options->tls_server_name != NULL &&
      !check_metadata_value("tls_server_name", options->tls_server_name,
                            st)) {
    return 0;
  }
  if (options->route != NULL && !check_metadata_value("route", options->route,
                                                      st)) {
    return 0;
  }
  if (options->auth_token != NULL &&
      !check_metadata_value("auth_token", options->auth_token, st)) {
    return 0;
  }
  if (options->max_message_bytes > (size_t)INT_MAX) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "max_message_bytes is %zu; gRPC accepts at most %d",
                         options->max_message_bytes, INT_MAX);
  }
  return 1;
}

static char *copy_string(const char *s, ss_status *st) {
  if (s == NULL) {
    return NULL;
  }
  char *out = strdup(s);
  if (out == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return out;
}

ss_client *ss_client_new(const ss_client_options *options, ss_error *err) {
  ss_status st;
  ss_status_init(&st);
  error_clear(err);
  ss_client *client = NULL;
  grpc_channel_credentials *creds = NULL;
  if (!validate_options(options, &st)) {
    goto err;
  }
  client = calloc(1, sizeof(*client));
  if (client == NULL) {
    ss_status_set(&st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto err;
  }
  if (pthread_mutex_init(&client->mu, NULL) != 0) {
    ss_status_set(&st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "cannot make a mutex");
    goto err;
  }
  client->mu_initialized = 1;
  client->key_type = options->key_type;
  client->compact = options->compact != 0;
  client->compress = options->compress != 0;
  client->rotate_after_queries = options->rotate_after_queries != 0
                                     ? options->rotate_after_queries
                                     : SS__DEFAULT_ROTATE_AFTER_QUERIES;
  client->rotate_after_seconds = options->rotate_after_seconds != 0
                                     ? options->rotate_after_seconds
                                     : SS__DEFAULT_ROTATE_AFTER_SECONDS;
  client->max_message_bytes = options->max_message_bytes != 0
                                  ? options->max_message_bytes
                                  : SS__DEFAULT_MAX_MESSAGE_BYTES;
  client->content_alg = copy_string(
      options->content_alg != NULL ? options->content_alg
                                   : SS_STREAM_DEFAULT_CONTENT_ALG,
      &st);
  if (client->content_alg == NULL) {
    goto err;
  }
  if (options->route != NULL &&
      (client->route = copy_string(options->route, &st)) == NULL) {
    goto err;
  }
  if (options->auth_token != NULL) {
    size_t len = strlen("Bearer ") + strlen(options->auth_token) + 1;
    client->authorization = malloc(len);
    if (client->authorization == NULL) {
      ss_status_set(&st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
      goto err;
    }
    snprintf(client->authorization, len, "Bearer %s", options->auth_token);
  }
  client->key = ss__client_key_new(client->key_type, monotonic_seconds(), &st);
  if (client->key == NULL) {
    goto err;
  }
  // TLS files are read and checked before gRPC starts its threads. NULL
  // roots: gRPC's default roots.
  if (options->use_tls || options->tls_ca_file != NULL) {
    ss_tls_channel_options tls = {.tls_ca_file = options->tls_ca_file,
                                  .tls_cert_file = options->tls_cert_file,
                                  .tls_key_file = options->tls_key_file};
    creds = ss_tls_channel_credentials_new(&tls, &st);
  } else {
    creds = grpc_insecure_credentials_create();
  }
  if (creds == NULL) {
    goto err;
  }
  grpc_init();
  client->grpc_initialized = 1;
  grpc_arg args[3];
  size_t num_args = 0;
  args[num_args].type = GRPC_ARG_INTEGER;
  args[num_args].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[num_args].value.integer = (int)client->max_message_bytes;
  num_args++;
  // Memory must stay bounded however long the result. gRPC's bandwidth
  // probing grows the connection's receive window (and what it buffers, up
  // to 16 MiB plus allocator growth) as a stream goes on, so it is off. The
  // price: in gRPC 1.51 the connection window then stays near 64 KiB plus
  // one message, so each batch costs about one and a half round trips, and
  // throughput on a long path scales with the batch size, not the window.
  args[num_args].type = GRPC_ARG_INTEGER;
  args[num_args].key = (char *)GRPC_ARG_HTTP2_BDP_PROBE;
  args[num_args].value.integer = 0;
  num_args++;
  if (options->tls_server_name != NULL) {
    ss_tls_server_name_arg(&args[num_args++], options->tls_server_name);
  }
  grpc_channel_args channel_args = {.num_args = num_args, .args = args};
  // Never NULL: bad settings make a lame channel whose calls fail with a
  // status saying why.
  client->channel = grpc_channel_create(options->target, creds, &channel_args);
  grpc_channel_credentials_release(creds);
  return client;

err:
  ss_client_free(client);
  error_from_status(err, &st);
  return NULL;
}

void ss_client_free(ss_client *client) {
  if (client == NULL) {
    return;
  }
  if (client->channel != NULL) {
    grpc_channel_destroy(client->channel);
  }
  ss__client_key_release(client->key);
  free(client->content_alg);
  free(client->route);
  if (client->authorization != NULL) {
    OPENSSL_cleanse(client->authorization, strlen(client->authorization));
    free(client->authorization);
  }
  if (client->mu_initialized) {
    pthread_mutex_destroy(&client->mu);
  }
  if (client->grpc_initialized) {
    grpc_shutdown();
  }
  free(client);
}

// --- Queries ---

// The tag of every batch: a query has at most one in flight, waited for
// where it starts.
enum { kBatchTag = 0 };

static ss_query *query_alloc(ss_status *st) {
  ss_query *query = calloc(1, sizeof(*query));
  if (query == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  grpc_metadata_array_init(&query->initial_md);
  grpc_metadata_array_init(&query->trailing_md);
  query->status_details = grpc_empty_slice();
  atomic_init(&query->cancelled, 0);
  query->state = QUERY_RUNNING;
  ss_status_init(&query->error);
  ss_buf_init(&query->plaintext, 0);
  query->allocator.alloc = ss__wiping_alloc;
  query->allocator.free = ss__wiping_free;
  query->allocator.allocator_data = NULL;
  return query;
}

ss_query *ss__query_new_detached(ss_status *st) { return query_alloc(st); }

// status_from_call puts the call's status and details into |st|, keeping printable ASCII
// only: they come from the server or the proxy and end up on terminals.
static void status_from_call(ss_query *query, ss_status *st) {
  char text[SS_STATUS_MSG_MAX];
  size_t len = GRPC_SLICE_LENGTH(query->status_details);
  const uint8_t *details = GRPC_SLICE_START_PTR(query->status_details);
  if (len > sizeof(text) - 1) {
    len = sizeof(text) - 1;
  }
  for (size_t i = 0; i < len; i++) {
    text[i] = details[i] >= 0x20 && details[i] < 0x7f ? (char)details[i]
                                                       : '?';
  }
  text[len] = '\0';
  grpc_status_code code = query->status;
  if (code <= GRPC_STATUS_OK || code > GRPC_STATUS_UNAUTHENTICATED) {
    code = GRPC_STATUS_UNKNOWN;
  }
  if (len == 0) {
    ss_status_set(st, code, "the server ended the query with %s",
                  ss_status_code_name(code));
  } else {
    ss_status_set(st, code, "%s", text);
  }
}

// finish_call receives the call's status. Returns 1 if it is OK, else 0
// with |st| set to it.
static int finish_call(ss_query *query, ss_status *st) {
  if (!query->status_received) {
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &query->trailing_md;
    op.data.recv_status_on_client.status = &query->status;
    op.data.recv_status_on_client.status_details = &query->status_details;
    if (!ss_sync_call_run(query->call, kBatchTag, &op, 1, NULL, st)) {
      return 0;
    }
    query->status_received = 1;
  }
  if (query->status != GRPC_STATUS_OK) {
    status_from_call(query, st);
    return 0;
  }
  return 1;
}

// recv_message reads the next response and opens it into query->plaintext.
// Returns 1 with |*out_final| set; 0 when the stream ended cleanly (an OK
// status after the final message); -1 with |st| set: the call's status when
// it failed, DATA_LOSS when the stream was truncated or a message failed the
// opener's checks.
static int recv_message(ss_query *query, int *out_final, ss_status *st) {
  *out_final = 0;
  grpc_byte_buffer *buffer = NULL;
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &buffer;
  if (!ss_sync_call_run(query->call, kBatchTag, &op, 1, NULL, st)) {
    return -1;
  }
  if (buffer == NULL) {
    // The stream ended or the call failed: the status says which.
    if (!finish_call(query, st) ||
        !ss_stream_opener_finish(query->opener, st)) {
      return -1;
    }
    return 0;
  }
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, buffer)) {
    grpc_byte_buffer_destroy(buffer);
    ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                  "a response could not be decompressed");
    return -1;
  }
  grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  grpc_byte_buffer_destroy(buffer);
  size_t len = GRPC_SLICE_LENGTH(slice);
  query->bytes_received += len;
  // Ciphertext and the query id in clear: the default allocator will do.
  Sealstream__V1__QueryResponse *response =
      sealstream__v1__query_response__unpack(NULL, len,
                                             GRPC_SLICE_START_PTR(slice));
  grpc_slice_unref(slice);
  if (response == NULL) {
    ss_status_set(st, GRPC_STATUS_DATA_LOSS,
                  "message %llu: not a QueryResponse",
                  (unsigned long long)query->messages);
    return -1;
  }
  int ok = ss_stream_opener_open(query->opener, response, &query->plaintext,
                                 out_final, st);
  sealstream__v1__query_response__free_unpacked(response, NULL);
  return ok ? 1 : -1;
}

// fail_query records |st| as the query's lasting error, stops the call so
// the server stops working for it, and reports the error in |err|.
static int fail_query(ss_query *query, ss_status *st, ss_error *err) {
  if (atomic_load(&query->cancelled)) {
    // The cancel caused whatever failed.
    ss_status_set(st, GRPC_STATUS_CANCELLED, "the query was cancelled");
  }
  if (ss_status_ok(st)) {
    // Every failing path sets a status; kept as a safety net.
    ss_status_set(st, GRPC_STATUS_INTERNAL, "the query failed");
  }
  query->state = QUERY_FAILED;
  query->error = *st;
  ss__query_release_current(query);
  if (query->call != NULL && !query->status_received) {
    ss_sync_call_cancel(query->call);
  }
  error_from_status(err, st);
  return -1;
}

static grpc_byte_buffer *pack_request(const ss_client *client,
                                      const ss__client_key *key,
                                      const char *sql,
                                      const ss_query_options *options,
                                      uint8_t *request_id, ss_status *st) {
  Sealstream__V1__QueryLimits limits = SEALSTREAM__V1__QUERY_LIMITS__INIT;
  if (options != NULL) {
    limits.max_rows_per_batch = options->max_rows_per_batch;
    limits.max_bytes_per_batch = options->max_bytes_per_batch;
    limits.max_total_rows = options->max_total_rows;
  }
  Sealstream__V1__EncryptionOptions encryption =
      SEALSTREAM__V1__ENCRYPTION_OPTIONS__INIT;
  encryption.public_jwk = (char *)ss__client_key_public_json(key);
  encryption.key_alg = (char *)ss__client_key_alg(key);
  encryption.content_alg = client->content_alg;
  encryption.compression =
      client->compress ? SEALSTREAM__V1__COMPRESSION__COMPRESSION_DEFLATE
                       : SEALSTREAM__V1__COMPRESSION__COMPRESSION_NONE;
  encryption.serialization =
      client->compact ? SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_COMPACT
                      : SEALSTREAM__V1__SERIALIZATION__SERIALIZATION_PARTS;
  Sealstream__V1__QueryRequest request = SEALSTREAM__V1__QUERY_REQUEST__INIT;
  request.query = (char *)sql;
  request.limits = &limits;
  request.client_request_id.data = request_id;
  request.client_request_id.len = SS__REQUEST_ID_LEN;
  request.encryption = &encryption;
  size_t len = sealstream__v1__query_request__get_packed_size(&request);
  grpc_slice slice = grpc_slice_malloc(len);
  sealstream__v1__query_request__pack(&request, GRPC_SLICE_START_PTR(slice));
  grpc_byte_buffer *buffer = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  if (buffer == NULL) {
    // gRPC aborts on allocation failure; kept for completeness.
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return buffer;
}

ss_query *ss_query_start(ss_client *client, const char *sql,
                         const ss_query_options *options, ss_error *err) {
  ss_status st;
  ss_status_init(&st);
  error_clear(err);
  ss_query *query = NULL;
  grpc_byte_buffer *request = NULL;
  if (client == NULL || sql == NULL) {
    ss_status_set(&st, GRPC_STATUS_INVALID_ARGUMENT,
                  "ss_query_start needs a client and SQL text");
    goto err;
  }
  if (options != NULL && options->timeout_ms < 0) {
    ss_status_set(&st, GRPC_STATUS_INVALID_ARGUMENT,
                  "timeout_ms is negative; use 0 for no deadline");
    goto err;
  }
  query = query_alloc(&st);
  if (query == NULL) {
    goto err;
  }
  query->client = client;
  query->key = ss__client_acquire_key(client, monotonic_seconds(), &st);
  if (query->key == NULL) {
    goto err;
  }
  uint8_t request_id[SS__REQUEST_ID_LEN];
  if (RAND_bytes(request_id, sizeof(request_id)) != 1) {
    ERR_clear_error();
    ss_status_set(&st, GRPC_STATUS_INTERNAL,
                  "the random generator failed to make a request id");
    goto err;
  }
  // A compressed message may inflate up to the same cap as a message.
  query->opener = ss_stream_opener_new(ss__client_key_jwk(query->key),
                                       request_id, sizeof(request_id),
                                       client->max_message_bytes, &st);
  // Messages must come with the algorithms asked for: a downgrade in
  // transit is refused like any other tampering.
  if (query->opener == NULL ||
      !ss_stream_opener_expect_algs(query->opener,
                                    ss__client_key_alg(query->key),
                                    client->content_alg, &st)) {
    goto err;
  }
  request = pack_request(client, query->key, sql, options, request_id, &st);
  if (request == NULL) {
    goto err;
  }
  gpr_timespec deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
  if (options != NULL && options->timeout_ms > 0) {
    deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                            gpr_time_from_millis(options->timeout_ms,
                                                 GPR_TIMESPAN));
  }
  query->call =
      ss_sync_call_new(client->channel, SS_PROTOCOL_EXECUTE_QUERY_METHOD, deadline, &st);
  if (query->call == NULL) {
    goto err;
  }
  // Metadata slices borrow the client's strings: they outlive the batch,
  // which completes before this function returns.
  grpc_metadata metadata[2];
  size_t num_metadata = 0;
  memset(metadata, 0, sizeof(metadata));
  if (client->route != NULL) {
    metadata[num_metadata].key =
        grpc_slice_from_static_string(SS_PROTOCOL_ROUTE_HEADER);
    metadata[num_metadata].value = grpc_slice_from_static_string(client->route);
    num_metadata++;
  }
  if (client->authorization != NULL) {
    metadata[num_metadata].key = grpc_slice_from_static_string(SS_PROTOCOL_AUTH_HEADER);
    metadata[num_metadata].value =
        grpc_slice_from_static_string(client->authorization);
    num_metadata++;
  }
  grpc_op ops[4];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = num_metadata;
  ops[0].data.send_initial_metadata.metadata =
      num_metadata > 0 ? metadata : NULL;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = request;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &query->initial_md;
  // A failed batch means the call failed; the read below then gets no
  // message and reports the call's status.
  if (!ss_sync_call_run(query->call, kBatchTag, ops, 4, NULL, &st)) {
    goto err;
  }
  grpc_byte_buffer_destroy(request);
  request = NULL;
  int final;
  int got = recv_message(query, &final, &st);
  if (got <= 0) {
    if (got == 0) {
      // Cannot happen: the opener refuses a clean end before the final
      // message.
      ss_status_set(&st, GRPC_STATUS_DATA_LOSS, "the stream is empty");
    }
    goto err;
  }
  const ss_batch *none;
  if (ss__query_take_payload(query, query->plaintext.data,
                             query->plaintext.len, final, &none,
                             &st) != 1) {
    goto err;
  }
  return query;

err:
  if (request != NULL) {
    grpc_byte_buffer_destroy(request);
  }
  error_from_status(err, &st);
  ss_query_free(query);
  return NULL;
}

int ss_query_next(ss_query *query, const ss_batch **out_batch,
                  ss_error *err) {
  ss_status st;
  ss_status_init(&st);
  error_clear(err);
  if (out_batch != NULL) {
    *out_batch = NULL;
  }
  if (query == NULL || out_batch == NULL) {
    ss_status_set(&st, GRPC_STATUS_INVALID_ARGUMENT,
                  "ss_query_next needs a query and |out_batch|");
    error_from_status(err, &st);
    return -1;
  }
  if (query->state == QUERY_DONE) {
    return 0;
  }
  if (query->state == QUERY_FAILED) {
    error_from_status(err, &query->error);
    return -1;
  }
  if (query->call == NULL) {
    ss_status_set(&st, GRPC_STATUS_FAILED_PRECONDITION,
                  "the query has no call");
    return fail_query(query, &st, err);
  }
  if (atomic_load(&query->cancelled)) {
    return fail_query(query, &st, err);
  }
  // The previous batch goes before the next arrives: one batch in memory.
  ss__query_release_current(query);
  int final;
  int got = recv_message(query, &final, &st);
  if (got <= 0) {
    if (got == 0) {
      // Cannot happen: the final message was not seen yet, so the opener
      // refuses a clean end.
      ss_status_set(&st, GRPC_STATUS_DATA_LOSS, "the stream was truncated");
    }
    return fail_query(query, &st, err);
  }
  int taken = ss__query_take_payload(query, query->plaintext.data,
                                     query->plaintext.len, final, out_batch,
                                     &st);
  if (taken < 0) {
    return fail_query(query, &st, err);
  }
  if (taken == 1) {
    return 1;
  }
  // The totals were the final message: the stream must now end with OK.
  got = recv_message(query, &final, &st);
  if (got != 0) {
    if (got > 0) {
      // Cannot happen: the opener refuses a message after the final one.
      ss_status_set(&st, GRPC_STATUS_DATA_LOSS,
                    "a message followed the final one");
    }
    return fail_query(query, &st, err);
  }
  query->state = QUERY_DONE;
  return 0;
}

void ss_query_cancel(ss_query *query) {
  if (query == NULL) {
    return;
  }
  atomic_store(&query->cancelled, 1);
  if (query->call != NULL) {
    // Thread-safe; completes the pending batch, if any, with a failure.
    ss_sync_call_cancel(query->call);
  }
}

void ss_query_free(ss_query *query) {
  if (query == NULL) {
    return;
  }
  ss__query_release_current(query);
  if (query->schema != NULL) {
    sealstream__v1__stream_payload__free_unpacked(query->schema,
                                                  &query->allocator);
  }
  if (query->call != NULL && !query->status_received) {
    ss_sync_call_cancel(query->call);
  }
  // No batch is in flight (each is waited for where it starts), so this
  // does not block.
  ss_sync_call_free(query->call);
  grpc_metadata_array_destroy(&query->initial_md);
  grpc_metadata_array_destroy(&query->trailing_md);
  grpc_slice_unref(query->status_details);
  ss_stream_opener_free(query->opener);
  ss__client_key_release(query->key);
  ss_buf_cleanup(&query->plaintext);
  free(query);
}

const char *ss_query_id(const ss_query *query) {
  const char *id = query != NULL && query->opener != NULL
                       ? ss_stream_opener_query_id(query->opener)
                       : NULL;
  return id != NULL ? id : "";
}

uint64_t ss_query_total_rows(const ss_query *query) {
  return query != NULL ? query->total_rows : 0;
}

uint64_t ss_query_total_batches(const ss_query *query) {
  return query != NULL ? query->total_batches : 0;
}

uint64_t ss_query_bytes_received(const ss_query *query) {
  return query != NULL ? query->bytes_received : 0;
}
