// sealstream-proxy: the generic gRPC passthrough proxy as a service. Flags
// and the optional config file are parsed by proxy/config; the serving core
// is proxy/proxy. Signals: SIGHUP reloads the configuration (a bad one is
// refused and the running one stays), SIGTERM or SIGINT stop accepting,
// drain calls in flight up to the drain timeout, and exit 0.
// `sealstream-proxy gen-token NAME ROUTES` prints a new token and its line
// for the tokens file.
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/bytes.h"
#include "lib/base/port_file.h"
#include "lib/base/status.h"
#include "proxy/config.h"
#include "proxy/metrics.h"
#include "proxy/metrics_http.h"
#include "proxy/proxy.h"
#include "proxy/tokens.h"

#define SS_PROXY_MAX_METRICS_TEXT (16 * 1024 * 1024)

static int fail(const ss_status *st) {
  fprintf(stderr, "sealstream-proxy: %s\n", st->msg);
  return st->code == GRPC_STATUS_INVALID_ARGUMENT ? 2 : 1;
}

static int gen_token(const ss_proxy_config *config) {
  char *token;
  char *line;
  ss_status st;
  if (!ss_proxy_token_generate(&token, &line, config->gen_token_name,
                               config->gen_token_routes, &st)) {
    return fail(&st);
  }
  // The token goes to the client only; the line (its hash) to the tokens
  // file.
  printf("%s\n%s", token, line);
  fflush(stdout);
  fprintf(stderr,
          "sealstream-proxy: line 1 is the token for the client (shown once, "
          "not stored); line 2 goes into the --tokens file\n");
  ss_proxy_secret_free(token);
  free(line);
  return 0;
}

// set_metric_routes gives |metrics| the route names of |config|.
static int set_metric_routes(ss_proxy_metrics *metrics,
                             const ss_proxy_config *config, ss_status *st) {
  const char **names = calloc(config->num_routes, sizeof(*names));
  if (names == NULL) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  for (size_t i = 0; i < config->num_routes; i++) {
    names[i] = config->routes[i].name;
  }
  int ok = ss_proxy_metrics_set_routes(metrics, names, config->num_routes, st);
  free(names);
  return ok;
}

static int render_metrics(void *ctx, ss_buf *out) {
  ss_status st;
  return ss_proxy_metrics_render(ctx, out, &st);
}

static void log_serving(const ss_proxy_config *config, int port,
                        const ss_metrics_http *http) {
  fprintf(stderr,
          "sealstream-proxy: serving on %s (port %d), %s, %s, %zu route%s%s%s\n",
          config->listen_addr, port,
          config->plaintext ? "no TLS"
          : config->tls_client_ca_file != NULL ? "mutual TLS"
                                               : "TLS",
          config->no_auth ? "no authentication" : "bearer tokens",
          config->num_routes, config->num_routes == 1 ? "" : "s",
          config->default_route != NULL ? ", default route " : "",
          config->default_route != NULL ? config->default_route->name : "");
  if (http != NULL) {
    fprintf(stderr, "sealstream-proxy: metrics on %s (port %d)\n",
            config->metrics_addr, ss_metrics_http_port(http));
  }
  if (!ss_addr_is_loopback(config->listen_addr) &&
      (config->plaintext || config->no_auth)) {
    fprintf(stderr,
            "sealstream-proxy: warning: %s is reachable from other hosts and "
            "%s\n",
            config->listen_addr,
            config->plaintext ? "TLS is off" : "authentication is off");
  }
  fflush(stderr);
}

// reload re-reads the configuration. Returns the one now in force.
static ss_proxy_config *reload(ss_proxy *proxy, ss_proxy_metrics *metrics,
                               ss_proxy_config *current) {
  ss_status st;
  ss_proxy_config *next = ss_proxy_config_reload(current, &st);
  if (next == NULL || !ss_proxy_reload(proxy, next, &st)) {
    fprintf(stderr,
            "sealstream-proxy: SIGHUP: %s; still serving the previous "
            "configuration\n",
            st.msg);
    ss_proxy_config_free(next);
    return current;
  }
  if (!set_metric_routes(metrics, next, &st)) {
    fprintf(stderr, "sealstream-proxy: SIGHUP: metrics: %s\n", st.msg);
  }
  fprintf(stderr, "sealstream-proxy: SIGHUP: configuration reloaded, %zu route%s%s%s\n",
          next->num_routes, next->num_routes == 1 ? "" : "s",
          next->reload_note != NULL ? "; " : "",
          next->reload_note != NULL ? next->reload_note : "");
  fflush(stderr);
  ss_proxy_config_free(current);
  return next;
}

int main(int argc, char **argv) {
  ss_status st;
  ss_status_init(&st);
  ss_proxy_config *config = ss_proxy_config_parse(argc, argv, &st);
  if (config == NULL) {
    fprintf(stderr, "sealstream-proxy: %s\nTry 'sealstream-proxy --help'.\n",
            st.msg);
    return 2;
  }
  if (config->mode == SS_PROXY_MODE_HELP) {
    fputs(ss_proxy_config_usage(), stdout);
    ss_proxy_config_free(config);
    return 0;
  }
  if (config->mode == SS_PROXY_MODE_GEN_TOKEN) {
    int rc = gen_token(config);
    ss_proxy_config_free(config);
    return rc;
  }

  // Block the signals handled below before any thread exists, so that every
  // thread inherits the mask and only sigwait receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, NULL);
  signal(SIGPIPE, SIG_IGN);

  int rc = 1;
  ss_proxy *proxy = NULL;
  ss_metrics_http *http = NULL;
  ss_proxy_metrics *metrics = ss_proxy_metrics_new(&st);
  if (metrics == NULL || !set_metric_routes(metrics, config, &st)) {
    rc = fail(&st);
    goto done;
  }
  proxy = ss_proxy_new(config, metrics, stderr, NULL, &st);
  if (proxy == NULL) {
    rc = fail(&st);
    goto done;
  }
  if (config->metrics_addr != NULL) {
    http = ss_metrics_http_start(config->metrics_addr, render_metrics,
                                 metrics, &st);
    if (http == NULL) {
      ss_status_prefix(&st, "--metrics: ");
      rc = fail(&st);
      goto done;
    }
  }
  int port = ss_proxy_port(proxy);
  log_serving(config, port, http);
  if (config->port_file != NULL &&
      !ss_port_file_write(config->port_file, port, &st)) {
    rc = fail(&st);
    goto done;
  }

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) {
      continue;
    }
    if (sig == SIGHUP) {
      config = reload(proxy, metrics, config);
      continue;
    }
    int drain_s = config->limits.drain_timeout_s;
    ss_proxy_stop_accepting(proxy);
    int active = ss_proxy_active_streams(proxy);
    fprintf(stderr,
            "sealstream-proxy: %s: stopped accepting; draining %d stream%s "
            "(up to %d s)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", active,
            active == 1 ? "" : "s", drain_s);
    fflush(stderr);
    if (!ss_proxy_drain(proxy, (int64_t)drain_s * 1000)) {
      fprintf(stderr,
              "sealstream-proxy: drain timeout: cancelled the streams left\n");
    }
    break;
  }
  rc = 0;

done:
  ss_proxy_free(proxy);
  ss_metrics_http_stop(http);
  ss_proxy_metrics_free(metrics);
  ss_proxy_config_free(config);
  if (rc == 0) {
    fprintf(stderr, "sealstream-proxy: stopped\n");
  }
  return rc;
}
