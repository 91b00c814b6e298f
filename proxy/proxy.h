// sealstream-proxy as a library: a gRPC server that accepts calls for any
// method of any service, authenticates them by bearer token, picks a backend
// from a request header and forwards them with proxy/forward, never reading
// a message. It answers grpc.health.v1.Health/Check itself, enforces its
// limits (concurrent streams overall and per token, message and metadata
// size, an optional idle timeout), counts everything in an ss_proxy_metrics
// and writes one access-log line per call.
//
// Routes, tokens and limits can be replaced while serving (reload): calls in
// flight keep the settings they started with, new calls get the new ones,
// and backend connections whose settings did not change are kept.
//
// Everything a client sends is untrusted; the configuration is the
// operator's.
#ifndef SEALSTREAM_PROXY_PROXY_H
#define SEALSTREAM_PROXY_PROXY_H

#include <stdint.h>
#include <stdio.h>

#include "lib/base/status.h"
#include "proxy/config.h"
#include "proxy/forward.h"
#include "proxy/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ss_proxy ss_proxy;

// ss_proxy_new starts a proxy serving |config| (read now; not kept),
// counting into |metrics| and logging to |log| (both borrowed; must outlive
// the proxy; |log| NULL: no log). |filter| (borrowed, may be NULL) sees
// every forwarded message: for tests only. Errors: those of the TLS files
// (INVALID_ARGUMENT) and UNAVAILABLE when the address cannot be bound.
// Returns NULL with |st| set on failure.
ss_proxy *ss_proxy_new(const ss_proxy_config *config, ss_proxy_metrics *metrics,
                       FILE *log, const ss_forward_filter *filter,
                       ss_status *st);

// ss_proxy_port returns the bound TCP port.
int ss_proxy_port(const ss_proxy *proxy);

// ss_proxy_reload replaces the routes, tokens and limits with those of
// |config| (read now). Calls in flight are not touched. Settings that need a
// restart (listen address, TLS listener, threads) are left as they are. On
// failure (a backend's TLS files) nothing changes. Returns 1, or 0 with |st|
// set.
int ss_proxy_reload(ss_proxy *proxy, const ss_proxy_config *config,
                    ss_status *st);

// ss_proxy_active_streams returns the calls being served.
int ss_proxy_active_streams(const ss_proxy *proxy);

// ss_proxy_stop_accepting starts the drain: health turns NOT_SERVING, the
// listening socket is closed (a load balancer's next connection goes to
// another replica) and clients' connections are told to go away (HTTP/2
// GOAWAY); calls in flight go on. Idempotent.
void ss_proxy_stop_accepting(ss_proxy *proxy);

// ss_proxy_drain stops accepting if needed, waits up to |timeout_ms| for the
// calls in flight to end, then cancels the rest and waits for them. Returns
// 1 if every call ended on its own in time, else 0. Not from a pump thread.
int ss_proxy_drain(ss_proxy *proxy, int64_t timeout_ms);

// ss_proxy_free drains with no grace period if needed and frees |proxy|.
// NULL is ignored.
void ss_proxy_free(ss_proxy *proxy);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_PROXY_PROXY_H
