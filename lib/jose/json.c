// Strict JSON for JOSE objects (see json.h). Input is untrusted.
#include "lib/jose/json.h"

#include <malloc.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jose/b64url.h"

// jansson copies private key members ("d", "k", ...) into its own strings
// and frees them without wiping, so its frees are routed through a wipe.
static void wiping_free(void *ptr) {
  if (ptr != NULL) {
    OPENSSL_cleanse(ptr, malloc_usable_size(ptr));
    free(ptr);
  }
}

static void install_wiping_free(void) { json_set_alloc_funcs(malloc, wiping_free); }

void ss_json_init(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, install_wiping_free);
}

json_t *ss_json_parse_object(const char *text, size_t len, size_t max_len,
                             const char *what, ss_status *st) {
  ss_json_init();
  if (len > max_len) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "%s: %zu bytes exceeds the limit of %zu", what, len, max_len);
    return NULL;
  }
  json_error_t err;
  json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
  if (obj == NULL) {
    // jansson ends its messages with " near '<input>'", which may hold key
    // material: only the description before it is kept.
    char *near = strstr(err.text, " near ");
    if (near != NULL) {
      *near = '\0';
    }
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: invalid JSON at byte %d: %s", what, err.position,
                  err.text);
    return NULL;
  }
  if (!json_is_object(obj)) {
    json_decref(obj);
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "%s: expected a JSON object", what);
    return NULL;
  }
  return obj;
}

int ss_json_get_string(const json_t *obj, const char *key, int required,
                       const char *what, const char **out, size_t *out_len,
                       ss_status *st) {
  *out = NULL;
  *out_len = 0;
  json_t *member = json_object_get(obj, key);
  if (member == NULL) {
    if (required) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "%s: missing \"%s\"", what, key);
    }
    return 1;
  }
  if (!json_is_string(member)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: \"%s\" must be a string", what, key);
  }
  const char *value = json_string_value(member);
  size_t value_len = json_string_length(member);
  if (strlen(value) != value_len) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: \"%s\" contains a NUL character", what, key);
  }
  *out = value;
  *out_len = value_len;
  return 1;
}

int ss_json_get_b64(const json_t *obj, const char *key, int required,
                    const char *what, ss_buf *out, int *out_present,
                    ss_status *st) {
  if (out_present != NULL) {
    *out_present = 0;
  }
  ss_buf_reset(out);
  const char *text;
  size_t text_len;
  if (!ss_json_get_string(obj, key, required, what, &text, &text_len, st)) {
    return 0;
  }
  if (text == NULL) {
    return 1;
  }
  if (!ss_b64url_decode_to(out, text, text_len, st)) {
    return ss_status_prefix(st, "%s: \"%s\": ", what, key);
  }
  if (out_present != NULL) {
    *out_present = 1;
  }
  return 1;
}

int ss_json_set_b64(json_t *obj, const char *key, const uint8_t *data,
                    size_t len, ss_status *st) {
  ss_json_init();
  ss_buf text;
  ss_buf_init(&text, 0);
  int ok = ss_b64url_encode_to(&text, data, len, st) &&
           ss_buf_nul_terminate(&text);
  if (ok) {
    json_t *value = json_stringn((const char *)text.data, text.len);
    ok = value != NULL && json_object_set_new(obj, key, value) == 0;
    if (!ok) {
      ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                    "out of memory setting \"%s\"", key);
    }
  } else {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "out of memory encoding \"%s\"", key);
  }
  ss_buf_cleanup(&text);
  return ok;
}

char *ss_json_dump_compact(const json_t *obj, size_t *out_len, ss_status *st) {
  ss_json_init();
  *out_len = 0;
  char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (text == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "out of memory serializing JSON");
    return NULL;
  }
  *out_len = strlen(text);
  return text;
}
