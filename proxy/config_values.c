// The proxy's settings (each one's flag, JSON member and range), the checks
// of single values that the flags and the config file share, and the usage
// text. Values come from the operator's flags or the untrusted config file.
#include <stdlib.h>
#include <string.h>

#include "lib/base/bytes.h"
#include "lib/base/host_port.h"
#include "proxy/config_internal.h"

// Longest path accepted in a flag or the file.
#define MAX_PATH_LEN 4095
// Longest header name accepted for --route-header and --auth-header.
#define MAX_HEADER_LEN 64
// Longest host name in HOST:PORT or a server name (RFC 1035).
#define MAX_HOST_LEN 253

const struct str_spec ss__proxy_config_str_specs[NUM_STR] = {
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

const struct bool_spec ss__proxy_config_bool_specs[NUM_BOOL] = {
    [B_NO_AUTH] = {"no-auth", "no_auth", 1},
    [B_PLAINTEXT] = {"plaintext", "plaintext", 1},
    [B_BACKEND_PLAINTEXT] = {"backend-plaintext", NULL, 1},
    [B_ACCESS_LOG] = {"no-access-log", "access_log", 0},
};

const struct lim_spec ss__proxy_config_lim_specs[NUM_LIM] = {
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

char *ss__proxy_config_dup_str(const char *text, ss_status *st) {
  char *copy = strdup(text);
  if (copy == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return copy;
}

// --- checks of single values --------------------------------------------

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
  ss_cbs host;
  int port, bracketed;
  return ss_host_port_split(value, strlen(value), &host, &port, &bracketed) &&
         all_chars(host, bracketed ? is_ipv6_char : is_host_char) &&
         host.len <= MAX_HOST_LEN && (allow_port_zero || port > 0);
}

int ss__proxy_config_check_host_port(const char *label, const char *value,
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

int ss__proxy_config_check_value(const char *label, int id, const char *value,
                                 ss_status *st) {
  char shown[SS_STATUS_SHOWN_MAX + 4];
  size_t len = strlen(value);
  ss_cbs cbs;
  ss_cbs_init(&cbs, value, len);
  switch (ss__proxy_config_str_specs[id].kind) {
    case K_LISTEN:
      return ss__proxy_config_check_host_port(label, value, 1, st);
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

int ss__proxy_config_check_limit(const char *label, int id, long long value,
                                 ss_status *st) {
  if (value < ss__proxy_config_lim_specs[id].min ||
      value > ss__proxy_config_lim_specs[id].max) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: %lld is out of range; expected %lld to %lld",
                         label, value, ss__proxy_config_lim_specs[id].min,
                         ss__proxy_config_lim_specs[id].max);
  }
  return 1;
}

route_spec *ss__proxy_config_add_route(settings *s, const char *label,
                                       const char *name, ss_status *st) {
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
  r->name = ss__proxy_config_dup_str(name, st);
  if (r->name == NULL) {
    return NULL;
  }
  s->num_routes++;
  return r;
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
