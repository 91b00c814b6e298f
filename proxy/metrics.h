// Proxy metrics: counters the forwarding code updates from any thread, and
// their Prometheus text exposition (format 0.0.4).
//
// Updates are lock-free atomics: nothing on the per-message or per-stream
// path takes a lock or allocates. Route labels are bounded: they are the
// operator's configured route names, never a client's string. A call for a
// name outside the current route set counts under route="" (empty: it cannot
// clash with a configured name, which is never empty).
//
// Exported families, all prefixed sealstream_proxy_:
//   streams_active                    gauge
//   streams_total                     counter
//   forwarded_bytes_total{direction}  counter, client_to_backend and
//                                     backend_to_client
//   calls_total{route,code}           counter, code as "OK", "NOT_FOUND"...;
//                                     only pairs seen at least once
//   upstream_connect_seconds{route}   histogram
//   upstream_first_byte_seconds{route}  histogram
//   process_resident_memory_bytes     gauge, from /proc/self/statm
// Histograms are per route (the global one is a sum over route in PromQL)
// and list only routes with at least one observation.
#ifndef SEALSTREAM_PROXY_METRICS_H
#define SEALSTREAM_PROXY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// SS_PROXY_METRICS_MAX_ROUTES bounds the route names ever configured over
// the life of one ss_proxy_metrics, reloads included.
#define SS_PROXY_METRICS_MAX_ROUTES 1024

// SS_PROXY_METRICS_ROUTE_MAX_LEN bounds the bytes of one route name.
#define SS_PROXY_METRICS_ROUTE_MAX_LEN 512

typedef struct ss_proxy_metrics ss_proxy_metrics;

typedef enum ss_proxy_direction {
  SS_PROXY_CLIENT_TO_BACKEND = 0,
  SS_PROXY_BACKEND_TO_CLIENT = 1,
} ss_proxy_direction;

// ss_proxy_metrics_new returns a new, zeroed set of metrics with no routes,
// to be freed with ss_proxy_metrics_free. Returns NULL with |st| set when
// memory is short.
ss_proxy_metrics *ss_proxy_metrics_new(ss_status *st);

// ss_proxy_metrics_free frees |m|. No other call on |m| may be running or
// start afterwards. NULL does nothing.
void ss_proxy_metrics_free(ss_proxy_metrics *m);

// ss_proxy_metrics_set_routes makes the |num_names| NUL-terminated |names|
// the current route set, at start and on each reload. Routes that remain
// keep their counts; routes dropped keep their counts in the exposition but
// new calls naming them count under route=""; a dropped route added again
// continues its counts. Names must be non-empty, at most
// SS_PROXY_METRICS_ROUTE_MAX_LEN bytes and valid UTF-8; duplicates are
// allowed. Returns 1, or 0 with |st| set and the route set unchanged:
// INVALID_ARGUMENT for a bad name, RESOURCE_EXHAUSTED when the distinct
// names ever configured would exceed SS_PROXY_METRICS_MAX_ROUTES (restart
// the proxy to start afresh). Safe to call while other threads update or
// render |m|; calls to it are serialized.
int ss_proxy_metrics_set_routes(ss_proxy_metrics *m, const char *const *names,
                                size_t num_names, ss_status *st);

// ss_proxy_metrics_stream_started counts a call arriving from a client,
// before any check: every call is one stream, ended by exactly one
// ss_proxy_metrics_stream_ended.
void ss_proxy_metrics_stream_started(ss_proxy_metrics *m);

// ss_proxy_metrics_stream_ended counts the end of a stream with status
// |code| under the route named by the |route_len| bytes at |route|
// (untrusted; NULL for none). Names outside the current route set count
// under route=""; codes outside the gRPC enum count as UNKNOWN.
void ss_proxy_metrics_stream_ended(ss_proxy_metrics *m, const char *route,
                                   size_t route_len, grpc_status_code code);

// ss_proxy_metrics_add_bytes adds |num_bytes| forwarded in |direction|.
void ss_proxy_metrics_add_bytes(ss_proxy_metrics *m,
                                ss_proxy_direction direction,
                                uint64_t num_bytes);

// ss_proxy_metrics_observe_connect records an upstream connection that took
// |seconds| to establish, for the route named as in
// ss_proxy_metrics_stream_ended. Negative or NaN values count as 0; values
// above 1e6 s are clamped in the sum.
void ss_proxy_metrics_observe_connect(ss_proxy_metrics *m, const char *route,
                                      size_t route_len, double seconds);

// ss_proxy_metrics_observe_first_byte records the time from forwarding a
// call upstream to its first response byte, as
// ss_proxy_metrics_observe_connect.
void ss_proxy_metrics_observe_first_byte(ss_proxy_metrics *m, const char *route,
                                         size_t route_len, double seconds);

// ss_proxy_metrics_render appends the exposition text of |m| to |out|.
// Safe to call while other threads update |m|; each value is read
// atomically, the set of values is not one snapshot (a histogram's _count
// always equals its +Inf bucket). Returns 1, or 0 with |st| set
// (RESOURCE_EXHAUSTED when |out|'s cap is reached or memory is short); after
// a failure |out| only allows ss_buf_cleanup.
int ss_proxy_metrics_render(ss_proxy_metrics *m, ss_buf *out, ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_PROXY_METRICS_H
