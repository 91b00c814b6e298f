// Internal to the proxy's configuration module (config.c, config_file.c,
// config_values.c): the table of settings, the settings read from one
// source, and the checks both the flags and the JSON file apply.
#ifndef SEALSTREAM_PROXY_CONFIG_INTERNAL_H
#define SEALSTREAM_PROXY_CONFIG_INTERNAL_H

#include <stddef.h>

#include "lib/base/status.h"
#include "proxy/config.h"

#ifdef __cplusplus
extern "C" {
#endif

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
struct str_spec {
  const char *flag;
  const char *member;
  int in_tls;
  enum kind kind;
};
extern const struct str_spec ss__proxy_config_str_specs[NUM_STR];

// A flag without a value sets its boolean to |flag_value|.
struct bool_spec {
  const char *flag;
  const char *member;
  int flag_value;
};
extern const struct bool_spec ss__proxy_config_bool_specs[NUM_BOOL];

struct lim_spec {
  const char *flag;
  const char *member;
  long long def, min, max;
  size_t offset;  // in ss_proxy_limits
};
extern const struct lim_spec ss__proxy_config_lim_specs[NUM_LIM];

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

// ss__proxy_config_dup_str returns a new copy of |text|, or NULL with |st|
// set.
char *ss__proxy_config_dup_str(const char *text, ss_status *st);

// ss__proxy_config_check_host_port checks that |value| is HOST:PORT: a name,
// IPv4 or [IPv6] address and a port from 1 (0 if |allow_port_zero|) to
// 65535. Returns 1, or 0 with |st| naming |label|.
int ss__proxy_config_check_host_port(const char *label, const char *value,
                                     int allow_port_zero, ss_status *st);

// ss__proxy_config_check_value checks |value| for the string setting |id| as
// its kind requires. Returns 1, or 0 with |st| naming |label|.
int ss__proxy_config_check_value(const char *label, int id, const char *value,
                                 ss_status *st);

// ss__proxy_config_check_limit checks |value| against the range of limit
// |id|. Returns 1, or 0 with |st| naming |label|.
int ss__proxy_config_check_limit(const char *label, int id, long long value,
                                 ss_status *st);

// ss__proxy_config_add_route appends a route to |s| and checks its name is
// new. |label| names where it came from. Returns the route, owned by |s|, or
// NULL with |st| set.
route_spec *ss__proxy_config_add_route(settings *s, const char *label,
                                       const char *name, ss_status *st);

// ss__proxy_config_load_file reads the JSON config file |file| into |s|.
// Returns 1, or 0 with |st| naming the file and the member at fault; |s| may
// then hold part of the file, for the caller to clean up.
int ss__proxy_config_load_file(settings *s, const char *file, ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_PROXY_CONFIG_INTERNAL_H
