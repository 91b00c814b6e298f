// The client's key pairs (client_internal.h): each generation is made
// fresh, shared by reference between the client and the queries started
// with it, and replaced once it has served rotate_after_queries queries or
// is rotate_after_seconds old, so that a leaked private key opens only a
// bounded part of the client's traffic. The last reference wipes the key.
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "client/client_internal.h"
#include "lib/base/status.h"
#include "lib/jose/jwk.h"
#include "sealstream/client.h"

struct ss__client_key {
  atomic_uint refs;   // the client's (while current) + one per query
  ss_jwk *jwk;        // owned private key; ss_jwk_free wipes it
  char *public_json;  // owned
  const char *alg;    // static JWE "alg" for this key type
  int64_t created_s;  // monotonic seconds
  uint32_t uses;      // queries started with it; guarded by the client's mu
};

ss__client_key *ss__client_key_new(ss_key_type type, int64_t now_s,
                                   ss_status *st) {
  ss__client_key *key = calloc(1, sizeof(*key));
  ss_jwk *pub = NULL;
  if (key == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto err;
  }
  atomic_init(&key->refs, 1);
  key->created_s = now_s;
  switch (type) {
    case SS_KEY_EC_P256:
      key->jwk = ss_jwk_generate("EC", "P-256", 0, st);
      key->alg = "ECDH-ES+A256KW";
      break;
    case SS_KEY_X25519:
      key->jwk = ss_jwk_generate("OKP", "X25519", 0, st);
      key->alg = "ECDH-ES+A256KW";
      break;
    case SS_KEY_RSA_4096:
      key->jwk = ss_jwk_generate("RSA", NULL, 4096, st);
      key->alg = "RSA-OAEP-256";
      break;
    default:
      // Options were validated; an unknown type cannot reach here.
      ss_status_set(st, GRPC_STATUS_INTERNAL, "unknown key type %d",
                    (int)type);
      goto err;
  }
  if (key->jwk == NULL) {
    ss_status_prefix(st, "making the client's key pair: ");
    goto err;
  }
  pub = ss_jwk_public(key->jwk, st);
  if (pub == NULL) {
    goto err;
  }
  key->public_json = ss_jwk_to_json(pub, 0, st);
  if (key->public_json == NULL) {
    goto err;
  }
  ss_jwk_free(pub);
  return key;

err:
  ss_jwk_free(pub);
  if (key != NULL) {
    ss_jwk_free(key->jwk);
    free(key);
  }
  return NULL;
}

void ss__client_key_release(ss__client_key *key) {
  if (key == NULL) {
    return;
  }
  if (atomic_fetch_sub(&key->refs, 1) != 1) {
    return;
  }
  ss_jwk_free(key->jwk);
  free(key->public_json);
  free(key);
}

const ss_jwk *ss__client_key_jwk(const ss__client_key *key) {
  return key->jwk;
}

const char *ss__client_key_public_json(const ss__client_key *key) {
  return key->public_json;
}

const char *ss__client_key_alg(const ss__client_key *key) { return key->alg; }

static int key_is_stale(const ss_client *client, const ss__client_key *key,
                        int64_t now_s) {
  return key->uses >= client->rotate_after_queries ||
         now_s - key->created_s >= (int64_t)client->rotate_after_seconds;
}

ss__client_key *ss__client_acquire_key(ss_client *client, int64_t now_s,
                                       ss_status *st) {
  ss__client_key *old = NULL;
  // A new key pair is made under the lock: rotation is rare, and a query
  // must never run on a key past its limits. RSA-4096 makes the other
  // threads' query starts wait for the generation (up to seconds).
  pthread_mutex_lock(&client->mu);
  if (key_is_stale(client, client->key, now_s)) {
    ss__client_key *fresh = ss__client_key_new(client->key_type, now_s, st);
    if (fresh == NULL) {
      pthread_mutex_unlock(&client->mu);
      return NULL;
    }
    old = client->key;
    client->key = fresh;
  }
  ss__client_key *key = client->key;
  key->uses++;
  atomic_fetch_add(&key->refs, 1);
  pthread_mutex_unlock(&client->mu);
  // Queries still using the old key hold their own references; the last
  // one to finish wipes it.
  ss__client_key_release(old);
  return key;
}
