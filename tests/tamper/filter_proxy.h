// Test support: sealstream-proxy (proxy/proxy.h) running in the test
// process in front of one backend, with a message filter (proxy/forward.h).
// This is how tests stand where an untrusted proxy stands: the tampering and
// capturing proxies are the real forwarding core with a filter, not
// forwarders of their own.
#ifndef SEALSTREAM_TESTS_TAMPER_FILTER_PROXY_H
#define SEALSTREAM_TESTS_TAMPER_FILTER_PROXY_H

#include "lib/base/status.h"
#include "proxy/forward.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ss_filter_proxy ss_filter_proxy;

// ss_filter_proxy_new serves on 127.0.0.1 (a free port), plaintext and
// without authentication, and forwards every call to |backend| ("host:port",
// plaintext; copied), its one and default route, passing every message
// through |filter| (borrowed, may be NULL; must outlive the proxy). Returns
// NULL with |st| set.
ss_filter_proxy *ss_filter_proxy_new(const char *backend,
                                     const ss_forward_filter *filter,
                                     ss_status *st);

// ss_filter_proxy_free cancels the calls in flight, waits until the filter
// has seen the end of each, and frees |proxy|. NULL is ignored.
void ss_filter_proxy_free(ss_filter_proxy *proxy);

// ss_filter_proxy_target returns "127.0.0.1:PORT" for clients. Borrowed.
const char *ss_filter_proxy_target(const ss_filter_proxy *proxy);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_TESTS_TAMPER_FILTER_PROXY_H
