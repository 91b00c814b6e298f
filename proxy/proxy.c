// sealstream-proxy's serving core (see proxy.h): every call reaches the
// fallback handler of an ss_rpc_server, which checks limits, metadata and
// the bearer token, picks the route, and hands the call to proxy/forward.
//
// Settings that reload can change live in a reference-counted
// ss_proxy_settings: each call holds the settings it started with, so a
// reload swaps the pointer and
// nothing in flight changes. Backend channels are reference-counted too, so
// a route whose backend settings did not change keeps its connection.
//
// Request metadata, method paths and tokens are untrusted: sizes are
// checked before anything else, values appear in messages and logs only
// through ss_status_shown, tokens never appear at all.
#include "proxy/proxy.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/rpc/health.h"
#include "lib/rpc/server.h"
#include "proxy/settings.h"
#include "proxy/tokens.h"

// How often idle calls are looked for.
#define SS_PROXY_SWEEP_MS 250

typedef struct proxy_call proxy_call;

typedef struct token_count {
  char name[SS_PROXY_NAME_MAX + 1];
  int streams;
  struct token_count *next;
} token_count;

struct ss_proxy {
  ss_rpc_server *rpc;         // owned
  ss_proxy_metrics *metrics;  // borrowed
  FILE *log;                  // borrowed; NULL: no log
  int access_log;
  const ss_forward_filter *filter;  // borrowed; may be NULL
  ss_forward_observer observer;
  ss_rpc_health health;
  _Atomic int draining;
  _Atomic int active;  // calls counted against max_streams

  pthread_mutex_t mu;  // guards the fields below
  pthread_cond_t cv;   // wakes the sweeper to stop
  ss_proxy_settings *settings;  // referenced; the current ones
  token_count *token_counts;  // owned list; tokens with streams
  proxy_call *calls;          // live calls, for the idle sweep
  int stop_sweeper;
  int sweeper_started;
  pthread_t sweeper;
};

struct proxy_call {
  ss_proxy *proxy;   // borrowed
  ss_proxy_settings *settings;  // referenced; those it started with
  ss_rpc_call *c2p;  // borrowed; valid until end_call
  char *peer;        // owned; the client's address, for the log
  const ss_proxy_backend_route *route;  // borrowed from |settings|; NULL
                                       // until chosen
  char token[SS_PROXY_NAME_MAX + 1];  // the token's name; "" for none
  int token_counted;  // counted in the token's streams
  int64_t start_us;
  _Atomic int64_t last_activity_ms;  // CLOCK_MONOTONIC
  // Guarded by proxy->mu: the list of admitted calls the idle sweep walks.
  int listed;
  int idle_cancelled;
  proxy_call *prev, *next;
};

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

// settings_acquire returns a new reference to the current settings.
static ss_proxy_settings *settings_acquire(ss_proxy *p) {
  pthread_mutex_lock(&p->mu);
  ss_proxy_settings *settings = ss_proxy_settings_ref(p->settings);
  pthread_mutex_unlock(&p->mu);
  return settings;
}

// --- per-token stream counts ------------------------------------------------

// token_acquire counts one more stream for |name|. Returns 1, or 0 when the
// token already has |max| streams.
static int token_acquire(ss_proxy *p, const char *name, int max) {
  pthread_mutex_lock(&p->mu);
  token_count *tc = p->token_counts;
  while (tc != NULL && strcmp(tc->name, name) != 0) {
    tc = tc->next;
  }
  int ok = 0;
  if (tc == NULL) {
    tc = calloc(1, sizeof(*tc));
    if (tc != NULL) {
      snprintf(tc->name, sizeof(tc->name), "%s", name);
      tc->next = p->token_counts;
      p->token_counts = tc;
    }
  }
  if (tc != NULL && tc->streams < max) {
    tc->streams++;
    ok = 1;
  }
  pthread_mutex_unlock(&p->mu);
  return ok;
}

static void token_release(ss_proxy *p, const char *name) {
  pthread_mutex_lock(&p->mu);
  token_count **link = &p->token_counts;
  while (*link != NULL && strcmp((*link)->name, name) != 0) {
    link = &(*link)->next;
  }
  token_count *tc = *link;
  if (tc != NULL && --tc->streams == 0) {
    *link = tc->next;
    free(tc);
  }
  pthread_mutex_unlock(&p->mu);
}

// --- calls ------------------------------------------------------------------

static void log_call(const proxy_call *pc, grpc_status_code code,
                     const char *reason, const uint64_t bytes[2],
                     int64_t duration_us) {
  ss_proxy *p = pc->proxy;
  if (p->log == NULL || !p->access_log) {
    return;
  }
  char method[SS_STATUS_SHOWN_MAX + 4];
  const char *path = ss_rpc_call_method(pc->c2p);
  ss_status_shown(method, path, strlen(path));
  // One fprintf per line, so lines from several threads do not interleave.
  fprintf(p->log,
          "access route=%s method=%s token=%s peer=%s code=%s "
          "bytes_to_backend=%llu bytes_to_client=%llu duration_ms=%.1f%s%s%s\n",
          pc->route != NULL ? pc->route->name : "-", method,
          pc->token[0] != '\0' ? pc->token : "-",
          pc->peer != NULL ? pc->peer : "unknown", ss_status_code_name(code),
          (unsigned long long)bytes[0], (unsigned long long)bytes[1],
          (double)duration_us / 1000.0, reason != NULL ? " reason=\"" : "",
          reason != NULL ? reason : "", reason != NULL ? "\"" : "");
  fflush(p->log);
}

// end_call does the bookkeeping of a call's end and frees |pc|.
static void end_call(proxy_call *pc, grpc_status_code code, const char *reason,
                     const uint64_t bytes[2], int64_t duration_us) {
  ss_proxy *p = pc->proxy;
  log_call(pc, code, reason, bytes, duration_us);
  const char *route_name = pc->route != NULL ? pc->route->name : NULL;
  ss_proxy_metrics_stream_ended(p->metrics, route_name,
                                route_name != NULL ? strlen(route_name) : 0,
                                code);
  if (pc->token_counted) {
    token_release(p, pc->token);
  }
  pthread_mutex_lock(&p->mu);
  if (pc->listed) {
    if (pc->prev != NULL) {
      pc->prev->next = pc->next;
    } else {
      p->calls = pc->next;
    }
    if (pc->next != NULL) {
      pc->next->prev = pc->prev;
    }
  }
  pthread_mutex_unlock(&p->mu);
  atomic_fetch_sub(&p->active, 1);
  ss_proxy_settings_unref(pc->settings);
  free(pc->peer);
  free(pc);
}

// refuse answers the call with |st| without forwarding it.
static void refuse(proxy_call *pc, const ss_status *st) {
  uint64_t none[2] = {0, 0};
  ss_rpc_call_finish(pc->c2p, NULL, st->code, st->msg, NULL);
  end_call(pc, st->code, st->msg, none, now_us() - pc->start_us);
}

static void on_forward_message(void *ctx, void *call_ctx, ss_forward_dir dir,
                               size_t len) {
  ss_proxy *p = ctx;
  proxy_call *pc = call_ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  atomic_store_explicit(&pc->last_activity_ms,
                        (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
                        memory_order_relaxed);
  ss_proxy_metrics_add_bytes(p->metrics,
                             dir == SS_FORWARD_TO_BACKEND
                                 ? SS_PROXY_CLIENT_TO_BACKEND
                                 : SS_PROXY_BACKEND_TO_CLIENT,
                             len);
}

static void on_forward_end(void *ctx, void *call_ctx,
                           const ss_forward_result *result) {
  ss_proxy *p = ctx;
  proxy_call *pc = call_ctx;
  const char *name = pc->route->name;
  if (result->connect_us >= 0) {
    ss_proxy_metrics_observe_connect(p->metrics, name, strlen(name),
                                     (double)result->connect_us / 1e6);
  }
  if (result->first_byte_us >= 0) {
    ss_proxy_metrics_observe_first_byte(p->metrics, name, strlen(name),
                                        (double)result->first_byte_us / 1e6);
  }
  // The idle sweep cancelled the call with its own status, which the client
  // got; the forwarder saw only a cancel.
  pthread_mutex_lock(&p->mu);
  int idle = pc->idle_cancelled;
  pthread_mutex_unlock(&p->mu);
  if (idle) {
    end_call(pc, GRPC_STATUS_RESOURCE_EXHAUSTED, "idle timeout (--idle-timeout)",
             result->bytes, result->duration_us);
    return;
  }
  end_call(pc, result->code, NULL, result->bytes, result->duration_us);
}

// Request headers that concern one hop only, or that gRPC sets itself, and
// are therefore not passed to the backend.
static const char *const kHopHeaders[] = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding",
    "upgrade",    "te",         "host",             "user-agent",
    "content-type",
};

static int is_hop_header(const grpc_slice *key, const char *auth_header) {
  size_t len = GRPC_SLICE_LENGTH(*key);
  const char *k = (const char *)GRPC_SLICE_START_PTR(*key);
  if ((len >= 5 && memcmp(k, "grpc-", 5) == 0) || (len > 0 && k[0] == ':')) {
    return 1;
  }
  if (strlen(auth_header) == len && memcmp(k, auth_header, len) == 0) {
    return 1;
  }
  for (size_t i = 0; i < sizeof(kHopHeaders) / sizeof(kHopHeaders[0]); i++) {
    if (strlen(kHopHeaders[i]) == len && memcmp(k, kHopHeaders[i], len) == 0) {
      return 1;
    }
  }
  return 0;
}

// find_header sets |*out| to the value of the header |name| in |md|.
// Returns 1 if found once, 0 if absent, -1 if given more than once.
static int find_header(const grpc_metadata_array *md, const char *name,
                       grpc_slice *out) {
  int found = 0;
  size_t name_len = strlen(name);
  for (size_t i = 0; i < md->count; i++) {
    const grpc_slice *key = &md->metadata[i].key;
    if (GRPC_SLICE_LENGTH(*key) == name_len &&
        memcmp(GRPC_SLICE_START_PTR(*key), name, name_len) == 0) {
      if (found) {
        return -1;
      }
      *out = md->metadata[i].value;
      found = 1;
    }
  }
  return found;
}

// admit runs every check on a new call and chooses its route. Returns 1, or
// 0 with |st| set to the answer the client gets.
static int admit(proxy_call *pc, ss_status *st) {
  ss_proxy *p = pc->proxy;
  const ss_proxy_settings *s = pc->settings;
  const ss_proxy_limits *limits = ss_proxy_settings_limits(s);
  const char *route_header = ss_proxy_settings_route_header(s);
  const char *default_route = ss_proxy_settings_default_route(s);
  if (atomic_load(&p->active) > limits->max_streams) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "the proxy is at its limit of %d concurrent streams "
                         "(--max-streams); retry later",
                         limits->max_streams);
  }
  const grpc_metadata_array *md = ss_rpc_call_metadata(pc->c2p);
  size_t md_bytes = 0;
  for (size_t i = 0; i < md->count; i++) {
    // As HTTP/2 counts a header: name, value and 32 bytes of overhead.
    md_bytes += GRPC_SLICE_LENGTH(md->metadata[i].key) +
                GRPC_SLICE_LENGTH(md->metadata[i].value) + 32;
  }
  if (md_bytes > (size_t)limits->max_metadata_bytes) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "request metadata is %zu bytes; the proxy accepts at "
                         "most %d (--max-metadata-bytes)",
                         md_bytes, limits->max_metadata_bytes);
  }

  grpc_slice route_value = grpc_empty_slice();
  int has_route = find_header(md, route_header, &route_value);
  if (has_route < 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "the request has more than one %s header",
                         route_header);
  }
  const uint8_t *route_name = GRPC_SLICE_START_PTR(route_value);
  size_t route_len = GRPC_SLICE_LENGTH(route_value);
  if (!has_route) {
    if (default_route == NULL) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "the request names no route: set the %s header "
                           "(this proxy has no default route)",
                           route_header);
    }
    route_name = (const uint8_t *)default_route;
    route_len = strlen(default_route);
  }

  const ss_proxy_tokens *tokens = ss_proxy_settings_tokens(s);
  if (tokens != NULL) {
    const char *auth_header = ss_proxy_settings_auth_header(s);
    grpc_slice auth = grpc_empty_slice();
    int has_auth = find_header(md, auth_header, &auth);
    if (has_auth < 0) {
      return ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                           "the request has more than one %s header",
                           auth_header);
    }
    if (!has_auth) {
      return ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                           "no bearer token: send the %s header "
                           "\"Bearer <token>\"",
                           auth_header);
    }
    const ss_proxy_token *entry;
    if (!ss_proxy_tokens_authenticate(&entry, tokens,
                                      GRPC_SLICE_START_PTR(auth),
                                      GRPC_SLICE_LENGTH(auth), route_name,
                                      route_len, st)) {
      return 0;
    }
    snprintf(pc->token, sizeof(pc->token), "%s", ss_proxy_token_name(entry));
  }

  pc->route = ss_proxy_settings_route(s, route_name, route_len);
  if (pc->route == NULL) {
    char shown[SS_STATUS_SHOWN_MAX + 4];
    return ss_status_set(
        st, GRPC_STATUS_NOT_FOUND, "unknown route '%s'",
        ss_status_shown(shown, (const char *)route_name, route_len));
  }
  if (pc->token[0] != '\0') {
    if (!token_acquire(p, pc->token, limits->max_streams_per_token)) {
      return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "token '%s' is at its limit of %d concurrent "
                           "streams (--max-streams-per-token)",
                           pc->token, limits->max_streams_per_token);
    }
    pc->token_counted = 1;
  }
  return 1;
}

static void on_call(void *ctx, ss_rpc_call *call) {
  ss_proxy *p = ctx;
  ss_proxy_metrics_stream_started(p->metrics);
  atomic_fetch_add(&p->active, 1);
  proxy_call *pc = calloc(1, sizeof(*pc));
  if (pc == NULL) {
    atomic_fetch_sub(&p->active, 1);
    ss_rpc_call_finish(call, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED,
                       "the proxy is out of memory", NULL);
    ss_proxy_metrics_stream_ended(p->metrics, NULL, 0,
                                  GRPC_STATUS_RESOURCE_EXHAUSTED);
    return;
  }
  pc->proxy = p;
  pc->c2p = call;
  // Taken now: once the client has gone, gRPC no longer knows it.
  pc->peer = ss_rpc_call_peer(call);
  pc->start_us = now_us();
  atomic_init(&pc->last_activity_ms, pc->start_us / 1000);
  pc->settings = settings_acquire(p);

  ss_status st;
  ss_status_init(&st);
  if (!admit(pc, &st)) {
    refuse(pc, &st);
    return;
  }
  const grpc_metadata_array *md = ss_rpc_call_metadata(call);
  grpc_metadata *forwarded =
      md->count > 0 ? calloc(md->count, sizeof(*forwarded)) : NULL;
  if (md->count > 0 && forwarded == NULL) {
    ss_status_set(&st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "the proxy is out of memory");
    refuse(pc, &st);
    return;
  }
  size_t n = 0;
  for (size_t i = 0; i < md->count; i++) {
    if (!is_hop_header(&md->metadata[i].key,
                       ss_proxy_settings_auth_header(pc->settings))) {
      forwarded[n++] = md->metadata[i];
    }
  }
  // Admitted: from here the idle sweep may cancel it.
  pthread_mutex_lock(&p->mu);
  pc->next = p->calls;
  if (p->calls != NULL) {
    p->calls->prev = pc;
  }
  p->calls = pc;
  pc->listed = 1;
  pthread_mutex_unlock(&p->mu);
  ss_forward_target target = {
      .route = pc->route->name,
      .channel = pc->route->channel,
      .host = pc->route->pass_host && ss_rpc_call_host(call)[0] != '\0'
                  ? ss_rpc_call_host(call)
                  : NULL,
  };
  int ok = ss_forward_start(call, &target, forwarded, n, &p->observer,
                            p->filter, pc, &st);
  free(forwarded);
  if (!ok) {
    refuse(pc, &st);
  }
}

// --- idle sweep -------------------------------------------------------------

static void *sweep_main(void *arg) {
  ss_proxy *p = arg;
  pthread_mutex_lock(&p->mu);
  while (!p->stop_sweeper) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t now_ms = (int64_t)until.tv_sec * 1000 + until.tv_nsec / 1000000;
    for (proxy_call *pc = p->calls; pc != NULL; pc = pc->next) {
      int idle_s = ss_proxy_settings_limits(pc->settings)->idle_timeout_s;
      int64_t last = atomic_load_explicit(&pc->last_activity_ms,
                                          memory_order_relaxed);
      // The call is held until end_call, which takes |mu| to leave the
      // list: cancelling it here is safe.
      if (idle_s > 0 && !pc->idle_cancelled &&
          now_ms - last > (int64_t)idle_s * 1000) {
        pc->idle_cancelled = 1;
        char msg[128];
        snprintf(msg, sizeof(msg),
                 "no message either way for %d s: the proxy's idle timeout "
                 "(--idle-timeout)",
                 idle_s);
        ss_rpc_call_cancel(pc->c2p, GRPC_STATUS_RESOURCE_EXHAUSTED, msg);
      }
    }
    until.tv_nsec += SS_PROXY_SWEEP_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&p->cv, &p->mu, &until);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

// --- proxy ------------------------------------------------------------------

static int proxy_serving(void *ctx) {
  ss_proxy *p = ctx;
  return !atomic_load(&p->draining);
}

ss_proxy *ss_proxy_new(const ss_proxy_config *config, ss_proxy_metrics *metrics,
                       FILE *log, const ss_forward_filter *filter,
                       ss_status *st) {
  ss_proxy *p = calloc(1, sizeof(*p));
  if (p == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  p->metrics = metrics;
  p->log = log;
  p->access_log = config->access_log;
  p->filter = filter;
  p->observer.ctx = p;
  p->observer.on_message = on_forward_message;
  p->observer.on_end = on_forward_end;
  p->health.serving = proxy_serving;
  p->health.ctx = p;
  atomic_init(&p->draining, 0);
  atomic_init(&p->active, 0);
  pthread_mutex_init(&p->mu, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&p->cv, &attr);
  pthread_condattr_destroy(&attr);

  // Backend channels need gRPC initialized; the server's loops hold it too.
  grpc_init();
  p->settings = ss_proxy_settings_new(config, NULL, st);
  if (p->settings == NULL) {
    goto err;
  }
  ss_rpc_server_options options;
  ss_rpc_server_options_init(&options);
  options.listen_addr = config->listen_addr;
  options.tls_cert_file = config->tls_cert_file;
  options.tls_key_file = config->tls_key_file;
  options.tls_client_ca_file = config->tls_client_ca_file;
  options.max_receive_bytes = (size_t)config->limits.max_message_bytes;
  options.max_send_bytes = (size_t)config->limits.max_message_bytes;
  // gRPC's own limit is set above the proxy's, so that headers over the
  // proxy's limit reach admit() and get a message naming the flag; gRPC's
  // still bounds what a request may cost.
  options.max_metadata_bytes = 4 * (size_t)config->limits.max_metadata_bytes;
  options.num_loops = config->limits.threads;
  options.keep_compressed = 1;
  p->rpc = ss_rpc_server_new(&options, st);
  if (p->rpc == NULL || !ss_rpc_health_add(p->rpc, &p->health, st) ||
      !ss_rpc_server_set_fallback(p->rpc, on_call, p, st)) {
    goto err;
  }
  int err = pthread_create(&p->sweeper, NULL, sweep_main, p);
  if (err != 0) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "cannot start the idle-timeout thread: %s", strerror(err));
    goto err;
  }
  p->sweeper_started = 1;
  if (!ss_rpc_server_start(p->rpc, st)) {
    goto err;
  }
  return p;

err:
  ss_proxy_free(p);
  return NULL;
}

int ss_proxy_port(const ss_proxy *proxy) { return ss_rpc_server_port(proxy->rpc); }

int ss_proxy_reload(ss_proxy *proxy, const ss_proxy_config *config,
                    ss_status *st) {
  ss_proxy_settings *old = settings_acquire(proxy);
  ss_proxy_settings *next = ss_proxy_settings_new(config, old, st);
  ss_proxy_settings_unref(old);
  if (next == NULL) {
    return 0;
  }
  pthread_mutex_lock(&proxy->mu);
  old = proxy->settings;
  proxy->settings = next;
  pthread_mutex_unlock(&proxy->mu);
  ss_proxy_settings_unref(old);
  return 1;
}

int ss_proxy_active_streams(const ss_proxy *proxy) {
  return atomic_load(&proxy->active);
}

void ss_proxy_stop_accepting(ss_proxy *proxy) {
  atomic_store(&proxy->draining, 1);
  ss_rpc_server_shutdown(proxy->rpc);
}

int ss_proxy_drain(ss_proxy *proxy, int64_t timeout_ms) {
  ss_proxy_stop_accepting(proxy);
  if (ss_rpc_server_wait(proxy->rpc, timeout_ms)) {
    return 1;
  }
  ss_rpc_server_cancel_all(proxy->rpc);
  ss_rpc_server_wait(proxy->rpc, -1);
  return 0;
}

void ss_proxy_free(ss_proxy *proxy) {
  if (proxy == NULL) {
    return;
  }
  if (proxy->rpc != NULL) {
    atomic_store(&proxy->draining, 1);
    ss_rpc_server_free(proxy->rpc);
  }
  if (proxy->sweeper_started) {
    pthread_mutex_lock(&proxy->mu);
    proxy->stop_sweeper = 1;
    pthread_cond_broadcast(&proxy->cv);
    pthread_mutex_unlock(&proxy->mu);
    pthread_join(proxy->sweeper, NULL);
  }
  ss_proxy_settings_unref(proxy->settings);
  while (proxy->token_counts != NULL) {
    // Not expected: every call released its count. Handled anyway.
    token_count *next = proxy->token_counts->next;
    free(proxy->token_counts);
    proxy->token_counts = next;
  }
  pthread_cond_destroy(&proxy->cv);
  pthread_mutex_destroy(&proxy->mu);
  free(proxy);
  grpc_shutdown();
}
