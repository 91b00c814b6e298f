// sealstream-proxy configuration (see config.h): command-line flags over an
// optional JSON file. Flags are the operator's; the JSON file is parsed as
// untrusted input with plain jansson (duplicates refused, size-capped while
// reading, unknown members refused). lib/jose/json is not used: its
// ss_json_init swaps jansson's allocator for the whole process.
#include "proxy/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/bytes.h"

// Longest path accepted in a flag or the file.
#define MAX_PATH_LEN 4095
// Longest header name accepted for --route-header and --auth-header.
#define MAX_HEADER_LEN 64
// Longest host name in HOST:PORT or a server name (RFC 1035).
#define MAX_HOST_LEN 253

// String settings, named the same way in flags and in the file.
enum str_id {
  S_CONFIG,
  S_LISTEN,
  S_PORT_FILE,
  S_METRICS,
  S_DEFAULT_ROUTE,
  S_ROUTE_HEADER,
  S_AUTH_HEADER,
  S_TOKENS,
  S_TLS_CERT,
  S_TLS_KEY,
  S_TLS_CLIENT_CA,
  S_BACKEND_CA,
  S_BACKEND_CERT,
  S_BACKEND_KEY,
  S_BACKEND_SERVER_NAME,
  NUM_STR,
};

// Boolean settings; -1 while unset.
enum bool_id {
  B_NO_AUTH,
  B_PLAINTEXT,
  B_BACKEND_PLAINTEXT,
  B_ACCESS_LOG,
  NUM_BOOL,
};

enum lim_id {
  L_MAX_STREAMS,
  L_MAX_STREAMS_PER_TOKEN,
  L_MAX_MESSAGE_BYTES,
  L_MAX_METADATA_BYTES,
  L_IDLE_TIMEOUT,
  L_DRAIN_TIMEOUT,
  L_THREADS,
  NUM_LIM,
};

// How a string setting is checked.
enum kind { K_LISTEN, K_PATH, K_NAME, K_HEADER, K_HOST };

// Where a string setting lives in the JSON file: |member| of the top-level
// object, or of the top-level "tls" object when |in_tls|. NULL: flag only.
static const struct str_spec {
  const char *flag;
  const char *member;
  int in_tls;
  enum kind kind;
} kStr[NUM_STR] = {
    [S_CONFIG] = {"config", NULL, 0, K_PATH},
    [S_LISTEN] = {"listen", "listen", 0, K_LISTEN},
    [S_PORT_FILE] = {"port-file", "port_file", 0, K_PATH},
    [S_METRICS] = {"metrics", "metrics", 0, K_LISTEN},
    [S_DEFAULT_ROUTE] = {"default-route", "default_route", 0, K_NAME},
    [S_ROUTE_HEADER] = {"route-header", "route_header", 0, K_HEADER},
    [S_AUTH_HEADER] = {"auth-header", "auth_header", 0, K_HEADER},
    [S_TOKENS] = {"tokens", "tokens", 0, K_PATH},
    [S_TLS_CERT] = {"tls-cert", "cert", 1, K_PATH},
    [S_TLS_KEY] = {"tls-key", "key", 1, K_PATH},
    [S_TLS_CLIENT_CA] = {"tls-client-ca", "client_ca", 1, K_PATH},
    [S_BACKEND_CA] = {"backend-ca", NULL, 0, K_PATH},
    [S_BACKEND_CERT] = {"backend-cert", NULL, 0, K_PATH},
    [S_BACKEND_KEY] = {"backend-key", NULL, 0, K_PATH},
    [S_BACKEND_SERVER_NAME] = {"backend-server-name", NULL, 0, K_HOST},
};

// A flag without a value sets its boolean to |flag_value|.
static const struct bool_spec {
  const char *flag;
  const char *member;
  int flag_value;
} kBool[NUM_BOOL] = {
    [B_NO_AUTH] = {"no-auth", "no_auth", 1},
    [B_PLAINTEXT] = {"plaintext", "plaintext", 1},
    [B_BACKEND_PLAINTEXT] = {"backend-plaintext", NULL, 1},
    [B_ACCESS_LOG] = {"no-access-log", "access_log", 0},
};

static const struct lim_spec {
  const char *flag;
  const char *member;
  long long def, min, max;
  size_t offset;  // in ss_proxy_limits
} kLim[NUM_LIM] = {
    [L_MAX_STREAMS] = {"max-streams", "max_streams",
                       SS_PROXY_DEFAULT_MAX_STREAMS, 1, 1000000,
                       offsetof(ss_proxy_limits, max_streams)},
    [L_MAX_STREAMS_PER_TOKEN] =
        {"max-streams-per-token", "max_streams_per_token",
         SS_PROXY_DEFAULT_MAX_STREAMS_PER_TOKEN, 1, 1000000,
         offsetof(ss_proxy_limits, max_streams_per_token)},
    [L_MAX_MESSAGE_BYTES] = {"max-message-bytes", "max_message_bytes",
                             SS_PROXY_DEFAULT_MAX_MESSAGE_BYTES, 1024,
                             1024 * 1024 * 1024,
                             offsetof(ss_proxy_limits, max_message_bytes)},
    [L_MAX_METADATA_BYTES] = {"max-metadata-bytes", "max_metadata_bytes",
                              SS_PROXY_DEFAULT_MAX_METADATA_BYTES, 1024,
                              1024 * 1024,
                              offsetof(ss_proxy_limits, max_metadata_bytes)},
    [L_IDLE_TIMEOUT] = {"idle-timeout", "idle_timeout",
                        SS_PROXY_DEFAULT_IDLE_TIMEOUT_S, 0, 86400,
                        offsetof(ss_proxy_limits, idle_timeout_s)},
    [L_DRAIN_TIMEOUT] = {"drain-timeout", "drain_timeout",
                         SS_PROXY_DEFAULT_DRAIN_TIMEOUT_S, 0, 3600,
                         offsetof(ss_proxy_limits, drain_timeout_s)},
    [L_THREADS] = {"threads", "threads", SS_PROXY_DEFAULT_THREADS, 1, 64,
                   offsetof(ss_proxy_limits, threads)},
};

// A route as parsed, before it is moved into the config.
typedef struct route_spec {
  char *name, *target, *ca, *cert, *key, *server_name;
  int plaintext;
} route_spec;

// The settings of one source (the flags or the file).
typedef struct settings {
  char *str[NUM_STR];  // owned; NULL: not given
  int boolean[NUM_BOOL];
  long long lim[NUM_LIM];
  int lim_set[NUM_LIM];
  route_spec *routes;  // owned
  size_t num_routes;
  int has_tls;  // the file has a "tls" object
} settings;

struct ss_proxy_config_saved {
  int argc;
  char **argv;  // owned copies
};

static void settings_init(settings *s) {
  memset(s, 0, sizeof(*s));
  for (int i = 0; i < NUM_BOOL; i++) {
    s->boolean[i] = -1;
  }
}

static void route_spec_cleanup(route_spec *r) {
  free(r->name);
  free(r->target);
  free(r->ca);
  free(r->cert);
  free(r->key);
  free(r->server_name);
  memset(r, 0, sizeof(*r));
}

static void settings_cleanup(settings *s) {
  for (int i = 0; i < NUM_STR; i++) {
    free(s->str[i]);
  }
  for (size_t i = 0; i < s->num_routes; i++) {
    route_spec_cleanup(&s->routes[i]);
  }
  free(s->routes);
  settings_init(s);
}

static char *dup_str(const char *text, ss_status *st) {
  char *copy = strdup(text);
  if (copy == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return copy;
}

// --- checks of single values --------------------------------------------

static int check_port(ss_cbs port, int allow_zero) {
  if (port.len == 0 || port.len > 5) {
    return 0;
  }
  long value = 0;
  uint8_t c;
  while (ss_cbs_get_u8(&port, &c)) {
    if (c < '0' || c > '9') {
      return 0;
    }
    value = value * 10 + (c - '0');
  }
  return value <= 65535 && (allow_zero || value > 0);
}

static int is_host_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static int is_ipv6_char(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

static int all_chars(ss_cbs cbs, int (*ok)(uint8_t)) {
  uint8_t c;
  while (ss_cbs_get_u8(&cbs, &c)) {
    if (!ok(c)) {
      return 0;
    }
  }
  return 1;
}

// is_host_port accepts HOST:PORT with HOST a name or IPv4 address
// ([A-Za-z0-9._-]) or a bracketed IPv6 address.
static int is_host_port(const char *value, int allow_port_zero) {
  ss_cbs cbs, host;
  ss_cbs_init(&cbs, value, strlen(value));
  uint8_t c;
  ss_cbs open = cbs;
  if (ss_cbs_get_u8(&open, &c) && c == '[') {
    cbs = open;
    if (!ss_cbs_get_until(&cbs, &host, ']') || !all_chars(host, is_ipv6_char) ||
        !ss_cbs_get_u8(&cbs, &c) || c != ':') {
      return 0;
    }
  } else if (!ss_cbs_get_until(&cbs, &host, ':') ||
             !all_chars(host, is_host_char)) {
    return 0;
  }
  return host.len > 0 && host.len <= MAX_HOST_LEN &&
         check_port(cbs, allow_port_zero);
}

static int check_host_port(const char *label, const char *value,
                           int allow_port_zero, ss_status *st) {
  if (is_host_port(value, allow_port_zero)) {
    return 1;
  }
  char shown[SS_STATUS_SHOWN_MAX + 4];
  return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "%s: expected HOST:PORT (a name, IPv4 or [IPv6] "
                       "address and a port from %d to 65535), got '%s'",
                       label, allow_port_zero ? 0 : 1,
                       ss_status_shown(shown, value, strlen(value)));
}

static int is_header_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

// check_header accepts a lowercase metadata key that gRPC and HTTP/2 leave
// to applications. "authorization" is allowed only for --auth-header.
static int check_header(const char *label, const char *value,
                        int allow_authorization, ss_status *st) {
  static const char *const kReserved[] = {
      "te",         "host",           "content-type",      "user-agent",
      "connection", "keep-alive",     "proxy-connection",  "upgrade",
      "trailer",    "content-length", "transfer-encoding", "authorization"};
  char shown[SS_STATUS_SHOWN_MAX + 4];
  size_t len = strlen(value);
  ss_status_shown(shown, value, len);
  ss_cbs cbs;
  ss_cbs_init(&cbs, value, len);
  if (len == 0 || len > MAX_HEADER_LEN || !all_chars(cbs, is_header_char)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s '%s': expected a header name of 1 to %d "
                         "lowercase characters [a-z0-9._-]",
                         label, shown, MAX_HEADER_LEN);
  }
  if (strncmp(value, "grpc-", 5) == 0 ||
      (len >= 4 && strcmp(value + len - 4, "-bin") == 0)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s '%s': grpc-* names belong to gRPC and -bin "
                         "names carry binary values; choose another name",
                         label, shown);
  }
  size_t n = sizeof(kReserved) / sizeof(kReserved[0]);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(value, kReserved[i]) == 0 &&
        !(allow_authorization && strcmp(value, "authorization") == 0)) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "%s '%s': reserved header name; choose another "
                           "name",
                           label, shown);
    }
  }
  return 1;
}

static int is_server_name_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static int check_value(const char *label, int id, const char *value,
                       ss_status *st) {
  char shown[SS_STATUS_SHOWN_MAX + 4];
  size_t len = strlen(value);
  ss_cbs cbs;
  ss_cbs_init(&cbs, value, len);
  switch (kStr[id].kind) {
    case K_LISTEN:
      return check_host_port(label, value, 1, st);
    case K_PATH:
      if (len == 0 || len > MAX_PATH_LEN) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "%s: expected a file path of 1 to %d bytes", label,
                             MAX_PATH_LEN);
      }
      return 1;
    case K_NAME:
      return ss_proxy_name_check(label, (const uint8_t *)value, len, st);
    case K_HEADER:
      return check_header(label, value, id == S_AUTH_HEADER, st);
    case K_HOST:
      if (len == 0 || len > MAX_HOST_LEN ||
          !all_chars(cbs, is_server_name_char)) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "%s '%s': expected a DNS name of 1 to %d "
                             "characters [A-Za-z0-9.-]",
                             label, ss_status_shown(shown, value, len),
                             MAX_HOST_LEN);
      }
      return 1;
  }
  // Every kind is handled above.
  return ss_status_set(st, GRPC_STATUS_INTERNAL, "%s: unchecked setting",
                       label);
}

// parse_count reads a whole number of digits, without sign or spaces.
static int parse_count(const char *text, long long *out) {
  if (*text == '\0' || strlen(text) > 12) {
    return 0;
  }
  long long value = 0;
  for (const char *p = text; *p != '\0'; p++) {
    if (*p < '0' || *p > '9') {
      return 0;
    }
    value = value * 10 + (*p - '0');
  }
  *out = value;
  return 1;
}

static int check_limit(const char *label, int id, long long value,
                       ss_status *st) {
  if (value < kLim[id].min || value > kLim[id].max) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: %lld is out of range; expected %lld to %lld",
                         label, value, kLim[id].min, kLim[id].max);
  }
  return 1;
}

// add_route appends a route to |s| and checks its name is new. |label| names
// where it came from.
static route_spec *add_route(settings *s, const char *label, const char *name,
                             ss_status *st) {
  for (size_t i = 0; i < s->num_routes; i++) {
    if (strcmp(s->routes[i].name, name) == 0) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s: route '%s' is defined twice", label, name);
      return NULL;
    }
  }
  if (s->num_routes == SS_PROXY_MAX_ROUTES) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s: more than %d routes",
                  label, SS_PROXY_MAX_ROUTES);
    return NULL;
  }
  route_spec *grown = realloc(s->routes, (s->num_routes + 1) * sizeof(*grown));
  if (grown == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  s->routes = grown;
  route_spec *r = &s->routes[s->num_routes];
  memset(r, 0, sizeof(*r));
  r->name = dup_str(name, st);
  if (r->name == NULL) {
    return NULL;
  }
  s->num_routes++;
  return r;
}

// --- flags ----------------------------------------------------------------

enum flag_type { F_STR, F_BOOL, F_LIM, F_ROUTE };

typedef struct flag {
  enum flag_type type;
  int id;
} flag;

static int find_flag(const char *name, size_t len, flag *out) {
  if (len == 5 && strncmp(name, "route", 5) == 0) {
    *out = (flag){F_ROUTE, 0};
    return 1;
  }
  for (int i = 0; i < NUM_STR; i++) {
    if (strlen(kStr[i].flag) == len && strncmp(kStr[i].flag, name, len) == 0) {
      *out = (flag){F_STR, i};
      return 1;
    }
  }
  for (int i = 0; i < NUM_BOOL; i++) {
    if (strlen(kBool[i].flag) == len &&
        strncmp(kBool[i].flag, name, len) == 0) {
      *out = (flag){F_BOOL, i};
      return 1;
    }
  }
  for (int i = 0; i < NUM_LIM; i++) {
    if (strlen(kLim[i].flag) == len && strncmp(kLim[i].flag, name, len) == 0) {
      *out = (flag){F_LIM, i};
      return 1;
    }
  }
  return 0;
}

// parse_route_flag reads NAME=HOST:PORT.
static int parse_route_flag(settings *s, const char *value, ss_status *st) {
  char shown[SS_STATUS_SHOWN_MAX + 4];
  char label[SS_PROXY_NAME_MAX + 64];
  snprintf(label, sizeof(label), "--route '%s'",
           ss_status_shown(shown, value, strlen(value)));
  const char *eq = strchr(value, '=');
  if (eq == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: expected NAME=HOST:PORT", label);
  }
  size_t name_len = (size_t)(eq - value);
  if (!ss_proxy_name_check(label, (const uint8_t *)value, name_len, st) ||
      !check_host_port(label, eq + 1, 0, st)) {
    return 0;
  }
  char name[SS_PROXY_NAME_MAX + 1];
  memcpy(name, value, name_len);
  name[name_len] = '\0';
  route_spec *r = add_route(s, label, name, st);
  if (r == NULL) {
    return 0;
  }
  r->target = dup_str(eq + 1, st);
  return r->target != NULL;
}

static int apply_flag(settings *s, const flag *f, const char *name,
                      const char *value, ss_status *st) {
  char label[80];
  snprintf(label, sizeof(label), "--%s", name);
  switch (f->type) {
    case F_ROUTE:
      return parse_route_flag(s, value, st);
    case F_STR:
      if (s->str[f->id] != NULL) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s given twice",
                             label);
      }
      if (!check_value(label, f->id, value, st)) {
        return 0;
      }
      s->str[f->id] = dup_str(value, st);
      return s->str[f->id] != NULL;
    case F_BOOL:
      if (s->boolean[f->id] != -1) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s given twice",
                             label);
      }
      s->boolean[f->id] = kBool[f->id].flag_value;
      return 1;
    case F_LIM: {
      if (s->lim_set[f->id]) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s given twice",
                             label);
      }
      long long v;
      if (!parse_count(value, &v)) {
        char shown[SS_STATUS_SHOWN_MAX + 4];
        return ss_status_set(
            st, GRPC_STATUS_INVALID_ARGUMENT,
            "%s: expected a whole number from %lld to %lld, got '%s'", label,
            kLim[f->id].min, kLim[f->id].max,
            ss_status_shown(shown, value, strlen(value)));
      }
      if (!check_limit(label, f->id, v, st)) {
        return 0;
      }
      s->lim[f->id] = v;
      s->lim_set[f->id] = 1;
      return 1;
    }
  }
  // Every flag type is handled above.
  return ss_status_set(st, GRPC_STATUS_INTERNAL, "%s: unhandled flag", label);
}

// check_flag_groups refuses flags that exclude each other and backend flags
// with no --route to apply to.
static int check_flag_groups(const settings *s, ss_status *st) {
  if (s->str[S_TOKENS] != NULL && s->boolean[B_NO_AUTH] == 1) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "--tokens and --no-auth exclude each other; give "
                         "one");
  }
  static const int kTls[] = {S_TLS_CERT, S_TLS_KEY, S_TLS_CLIENT_CA};
  static const int kBackend[] = {S_BACKEND_CA, S_BACKEND_CERT, S_BACKEND_KEY,
                                 S_BACKEND_SERVER_NAME};
  for (size_t i = 0; i < 3; i++) {
    if (s->boolean[B_PLAINTEXT] == 1 && s->str[kTls[i]] != NULL) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "--plaintext and --%s exclude each other; give "
                           "TLS files or --plaintext",
                           kStr[kTls[i]].flag);
    }
  }
  for (size_t i = 0; i < 4; i++) {
    if (s->str[kBackend[i]] == NULL) {
      continue;
    }
    if (s->num_routes == 0) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "--%s applies to routes given with --route, and "
                           "there are none (in the config file, set \"tls\" "
                           "on each route)",
                           kStr[kBackend[i]].flag);
    }
    if (s->boolean[B_BACKEND_PLAINTEXT] == 1) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "--backend-plaintext and --%s exclude each other",
                           kStr[kBackend[i]].flag);
    }
  }
  if (s->boolean[B_BACKEND_PLAINTEXT] == 1 && s->num_routes == 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "--backend-plaintext applies to routes given with "
                         "--route, and there are none");
  }
  if ((s->str[S_BACKEND_CERT] == NULL) != (s->str[S_BACKEND_KEY] == NULL)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "--backend-cert and --backend-key go together; "
                         "give both or neither");
  }
  return 1;
}

// apply_backend_flags gives every --route the --backend-* settings.
static int apply_backend_flags(settings *s, ss_status *st) {
  for (size_t i = 0; i < s->num_routes; i++) {
    route_spec *r = &s->routes[i];
    r->plaintext = s->boolean[B_BACKEND_PLAINTEXT] == 1;
    char **dst[] = {&r->ca, &r->cert, &r->key, &r->server_name};
    static const int kSrc[] = {S_BACKEND_CA, S_BACKEND_CERT, S_BACKEND_KEY,
                               S_BACKEND_SERVER_NAME};
    for (size_t j = 0; j < 4; j++) {
      if (s->str[kSrc[j]] != NULL &&
          (*dst[j] = dup_str(s->str[kSrc[j]], st)) == NULL) {
        return 0;
      }
    }
  }
  return 1;
}

// parse_flags reads argv[first..argc) into |s|.
static int parse_flags(settings *s, int argc, char *const *argv, int first,
                       ss_status *st) {
  char shown[SS_STATUS_SHOWN_MAX + 4];
  for (int i = first; i < argc; i++) {
    const char *arg = argv[i];
    if (strncmp(arg, "--", 2) != 0) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "unexpected argument '%s' (flags start with --; "
                           "the only subcommand is gen-token)",
                           ss_status_shown(shown, arg, strlen(arg)));
    }
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    flag f = {F_STR, 0};
    if (name_len > 64 || !find_flag(name, name_len, &f)) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "unknown flag --%s (see --help)",
                           ss_status_shown(shown, name, name_len));
    }
    char flag_name[65];
    memcpy(flag_name, name, name_len);
    flag_name[name_len] = '\0';
    const char *value = NULL;
    if (f.type == F_BOOL) {
      if (eq != NULL) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "--%s takes no value", flag_name);
      }
    } else if (eq != NULL) {
      value = eq + 1;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "--%s expects a value", flag_name);
    }
    if (!apply_flag(s, &f, flag_name, value, st)) {
      return 0;
    }
  }
  return check_flag_groups(s, st) && apply_backend_flags(s, st);
}

// --- the JSON file ----------------------------------------------------------

typedef struct file_reader {
  FILE *f;
  size_t total;  // bytes handed to jansson so far
  int too_large;
  int failed;
} file_reader;

// read_capped feeds jansson at most SS_PROXY_CONFIG_MAX_FILE_BYTES, so a
// huge file is refused without being read whole.
static size_t read_capped(void *buffer, size_t buflen, void *data) {
  file_reader *r = data;
  size_t n = fread(buffer, 1, buflen, r->f);
  if (n == 0 && ferror(r->f)) {
    r->failed = 1;
    return (size_t)-1;
  }
  r->total += n;
  if (r->total > SS_PROXY_CONFIG_MAX_FILE_BYTES) {
    r->too_large = 1;
    return (size_t)-1;
  }
  return n;
}

// A JSON member's location for messages: 'config FILE: member "a"[2].b'.
typedef struct where {
  char text[256];
} where;

static void where_member(where *w, const char *file, const char *path) {
  snprintf(w->text, sizeof(w->text), "config %s: member %s", file, path);
}

static int get_json_string(const where *w, const json_t *value,
                           const char **out, ss_status *st) {
  *out = NULL;
  if (!json_is_string(value)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: expected a string", w->text);
  }
  *out = json_string_value(value);
  return 1;
}

static int json_str_setting(settings *s, const char *file, const char *path,
                            int id, const json_t *value, ss_status *st) {
  where w;
  where_member(&w, file, path);
  const char *text;
  if (!get_json_string(&w, value, &text, st) ||
      !check_value(w.text, id, text, st)) {
    return 0;
  }
  s->str[id] = dup_str(text, st);
  return s->str[id] != NULL;
}

static int json_route_tls(route_spec *r, const char *file, const char *path,
                          const json_t *tls, ss_status *st) {
  where w;
  where_member(&w, file, path);
  if (!json_is_object(tls)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: expected an object with \"ca\", \"cert\", "
                         "\"key\", \"server_name\"",
                         w.text);
  }
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)tls, key, value) {
    char sub[200];
    snprintf(sub, sizeof(sub), "%s.%s", path, key);
    where_member(&w, file, sub);
    char **dst = strcmp(key, "ca") == 0            ? &r->ca
                 : strcmp(key, "cert") == 0        ? &r->cert
                 : strcmp(key, "key") == 0         ? &r->key
                 : strcmp(key, "server_name") == 0 ? &r->server_name
                                                   : NULL;
    if (dst == NULL) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "%s: unknown member (expected \"ca\", \"cert\", "
                           "\"key\" or \"server_name\")",
                           w.text);
    }
    const char *text;
    if (!get_json_string(&w, value, &text, st) ||
        !check_value(
            w.text,
            dst == &r->server_name ? S_BACKEND_SERVER_NAME : S_BACKEND_CA, text,
            st)) {
      return 0;
    }
    if ((*dst = dup_str(text, st)) == NULL) {
      return 0;
    }
  }
  if ((r->cert == NULL) != (r->key == NULL)) {
    where_member(&w, file, path);
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: \"cert\" and \"key\" go together; give both or "
                         "neither",
                         w.text);
  }
  return 1;
}

static int json_route(settings *s, const char *file, size_t index,
                      const json_t *obj, ss_status *st) {
  char path[64];
  snprintf(path, sizeof(path), "\"routes\"[%zu]", index);
  where w;
  where_member(&w, file, path);
  if (!json_is_object(obj)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: expected an object with \"name\" and "
                         "\"target\"",
                         w.text);
  }
  char sub[96];
  const json_t *name = json_object_get(obj, "name");
  const json_t *target = json_object_get(obj, "target");
  if (name == NULL || target == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: \"%s\" is missing", w.text,
                         name == NULL ? "name" : "target");
  }
  const char *name_text = NULL, *target_text = NULL;
  snprintf(sub, sizeof(sub), "%s.name", path);
  where_member(&w, file, sub);
  if (!get_json_string(&w, name, &name_text, st) ||
      !ss_proxy_name_check(w.text, (const uint8_t *)name_text,
                           strlen(name_text), st)) {
    return 0;
  }
  snprintf(sub, sizeof(sub), "%s.target", path);
  where_member(&w, file, sub);
  if (!get_json_string(&w, target, &target_text, st) ||
      !check_host_port(w.text, target_text, 0, st)) {
    return 0;
  }
  where_member(&w, file, path);
  route_spec *r = add_route(s, w.text, name_text, st);
  if (r == NULL || (r->target = dup_str(target_text, st)) == NULL) {
    return 0;
  }
  const char *key;
  const json_t *value;
  const json_t *tls = NULL;
  json_object_foreach((json_t *)obj, key, value) {
    snprintf(sub, sizeof(sub), "%s.%s", path, key);
    where_member(&w, file, sub);
    if (strcmp(key, "name") == 0 || strcmp(key, "target") == 0) {
      continue;
    }
    if (strcmp(key, "plaintext") == 0) {
      if (!json_is_boolean(value)) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "%s: expected true or false", w.text);
      }
      r->plaintext = json_is_true(value);
    } else if (strcmp(key, "tls") == 0) {
      tls = value;
      if (!json_route_tls(r, file, sub, value, st)) {
        return 0;
      }
    } else {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "%s: unknown member (a route has \"name\", "
                           "\"target\", \"tls\", \"plaintext\")",
                           w.text);
    }
  }
  if (r->plaintext && tls != NULL) {
    where_member(&w, file, path);
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: \"plaintext\": true and \"tls\" exclude each "
                         "other",
                         w.text);
  }
  return 1;
}

static int json_routes(settings *s, const char *file, const json_t *routes,
                       ss_status *st) {
  where w;
  where_member(&w, file, "\"routes\"");
  if (!json_is_array(routes)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: expected an array of route objects", w.text);
  }
  if (json_array_size(routes) > SS_PROXY_MAX_ROUTES) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: more than %d routes", w.text,
                         SS_PROXY_MAX_ROUTES);
  }
  for (size_t i = 0; i < json_array_size(routes); i++) {
    if (!json_route(s, file, i, json_array_get(routes, i), st)) {
      return 0;
    }
  }
  return 1;
}

static int json_tls(settings *s, const char *file, const json_t *tls,
                    ss_status *st) {
  where w;
  where_member(&w, file, "\"tls\"");
  if (!json_is_object(tls)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: expected an object with \"cert\", \"key\", "
                         "\"client_ca\"",
                         w.text);
  }
  s->has_tls = 1;
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)tls, key, value) {
    char path[96];
    snprintf(path, sizeof(path), "\"tls\".%s", key);
    int id = -1;
    for (int i = 0; i < NUM_STR; i++) {
      if (kStr[i].in_tls && strcmp(kStr[i].member, key) == 0) {
        id = i;
      }
    }
    if (id < 0) {
      where_member(&w, file, path);
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "%s: unknown member (expected \"cert\", \"key\" "
                           "or \"client_ca\")",
                           w.text);
    }
    if (!json_str_setting(s, file, path, id, value, st)) {
      return 0;
    }
  }
  return 1;
}

// json_member applies one top-level member of the file to |s|.
static int json_member(settings *s, const char *file, const char *key,
                       const json_t *value, ss_status *st) {
  char path[96];
  snprintf(path, sizeof(path), "\"%s\"", key);
  where w;
  where_member(&w, file, path);
  if (strcmp(key, "routes") == 0) {
    return json_routes(s, file, value, st);
  }
  if (strcmp(key, "tls") == 0) {
    return json_tls(s, file, value, st);
  }
  for (int i = 0; i < NUM_STR; i++) {
    if (!kStr[i].in_tls && kStr[i].member != NULL &&
        strcmp(kStr[i].member, key) == 0) {
      return json_str_setting(s, file, path, i, value, st);
    }
  }
  for (int i = 0; i < NUM_BOOL; i++) {
    if (kBool[i].member != NULL && strcmp(kBool[i].member, key) == 0) {
      if (!json_is_boolean(value)) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "%s: expected true or false", w.text);
      }
      s->boolean[i] = json_is_true(value);
      return 1;
    }
  }
  for (int i = 0; i < NUM_LIM; i++) {
    if (strcmp(kLim[i].member, key) == 0) {
      if (!json_is_integer(value)) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "%s: expected a whole number from %lld to %lld",
                             w.text, kLim[i].min, kLim[i].max);
      }
      if (!check_limit(w.text, i, json_integer_value(value), st)) {
        return 0;
      }
      s->lim[i] = json_integer_value(value);
      s->lim_set[i] = 1;
      return 1;
    }
  }
  char shown[SS_STATUS_SHOWN_MAX + 4];
  return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "config %s: unknown member \"%s\" (members are named "
                       "like the flags, with _ for -; see --help)",
                       file, ss_status_shown(shown, key, strlen(key)));
}

static int load_file(settings *s, const char *file, ss_status *st) {
  file_reader reader = {0};
  reader.f = fopen(file, "rb");
  if (reader.f == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "config %s: cannot open: %s", file, strerror(errno));
  }
  json_error_t err;
  json_t *root =
      json_load_callback(read_capped, &reader, JSON_REJECT_DUPLICATES, &err);
  int read_errno = errno;
  fclose(reader.f);
  int ok = 0;
  if (reader.too_large) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "config %s: larger than %d bytes", file,
                  SS_PROXY_CONFIG_MAX_FILE_BYTES);
  } else if (reader.failed) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "config %s: read failed: %s", file, strerror(read_errno));
  } else if (root == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "config %s: line %d column %d: %s", file, err.line,
                  err.column, err.text);
  } else if (!json_is_object(root)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "config %s: expected a JSON object at the top level", file);
  } else {
    ok = 1;
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
      if (!json_member(s, file, key, value, st)) {
        ok = 0;
        break;
      }
    }
  }
  if (ok && s->boolean[B_NO_AUTH] == 1 && s->str[S_TOKENS] != NULL) {
    ok = ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "config %s: members \"tokens\" and \"no_auth\": true "
                       "exclude each other",
                       file);
  }
  if (ok && s->boolean[B_PLAINTEXT] == 1 && s->has_tls) {
    ok = ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "config %s: members \"tls\" and \"plaintext\": true "
                       "exclude each other",
                       file);
  }
  json_decref(root);
  return ok;
}

// --- merging into a config ------------------------------------------------

static void free_route(ss_proxy_route *r) {
  free((void *)r->name);
  free((void *)r->target);
  free((void *)r->tls_ca_file);
  free((void *)r->tls_cert_file);
  free((void *)r->tls_key_file);
  free((void *)r->tls_server_name);
}

static void saved_free(ss_proxy_config_saved *saved) {
  if (saved == NULL) {
    return;
  }
  for (int i = 0; i < saved->argc; i++) {
    free(saved->argv[i]);
  }
  free(saved->argv);
  free(saved);
}

void ss_proxy_config_free(ss_proxy_config *config) {
  if (config == NULL) {
    return;
  }
  const char *strings[] = {config->gen_token_name, config->gen_token_routes,
                           config->config_file,    config->listen_addr,
                           config->port_file,      config->metrics_addr,
                           config->route_header,   config->auth_header,
                           config->tokens_file,    config->tls_cert_file,
                           config->tls_key_file,   config->tls_client_ca_file,
                           config->reload_note};
  for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
    free((void *)strings[i]);
  }
  for (size_t i = 0; i < config->num_routes; i++) {
    free_route((ss_proxy_route *)&config->routes[i]);
  }
  free((void *)config->routes);
  ss_proxy_tokens_unref(config->tokens);
  saved_free(config->saved);
  free(config);
}

// take moves the string setting |id| from the flags, else from the file
// (NULL if neither has it).
static const char *take(settings *flags, settings *file, int id) {
  char **src = flags->str[id] != NULL ? &flags->str[id] : &file->str[id];
  char *value = *src;
  *src = NULL;
  return value;
}

// take_or moves setting |id| like take, or copies |def|.
static int take_or(const char **out, settings *flags, settings *file, int id,
                   const char *def, ss_status *st) {
  *out = take(flags, file, id);
  if (*out == NULL) {
    *out = dup_str(def, st);
  }
  return *out != NULL;
}

// source_label names where setting |id| came from, for cross-checks.
static void source_label(char *out, size_t out_len, const settings *flags,
                         const char *file, int id) {
  if (flags->str[id] != NULL || file == NULL) {
    snprintf(out, out_len, "--%s", kStr[id].flag);
  } else {
    snprintf(out, out_len, "config %s: member \"%s\"", file, kStr[id].member);
  }
}

static int merge_routes(ss_proxy_config *c, settings *flags, settings *file,
                        ss_status *st) {
  settings *src = flags->num_routes > 0 ? flags : file;
  if (src->num_routes == 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "no routes: give --route NAME=HOST:PORT (or "
                         "\"routes\" in the config file)");
  }
  ss_proxy_route *routes = calloc(src->num_routes, sizeof(*routes));
  if (routes == NULL) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  for (size_t i = 0; i < src->num_routes; i++) {
    route_spec *r = &src->routes[i];
    routes[i] = (ss_proxy_route){r->name, r->target, r->plaintext,  r->ca,
                                 r->cert, r->key,    r->server_name};
    memset(r, 0, sizeof(*r));
  }
  c->routes = routes;
  c->num_routes = src->num_routes;
  return 1;
}

static int merge_auth(ss_proxy_config *c, settings *flags, settings *file,
                      ss_status *st) {
  if (flags->str[S_TOKENS] != NULL ||
      (flags->boolean[B_NO_AUTH] != 1 && file->str[S_TOKENS] != NULL)) {
    c->tokens_file = take(flags, file, S_TOKENS);
    c->tokens = ss_proxy_tokens_load(c->tokens_file, st);
    return c->tokens != NULL;
  }
  if (flags->boolean[B_NO_AUTH] == 1 || file->boolean[B_NO_AUTH] == 1) {
    c->no_auth = 1;
    return 1;
  }
  return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "no client authentication chosen: give --tokens FILE, "
                       "or --no-auth to serve without tokens");
}

static int merge_tls(ss_proxy_config *c, settings *flags, settings *file,
                     ss_status *st) {
  int flag_tls = flags->str[S_TLS_CERT] != NULL ||
                 flags->str[S_TLS_KEY] != NULL ||
                 flags->str[S_TLS_CLIENT_CA] != NULL;
  if (flags->boolean[B_PLAINTEXT] == 1 ||
      (!flag_tls && file->boolean[B_PLAINTEXT] == 1)) {
    c->plaintext = 1;
    return 1;
  }
  // TLS files: each flag overrides the file's member of the same name.
  c->tls_cert_file = take(flags, file, S_TLS_CERT);
  c->tls_key_file = take(flags, file, S_TLS_KEY);
  c->tls_client_ca_file = take(flags, file, S_TLS_CLIENT_CA);
  if (c->tls_cert_file == NULL && c->tls_key_file == NULL &&
      c->tls_client_ca_file == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "no client transport chosen: give --tls-cert FILE "
                         "--tls-key FILE, or --plaintext for plain TCP");
  }
  if (c->tls_cert_file == NULL || c->tls_key_file == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "TLS for clients needs %s: give --%s FILE (or "
                         "\"tls\".%s in the config file)",
                         c->tls_cert_file == NULL ? "a certificate" : "a key",
                         c->tls_cert_file == NULL ? "tls-cert" : "tls-key",
                         c->tls_cert_file == NULL ? "cert" : "key");
  }
  return 1;
}

static int merge(ss_proxy_config *c, settings *flags, settings *file,
                 ss_status *st) {
  const char *file_name = c->config_file;
  char label[300];
  source_label(label, sizeof(label), flags, file_name, S_DEFAULT_ROUTE);
  int default_from_file =
      flags->str[S_DEFAULT_ROUTE] == NULL && flags->num_routes > 0;
  c->port_file = take(flags, file, S_PORT_FILE);
  c->metrics_addr = take(flags, file, S_METRICS);
  const char *default_name = take(flags, file, S_DEFAULT_ROUTE);
  int ok = take_or(&c->listen_addr, flags, file, S_LISTEN,
                   SS_PROXY_DEFAULT_LISTEN, st) &&
           take_or(&c->route_header, flags, file, S_ROUTE_HEADER,
                   SS_PROXY_DEFAULT_ROUTE_HEADER, st) &&
           take_or(&c->auth_header, flags, file, S_AUTH_HEADER,
                   SS_PROXY_DEFAULT_AUTH_HEADER, st) &&
           merge_routes(c, flags, file, st);
  if (ok && default_name != NULL) {
    c->default_route = ss_proxy_config_find_route(
        c, (const uint8_t *)default_name, strlen(default_name));
    if (c->default_route == NULL) {
      ok = ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s '%s' names no route%s", label, default_name,
                         default_from_file
                             ? " (routes given with --route replace the "
                               "config file's)"
                             : "");
    }
  }
  free((void *)default_name);
  if (ok && strcmp(c->route_header, c->auth_header) == 0) {
    ok = ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "the route header and the auth header are both '%s'; "
                       "give --route-header or --auth-header another name",
                       c->route_header);
  }
  for (int i = 0; i < NUM_LIM; i++) {
    long long v = flags->lim_set[i]  ? flags->lim[i]
                  : file->lim_set[i] ? file->lim[i]
                                     : kLim[i].def;
    *(int *)((char *)&c->limits + kLim[i].offset) = (int)v;
  }
  c->access_log = flags->boolean[B_ACCESS_LOG] == 0  ? 0
                  : file->boolean[B_ACCESS_LOG] == 0 ? 0
                                                     : 1;
  return ok && merge_tls(c, flags, file, st) && merge_auth(c, flags, file, st);
}

static ss_proxy_config_saved *save_args(int argc, char *const *argv,
                                        ss_status *st) {
  ss_proxy_config_saved *saved = calloc(1, sizeof(*saved));
  if (saved == NULL ||
      (saved->argv = calloc((size_t)argc + 1, sizeof(char *))) == NULL) {
    free(saved);
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  for (; saved->argc < argc; saved->argc++) {
    if ((saved->argv[saved->argc] = dup_str(argv[saved->argc], st)) == NULL) {
      saved_free(saved);
      return NULL;
    }
  }
  return saved;
}

static int parse_gen_token(ss_proxy_config *c, int argc, char *const *argv,
                           ss_status *st) {
  if (argc != 4) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "gen-token: expected NAME ROUTES, e.g. gen-token "
                         "billing orders,users (ROUTES \"*\" allows every "
                         "route)");
  }
  if (!ss_proxy_name_check("gen-token NAME", (const uint8_t *)argv[2],
                           strlen(argv[2]), st) ||
      !ss_proxy_route_list_check("gen-token ROUTES", (const uint8_t *)argv[3],
                                 strlen(argv[3]), st)) {
    return 0;
  }
  c->mode = SS_PROXY_MODE_GEN_TOKEN;
  return (c->gen_token_name = dup_str(argv[2], st)) != NULL &&
         (c->gen_token_routes = dup_str(argv[3], st)) != NULL;
}

ss_proxy_config *ss_proxy_config_parse(int argc, char *const *argv,
                                       ss_status *st) {
  settings flags, file;
  settings_init(&flags);
  settings_init(&file);
  ss_proxy_config *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto err;
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      c->mode = SS_PROXY_MODE_HELP;
      return c;
    }
  }
  if (argc >= 2 && strcmp(argv[1], "gen-token") == 0) {
    if (!parse_gen_token(c, argc, argv, st)) {
      goto err;
    }
    return c;
  }
  c->mode = SS_PROXY_MODE_SERVE;
  if (!parse_flags(&flags, argc, argv, 1, st)) {
    goto err;
  }
  if (flags.str[S_CONFIG] != NULL) {
    c->config_file = flags.str[S_CONFIG];
    flags.str[S_CONFIG] = NULL;
    if (!load_file(&file, c->config_file, st)) {
      goto err;
    }
  }
  if (!merge(c, &flags, &file, st) ||
      (c->saved = save_args(argc, argv, st)) == NULL) {
    goto err;
  }
  settings_cleanup(&flags);
  settings_cleanup(&file);
  return c;

err:
  settings_cleanup(&flags);
  settings_cleanup(&file);
  ss_proxy_config_free(c);
  return NULL;
}

static int same_str(const char *a, const char *b) {
  return (a == NULL && b == NULL) ||
         (a != NULL && b != NULL && strcmp(a, b) == 0);
}

// keep_str replaces |*next| with a copy of |cur|.
static int keep_str(const char **next, const char *cur, ss_status *st) {
  free((void *)*next);
  *next = NULL;
  return cur == NULL || (*next = dup_str(cur, st)) != NULL;
}

ss_proxy_config *ss_proxy_config_reload(const ss_proxy_config *current,
                                        ss_status *st) {
  if (current->mode != SS_PROXY_MODE_SERVE || current->saved == NULL) {
    ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                  "reload: only a serving configuration can be reloaded");
    return NULL;
  }
  ss_proxy_config *next =
      ss_proxy_config_parse(current->saved->argc, current->saved->argv, st);
  if (next == NULL) {
    ss_status_prefix(st, "reload: ");
    return NULL;
  }
  char note[256] = "";
  int ok = 1;
  if (!same_str(next->listen_addr, current->listen_addr)) {
    next->reload_kept |= SS_PROXY_RELOAD_KEPT_LISTEN;
    ok = ok && keep_str(&next->listen_addr, current->listen_addr, st);
    strcat(note, ", listen");
  }
  if (!same_str(next->port_file, current->port_file)) {
    next->reload_kept |= SS_PROXY_RELOAD_KEPT_PORT_FILE;
    ok = ok && keep_str(&next->port_file, current->port_file, st);
    strcat(note, ", port file");
  }
  if (!same_str(next->metrics_addr, current->metrics_addr)) {
    next->reload_kept |= SS_PROXY_RELOAD_KEPT_METRICS;
    ok = ok && keep_str(&next->metrics_addr, current->metrics_addr, st);
    strcat(note, ", metrics");
  }
  if (next->plaintext != current->plaintext ||
      !same_str(next->tls_cert_file, current->tls_cert_file) ||
      !same_str(next->tls_key_file, current->tls_key_file) ||
      !same_str(next->tls_client_ca_file, current->tls_client_ca_file)) {
    next->reload_kept |= SS_PROXY_RELOAD_KEPT_TLS;
    next->plaintext = current->plaintext;
    ok = ok && keep_str(&next->tls_cert_file, current->tls_cert_file, st) &&
         keep_str(&next->tls_key_file, current->tls_key_file, st) &&
         keep_str(&next->tls_client_ca_file, current->tls_client_ca_file, st);
    strcat(note, ", client TLS");
  }
  if (next->limits.threads != current->limits.threads) {
    next->reload_kept |= SS_PROXY_RELOAD_KEPT_THREADS;
    next->limits.threads = current->limits.threads;
    strcat(note, ", threads");
  }
  if (ok && next->reload_kept != 0) {
    char sentence[320];
    snprintf(sentence, sizeof(sentence),
             "reload kept the running %s settings; they change only on "
             "restart",
             note + 2);
    ok = (next->reload_note = dup_str(sentence, st)) != NULL;
  }
  if (!ok) {
    ss_status_prefix(st, "reload: ");
    ss_proxy_config_free(next);
    return NULL;
  }
  return next;
}

const ss_proxy_route *ss_proxy_config_find_route(const ss_proxy_config *config,
                                                 const uint8_t *name,
                                                 size_t name_len) {
  ss_cbs wanted;
  ss_cbs_init(&wanted, name, name_len);
  for (size_t i = 0; i < config->num_routes; i++) {
    if (strlen(config->routes[i].name) == name_len &&
        ss_cbs_equal_str(&wanted, config->routes[i].name)) {
      return &config->routes[i];
    }
  }
  return NULL;
}

const char *ss_proxy_config_usage(void) {
  return "usage: sealstream-proxy [--config FILE] [options]\n"
         "       sealstream-proxy gen-token NAME ROUTES\n"
         "\n"
         "Forwards gRPC calls to the backend named by each request's route\n"
         "header, after checking its bearer token. Flags override the\n"
         "config file's values (--route flags replace its \"routes\").\n"
         "\n"
         "  --config FILE              JSON file with the settings below\n"
         "  --listen HOST:PORT         address for clients "
         "(default " SS_PROXY_DEFAULT_LISTEN
         "; port 0 picks one)\n"
         "  --port-file FILE           write the bound port to FILE once "
         "serving\n"
         "  --metrics HOST:PORT        Prometheus endpoint (default: off)\n"
         "\n"
         "Routes:\n"
         "  --route NAME=HOST:PORT     a backend; repeat for more (one "
         "required)\n"
         "  --default-route NAME       route for requests without the header\n"
         "                             (default: none, the header is "
         "required)\n"
         "  --route-header NAME        metadata key naming the route "
         "(default\n"
         "                             " SS_PROXY_DEFAULT_ROUTE_HEADER
         ")\n"
         "  --backend-ca FILE          PEM roots for --route backends "
         "(default:\n"
         "                             the system roots)\n"
         "  --backend-cert FILE        PEM client certificate for --route "
         "backends\n"
         "  --backend-key FILE         its PEM private key\n"
         "  --backend-server-name NAME name expected in the backends'\n"
         "                             certificates (default: the target "
         "host)\n"
         "  --backend-plaintext        plain TCP to --route backends "
         "(default: TLS)\n"
         "\n"
         "Clients (one of --tokens and --no-auth; one of TLS and "
         "--plaintext):\n"
         "  --tokens FILE              bearer tokens: lines of NAME "
         "SHA256HEX ROUTES\n"
         "  --no-auth                  serve without authenticating "
         "clients\n"
         "  --auth-header NAME         metadata key with \"Bearer TOKEN\"\n"
         "                             (default " SS_PROXY_DEFAULT_AUTH_HEADER
         ")\n"
         "  --tls-cert FILE            PEM certificate chain for clients\n"
         "  --tls-key FILE             its PEM private key\n"
         "  --tls-client-ca FILE       PEM roots: require client "
         "certificates\n"
         "  --plaintext                plain TCP for clients\n"
         "\n"
         "Limits:\n"
         "  --max-streams N            concurrent streams (default 10000)\n"
         "  --max-streams-per-token N  per token entry (default 1000)\n"
         "  --max-message-bytes N      largest message (default 67108864, "
         "64 MiB)\n"
         "  --max-metadata-bytes N     largest request metadata (default "
         "16384)\n"
         "  --idle-timeout S           end a stream when no message moves "
         "either\n"
         "                             way for S seconds (default 0: never)\n"
         "  --drain-timeout S          on shutdown, let streams finish S "
         "seconds\n"
         "                             (default 30)\n"
         "  --threads N                completion-queue threads, 1 to 64 "
         "(default 2)\n"
         "  --no-access-log            no log line per call (default: "
         "logged)\n"
         "  --help                     print this help\n"
         "\n"
         "gen-token NAME ROUTES prints a new token and the line to add to the\n"
         "tokens file; ROUTES is ROUTE[,ROUTE...] or \"*\" for every route.\n"
         "SIGHUP reloads the config and tokens files; the listen, port-file,\n"
         "metrics, client TLS and threads settings change only on restart.\n";
}
