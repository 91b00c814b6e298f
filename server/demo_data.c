// Synthetic HTTP telemetry (see demo_data.h). Every value comes from one
// splitmix64 stream seeded by the caller, so a seed names a data set. Rows
// go in through one prepared INSERT in one transaction with the journal and
// syncs off: a failure removes the file, so nothing needs to survive a crash.
#include "server/demo_data.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PODS 6
#define POD_NAME_MAX 64
#define PATH_TEXT_MAX 96

// Mean time between requests at the daily average rate: 1M rows span about
// 5.5 hours.
#define MEAN_GAP_NS 20e6
#define NS_PER_DAY 86400e9

typedef struct rng {
  uint64_t state;
  int has_spare;  // |spare| holds the second normal of the last pair
  double spare;
} rng;

// splitmix64 (Steele, Lea, Flood 2014): passes BigCrush, one add and three
// xor-shift-multiplies per value.
static uint64_t rng_next(rng *r) {
  uint64_t z = (r->state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

// rng_unit returns a uniform double in (0, 1]: never 0, so log() is finite.
static double rng_unit(rng *r) {
  return (double)((rng_next(r) >> 11) + 1) * 0x1.0p-53;
}

// rng_below returns a uniform integer in [0, n).
static uint32_t rng_below(rng *r, uint32_t n) {
  return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

// rng_normal returns a standard normal value (Box-Muller, both halves used).
static double rng_normal(rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double radius = sqrt(-2.0 * log(rng_unit(r)));
  double angle = 2.0 * M_PI * rng_unit(r);
  r->spare = radius * sin(angle);
  r->has_spare = 1;
  return radius * cos(angle);
}

// rng_lognormal returns a log-normal value with median |median|.
static double rng_lognormal(rng *r, double median, double sigma) {
  return median * exp(sigma * rng_normal(r));
}

typedef struct weighted {
  int value;
  uint32_t weight;
} weighted;

static int pick(rng *r, const weighted *choices, size_t n) {
  uint32_t total = 0;
  for (size_t i = 0; i < n; i++) {
    total += choices[i].weight;
  }
  uint32_t x = rng_below(r, total);
  for (size_t i = 0; i + 1 < n; i++) {
    if (x < choices[i].weight) {
      return choices[i].value;
    }
    x -= choices[i].weight;
  }
  return choices[n - 1].value;
}

#define NUM(a) (sizeof(a) / sizeof((a)[0]))

enum { GET, POST, PUT, DELETE, PATCH };
static const char *const kMethodNames[] = {"GET", "POST", "PUT", "DELETE",
                                           "PATCH"};

// Method mixes a path can have.
enum { READS, MIXED, WRITES };
static const weighted kReads[] = {{GET, 1}};
static const weighted kMixed[] = {
    {GET, 70}, {POST, 20}, {PUT, 5}, {DELETE, 3}, {PATCH, 2}};
static const weighted kWrites[] = {{POST, 80}, {GET, 15}, {PUT, 5}};

static const weighted k4xx[] = {
    {400, 25}, {401, 15}, {403, 5}, {404, 45}, {429, 10}};
static const weighted k5xx[] = {{500, 50}, {502, 15}, {503, 20}, {504, 15}};

typedef struct path_spec {
  const char *prefix;  // the path, or its part before an id
  const char *suffix;  // after the id; NULL: no id
  uint32_t id_max;     // ids are log-uniform in [1, id_max]: few are hot
  uint32_t weight;
  int methods;             // READS, MIXED, WRITES
  double response_median;  // bytes of a successful response
  int health;              // a health check: always 200, fast, tiny
} path_spec;

typedef struct service_spec {
  const char *name;
  uint32_t weight;
  double latency_median_ms;
  double p5xx;  // share of requests (health checks aside) failing 5xx
  double p4xx;
  const path_spec *paths;
  size_t num_paths;
} service_spec;

#define HEALTH_CHECK \
  { "/healthz", NULL, 0, 6, READS, 2, 1 }

static const path_spec kFrontend[] = {
    {"/", NULL, 0, 30, READS, 18000, 0},
    {"/product/", "", 50000, 25, READS, 32000, 0},
    {"/cart", NULL, 0, 10, MIXED, 12000, 0},
    {"/checkout", NULL, 0, 5, WRITES, 9000, 0},
    {"/static/app.js", NULL, 0, 15, READS, 250000, 0},
    {"/static/style.css", NULL, 0, 10, READS, 40000, 0},
    HEALTH_CHECK,
};
static const path_spec kCatalog[] = {
    {"/api/v1/products", NULL, 0, 30, READS, 8000, 0},
    {"/api/v1/products/", "", 50000, 50, MIXED, 1800, 0},
    {"/api/v1/categories", NULL, 0, 10, READS, 3000, 0},
    HEALTH_CHECK,
};
static const path_spec kCart[] = {
    {"/api/v1/cart/", "", 2000000, 50, MIXED, 900, 0},
    {"/api/v1/cart/", "/items", 2000000, 40, MIXED, 1200, 0},
    HEALTH_CHECK,
};
static const path_spec kCheckout[] = {
    {"/api/v1/checkout", NULL, 0, 50, WRITES, 700, 0},
    {"/api/v1/orders/", "", 5000000, 40, READS, 1500, 0},
    HEALTH_CHECK,
};
static const path_spec kSearch[] = {
    {"/api/v1/search", NULL, 0, 85, READS, 6000, 0},
    {"/api/v1/suggest", NULL, 0, 10, READS, 600, 0},
    HEALTH_CHECK,
};
static const path_spec kAuth[] = {
    {"/api/v1/login", NULL, 0, 30, WRITES, 400, 0},
    {"/api/v1/token/refresh", NULL, 0, 50, WRITES, 350, 0},
    {"/api/v1/logout", NULL, 0, 10, WRITES, 50, 0},
    HEALTH_CHECK,
};

static const service_spec kServices[] = {
    {"frontend", 30, 45.0, 0.004, 0.030, kFrontend, NUM(kFrontend)},
    {"catalog", 25, 12.0, 0.003, 0.040, kCatalog, NUM(kCatalog)},
    {"cart", 15, 8.0, 0.005, 0.020, kCart, NUM(kCart)},
    {"search", 12, 60.0, 0.006, 0.010, kSearch, NUM(kSearch)},
    {"checkout", 10, 120.0, 0.015, 0.030, kCheckout, NUM(kCheckout)},
    {"auth", 8, 25.0, 0.003, 0.080, kAuth, NUM(kAuth)},
};
#define NUM_SERVICES NUM(kServices)

typedef struct generator {
  rng r;
  int64_t time_ns;
  weighted services[NUM_SERVICES];
  char pods[NUM_SERVICES][MAX_PODS][POD_NAME_MAX];  // NUL-terminated
  int num_pods[NUM_SERVICES];
  weighted paths[NUM_SERVICES][8];  // index into the service's paths
} generator;

typedef struct event {
  int64_t time_ns;
  const char *service;
  const char *pod;
  const char *method;
  char path[PATH_TEXT_MAX];
  int path_len;
  int status;
  double latency_ms;
  int64_t request_bytes;
  int64_t response_bytes;
} event;

// Kubernetes names pods <deployment>-<10-char hash>-<5-char suffix> from
// this alphabet (no vowels, no look-alike digits).
static const char kPodAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";

static void random_name_part(rng *r, char *out, int len) {
  for (int i = 0; i < len; i++) {
    out[i] = kPodAlphabet[rng_below(r, sizeof(kPodAlphabet) - 1)];
  }
  out[len] = '\0';
}

static void generator_init(generator *g, uint64_t seed) {
  memset(g, 0, sizeof(*g));
  g->r.state = seed;
  g->time_ns = SS_DEMO_DATA_START_NS;
  for (size_t s = 0; s < NUM_SERVICES; s++) {
    const service_spec *svc = &kServices[s];
    g->services[s] = (weighted){(int)s, svc->weight};
    for (size_t p = 0; p < svc->num_paths; p++) {
      g->paths[s][p] = (weighted){(int)p, svc->paths[p].weight};
    }
    char hash[11];
    random_name_part(&g->r, hash, 10);
    g->num_pods[s] = 3 + (int)rng_below(&g->r, MAX_PODS - 2);
    for (int i = 0; i < g->num_pods[s]; i++) {
      char suffix[6];
      random_name_part(&g->r, suffix, 5);
      snprintf(g->pods[s][i], POD_NAME_MAX, "%s-%s-%s", svc->name, hash,
               suffix);
    }
  }
}

// format_path writes |spec|'s path, with an id when it has one, to |e|.
static void format_path(generator *g, const path_spec *spec, event *e) {
  size_t n = strlen(spec->prefix);
  memcpy(e->path, spec->prefix, n);
  if (spec->suffix != NULL) {
    // log-uniform: id 1..9 as likely as 10..99 and so on.
    uint64_t id = (uint64_t)exp(log((double)spec->id_max) * rng_unit(&g->r));
    char digits[24];
    int d = 0;
    do {
      digits[d++] = (char)('0' + id % 10);
      id /= 10;
    } while (id > 0);
    while (d > 0) {
      e->path[n++] = digits[--d];
    }
    size_t s = strlen(spec->suffix);
    memcpy(e->path + n, spec->suffix, s);
    n += s;
  }
  e->path[n] = '\0';
  e->path_len = (int)n;
}

static int success_status(generator *g, const path_spec *spec, int method) {
  switch (method) {
    case POST:
      return rng_unit(&g->r) < 0.6 ? 201 : 200;
    case DELETE:
      return 204;
    case GET:
      // Browsers revalidate static assets.
      if (strncmp(spec->prefix, "/static/", 8) == 0 && rng_unit(&g->r) < 0.3) {
        return 304;
      }
      return 200;
    default:
      return 200;
  }
}

static void next_event(generator *g, event *e) {
  rng *r = &g->r;
  // Traffic follows the day: peak at 15:00 UTC, 0.4 of average at 03:00.
  double day = fmod((double)(g->time_ns - SS_DEMO_DATA_START_NS), NS_PER_DAY) /
               NS_PER_DAY;
  double rate = 1.0 + 0.6 * sin(2.0 * M_PI * (day - 0.375));
  g->time_ns += 1 + (int64_t)(-log(rng_unit(r)) * MEAN_GAP_NS / rate);
  e->time_ns = g->time_ns;

  int s = pick(r, g->services, NUM_SERVICES);
  const service_spec *svc = &kServices[s];
  e->service = svc->name;
  e->pod = g->pods[s][rng_below(r, (uint32_t)g->num_pods[s])];
  const path_spec *spec = &svc->paths[pick(r, g->paths[s], svc->num_paths)];
  format_path(g, spec, e);
  int method;
  switch (spec->methods) {
    case MIXED:
      method = pick(r, kMixed, NUM(kMixed));
      break;
    case WRITES:
      method = pick(r, kWrites, NUM(kWrites));
      break;
    default:
      method = pick(r, kReads, NUM(kReads));
      break;
  }
  e->method = kMethodNames[method];

  double latency;
  double response;
  double u = rng_unit(r);
  if (spec->health) {
    e->status = 200;
    latency = rng_lognormal(r, 0.8, 0.3);
    response = spec->response_median;
  } else if (u <= svc->p5xx) {
    e->status = pick(r, k5xx, NUM(k5xx));
    switch (e->status) {
      case 504:  // the gateway gave up after 30 s
        latency = 30000.0 + rng_lognormal(r, 5.0, 1.0);
        break;
      case 503:  // shed at once
        latency = rng_lognormal(r, 1.5, 0.5);
        break;
      default:
        latency = rng_lognormal(r, svc->latency_median_ms * 0.8, 0.8);
        break;
    }
    response = rng_lognormal(r, 90, 0.3);
  } else if (u <= svc->p5xx + svc->p4xx) {
    e->status = pick(r, k4xx, NUM(k4xx));
    latency = rng_lognormal(r, svc->latency_median_ms * 0.3, 0.5);
    response = rng_lognormal(r, 140, 0.3);
  } else {
    e->status = success_status(g, spec, method);
    latency = rng_lognormal(r, svc->latency_median_ms, 0.55);
    // One request in a hundred hits a slow path: a cache miss, a lock.
    if (rng_unit(r) < 0.01) {
      latency *= exp(1.0 + fabs(rng_normal(r)));
    }
    response = e->status == 204 || e->status == 304
                   ? 0
                   : rng_lognormal(r, spec->response_median, 0.5);
  }
  if (latency > 60000.0) {
    latency = 60000.0;
  }
  // Microsecond resolution, as a proxy would log it.
  e->latency_ms = round(latency * 1000.0) / 1000.0;
  double request = method == GET || method == DELETE
                       ? 180 + rng_lognormal(r, 250, 0.4)
                       : 200 + rng_lognormal(r, 1200, 0.9);
  e->request_bytes = (int64_t)request;
  e->response_bytes = (int64_t)response;
}

// --- SQLite ----------------------------------------------------------------

static const char kSchema[] =
    "CREATE TABLE " SS_DEMO_DATA_TABLE
    "(time TIMESTAMP, service TEXT, pod TEXT, method TEXT, path TEXT, "
    "status INTEGER, latency_ms REAL, request_bytes INTEGER, "
    "response_bytes INTEGER);";

// Bulk load: no journal, no syncs, one writer. A failure deletes the file.
static const char kBulkPragmas[] =
    "PRAGMA journal_mode=OFF;"
    "PRAGMA synchronous=OFF;"
    "PRAGMA locking_mode=EXCLUSIVE;"
    "PRAGMA cache_size=-65536;"
    "PRAGMA temp_store=MEMORY;";

static int sqlite_failed(sqlite3 *db, const char *what, ss_status *st) {
  return ss_status_set(st, GRPC_STATUS_UNAVAILABLE, "%s: %s", what,
                       db != NULL ? sqlite3_errmsg(db) : "out of memory");
}

static int insert_rows(sqlite3 *db, uint64_t num_rows, uint64_t seed,
                       ss_status *st) {
  sqlite3_stmt *insert = NULL;
  generator *g = malloc(sizeof(*g));
  int ok = 0;
  if (g == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  generator_init(g, seed);
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO " SS_DEMO_DATA_TABLE
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         -1, &insert, NULL) != SQLITE_OK) {
    sqlite_failed(db, "cannot prepare the insert", st);
    goto done;
  }
  event e;
  for (uint64_t i = 0; i < num_rows; i++) {
    next_event(g, &e);
    // SQLITE_STATIC: every string outlives the step that reads it.
    sqlite3_bind_int64(insert, 1, e.time_ns);
    sqlite3_bind_text(insert, 2, e.service, -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 3, e.pod, -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 4, e.method, -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 5, e.path, e.path_len, SQLITE_STATIC);
    sqlite3_bind_int(insert, 6, e.status);
    sqlite3_bind_double(insert, 7, e.latency_ms);
    sqlite3_bind_int64(insert, 8, e.request_bytes);
    sqlite3_bind_int64(insert, 9, e.response_bytes);
    if (sqlite3_step(insert) != SQLITE_DONE) {
      sqlite_failed(db, "cannot insert a row", st);
      goto done;
    }
    sqlite3_reset(insert);
  }
  ok = 1;

done:
  sqlite3_finalize(insert);
  free(g);
  return ok;
}

// create_exclusive creates |path| as an empty file, failing if it exists, so
// that no existing file is ever opened for writing.
static int create_exclusive(const char *path, ss_status *st) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) {
      return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                           "the file exists; refusing to "
                           "overwrite it");
    }
    return ss_status_set(st, GRPC_STATUS_UNAVAILABLE,
                         "cannot create the file: %s", strerror(errno));
  }
  close(fd);
  return 1;
}

int ss_demo_data_generate(const char *path, uint64_t num_rows, uint64_t seed,
                          ss_status *st) {
  sqlite3 *db = NULL;
  char *literal = NULL;
  if (path == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "no file name");
  }
  if (!create_exclusive(path, st)) {
    return 0;
  }
  // Debian's SQLite parses a name starting "file:" as a URI; "./" keeps it
  // the file just created.
  if (strncmp(path, "file:", 5) == 0) {
    literal = sqlite3_mprintf("./%s", path);
    if (literal == NULL) {
      ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
      goto err;
    }
  }
  // An empty file is an empty database.
  if (sqlite3_open_v2(literal != NULL ? literal : path, &db,
                      SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    sqlite_failed(db, "cannot open the database", st);
    goto err;
  }
  if (sqlite3_exec(db, kBulkPragmas, NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_exec(db, kSchema, NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
    sqlite_failed(db, "cannot create the table", st);
    goto err;
  }
  if (!insert_rows(db, num_rows, seed, st)) {
    goto err;
  }
  // The index is built after the load: rows arrive in time order, so this
  // is one sorted pass instead of a b-tree update per row.
  if (sqlite3_exec(db,
                   "CREATE INDEX " SS_DEMO_DATA_TABLE
                   "_time ON " SS_DEMO_DATA_TABLE "(time); COMMIT;",
                   NULL, NULL, NULL) != SQLITE_OK) {
    sqlite_failed(db, "cannot finish the database", st);
    goto err;
  }
  if (sqlite3_close(db) != SQLITE_OK) {
    // Every statement was finalized; only a leak can keep it open.
    ss_status_set(st, GRPC_STATUS_INTERNAL, "cannot close the database");
    goto err;
  }
  sqlite3_free(literal);
  return 1;

err:
  sqlite3_close_v2(db);
  sqlite3_free(literal);
  unlink(path);
  return 0;
}
