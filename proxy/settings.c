// The proxy's reloadable settings (see settings.h). Backend channels are
// shared through reference counts; a backend is known again by a key made of
// its target, whether it is plaintext, its server name and, for each TLS
// file, its path and identity on disk (inode, size, modification time), so a
// certificate rotated in place gets a new channel on the next reload.
#include "proxy/settings.h"

#include <grpc/grpc_security.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/base/bytes.h"
#include "lib/rpc/tls.h"

// A connection to one backend, shared by the routes (of these settings and
// later ones) with the same key.
typedef struct backend {
  _Atomic int refs;
  char *key;              // owned
  grpc_channel *channel;  // owned
} backend;

typedef struct route {
  ss_proxy_backend_route pub;  // its name is |name|, its channel |target|'s
  char *name;                  // owned
  backend *target;             // referenced
} route;

struct ss_proxy_settings {
  _Atomic int refs;
  route *routes;  // owned; num_routes entries
  size_t num_routes;
  char *default_route;  // owned; NULL: none
  char *route_header;   // owned
  char *auth_header;    // owned
  ss_proxy_tokens *tokens;  // referenced; NULL: clients not authenticated
  ss_proxy_limits limits;
};

static void backend_unref(backend *b) {
  if (b == NULL || atomic_fetch_sub(&b->refs, 1) != 1) {
    return;
  }
  grpc_channel_destroy(b->channel);
  free(b->key);
  free(b);
}

ss_proxy_settings *ss_proxy_settings_ref(ss_proxy_settings *settings) {
  atomic_fetch_add(&settings->refs, 1);
  return settings;
}

void ss_proxy_settings_unref(ss_proxy_settings *s) {
  if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1) {
    return;
  }
  for (size_t i = 0; i < s->num_routes; i++) {
    free(s->routes[i].name);
    backend_unref(s->routes[i].target);
  }
  free(s->routes);
  free(s->default_route);
  free(s->route_header);
  free(s->auth_header);
  ss_proxy_tokens_unref(s->tokens);
  free(s);
}

// append_file adds |path| and its identity on disk to |key|.
static void append_file(ss_buf *key, const char *path) {
  char text[96];
  struct stat sb;
  if (path == NULL) {
    ss_buf_append_str(key, "|-");
    return;
  }
  ss_buf_append_str(key, "|");
  ss_buf_append_str(key, path);
  if (stat(path, &sb) == 0) {
    snprintf(text, sizeof(text), "@%llu:%lld:%lld.%09ld",
             (unsigned long long)sb.st_ino, (long long)sb.st_size,
             (long long)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec);
    ss_buf_append_str(key, text);
  }
}

// backend_key returns the key of |r|'s backend (a new string), or NULL when
// out of memory.
static char *backend_key(const ss_proxy_route *r) {
  ss_buf key;
  ss_buf_init(&key, 64 * 1024);
  ss_buf_append_str(&key, r->plaintext ? "plain|" : "tls|");
  ss_buf_append_str(&key, r->target);
  append_file(&key, r->tls_ca_file);
  append_file(&key, r->tls_cert_file);
  append_file(&key, r->tls_key_file);
  ss_buf_append_str(&key, "|");
  ss_buf_append_str(&key,
                    r->tls_server_name != NULL ? r->tls_server_name : "-");
  uint8_t *data;
  size_t len;
  if (!ss_buf_nul_terminate(&key) || !ss_buf_release(&key, &data, &len)) {
    ss_buf_cleanup(&key);
    return NULL;
  }
  return (char *)data;
}

// find_backend returns a new reference to the backend of |s| with |key|,
// or NULL.
static backend *find_backend(const ss_proxy_settings *s, const char *key) {
  for (size_t i = 0; s != NULL && i < s->num_routes; i++) {
    backend *b = s->routes[i].target;
    if (strcmp(b->key, key) == 0) {
      atomic_fetch_add(&b->refs, 1);
      return b;
    }
  }
  return NULL;
}

// backend_new makes the channel of |r|'s backend. Takes ownership of |key|.
static backend *backend_new(const ss_proxy_route *r,
                            const ss_proxy_limits *limits, char *key,
                            ss_status *st) {
  grpc_channel_credentials *creds;
  if (r->plaintext) {
    creds = grpc_insecure_credentials_create();
  } else {
    ss_tls_channel_options tls = {r->tls_ca_file, r->tls_cert_file,
                                  r->tls_key_file};
    creds = ss_tls_channel_credentials_new(&tls, st);
    if (creds == NULL) {
      ss_status_prefix(st, "route '%s': ", r->name);
      free(key);
      return NULL;
    }
  }
  backend *b = calloc(1, sizeof(*b));
  if (b == NULL) {
    grpc_channel_credentials_release(creds);
    free(key);
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  grpc_arg args[6];
  memset(args, 0, sizeof(args));
  size_t n = 0;
  args[n].type = GRPC_ARG_INTEGER;
  args[n].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[n++].value.integer = limits->max_message_bytes;
  args[n].type = GRPC_ARG_INTEGER;
  args[n].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
  args[n++].value.integer = limits->max_message_bytes;
  // A retried call would replay messages the proxy no longer holds.
  args[n].type = GRPC_ARG_INTEGER;
  args[n].key = (char *)GRPC_ARG_ENABLE_RETRIES;
  args[n++].value.integer = 0;
  // Responses pass through as the backend compressed them.
  args[n].type = GRPC_ARG_INTEGER;
  args[n].key = (char *)GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION;
  args[n++].value.integer = 0;
  // Bandwidth probing would grow each backend stream's window (and what the
  // proxy buffers for a slow client) up to megabytes; a fixed window keeps
  // a stream's memory near one message.
  args[n].type = GRPC_ARG_INTEGER;
  args[n].key = (char *)GRPC_ARG_HTTP2_BDP_PROBE;
  args[n++].value.integer = 0;
  if (!r->plaintext && r->tls_server_name != NULL) {
    ss_tls_server_name_arg(&args[n++], r->tls_server_name);
  }
  grpc_channel_args channel_args = {n, args};
  atomic_init(&b->refs, 1);
  b->key = key;
  // Never NULL: a bad target makes a lame channel whose calls fail with
  // UNAVAILABLE, which reaches clients naming the route.
  b->channel = grpc_channel_create(r->target, creds, &channel_args);
  grpc_channel_credentials_release(creds);
  return b;
}

static char *copy_or_null(const char *s, ss_status *st, int *ok) {
  if (s == NULL) {
    return NULL;
  }
  char *out = strdup(s);
  if (out == NULL) {
    *ok = ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return out;
}

ss_proxy_settings *ss_proxy_settings_new(const ss_proxy_config *config,
                                         const ss_proxy_settings *previous,
                                         ss_status *st) {
  ss_proxy_settings *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  atomic_init(&s->refs, 1);
  s->limits = config->limits;
  s->tokens = config->no_auth ? NULL : ss_proxy_tokens_ref(config->tokens);
  int ok = 1;
  s->default_route = copy_or_null(
      config->default_route != NULL ? config->default_route->name : NULL, st,
      &ok);
  s->route_header = copy_or_null(config->route_header, st, &ok);
  s->auth_header = copy_or_null(config->auth_header, st, &ok);
  if (!ok) {
    goto err;
  }
  if (config->num_routes > 0) {
    s->routes = calloc(config->num_routes, sizeof(*s->routes));
    if (s->routes == NULL) {
      ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
      goto err;
    }
  }
  for (size_t i = 0; i < config->num_routes; i++) {
    const ss_proxy_route *r = &config->routes[i];
    route *out = &s->routes[i];
    out->name = strdup(r->name);
    char *key = backend_key(r);
    if (out->name == NULL || key == NULL) {
      free(key);
      ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
      goto err;
    }
    out->target = find_backend(previous, key);
    if (out->target == NULL) {
      out->target = find_backend(s, key);  // an earlier route of |config|
    }
    if (out->target == NULL) {
      out->target = backend_new(r, &s->limits, key, st);
    } else {
      free(key);
    }
    if (out->target == NULL) {
      free(out->name);
      out->name = NULL;
      goto err;
    }
    out->pub.name = out->name;
    out->pub.channel = out->target->channel;
    out->pub.pass_host = r->plaintext;
    s->num_routes = i + 1;
  }
  return s;

err:
  ss_proxy_settings_unref(s);
  return NULL;
}

const ss_proxy_backend_route *ss_proxy_settings_route(
    const ss_proxy_settings *s, const uint8_t *name, size_t len) {
  for (size_t i = 0; i < s->num_routes; i++) {
    if (strlen(s->routes[i].name) == len &&
        memcmp(s->routes[i].name, name, len) == 0) {
      return &s->routes[i].pub;
    }
  }
  return NULL;
}

const char *ss_proxy_settings_default_route(const ss_proxy_settings *s) {
  return s->default_route;
}

const char *ss_proxy_settings_route_header(const ss_proxy_settings *s) {
  return s->route_header;
}

const char *ss_proxy_settings_auth_header(const ss_proxy_settings *s) {
  return s->auth_header;
}

const ss_proxy_tokens *ss_proxy_settings_tokens(const ss_proxy_settings *s) {
  return s->tokens;
}

const ss_proxy_limits *ss_proxy_settings_limits(const ss_proxy_settings *s) {
  return &s->limits;
}
