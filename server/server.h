// The sealstream server: sealstream.v1.QueryService/ExecuteQuery and
// grpc.health.v1.Health/Check on the lib/rpc completion-queue machinery.
//
// Each ExecuteQuery runs its SQL read-only on the configured SQLite file and
// streams the result as one QueryResponse per message (schema, row batches,
// stats), each a JWE encrypted to the public JWK in the request. SQLite and
// encryption run on a pool of worker threads, never on the completion-queue
// thread; a stream has at most one message in flight, so a slow client costs
// one batch of memory. Requests are untrusted; the database and the options
// come from the operator.
//
// Every request is logged as one line: query id, peer, SQL length (never its
// text), rows, batches, bytes sent, duration and status code.
#ifndef SEALSTREAM_SERVER_SERVER_H
#define SEALSTREAM_SERVER_SERVER_H

#include <stdint.h>
#include <stdio.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif


#define SS_SERVER_DEFAULT_LISTEN "127.0.0.1:50051"
#define SS_SERVER_DEFAULT_WORKERS 4
#define SS_SERVER_DEFAULT_MAX_STREAMS 256
#define SS_SERVER_DEFAULT_DRAIN_TIMEOUT_MS 10000
// Largest QueryRequest accepted (the SQL is capped at 64 KiB; a JWK is a
// few KiB).
#define SS_SERVER_MAX_REQUEST_BYTES (1024 * 1024)
// Largest QueryResponse sent: a 16 MiB batch as a compact JWE is about
// 21.4 MiB.
#define SS_SERVER_MAX_RESPONSE_BYTES (32 * 1024 * 1024)

typedef struct ss_server_options {
  const char *db_path;             // SQLite file; required
  const char *listen_addr;         // HOST:PORT; port 0 picks a free one
  const char *tls_cert_file;       // PEM; with tls_key_file enables TLS
  const char *tls_key_file;        // PEM
  const char *tls_client_ca_file;  // PEM; requires verified client certs
  int allow_plaintext;             // answer requests without a key in clear
  int num_workers;                 // SQLite worker threads
  int max_streams;           // concurrent queries; more: RESOURCE_EXHAUSTED
  int64_t drain_timeout_ms;  // wait for streams on stop, then cancel
  int64_t drain_grace_ms;    // NOT_SERVING before accepting stops
  // Longest a query may run, whatever the client's deadline; 0: no cap.
  // Without it, a few endless queries with no deadline can hold every
  // worker.
  int64_t max_query_ms;
  FILE *log;  // request log; NULL: none
} ss_server_options;

// ss_server_options_init sets |options| to the defaults: listen on
// SS_SERVER_DEFAULT_LISTEN without TLS, encryption required, the default
// workers, streams and drain timeout, no grace, log to stderr, no database.
void ss_server_options_init(ss_server_options *options);

typedef struct ss_server ss_server;

// ss_server_start checks |options| (borrowed; the strings are copied or
// used before it returns), binds the address and starts serving. Errors:
// INVALID_ARGUMENT naming the bad option or unreadable file, UNAVAILABLE
// when the address cannot be bound. Returns NULL with |st| set on failure.
ss_server *ss_server_start(const ss_server_options *options, ss_status *st);

// ss_server_port returns the bound TCP port.
int ss_server_port(const ss_server *server);

// ss_server_active_queries returns how many ExecuteQuery calls are not yet
// released (finished, logged and freed).
int ss_server_active_queries(const ss_server *server);

// ss_server_stop drains |server|: health turns NOT_SERVING; after the drain
// grace, new calls are refused; streams in flight may finish for up to the
// drain timeout and are then cancelled; once every call is released the
// gRPC server and its queues are destroyed and the workers joined. Blocks
// until then. Idempotent; not from a server thread.
void ss_server_stop(ss_server *server);

// ss_server_free stops |server| if needed and frees it. NULL is ignored.
void ss_server_free(ss_server *server);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_SERVER_SERVER_H
