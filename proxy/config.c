// sealstream-proxy configuration (see config.h): command-line flags over an
// optional JSON file (read by config_file.c), merged into one config; reload
// and route lookup. Flags are the operator's.
#include "proxy/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/bytes.h"
#include "proxy/config_internal.h"

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

// --- flags ----------------------------------------------------------------

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
    if (strlen(ss__proxy_config_str_specs[i].flag) == len &&
        strncmp(ss__proxy_config_str_specs[i].flag, name, len) == 0) {
      *out = (flag){F_STR, i};
      return 1;
    }
  }
  for (int i = 0; i < NUM_BOOL; i++) {
    if (strlen(ss__proxy_config_bool_specs[i].flag) == len &&
        strncmp(ss__proxy_config_bool_specs[i].flag, name, len) == 0) {
      *out = (flag){F_BOOL, i};
      return 1;
    }
  }
  for (int i = 0; i < NUM_LIM; i++) {
    if (strlen(ss__proxy_config_lim_specs[i].flag) == len &&
        strncmp(ss__proxy_config_lim_specs[i].flag, name, len) == 0) {
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
      !ss__proxy_config_check_host_port(label, eq + 1, 0, st)) {
    return 0;
  }
  char name[SS_PROXY_NAME_MAX + 1];
  memcpy(name, value, name_len);
  name[name_len] = '\0';
  route_spec *r = ss__proxy_config_add_route(s, label, name, st);
  if (r == NULL) {
    return 0;
  }
  r->target = ss__proxy_config_dup_str(eq + 1, st);
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
      if (!ss__proxy_config_check_value(label, f->id, value, st)) {
        return 0;
      }
      s->str[f->id] = ss__proxy_config_dup_str(value, st);
      return s->str[f->id] != NULL;
    case F_BOOL:
      if (s->boolean[f->id] != -1) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s given twice",
                             label);
      }
      s->boolean[f->id] = ss__proxy_config_bool_specs[f->id].flag_value;
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
            ss__proxy_config_lim_specs[f->id].min,
            ss__proxy_config_lim_specs[f->id].max,
            ss_status_shown(shown, value, strlen(value)));
      }
      if (!ss__proxy_config_check_limit(label, f->id, v, st)) {
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
                           ss__proxy_config_str_specs[kTls[i]].flag);
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
                           ss__proxy_config_str_specs[kBackend[i]].flag);
    }
    if (s->boolean[B_BACKEND_PLAINTEXT] == 1) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "--backend-plaintext and --%s exclude each other",
                           ss__proxy_config_str_specs[kBackend[i]].flag);
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
          (*dst[j] = ss__proxy_config_dup_str(s->str[kSrc[j]], st)) == NULL) {
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
    *out = ss__proxy_config_dup_str(def, st);
  }
  return *out != NULL;
}

// source_label names where setting |id| came from, for cross-checks.
static void source_label(char *out, size_t out_len, const settings *flags,
                         const char *file, int id) {
  if (flags->str[id] != NULL || file == NULL) {
    snprintf(out, out_len, "--%s", ss__proxy_config_str_specs[id].flag);
  } else {
    snprintf(out, out_len, "config %s: member \"%s\"", file,
             ss__proxy_config_str_specs[id].member);
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
                                     : ss__proxy_config_lim_specs[i].def;
    *(int *)((char *)&c->limits + ss__proxy_config_lim_specs[i].offset) =
        (int)v;
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
    if ((saved->argv[saved->argc] =
             ss__proxy_config_dup_str(argv[saved->argc], st)) == NULL) {
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
  return (c->gen_token_name = ss__proxy_config_dup_str(argv[2], st)) != NULL &&
         (c->gen_token_routes = ss__proxy_config_dup_str(argv[3], st)) != NULL;
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
    if (!ss__proxy_config_load_file(&file, c->config_file, st)) {
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
  return cur == NULL || (*next = ss__proxy_config_dup_str(cur, st)) != NULL;
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
    ok = (next->reload_note = ss__proxy_config_dup_str(sentence, st)) != NULL;
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
