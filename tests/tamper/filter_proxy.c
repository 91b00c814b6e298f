// sealstream-proxy in the test process with a filter (see filter_proxy.h),
// configured through its own command-line parser as an operator would.
// The backend and every message are the test's; nothing here reads them.
#include "tests/tamper/filter_proxy.h"

#include <stdio.h>
#include <stdlib.h>

#include "proxy/config.h"
#include "proxy/metrics.h"
#include "proxy/proxy.h"

struct ss_filter_proxy {
  ss_proxy *proxy;             // owned
  ss_proxy_metrics *metrics;   // owned; outlives |proxy|
  char target[32];             // "127.0.0.1:PORT"
};

ss_filter_proxy *ss_filter_proxy_new(const char *backend,
                                     const ss_forward_filter *filter,
                                     ss_status *st) {
  ss_proxy_config *config = NULL;
  ss_filter_proxy *p = calloc(1, sizeof(*p));
  if (p == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto err;
  }
  char route[300];
  if (snprintf(route, sizeof(route), "t=%s", backend) >= (int)sizeof(route)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "backend name too long");
    goto err;
  }
  char *argv[] = {"sealstream-proxy", "--listen", "127.0.0.1:0",
                  "--plaintext", "--no-auth", "--backend-plaintext",
                  "--route", route, "--default-route", "t"};
  config = ss_proxy_config_parse((int)(sizeof(argv) / sizeof(argv[0])), argv,
                                 st);
  if (config == NULL) {
    goto err;
  }
  p->metrics = ss_proxy_metrics_new(st);
  if (p->metrics == NULL) {
    goto err;
  }
  // No access log: tests read what the filter saw instead.
  p->proxy = ss_proxy_new(config, p->metrics, NULL, filter, st);
  if (p->proxy == NULL) {
    goto err;
  }
  snprintf(p->target, sizeof(p->target), "127.0.0.1:%d",
           ss_proxy_port(p->proxy));
  ss_proxy_config_free(config);
  return p;

err:
  ss_proxy_config_free(config);
  ss_filter_proxy_free(p);
  return NULL;
}

void ss_filter_proxy_free(ss_filter_proxy *proxy) {
  if (proxy == NULL) {
    return;
  }
  ss_proxy_free(proxy->proxy);
  ss_proxy_metrics_free(proxy->metrics);
  free(proxy);
}

const char *ss_filter_proxy_target(const ss_filter_proxy *proxy) {
  return proxy->target;
}
