// JWK sets (RFC 7517 section 5). The set text is untrusted: its size and key
// count are capped before any key is built, every member key gets the full
// checks of ss__jwk_from_json, and two keys answering to one kid are refused
// so that a kid always names exactly one key.
#include "lib/jose/jwks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jose/json.h"
#include "lib/jose/jwk_internal.h"

struct ss_jwks {
  ss_jwk **keys;    // owned, num_keys entries
  size_t num_keys;  // <= SS_JWKS_MAX_KEYS
};

ss_jwks *ss_jwks_parse(const char *json, size_t json_len, ss_status *st) {
  ss_jwks *jwks = NULL;
  json_t *obj = NULL;
  if (json == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "JWKS: no input");
    goto err;
  }
  obj = ss_json_parse_object(json, json_len, SS_JWKS_MAX_JSON, "JWKS", st);
  if (obj == NULL) {
    goto err;
  }
  const json_t *keys = json_object_get(obj, "keys");
  if (keys == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "JWKS: missing \"keys\"");
    goto err;
  }
  if (!json_is_array(keys)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "JWKS: \"keys\" must be an array");
    goto err;
  }
  size_t num_keys = json_array_size(keys);
  if (num_keys > SS_JWKS_MAX_KEYS) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "JWKS: %zu keys exceeds the limit of %d", num_keys,
                  SS_JWKS_MAX_KEYS);
    goto err;
  }
  jwks = calloc(1, sizeof(*jwks));
  // calloc(0) may return NULL; an empty set needs no array.
  if (jwks == NULL ||
      (num_keys > 0 &&
       (jwks->keys = calloc(num_keys, sizeof(jwks->keys[0]))) == NULL)) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "JWKS: out of memory");
    goto err;
  }
  for (size_t i = 0; i < num_keys; i++) {
    char what[32];
    snprintf(what, sizeof(what), "JWKS: key %zu", i);
    ss_jwk *key = ss__jwk_from_json(json_array_get(keys, i), what, st);
    if (key == NULL) {
      goto err;
    }
    jwks->keys[jwks->num_keys++] = key;
    for (size_t j = 0; j < i; j++) {
      if (strcmp(ss_jwk_kid(jwks->keys[j]), ss_jwk_kid(key)) == 0) {
        ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                      "JWKS: keys %zu and %zu have the same kid", j, i);
        goto err;
      }
    }
  }
  json_decref(obj);  // jansson wipes what it frees (ss_json_init)
  return jwks;

err:
  json_decref(obj);
  ss_jwks_free(jwks);
  return NULL;
}

void ss_jwks_free(ss_jwks *jwks) {
  if (jwks == NULL) {
    return;
  }
  for (size_t i = 0; i < jwks->num_keys; i++) {
    ss_jwk_free(jwks->keys[i]);
  }
  free(jwks->keys);
  free(jwks);
}

size_t ss_jwks_count(const ss_jwks *jwks) {
  return jwks != NULL ? jwks->num_keys : 0;
}

const ss_jwk *ss_jwks_get(const ss_jwks *jwks, size_t index) {
  if (jwks == NULL || index >= jwks->num_keys) {
    return NULL;
  }
  return jwks->keys[index];
}

const ss_jwk *ss_jwks_find(const ss_jwks *jwks, const char *kid,
                           ss_status *st) {
  if (kid == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "no kid to look up");
    return NULL;
  }
  for (size_t i = 0; jwks != NULL && i < jwks->num_keys; i++) {
    if (strcmp(ss_jwk_kid(jwks->keys[i]), kid) == 0) {
      return jwks->keys[i];
    }
  }
  // The kid usually comes from an untrusted JWE header.
  char shown[SS_STATUS_SHOWN_MAX + 4];
  ss_status_set(st, GRPC_STATUS_NOT_FOUND, "no key with kid \"%s\"",
                ss_status_shown(shown, kid, strlen(kid)));
  return NULL;
}
