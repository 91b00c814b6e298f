// The sealstream server (see server.h): ExecuteQuery streams and health
// checks on lib/rpc. Protocol: protos/sealstream/v1/query.proto and the
// standard grpc.health.v1 Check.
//
// Trust: request bytes, metadata and the peer address are untrusted and are
// parsed only after their size is capped; the SQL text goes to the
// read-only query source and is never logged; status messages sent back
// never carry key bytes or row data.
//
// One ExecuteQuery is a query_call. A single "baton" passes between the
// worker pool and the completion queue: a worker job produces one message
// and starts its send; the send's completion, on the pump thread, queues the
// next job. So at most one of {job queued or running, send in flight}
// exists per stream, and whoever holds the baton ends the call with
// ss_rpc_call_finish. A cancel (client, deadline, drain) only interrupts the
// query source, which makes the holder of the baton finish.
#include "server/server.h"

#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/bytes.h"
#include "lib/protocol/names.h"
#include "lib/protocol/stream.h"
#include "lib/rpc/buffer.h"
#include "lib/rpc/health.h"
#include "lib/rpc/pool.h"
#include "lib/rpc/server.h"
#include "sealstream/v1/query.pb-c.h"
#include "server/query_source.h"

#define SS_SERVER_MAX_WORKERS SS_RPC_POOL_MAX_THREADS
#define SS_SERVER_MAX_STREAMS_CAP 100000
#define SS_QUERY_ID_BYTES 8  // 16 hex characters

static const int64_t kDeadlineSlackMs = 20;

struct ss_server {
  char *db_path;  // owned
  int allow_plaintext;
  int max_streams;
  int64_t drain_timeout_ms;
  int64_t drain_grace_ms;
  int64_t max_query_ms;        // 0: no server-side cap
  FILE *log;                   // borrowed
  int port;                    // bound TCP port
  ss_rpc_server *rpc;          // owned until stopped
  ss_rpc_pool *pool;           // owned until stopped
  _Atomic int serving;         // health: 1 SERVING, 0 NOT_SERVING
  ss_rpc_health health;        // answers Check from |serving|
  _Atomic int active_queries;  // query_calls not yet released
  pthread_mutex_t stop_mu;     // serializes ss_server_stop
  int stopped;                 // guarded by stop_mu
};

typedef struct query_call {
  ss_server *server;  // borrowed
  ss_rpc_call *rpc;   // borrowed; valid until on_release
  ss_rpc_job job;     // the baton while queued or running

  pthread_mutex_t mu;            // guards |source| against on_cancel
  ss_query_source *source;       // owned
  int cancelled;                 // guarded by mu
  grpc_status_code cancel_code;  // CANCELLED or DEADLINE_EXCEEDED; by mu

  int64_t deadline_ms;  // CLOCK_MONOTONIC; 0: none; set on accept

  // Used only by the baton holder.
  int begun;                 // request parsed, source opened
  ss_stream_sealer *sealer;  // owned; NULL when answering in clear
  int plaintext;             // answering in clear (allowed, no key)
  ss_buf plain;              // current plaintext message; wiped on free

  // For the log line, written before the baton is passed on.
  char query_id[2 * SS_QUERY_ID_BYTES + 1];
  char *peer;  // owned
  size_t sql_len;
  uint64_t rows;
  uint64_t batches;
  uint64_t bytes_sent;    // serialized QueryResponses
  grpc_status_code code;  // the status sent
  int64_t start_us;
} query_call;

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

// --- request parsing -------------------------------------------------------

static int get_varint(ss_cbs *cbs, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b;
    if (!ss_cbs_get_u8(cbs, &b)) {
      return 0;
    }
    v |= (uint64_t)(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      return 1;
    }
  }
  return 0;
}

// query_has_nul returns 1 if a QueryRequest.query field (1) in the wire
// bytes |cbs| holds a NUL byte. protobuf-c keeps strings NUL-terminated, so
// such a query would silently run only up to the NUL. Bytes that do not
// parse are left for protobuf-c to refuse.
static int query_has_nul(ss_cbs cbs) {
  while (cbs.len > 0) {
    uint64_t key, len;
    if (!get_varint(&cbs, &key)) {
      return 0;
    }
    switch (key & 7) {
      case 0:
        if (!get_varint(&cbs, &len)) {
          return 0;
        }
        break;
      case 1:
        if (!ss_cbs_skip(&cbs, 8)) {
          return 0;
        }
        break;
      case 5:
        if (!ss_cbs_skip(&cbs, 4)) {
          return 0;
        }
        break;
      case 2: {
        ss_cbs field;
        if (!get_varint(&cbs, &len) || len > cbs.len ||
            !ss_cbs_get_bytes(&cbs, &field, (size_t)len)) {
          return 0;
        }
        if ((key >> 3) == 1 && ss_cbs_contains(&field, 0)) {
          return 1;
        }
        break;
      }
      default:
        return 0;
    }
  }
  return 0;
}

// check_enums refuses an enum field of |msg|, or of a message inside it,
// whose value the schema does not define. proto3 enums are open, so
// protobuf-c keeps an unknown number as it is and code that compares with
// the known values would take it for the default. |path| names |msg| in
// messages ("QueryRequest"). Walks the descriptor, so an enum added to
// query.proto is checked without a change here.
static int check_enums(const ProtobufCMessage *msg, const char *path,
                       int depth, ss_status *st) {
  // QueryRequest nests two levels deep; a recursive schema would be cut
  // here rather than walked without end.
  if (depth > 8) {
    return 1;
  }
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  for (unsigned i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *field = &desc->fields[i];
    if (field->type != PROTOBUF_C_TYPE_ENUM &&
        field->type != PROTOBUF_C_TYPE_MESSAGE) {
      continue;
    }
    const char *base = (const char *)msg;
    if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
        *(const uint32_t *)(base + field->quantifier_offset) != field->id) {
      continue;  // another member of the oneof is set
    }
    size_t count = 1;
    const char *values = base + field->offset;
    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
      count = *(const size_t *)(base + field->quantifier_offset);
      values = *(const char *const *)values;
    } else if (field->label == PROTOBUF_C_LABEL_OPTIONAL &&
               field->quantifier_offset != 0 &&
               field->type == PROTOBUF_C_TYPE_ENUM &&
               !*(const protobuf_c_boolean *)(base +
                                              field->quantifier_offset)) {
      continue;
    }
    for (size_t j = 0; j < count; j++) {
      if (field->type == PROTOBUF_C_TYPE_ENUM) {
        int value = ((const int *)values)[j];
        if (protobuf_c_enum_descriptor_get_value(field->descriptor, value) ==
            NULL) {
          return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                               "%s.%s is %d, which %s does not define", path,
                               field->name, value,
                               ((const ProtobufCEnumDescriptor *)
                                    field->descriptor)
                                   ->short_name);
        }
        continue;
      }
      const ProtobufCMessage *sub =
          ((const ProtobufCMessage *const *)values)[j];
      if (sub == NULL) {
        continue;
      }
      char sub_path[128];
      snprintf(sub_path, sizeof(sub_path), "%s.%s", path, field->name);
      if (!check_enums(sub, sub_path, depth + 1, st)) {
        return 0;
      }
    }
  }
  return 1;
}

static Sealstream__V1__QueryRequest *parse_request(grpc_byte_buffer *bb,
                                                   ss_status *st) {
  if (bb == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "no QueryRequest message was sent");
    return NULL;
  }
  Sealstream__V1__QueryRequest *req = NULL;
  ss_buf wire;
  ss_buf_init(&wire, SS_SERVER_MAX_REQUEST_BYTES);
  if (!ss_rpc_buffer_read(bb, &wire, st)) {
    ss_status_prefix(st, "QueryRequest: ");
    goto done;
  }
  ss_cbs cbs;
  ss_cbs_init(&cbs, wire.data, wire.len);
  if (query_has_nul(cbs)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "QueryRequest.query contains a NUL byte");
    goto done;
  }
  req = sealstream__v1__query_request__unpack(
      NULL, wire.len, wire.data != NULL ? wire.data : (const uint8_t *)"");
  if (req == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "malformed QueryRequest message");
    goto done;
  }
  if (!check_enums(&req->base, "QueryRequest", 0, st)) {
    sealstream__v1__query_request__free_unpacked(req, NULL);
    req = NULL;
  }
done:
  ss_buf_cleanup(&wire);
  return req;
}

// --- responses -------------------------------------------------------------

static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

// plaintext_response serializes QueryResponse{query_id: |qid|, plaintext:
// the StreamPayload serialized in |payload|}. A message field's wire form is
// its serialized bytes behind a length, so the payload is copied as is
// instead of being unpacked and packed again. Field numbers: query_id 1,
// plaintext 4 (query.proto; checked by server_test).
static grpc_byte_buffer *plaintext_response(const char *qid,
                                            const ss_buf *payload,
                                            size_t *out_len, ss_status *st) {
  size_t qid_len = strlen(qid);
  size_t len = 1 + 10 + qid_len + 1 + 10 + payload->len;
  uint8_t *data = malloc(len);
  if (data == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  size_t n = 0;
  data[n++] = (1 << 3) | 2;
  n += put_varint(data + n, qid_len);
  memcpy(data + n, qid, qid_len);
  n += qid_len;
  data[n++] = (4 << 3) | 2;
  n += put_varint(data + n, payload->len);
  if (payload->len > 0) {
    memcpy(data + n, payload->data, payload->len);
  }
  n += payload->len;
  grpc_byte_buffer *bb = ss_rpc_buffer_take(data, n, st);
  if (bb == NULL) {
    free(data);
    return NULL;
  }
  *out_len = n;
  return bb;
}

static grpc_byte_buffer *sealed_response(query_call *q, int final,
                                         size_t *out_len, ss_status *st) {
  Sealstream__V1__QueryResponse response;
  if (!ss_stream_sealer_seal(q->sealer, q->plain.data, q->plain.len, final,
                             &response, st)) {
    return NULL;
  }
  *out_len = sealstream__v1__query_response__get_packed_size(&response);
  return ss_rpc_buffer_pack(&response.base, st);
}

// --- ExecuteQuery ------------------------------------------------------------

static void query_log(const query_call *q) {
  FILE *log = q->server->log;
  if (log == NULL) {
    return;
  }
  double ms = (double)(now_us() - q->start_us) / 1000.0;
  // One fprintf per line: stdio locks the stream, so lines never interleave.
  fprintf(log,
          "sealstream-server: query id=%s peer=%s mode=%s sql_bytes=%zu "
          "rows=%llu batches=%llu bytes=%llu duration_ms=%.1f status=%s\n",
          q->query_id, q->peer != NULL ? q->peer : "unknown",
          q->sealer != NULL ? "jwe" : (q->plaintext ? "plaintext" : "-"),
          q->sql_len, (unsigned long long)q->rows,
          (unsigned long long)q->batches, (unsigned long long)q->bytes_sent, ms,
          ss_status_code_name(q->code));
  fflush(log);
}

static void query_released(void *app) {
  query_call *q = app;
  query_log(q);
  ss_query_source_free(q->source);
  ss_stream_sealer_free(q->sealer);
  ss_buf_cleanup(&q->plain);
  free(q->peer);
  pthread_mutex_destroy(&q->mu);
  atomic_fetch_sub(&q->server->active_queries, 1);
  free(q);
}

static void query_cancelled(void *app) {
  query_call *q = app;
  pthread_mutex_lock(&q->mu);
  q->cancelled = 1;
  // gRPC's deadline timer may fire a little before our rounded copy of
  // the deadline; a cancel that close to it is the deadline.
  q->cancel_code = q->deadline_ms != 0 &&
                           now_us() / 1000 + kDeadlineSlackMs >= q->deadline_ms
                       ? GRPC_STATUS_DEADLINE_EXCEEDED
                       : GRPC_STATUS_CANCELLED;
  if (q->source != NULL) {
    ss_query_source_interrupt(q->source);
  }
  pthread_mutex_unlock(&q->mu);
}

// query_finish ends the call with |code| and |msg|, the last message |bb|
// (owned; may be NULL). |q| must not be touched afterwards.
static void query_finish(query_call *q, grpc_byte_buffer *bb,
                         grpc_status_code code, const char *msg) {
  pthread_mutex_lock(&q->mu);
  if (q->cancelled && code != GRPC_STATUS_OK &&
      code != GRPC_STATUS_DEADLINE_EXCEEDED) {
    // The client is gone or out of time; say why in the log.
    code = q->cancel_code;
  }
  pthread_mutex_unlock(&q->mu);
  q->code = code;
  ss_rpc_call_finish(q->rpc, bb, code, msg, NULL);
}

static void query_fail(query_call *q, const ss_status *st) {
  query_finish(q, NULL, st->code, st->msg);
}

// query_begin parses the request, sets up encryption and opens the query.
static int query_begin(query_call *q, ss_status *st) {
  q->begun = 1;
  Sealstream__V1__QueryRequest *req =
      parse_request(ss_rpc_call_request(q->rpc), st);
  if (req == NULL) {
    return 0;
  }
  int ok = 0;
  q->sql_len = strlen(req->query);
  if (req->encryption != NULL) {
    q->sealer = ss_stream_sealer_new(req->encryption, q->query_id,
                                     req->client_request_id.data,
                                     req->client_request_id.len, st);
    if (q->sealer == NULL) {
      goto done;
    }
  } else if (!q->server->allow_plaintext) {
    ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                  "this server requires encryption: send "
                  "encryption.public_jwk");
    goto done;
  } else {
    q->plaintext = 1;
  }
  ss_query_limits limits = {0, 0, 0};
  if (req->limits != NULL) {
    limits.max_rows_per_batch = req->limits->max_rows_per_batch;
    limits.max_bytes_per_batch = req->limits->max_bytes_per_batch;
    limits.max_total_rows = req->limits->max_total_rows;
  }
  ss_query_source *source = ss_query_source_open(q->server->db_path, req->query,
                                                 &limits, q->deadline_ms, st);
  if (source == NULL) {
    goto done;
  }
  pthread_mutex_lock(&q->mu);
  q->source = source;
  if (q->cancelled) {
    ss_query_source_interrupt(source);
  }
  pthread_mutex_unlock(&q->mu);
  ok = 1;
done:
  sealstream__v1__query_request__free_unpacked(req, NULL);
  return ok;
}

// query_step runs on a worker with the baton: it produces, seals and sends
// one message.
static void query_step(void *owner) {
  query_call *q = owner;
  ss_status st;
  ss_status_init(&st);
  if (!q->begun && !query_begin(q, &st)) {
    query_fail(q, &st);
    return;
  }
  int final = 0;
  if (!ss_query_source_next(q->source, &q->plain, &final, &st)) {
    query_fail(q, &st);
    return;
  }
  q->rows = ss_query_source_rows(q->source);
  q->batches = ss_query_source_batches(q->source);
  size_t len = 0;
  grpc_byte_buffer *bb =
      q->sealer != NULL ? sealed_response(q, final, &len, &st)
                        : plaintext_response(q->query_id, &q->plain, &len, &st);
  if (bb == NULL) {
    query_fail(q, &st);
    return;
  }
  q->bytes_sent += len;
  if (final) {
    query_finish(q, bb, GRPC_STATUS_OK, NULL);
    return;
  }
  if (!ss_rpc_call_send(q->rpc, bb, &st)) {
    grpc_byte_buffer_destroy(bb);
    query_fail(q, &st);
  }
  // From here the send's completion holds the baton.
}

static void query_sent(void *app, int ok) {
  query_call *q = app;
  pthread_mutex_lock(&q->mu);
  int cancelled = q->cancelled;
  pthread_mutex_unlock(&q->mu);
  if (!ok || cancelled) {
    query_finish(q, NULL, GRPC_STATUS_CANCELLED,
                 "the stream ended before the result was sent");
    return;
  }
  ss_rpc_pool_submit(q->server->pool, &q->job);
}

static const ss_rpc_call_ops kQueryOps = {.on_send_done = query_sent,
                                          .on_cancel = query_cancelled,
                                          .on_release = query_released};

static void on_execute_query(void *ctx, ss_rpc_call *call) {
  ss_server *server = ctx;
  query_call *q = calloc(1, sizeof(*q));
  if (q == NULL) {
    ss_rpc_call_finish(call, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED,
                       "server out of memory", NULL);
    return;
  }
  atomic_fetch_add(&server->active_queries, 1);
  q->server = server;
  q->rpc = call;
  q->start_us = now_us();
  q->deadline_ms = ss_rpc_call_deadline_ms(call);
  if (server->max_query_ms > 0) {
    int64_t cap = q->start_us / 1000 + server->max_query_ms;
    if (q->deadline_ms == 0 || q->deadline_ms > cap) {
      q->deadline_ms = cap;
    }
  }
  q->code = GRPC_STATUS_UNKNOWN;
  pthread_mutex_init(&q->mu, NULL);
  ss_buf_init(&q->plain, 0);
  ss_rpc_job_init(&q->job, query_step, q);
  q->peer = ss_rpc_call_peer(call);
  ss_rpc_call_set_ops(call, &kQueryOps, q);
  uint8_t id[SS_QUERY_ID_BYTES];
  if (RAND_bytes(id, sizeof(id)) != 1) {
    // Not expected with a seeded system RNG. Ids bind each stream's
    // messages, so a predictable one is refused rather than used.
    snprintf(q->query_id, sizeof(q->query_id), "-");
    query_finish(q, NULL, GRPC_STATUS_UNAVAILABLE,
                 "server cannot draw a random query id; retry later");
    return;
  }
  static const char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof(id); i++) {
    q->query_id[2 * i] = kHex[id[i] >> 4];
    q->query_id[2 * i + 1] = kHex[id[i] & 15];
  }
  q->query_id[2 * sizeof(id)] = '\0';

  int active = atomic_load(&server->active_queries);
  if (active > server->max_streams) {
    char msg[128];
    snprintf(msg, sizeof(msg), "server busy: %d queries running; retry later",
             server->max_streams);
    query_finish(q, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, msg);
    return;
  }
  ss_rpc_pool_submit(server->pool, &q->job);
}

// --- Health ----------------------------------------------------------------

static int server_serving(void *ctx) {
  ss_server *server = ctx;
  return atomic_load(&server->serving);
}

// --- server ------------------------------------------------------------------

void ss_server_options_init(ss_server_options *options) {
  memset(options, 0, sizeof(*options));
  options->listen_addr = SS_SERVER_DEFAULT_LISTEN;
  options->num_workers = SS_SERVER_DEFAULT_WORKERS;
  options->max_streams = SS_SERVER_DEFAULT_MAX_STREAMS;
  options->drain_timeout_ms = SS_SERVER_DEFAULT_DRAIN_TIMEOUT_MS;
  options->log = stderr;
}

static int check_options(const ss_server_options *options, ss_status *st) {
  if (options->db_path == NULL || options->db_path[0] == '\0') {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "no database: give the SQLite file to serve");
  }
  if (access(options->db_path, R_OK) != 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "database %s: %s",
                         options->db_path, strerror(errno));
  }
  if (options->num_workers < 1 ||
      options->num_workers > SS_SERVER_MAX_WORKERS) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "workers: %d; expected 1 to %d", options->num_workers,
                         SS_SERVER_MAX_WORKERS);
  }
  if (options->max_streams < 1 ||
      options->max_streams > SS_SERVER_MAX_STREAMS_CAP) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "max streams: %d; expected 1 to %d",
                         options->max_streams, SS_SERVER_MAX_STREAMS_CAP);
  }
  if (options->drain_timeout_ms < 0 || options->drain_grace_ms < 0 ||
      options->max_query_ms < 0) {
    return ss_status_set(
        st, GRPC_STATUS_INVALID_ARGUMENT,
        "drain timeout, drain grace and max query time must not be negative");
  }
  return 1;
}

ss_server *ss_server_start(const ss_server_options *options, ss_status *st) {
  if (!check_options(options, st)) {
    return NULL;
  }
  ss_server *server = calloc(1, sizeof(*server));
  if (server == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&server->stop_mu, NULL);
  atomic_init(&server->serving, 1);
  server->health.service = SS_PROTOCOL_QUERY_SERVICE;
  server->health.serving = server_serving;
  server->health.ctx = server;
  atomic_init(&server->active_queries, 0);
  server->allow_plaintext = options->allow_plaintext;
  server->max_streams = options->max_streams;
  server->drain_timeout_ms = options->drain_timeout_ms;
  server->drain_grace_ms = options->drain_grace_ms;
  server->max_query_ms = options->max_query_ms;
  server->log = options->log;
  server->db_path = strdup(options->db_path);
  if (server->db_path == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto err;
  }
  server->pool = ss_rpc_pool_new(options->num_workers, "ss-sql", st);
  if (server->pool == NULL) {
    goto err;
  }
  ss_rpc_server_options rpc_options;
  ss_rpc_server_options_init(&rpc_options);
  rpc_options.listen_addr = options->listen_addr;
  rpc_options.tls_cert_file = options->tls_cert_file;
  rpc_options.tls_key_file = options->tls_key_file;
  rpc_options.tls_client_ca_file = options->tls_client_ca_file;
  rpc_options.max_receive_bytes = SS_SERVER_MAX_REQUEST_BYTES;
  rpc_options.max_send_bytes = SS_SERVER_MAX_RESPONSE_BYTES;
  // gRPC would inflate a compressed request whole before checking its size,
  // so a 1 MB request could cost gigabytes. Requests arrive as sent and
  // ss_rpc_buffer_read inflates them, stopping at the request limit.
  rpc_options.keep_compressed = 1;
  server->rpc = ss_rpc_server_new(&rpc_options, st);
  if (server->rpc == NULL ||
      !ss_rpc_server_add_method(server->rpc, SS_PROTOCOL_EXECUTE_QUERY_METHOD,
                                on_execute_query, server, st) ||
      !ss_rpc_health_add(server->rpc, &server->health, st) ||
      !ss_rpc_server_start(server->rpc, st)) {
    goto err;
  }
  server->port = ss_rpc_server_port(server->rpc);
  return server;

err:
  ss_rpc_server_free(server->rpc);
  ss_rpc_pool_free(server->pool);
  free(server->db_path);
  pthread_mutex_destroy(&server->stop_mu);
  free(server);
  return NULL;
}

int ss_server_port(const ss_server *server) { return server->port; }

int ss_server_active_queries(const ss_server *server) {
  return atomic_load(&server->active_queries);
}

static void sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void ss_server_stop(ss_server *server) {
  pthread_mutex_lock(&server->stop_mu);
  if (server->stopped) {
    pthread_mutex_unlock(&server->stop_mu);
    return;
  }
  atomic_store(&server->serving, 0);
  if (server->drain_grace_ms > 0) {
    sleep_ms(server->drain_grace_ms);
  }
  ss_rpc_server_shutdown(server->rpc);
  if (!ss_rpc_server_wait(server->rpc, server->drain_timeout_ms)) {
    if (server->log != NULL) {
      fprintf(server->log,
              "sealstream-server: drain timeout: cancelling %d queries\n",
              atomic_load(&server->active_queries));
    }
    ss_rpc_server_cancel_all(server->rpc);
    ss_rpc_server_wait(server->rpc, -1);
  }
  // Every call is released: no job is queued and no callback will come.
  ss_rpc_server_free(server->rpc);
  server->rpc = NULL;
  ss_rpc_pool_free(server->pool);
  server->pool = NULL;
  server->stopped = 1;
  pthread_mutex_unlock(&server->stop_mu);
}

void ss_server_free(ss_server *server) {
  if (server == NULL) {
    return;
  }
  ss_server_stop(server);
  free(server->db_path);
  pthread_mutex_destroy(&server->stop_mu);
  free(server);
}
