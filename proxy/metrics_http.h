// The metrics HTTP endpoint: a small HTTP/1.1 server on its own port and
// thread, for Prometheus scrapes and health checks.
//
//   GET /metrics  200, text/plain; version=0.0.4, the body from |render|
//   GET /healthz  200, "ok"
//   other paths 404; other methods 405; malformed requests 400; a request
//   head over SS_METRICS_HTTP_MAX_HEAD bytes 431; |render| failing 500.
// Each response closes its connection. A query string is ignored.
//
// Requests are untrusted. The server holds at most
// SS_METRICS_HTTP_MAX_CONNS connections; each must send its request and take
// its response within SS_METRICS_HTTP_TIMEOUT_MS, so a silent or slow client
// delays others only while every slot is taken, and never longer than that.
// It touches no process-wide state: no signal handlers (sends use
// MSG_NOSIGNAL), and its thread starts with all signals blocked.
#ifndef SEALSTREAM_PROXY_METRICS_HTTP_H
#define SEALSTREAM_PROXY_METRICS_HTTP_H

#include "lib/base/bytes.h"
#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SS_METRICS_HTTP_MAX_HEAD 8192    // bytes of request line and headers
#define SS_METRICS_HTTP_MAX_CONNS 8      // connections served at once
#define SS_METRICS_HTTP_TIMEOUT_MS 5000  // per connection, accept to close
#define SS_METRICS_HTTP_MAX_BODY (64u << 20)  // bytes |render| may write

typedef struct ss_metrics_http ss_metrics_http;

// ss_metrics_http_render_fn appends a /metrics body to |out| (empty, capped
// at SS_METRICS_HTTP_MAX_BODY). Returns 1, or 0 to answer 500. It runs on
// the server's thread, concurrently with the caller's other threads.
typedef int (*ss_metrics_http_render_fn)(void *ctx, ss_buf *out);

// ss_metrics_http_start listens on |listen_host_port| and serves requests on
// a new thread until ss_metrics_http_stop. The address is "HOST:PORT" with
// HOST an IPv4 address in dotted form, "localhost" (127.0.0.1) or an IPv6
// address in brackets ("[::1]:9090"); PORT 0 picks a free port. |render| and
// |ctx| are borrowed and must stay valid until ss_metrics_http_stop returns.
// Returns the new server, or NULL with |st| set: INVALID_ARGUMENT for a bad
// address, UNAVAILABLE when it cannot be bound (in use, not local),
// RESOURCE_EXHAUSTED or INTERNAL when a socket, pipe or thread cannot be
// made.
ss_metrics_http *ss_metrics_http_start(const char *listen_host_port,
                                       ss_metrics_http_render_fn render,
                                       void *ctx, ss_status *st);

// ss_metrics_http_port returns the port |h| listens on (the one picked when
// 0 was asked for).
int ss_metrics_http_port(const ss_metrics_http *h);

// ss_metrics_http_stop wakes the server's thread, waits for it to exit and
// closes the listener and every open connection without waiting for them,
// then frees |h|. NULL does nothing.
void ss_metrics_http_stop(ss_metrics_http *h);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_PROXY_METRICS_HTTP_H
