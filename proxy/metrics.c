// Proxy metrics and their Prometheus text exposition (format 0.0.4,
// https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Route names from the operator's config are trusted to be bounded in
// number but are escaped as label values; route bytes passed with a call
// come from the client and are only compared against the route table.
//
// The route table only grows: a slot, once published, keeps its name and
// address until ss_proxy_metrics_free, so readers need no lock. Writers
// (ss_proxy_metrics_set_routes) are serialized by a mutex; a slot is
// written fully before it is published with a release store, and readers
// load with acquire.
#include "proxy/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SS_METRICS_PREFIX "sealstream_proxy_"

// gRPC codes 0 (OK) .. 16 (UNAUTHENTICATED).
#define SS_NUM_CODES 17

// Open-addressed index of route slots; at most half full, so a probe always
// meets an empty entry.
#define SS_ROUTE_INDEX_SIZE (2 * SS_PROXY_METRICS_MAX_ROUTES)

// Histogram bucket upper bounds in seconds, written as in the exposition;
// a last, implicit bucket is +Inf.
static const double kBucketBounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                       0.025,  0.05,  0.1,    0.25,  0.5,
                                       1,      2.5,   5,      10};
static const char *const kBucketNames[] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "10"};
#define SS_NUM_BOUNDS (sizeof(kBucketBounds) / sizeof(kBucketBounds[0]))
_Static_assert(sizeof(kBucketNames) / sizeof(kBucketNames[0]) == SS_NUM_BOUNDS,
               "one exposition name per bucket bound");

// Largest observation kept in a histogram's sum, so the nanosecond sum
// cannot overflow from a few absurd values.
#define SS_MAX_OBSERVED_SECONDS 1e6

typedef struct ss_histogram {
  _Atomic uint64_t buckets[SS_NUM_BOUNDS + 1];  // per bucket, not cumulative
  _Atomic uint64_t sum_ns;                      // nanoseconds observed
} ss_histogram;

// The latency histograms each route keeps, in exposition order.
typedef enum ss_histogram_kind {
  SS_HIST_CONNECT = 0,
  SS_HIST_FIRST_BYTE = 1,
  SS_NUM_HISTOGRAMS = 2,
} ss_histogram_kind;

static const struct {
  const char *name;  // family name without the prefix
  const char *help;
} kHistograms[SS_NUM_HISTOGRAMS] = {
    {"upstream_connect_seconds",
     "Time to establish an upstream connection, by route."},
    {"upstream_first_byte_seconds",
     "Time from forwarding a call upstream to its first response byte, by "
     "route."},
};

typedef struct ss_route {
  char *name;         // owned, NUL-terminated; immutable once published
  size_t name_len;    // bytes in name
  size_t slot;        // index in ss_proxy_metrics.routes
  atomic_int active;  // 1 while in the current route set
  _Atomic uint64_t calls[SS_NUM_CODES];  // streams ended, by status code
  ss_histogram histograms[SS_NUM_HISTOGRAMS];
} ss_route;

struct ss_proxy_metrics {
  // Hot counters on their own cache lines, so threads forwarding in one
  // direction do not contend with the other direction's counter.
  _Alignas(64) _Atomic int64_t streams_active;
  _Alignas(64) _Atomic uint64_t streams_total;
  _Alignas(64) _Atomic uint64_t bytes[2];  // by ss_proxy_direction
  _Alignas(64) ss_route unknown;           // route="": names not configured

  pthread_mutex_t lock;       // serializes set_routes; never held by readers
  _Atomic size_t num_routes;  // published slots in routes
  ss_route *routes[SS_PROXY_METRICS_MAX_ROUTES];   // owned; in config order
  _Atomic(ss_route *) index[SS_ROUTE_INDEX_SIZE];  // NULL: empty entry
};

ss_proxy_metrics *ss_proxy_metrics_new(ss_status *st) {
  // The struct asks for cache-line alignment, which calloc does not give;
  // its size is a multiple of its alignment, as aligned_alloc requires.
  ss_proxy_metrics *m =
      aligned_alloc(_Alignof(ss_proxy_metrics), sizeof(ss_proxy_metrics));
  if (m == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "proxy metrics: out of memory");
    return NULL;
  }
  memset(m, 0, sizeof(*m));
  if (pthread_mutex_init(&m->lock, NULL) != 0) {
    free(m);
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "proxy metrics: cannot create a mutex");
    return NULL;
  }
  // Zero bytes are valid zero atomics on this platform's ABI; the unknown
  // route is always active and has the empty name.
  m->unknown.name = NULL;
  m->unknown.name_len = 0;
  atomic_init(&m->unknown.active, 1);
  return m;
}

static void free_routes(ss_route **routes, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(routes[i]->name);
    free(routes[i]);
  }
}

void ss_proxy_metrics_free(ss_proxy_metrics *m) {
  if (m == NULL) {
    return;
  }
  free_routes(m->routes, atomic_load(&m->num_routes));
  pthread_mutex_destroy(&m->lock);
  free(m);
}

// FNV-1a; the indexed names are the operator's, so a client cannot choose
// colliding entries, only probe them.
static size_t route_hash(const char *name, size_t len) {
  uint64_t h = 0xcbf29ce484222325u;
  for (size_t i = 0; i < len; i++) {
    h ^= (uint8_t)name[i];
    h *= 0x100000001b3u;
  }
  return (size_t)h;
}

// find_route returns the slot named by |len| bytes at |name|, configured now
// or before, or NULL.
static ss_route *find_route(ss_proxy_metrics *m, const char *name, size_t len) {
  if (name == NULL || len == 0 || len > SS_PROXY_METRICS_ROUTE_MAX_LEN) {
    return NULL;
  }
  size_t i = route_hash(name, len) % SS_ROUTE_INDEX_SIZE;
  for (size_t probes = 0; probes < SS_ROUTE_INDEX_SIZE; probes++) {
    ss_route *r = atomic_load_explicit(&m->index[i], memory_order_acquire);
    if (r == NULL) {
      return NULL;
    }
    if (r->name_len == len && memcmp(r->name, name, len) == 0) {
      return r;
    }
    i = (i + 1) % SS_ROUTE_INDEX_SIZE;
  }
  return NULL;  // cannot happen: the index is at most half full
}

// route_for returns where a call naming |name| counts.
static ss_route *route_for(ss_proxy_metrics *m, const char *name, size_t len) {
  ss_route *r = find_route(m, name, len);
  if (r == NULL || !atomic_load_explicit(&r->active, memory_order_relaxed)) {
    return &m->unknown;
  }
  return r;
}

// utf8_valid returns 1 if the |len| bytes at |s| are well-formed UTF-8
// (RFC 3629: no overlong forms, surrogates or code points past U+10FFFF).
static int utf8_valid(const char *s, size_t len) {
  ss_cbs cbs;
  ss_cbs_init(&cbs, s, len);
  uint8_t b;
  while (ss_cbs_get_u8(&cbs, &b)) {
    if (b < 0x80) {
      continue;
    }
    size_t more;
    uint32_t cp, min;
    if ((b & 0xe0) == 0xc0) {
      more = 1;
      cp = b & 0x1f;
      min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
      more = 2;
      cp = b & 0x0f;
      min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
      more = 3;
      cp = b & 0x07;
      min = 0x10000;
    } else {
      return 0;
    }
    for (size_t i = 0; i < more; i++) {
      uint8_t c;
      if (!ss_cbs_get_u8(&cbs, &c) || (c & 0xc0) != 0x80) {
        return 0;
      }
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return 0;
    }
  }
  return 1;
}

int ss_proxy_metrics_set_routes(ss_proxy_metrics *m, const char *const *names,
                                size_t num_names, ss_status *st) {
  ss_route **fresh = NULL;  // new slots, owned until published
  size_t num_fresh = 0;
  uint8_t *keep = NULL;  // by slot: in the new route set
  char shown[SS_STATUS_SHOWN_MAX + 4];
  pthread_mutex_lock(&m->lock);
  size_t num_routes =
      atomic_load_explicit(&m->num_routes, memory_order_relaxed);
  if (num_names > 0 && names == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "proxy metrics: route names missing");
    goto err;
  }
  fresh = calloc(SS_PROXY_METRICS_MAX_ROUTES, sizeof(*fresh));
  keep = calloc(SS_PROXY_METRICS_MAX_ROUTES, 1);
  if (fresh == NULL || keep == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "proxy metrics: out of memory");
    goto err;
  }
  for (size_t i = 0; i < num_names; i++) {
    const char *name = names[i];
    size_t len = name == NULL ? 0 : strlen(name);
    if (len == 0 || len > SS_PROXY_METRICS_ROUTE_MAX_LEN) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "proxy metrics: route %zu has a name of %zu bytes; 1 to "
                    "%d allowed",
                    i, len, SS_PROXY_METRICS_ROUTE_MAX_LEN);
      goto err;
    }
    if (!utf8_valid(name, len)) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "proxy metrics: route name \"%s\" is not valid UTF-8",
                    ss_status_shown(shown, name, len));
      goto err;
    }
    if (find_route(m, name, len) != NULL) {
      continue;
    }
    int seen = 0;
    for (size_t j = 0; j < num_fresh && !seen; j++) {
      seen =
          fresh[j]->name_len == len && memcmp(fresh[j]->name, name, len) == 0;
    }
    if (seen) {
      continue;
    }
    if (num_routes + num_fresh >= SS_PROXY_METRICS_MAX_ROUTES) {
      ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                    "proxy metrics: more than %d distinct route names since "
                    "start; restart the proxy to reset them",
                    SS_PROXY_METRICS_MAX_ROUTES);
      goto err;
    }
    ss_route *r = calloc(1, sizeof(*r));
    char *copy = malloc(len + 1);
    if (r == NULL || copy == NULL) {
      free(r);
      free(copy);
      ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                    "proxy metrics: out of memory");
      goto err;
    }
    memcpy(copy, name, len + 1);
    r->name = copy;
    r->name_len = len;
    r->slot = num_routes + num_fresh;
    fresh[num_fresh++] = r;
  }

  // Nothing can fail from here on. Publish the new slots, then switch the
  // active flags to the new set.
  for (size_t i = 0; i < num_fresh; i++) {
    ss_route *r = fresh[i];
    m->routes[num_routes + i] = r;
    size_t h = route_hash(r->name, r->name_len) % SS_ROUTE_INDEX_SIZE;
    while (atomic_load_explicit(&m->index[h], memory_order_relaxed) != NULL) {
      h = (h + 1) % SS_ROUTE_INDEX_SIZE;
    }
    atomic_store_explicit(&m->index[h], r, memory_order_release);
  }
  num_routes += num_fresh;
  atomic_store_explicit(&m->num_routes, num_routes, memory_order_release);
  for (size_t i = 0; i < num_names; i++) {
    ss_route *r = find_route(m, names[i], strlen(names[i]));
    if (r != NULL) {  // always: every name was found or published above
      keep[r->slot] = 1;
    }
  }
  for (size_t j = 0; j < num_routes; j++) {
    atomic_store_explicit(&m->routes[j]->active, keep[j], memory_order_relaxed);
  }
  pthread_mutex_unlock(&m->lock);
  free(fresh);
  free(keep);
  return 1;

err:
  pthread_mutex_unlock(&m->lock);
  if (fresh != NULL) {
    free_routes(fresh, num_fresh);
  }
  free(fresh);
  free(keep);
  return 0;
}

void ss_proxy_metrics_stream_started(ss_proxy_metrics *m) {
  atomic_fetch_add_explicit(&m->streams_active, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&m->streams_total, 1, memory_order_relaxed);
}

void ss_proxy_metrics_stream_ended(ss_proxy_metrics *m, const char *route,
                                   size_t route_len, grpc_status_code code) {
  atomic_fetch_sub_explicit(&m->streams_active, 1, memory_order_relaxed);
  size_t c = (unsigned)code < SS_NUM_CODES ? (size_t)code
                                           : (size_t)GRPC_STATUS_UNKNOWN;
  ss_route *r = route_for(m, route, route_len);
  atomic_fetch_add_explicit(&r->calls[c], 1, memory_order_relaxed);
}

void ss_proxy_metrics_add_bytes(ss_proxy_metrics *m,
                                ss_proxy_direction direction,
                                uint64_t num_bytes) {
  size_t d = direction == SS_PROXY_BACKEND_TO_CLIENT ? 1 : 0;
  atomic_fetch_add_explicit(&m->bytes[d], num_bytes, memory_order_relaxed);
}

static void histogram_observe(ss_histogram *h, double seconds) {
  if (!(seconds >= 0)) {  // negative or NaN
    seconds = 0;
  }
  size_t b = 0;
  while (b < SS_NUM_BOUNDS && seconds > kBucketBounds[b]) {
    b++;
  }
  if (seconds > SS_MAX_OBSERVED_SECONDS) {
    seconds = SS_MAX_OBSERVED_SECONDS;
  }
  atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)(seconds * 1e9 + 0.5),
                            memory_order_relaxed);
}

void ss_proxy_metrics_observe_connect(ss_proxy_metrics *m, const char *route,
                                      size_t route_len, double seconds) {
  histogram_observe(
      &route_for(m, route, route_len)->histograms[SS_HIST_CONNECT], seconds);
}

void ss_proxy_metrics_observe_first_byte(ss_proxy_metrics *m, const char *route,
                                         size_t route_len, double seconds) {
  histogram_observe(
      &route_for(m, route, route_len)->histograms[SS_HIST_FIRST_BYTE], seconds);
}

// Exposition.

// route_at returns route="" for 0 and the configured routes, in the order
// first configured, for 1 .. num_routes.
static const ss_route *route_at(const ss_proxy_metrics *m, size_t i) {
  return i == 0 ? &m->unknown : m->routes[i - 1];
}

static int append_u64(ss_buf *out, uint64_t v) {
  char num[24];
  int n = snprintf(num, sizeof(num), "%" PRIu64, v);
  return ss_buf_append(out, num, (size_t)n);
}

static int append_family(ss_buf *out, const char *name, const char *type,
                         const char *help) {
  return ss_buf_append_str(out, "# HELP " SS_METRICS_PREFIX) &&
         ss_buf_append_str(out, name) && ss_buf_append_u8(out, ' ') &&
         ss_buf_append_str(out, help) &&
         ss_buf_append_str(out, "\n# TYPE " SS_METRICS_PREFIX) &&
         ss_buf_append_str(out, name) && ss_buf_append_u8(out, ' ') &&
         ss_buf_append_str(out, type) && ss_buf_append_u8(out, '\n');
}

// append_label_value writes a label value escaped as the format requires:
// backslash, double quote and line feed.
static int append_label_value(ss_buf *out, const char *value, size_t len) {
  for (size_t i = 0; i < len; i++) {
    const char *esc = NULL;
    switch (value[i]) {
      case '\\':
        esc = "\\\\";
        break;
      case '"':
        esc = "\\\"";
        break;
      case '\n':
        esc = "\\n";
        break;
      default:
        break;
    }
    if (!(esc != NULL ? ss_buf_append_str(out, esc)
                      : ss_buf_append_u8(out, (uint8_t)value[i]))) {
      return 0;
    }
  }
  return 1;
}

// append_route_label writes `name{route="..."` without closing the braces.
static int append_route_label(ss_buf *out, const char *name,
                              const ss_route *r) {
  return ss_buf_append_str(out, SS_METRICS_PREFIX) &&
         ss_buf_append_str(out, name) && ss_buf_append_str(out, "{route=\"") &&
         append_label_value(out, r->name, r->name_len) &&
         ss_buf_append_u8(out, '"');
}

static int render_calls(ss_buf *out, const ss_route *r) {
  for (size_t c = 0; c < SS_NUM_CODES; c++) {
    uint64_t v = atomic_load_explicit(&r->calls[c], memory_order_relaxed);
    if (v == 0) {
      continue;
    }
    if (!append_route_label(out, "calls_total", r) ||
        !ss_buf_append_str(out, ",code=\"") ||
        !ss_buf_append_str(out, ss_status_code_name((grpc_status_code)c)) ||
        !ss_buf_append_str(out, "\"} ") || !append_u64(out, v) ||
        !ss_buf_append_u8(out, '\n')) {
      return 0;
    }
  }
  return 1;
}

static int render_histogram(ss_buf *out, const ss_route *r,
                            ss_histogram_kind kind) {
  const char *name = kHistograms[kind].name;
  const ss_histogram *h = &r->histograms[kind];
  uint64_t counts[SS_NUM_BOUNDS + 1];
  uint64_t total = 0;
  for (size_t b = 0; b <= SS_NUM_BOUNDS; b++) {
    counts[b] = atomic_load_explicit(&h->buckets[b], memory_order_relaxed);
    total += counts[b];
  }
  if (total == 0) {
    return 1;
  }
  char series[64];
  snprintf(series, sizeof(series), "%s_bucket", name);
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= SS_NUM_BOUNDS; b++) {
    cumulative += counts[b];
    if (!append_route_label(out, series, r) ||
        !ss_buf_append_str(out, ",le=\"") ||
        !ss_buf_append_str(out, b < SS_NUM_BOUNDS ? kBucketNames[b] : "+Inf") ||
        !ss_buf_append_str(out, "\"} ") || !append_u64(out, cumulative) ||
        !ss_buf_append_u8(out, '\n')) {
      return 0;
    }
  }
  uint64_t sum_ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
  char sum[48];
  int n = snprintf(sum, sizeof(sum), "} %" PRIu64 ".%09" PRIu64 "\n",
                   sum_ns / 1000000000u, sum_ns % 1000000000u);
  snprintf(series, sizeof(series), "%s_sum", name);
  if (!append_route_label(out, series, r) ||
      !ss_buf_append(out, sum, (size_t)n)) {
    return 0;
  }
  snprintf(series, sizeof(series), "%s_count", name);
  return append_route_label(out, series, r) && ss_buf_append_str(out, "} ") &&
         append_u64(out, total) && ss_buf_append_u8(out, '\n');
}

// resident_bytes reads the resident set size from /proc/self/statm
// ("size resident shared ..." in pages). Returns 1, or 0 if unavailable.
static int resident_bytes(uint64_t *out_bytes) {
  *out_bytes = 0;
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  char text[128];
  ssize_t n;
  do {
    n = read(fd, text, sizeof(text) - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  long page = sysconf(_SC_PAGESIZE);
  if (n <= 0 || page <= 0) {
    return 0;
  }
  // The kernel's text, not a client's: sscanf is enough.
  text[n] = '\0';
  uint64_t pages;
  if (sscanf(text, "%*s %" SCNu64, &pages) != 1) {
    return 0;
  }
  *out_bytes = pages * (uint64_t)page;
  return 1;
}

int ss_proxy_metrics_render(ss_proxy_metrics *m, ss_buf *out, ss_status *st) {
  size_t num_routes =
      atomic_load_explicit(&m->num_routes, memory_order_acquire);
  int64_t active =
      atomic_load_explicit(&m->streams_active, memory_order_relaxed);
  char num[24];
  int n = snprintf(num, sizeof(num), "%" PRId64 "\n", active);
  if (!append_family(out, "streams_active", "gauge",
                     "Streams being forwarded now.") ||
      !ss_buf_append_str(out, SS_METRICS_PREFIX "streams_active ") ||
      !ss_buf_append(out, num, (size_t)n) ||
      !append_family(out, "streams_total", "counter",
                     "Streams accepted from clients since start.") ||
      !ss_buf_append_str(out, SS_METRICS_PREFIX "streams_total ") ||
      !append_u64(
          out, atomic_load_explicit(&m->streams_total, memory_order_relaxed)) ||
      !ss_buf_append_u8(out, '\n') ||
      !append_family(out, "forwarded_bytes_total", "counter",
                     "Message bytes forwarded, by direction.") ||
      !ss_buf_append_str(out, SS_METRICS_PREFIX
                         "forwarded_bytes_total"
                         "{direction=\"client_to_backend\"} ") ||
      !append_u64(out,
                  atomic_load_explicit(&m->bytes[0], memory_order_relaxed)) ||
      !ss_buf_append_str(out, "\n" SS_METRICS_PREFIX "forwarded_bytes_total"
                              "{direction=\"backend_to_client\"} ") ||
      !append_u64(out,
                  atomic_load_explicit(&m->bytes[1], memory_order_relaxed)) ||
      !ss_buf_append_u8(out, '\n')) {
    goto err;
  }

  if (!append_family(out, "calls_total", "counter",
                     "Calls ended, by configured route (\"\" for names not "
                     "configured) and gRPC status code.")) {
    goto err;
  }
  for (size_t i = 0; i <= num_routes; i++) {
    if (!render_calls(out, route_at(m, i))) {
      goto err;
    }
  }
  for (size_t k = 0; k < SS_NUM_HISTOGRAMS; k++) {
    if (!append_family(out, kHistograms[k].name, "histogram",
                       kHistograms[k].help)) {
      goto err;
    }
    for (size_t i = 0; i <= num_routes; i++) {
      if (!render_histogram(out, route_at(m, i), (ss_histogram_kind)k)) {
        goto err;
      }
    }
  }

  uint64_t rss;
  if (resident_bytes(&rss) &&
      (!append_family(out, "process_resident_memory_bytes", "gauge",
                      "Resident memory of the proxy process.") ||
       !ss_buf_append_str(out,
                          SS_METRICS_PREFIX "process_resident_memory_bytes ") ||
       !append_u64(out, rss) || !ss_buf_append_u8(out, '\n'))) {
    goto err;
  }
  return 1;

err:
  ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                "proxy metrics: exposition does not fit the output buffer");
  return 0;
}
