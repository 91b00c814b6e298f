// The proxy's JSON config file (see config.h), read into the settings of
// one source. The file is parsed as untrusted input with plain jansson
// (duplicates refused, size-capped while reading, unknown members refused).
// lib/jose/json is not used: its ss_json_init swaps jansson's allocator for
// the whole process.
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "proxy/config_internal.h"

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
      !ss__proxy_config_check_value(w.text, id, text, st)) {
    return 0;
  }
  s->str[id] = ss__proxy_config_dup_str(text, st);
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
        !ss__proxy_config_check_value(
            w.text,
            dst == &r->server_name ? S_BACKEND_SERVER_NAME : S_BACKEND_CA, text,
            st)) {
      return 0;
    }
    if ((*dst = ss__proxy_config_dup_str(text, st)) == NULL) {
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
      !ss__proxy_config_check_host_port(w.text, target_text, 0, st)) {
    return 0;
  }
  where_member(&w, file, path);
  route_spec *r = ss__proxy_config_add_route(s, w.text, name_text, st);
  if (r == NULL ||
      (r->target = ss__proxy_config_dup_str(target_text, st)) == NULL) {
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
      if (ss__proxy_config_str_specs[i].in_tls &&
          strcmp(ss__proxy_config_str_specs[i].member, key) == 0) {
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
    if (!ss__proxy_config_str_specs[i].in_tls &&
        ss__proxy_config_str_specs[i].member != NULL &&
        strcmp(ss__proxy_config_str_specs[i].member, key) == 0) {
      return json_str_setting(s, file, path, i, value, st);
    }
  }
  for (int i = 0; i < NUM_BOOL; i++) {
    if (ss__proxy_config_bool_specs[i].member != NULL &&
        strcmp(ss__proxy_config_bool_specs[i].member, key) == 0) {
      if (!json_is_boolean(value)) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "%s: expected true or false", w.text);
      }
      s->boolean[i] = json_is_true(value);
      return 1;
    }
  }
  for (int i = 0; i < NUM_LIM; i++) {
    if (strcmp(ss__proxy_config_lim_specs[i].member, key) == 0) {
      if (!json_is_integer(value)) {
        return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                             "%s: expected a whole number from %lld to %lld",
                             w.text, ss__proxy_config_lim_specs[i].min,
                             ss__proxy_config_lim_specs[i].max);
      }
      if (!ss__proxy_config_check_limit(w.text, i, json_integer_value(value),
                                        st)) {
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

int ss__proxy_config_load_file(settings *s, const char *file, ss_status *st) {
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
