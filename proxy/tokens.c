// Bearer tokens for sealstream-proxy (see tokens.h). The token file and the
// authorization header values clients send are untrusted and read through
// ss_cbs cursors; presented tokens are secrets and never reach a message.
// Lookups compare against every entry (CRYPTO_memcmp, no early exit).
#include "proxy/tokens.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jose/b64url.h"

#define HASH_LEN SHA256_DIGEST_LENGTH
#define HEX_LEN (2 * HASH_LEN)
// Random bytes in a generated token.
#define GEN_RANDOM_BYTES 32
// Most routes one entry or one route list may name.
#define MAX_LIST_ROUTES 1024

struct ss_proxy_token {
  uint8_t hash[HASH_LEN];            // SHA-256 of the token
  char name[SS_PROXY_NAME_MAX + 1];  // NUL-terminated
  int any_route;                     // route list is "*"
  const char *routes;                // comma-separated, in the arena
  size_t routes_off;                 // offset of |routes| in the arena
  size_t routes_len;                 // bytes at |routes|
  size_t line;                       // 1-based line in the file
};

struct ss_proxy_tokens {
  atomic_size_t refs;
  ss_proxy_token *entries;  // owned; file order
  size_t num_entries;
  uint8_t *arena;  // owned; every entry's route list, back to back
};

static int is_blank(uint8_t c) { return c == ' ' || c == '\t'; }

static int is_name_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static int peek(const ss_cbs *cbs, uint8_t *out) {
  ss_cbs copy = *cbs;
  return ss_cbs_get_u8(&copy, out);
}

static void skip_blanks(ss_cbs *cbs) {
  uint8_t c;
  while (peek(cbs, &c) && is_blank(c)) {
    ss_cbs_skip(cbs, 1);
  }
}

// get_field splits off the run of non-blank bytes at the front of |cbs|
// (possibly empty).
static void get_field(ss_cbs *cbs, ss_cbs *out) {
  ss_cbs probe = *cbs;
  size_t n = 0;
  uint8_t c;
  while (ss_cbs_get_u8(&probe, &c) && !is_blank(c)) {
    n++;
  }
  ss_cbs_get_bytes(cbs, out, n);  // cannot fail: n bytes were just read
}

// next_item splits off the bytes before the next |delim| (or all that
// remain). Returns 0 once |cbs| is exhausted; |*more| says whether a
// delimiter followed the item.
static int next_item(ss_cbs *cbs, ss_cbs *out, uint8_t delim, int *more) {
  if (ss_cbs_get_until(cbs, out, delim)) {
    *more = 1;
    return 1;
  }
  if (!*more) {
    return 0;
  }
  *more = 0;
  return ss_cbs_get_bytes(cbs, out, cbs->len);
}

static int cbs_equal(const ss_cbs *a, const ss_cbs *b) {
  return a->len == b->len &&
         (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int ss_proxy_name_check(const char *what, const uint8_t *name, size_t len,
                        ss_status *st) {
  char shown[SS_STATUS_SHOWN_MAX + 4];
  if (len == 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s is empty; expected 1 to %d characters of "
                         "[A-Za-z0-9._-]",
                         what, SS_PROXY_NAME_MAX);
  }
  if (len > SS_PROXY_NAME_MAX) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s '%s' is longer than %d characters", what,
                         ss_status_shown(shown, (const char *)name, len),
                         SS_PROXY_NAME_MAX);
  }
  ss_cbs cbs;
  ss_cbs_init(&cbs, name, len);
  uint8_t c;
  for (size_t i = 1; ss_cbs_get_u8(&cbs, &c); i++) {
    if (!is_name_char(c)) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "%s '%s': character %zu is not one of "
                           "[A-Za-z0-9._-]",
                           what,
                           ss_status_shown(shown, (const char *)name, len), i);
    }
  }
  return 1;
}

int ss_proxy_route_list_check(const char *what, const uint8_t *list, size_t len,
                              ss_status *st) {
  if (len == 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s is empty; expected ROUTE[,ROUTE...] or \"*\"",
                         what);
  }
  ss_cbs all, route;
  ss_cbs_init(&all, list, len);
  if (ss_cbs_equal_str(&all, "*")) {
    return 1;
  }
  char label[128];
  int more = 1;
  for (size_t i = 1; next_item(&all, &route, ',', &more); i++) {
    if (i > MAX_LIST_ROUTES) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "%s names more than %d routes", what,
                           MAX_LIST_ROUTES);
    }
    if (ss_cbs_equal_str(&route, "*")) {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "%s: \"*\" must stand alone (it means every route)",
                           what);
    }
    snprintf(label, sizeof(label), "%s: route %zu", what, i);
    if (!ss_proxy_name_check(label, route.data, route.len, st)) {
      return 0;
    }
    // Earlier routes: the bytes of |list| before this one.
    ss_cbs earlier, prev;
    ss_cbs_init(&earlier, list, len);
    int prev_more = 1;
    for (size_t j = 1; j < i && next_item(&earlier, &prev, ',', &prev_more);
         j++) {
      if (cbs_equal(&prev, &route)) {
        char shown[SS_STATUS_SHOWN_MAX + 4];
        return ss_status_set(
            st, GRPC_STATUS_INVALID_ARGUMENT,
            "%s: route '%s' is listed twice (routes %zu and %zu)", what,
            ss_status_shown(shown, (const char *)route.data, route.len), j, i);
      }
    }
  }
  return 1;
}

// parse_hex decodes exactly 64 lowercase hex digits.
static int parse_hex(uint8_t out[HASH_LEN], const ss_cbs *hex, ss_status *st) {
  if (hex->len != HEX_LEN) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "SHA256HEX has %zu characters; expected %d lowercase "
                         "hex digits (uppercase is not accepted)",
                         hex->len, HEX_LEN);
  }
  ss_cbs cbs = *hex;
  for (size_t i = 0; i < HEX_LEN; i++) {
    uint8_t c;
    ss_cbs_get_u8(&cbs, &c);  // cannot fail: the length was checked
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                           "SHA256HEX character %zu is not a lowercase hex "
                           "digit; expected %d of [0-9a-f] (uppercase is not "
                           "accepted)",
                           i + 1, HEX_LEN);
    }
    if (i % 2 == 0) {
      out[i / 2] = (uint8_t)(v << 4);
    } else {
      out[i / 2] |= (uint8_t)v;
    }
  }
  return 1;
}

static const char kLineFormat[] =
    "expected NAME SHA256HEX ROUTE[,ROUTE...] (\"*\" for every route)";

// parse_entry fills |entry| from one non-blank, non-comment |line| and
// appends its route list to |arena|.
static int parse_entry(ss_proxy_token *entry, ss_buf *arena, ss_cbs line,
                       ss_status *st) {
  ss_cbs name, hex, routes;
  skip_blanks(&line);
  get_field(&line, &name);
  skip_blanks(&line);
  get_field(&line, &hex);
  skip_blanks(&line);
  get_field(&line, &routes);
  skip_blanks(&line);
  if (!ss_proxy_name_check("name", name.data, name.len, st)) {
    return 0;
  }
  if (hex.len == 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "SHA256HEX is missing; %s", kLineFormat);
  }
  if (!parse_hex(entry->hash, &hex, st)) {
    return 0;
  }
  if (routes.len == 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "empty route list; %s", kLineFormat);
  }
  if (line.len != 0) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "unexpected text after the route list (separate "
                         "routes with commas and no spaces); %s",
                         kLineFormat);
  }
  if (!ss_proxy_route_list_check("route list", routes.data, routes.len, st)) {
    return 0;
  }
  memcpy(entry->name, name.data, name.len);
  entry->name[name.len] = '\0';
  entry->any_route = ss_cbs_equal_str(&routes, "*");
  entry->routes_off = arena->len;
  entry->routes_len = routes.len;
  if (!ss_buf_append(arena, routes.data, routes.len)) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return 1;
}

static int compare_names(const void *a, const void *b) {
  const ss_proxy_token *x = *(const ss_proxy_token *const *)a;
  const ss_proxy_token *y = *(const ss_proxy_token *const *)b;
  int c = strcmp(x->name, y->name);
  return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

static int compare_hashes(const void *a, const void *b) {
  const ss_proxy_token *x = *(const ss_proxy_token *const *)a;
  const ss_proxy_token *y = *(const ss_proxy_token *const *)b;
  // Hashes are public (they are in the file): memcmp is fine here.
  int c = memcmp(x->hash, y->hash, HASH_LEN);
  return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

// check_unique refuses repeated names and hashes, reporting the repeat that
// comes first in the file. Sorting keeps this O(n log n) for 100000 entries.
static int check_unique(const char *source, const ss_proxy_token *entries,
                        size_t num, ss_status *st) {
  if (num < 2) {
    return 1;
  }
  const ss_proxy_token **sorted = calloc(num, sizeof(*sorted));
  if (sorted == NULL) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  for (size_t i = 0; i < num; i++) {
    sorted[i] = &entries[i];
  }
  const ss_proxy_token *dup = NULL, *first = NULL;
  int dup_is_hash = 0;
  for (int pass = 0; pass < 2; pass++) {
    qsort(sorted, num, sizeof(*sorted),
          pass == 0 ? compare_names : compare_hashes);
    for (size_t i = 1; i < num; i++) {
      int same = pass == 0 ? strcmp(sorted[i - 1]->name, sorted[i]->name) == 0
                           : memcmp(sorted[i - 1]->hash, sorted[i]->hash,
                                    HASH_LEN) == 0;
      if (same && (dup == NULL || sorted[i]->line < dup->line)) {
        dup = sorted[i];
        first = sorted[i - 1];
        dup_is_hash = pass == 1;
      }
    }
  }
  free(sorted);
  if (dup == NULL) {
    return 1;
  }
  // |first| is the previous line with the same key: sorting by line within
  // equal keys puts it just before |dup|.
  if (dup_is_hash) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "tokens file %s line %zu: duplicate SHA256HEX (the "
                         "same token as '%s' on line %zu); each entry needs "
                         "its own token",
                         source, dup->line, first->name, first->line);
  }
  return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "tokens file %s line %zu: duplicate name '%s' (first "
                       "on line %zu)",
                       source, dup->line, dup->name, first->line);
}

static void tokens_free(ss_proxy_tokens *tokens) {
  if (tokens == NULL) {
    return;
  }
  free(tokens->entries);
  free(tokens->arena);
  free(tokens);
}

ss_proxy_tokens *ss_proxy_tokens_parse(const char *source, const uint8_t *text,
                                       size_t len, ss_status *st) {
  ss_buf arena;
  ss_buf_init(&arena, 0);
  ss_proxy_tokens *tokens = calloc(1, sizeof(*tokens));
  if (tokens == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto err;
  }
  atomic_init(&tokens->refs, 1);
  size_t cap = 0;
  ss_cbs file, line;
  ss_cbs_init(&file, text, len);
  int more = len > 0;
  for (size_t line_no = 1; next_item(&file, &line, '\n', &more); line_no++) {
    uint8_t c;
    // A '\r' before the newline: files edited on Windows.
    if (line.len > 0) {
      ss_cbs last = line;
      ss_cbs_skip(&last, line.len - 1);
      if (ss_cbs_get_u8(&last, &c) && c == '\r') {
        line.len--;
      }
    }
    ss_cbs rest = line;
    skip_blanks(&rest);
    if (!peek(&rest, &c) || c == '#') {
      continue;
    }
    if (tokens->num_entries == SS_PROXY_TOKENS_MAX_ENTRIES) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "tokens file %s line %zu: more than %d entries", source,
                    line_no, SS_PROXY_TOKENS_MAX_ENTRIES);
      goto err;
    }
    if (tokens->num_entries == cap) {
      size_t new_cap = cap == 0 ? 16 : 2 * cap;
      if (new_cap > SS_PROXY_TOKENS_MAX_ENTRIES) {
        new_cap = SS_PROXY_TOKENS_MAX_ENTRIES;
      }
      ss_proxy_token *grown =
          realloc(tokens->entries, new_cap * sizeof(*grown));
      if (grown == NULL) {
        ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        goto err;
      }
      tokens->entries = grown;
      cap = new_cap;
    }
    ss_proxy_token *entry = &tokens->entries[tokens->num_entries];
    memset(entry, 0, sizeof(*entry));
    entry->line = line_no;
    if (!parse_entry(entry, &arena, line, st)) {
      ss_status_prefix(st, "tokens file %s line %zu: ", source, line_no);
      goto err;
    }
    tokens->num_entries++;
  }
  if (!check_unique(source, tokens->entries, tokens->num_entries, st)) {
    goto err;
  }
  size_t arena_len;
  if (arena.len == 0) {
    ss_buf_cleanup(&arena);
  } else if (!ss_buf_release(&arena, &tokens->arena, &arena_len)) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto err;
  }
  for (size_t i = 0; i < tokens->num_entries; i++) {
    tokens->entries[i].routes =
        (const char *)tokens->arena + tokens->entries[i].routes_off;
  }
  return tokens;

err:
  ss_buf_cleanup(&arena);
  tokens_free(tokens);
  return NULL;
}

ss_proxy_tokens *ss_proxy_tokens_load(const char *path, ss_status *st) {
  ss_buf text;
  ss_buf_init(&text, SS_PROXY_TOKENS_MAX_FILE_BYTES);
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "tokens file %s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  ss_proxy_tokens *tokens = NULL;
  uint8_t chunk[16384];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    if (!ss_buf_append(&text, chunk, n)) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "tokens file %s: larger than %d bytes", path,
                    SS_PROXY_TOKENS_MAX_FILE_BYTES);
      goto done;
    }
  }
  if (ferror(f)) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "tokens file %s: read failed: %s", path, strerror(errno));
    goto done;
  }
  tokens = ss_proxy_tokens_parse(path, text.data, text.len, st);

done:
  fclose(f);
  ss_buf_cleanup(&text);
  return tokens;
}

ss_proxy_tokens *ss_proxy_tokens_ref(ss_proxy_tokens *tokens) {
  if (tokens != NULL) {
    atomic_fetch_add_explicit(&tokens->refs, 1, memory_order_relaxed);
  }
  return tokens;
}

void ss_proxy_tokens_unref(ss_proxy_tokens *tokens) {
  if (tokens != NULL &&
      atomic_fetch_sub_explicit(&tokens->refs, 1, memory_order_acq_rel) == 1) {
    tokens_free(tokens);
  }
}

size_t ss_proxy_tokens_count(const ss_proxy_tokens *tokens) {
  return tokens == NULL ? 0 : tokens->num_entries;
}

const ss_proxy_token *ss_proxy_tokens_get(const ss_proxy_tokens *tokens,
                                          size_t i) {
  if (tokens == NULL || i >= tokens->num_entries) {
    return NULL;
  }
  return &tokens->entries[i];
}

const ss_proxy_token *ss_proxy_tokens_lookup(const ss_proxy_tokens *tokens,
                                             const uint8_t *token,
                                             size_t token_len) {
  if (tokens == NULL) {
    return NULL;
  }
  uint8_t digest[HASH_LEN];
  SHA256(token_len == 0 ? (const uint8_t *)"" : token, token_len, digest);
  // |found| is the matching index + 1, selected with masks so that no branch
  // depends on a comparison. Hashes are unique, so at most one matches.
  size_t found = 0;
  for (size_t i = 0; i < tokens->num_entries; i++) {
    uint64_t diff =
        (uint32_t)CRYPTO_memcmp(tokens->entries[i].hash, digest, HASH_LEN);
    size_t mask = (size_t)0 - (size_t)((diff - 1) >> 63);  // all ones if equal
    found = (found & ~mask) | ((i + 1) & mask);
  }
  OPENSSL_cleanse(digest, sizeof(digest));
  return found == 0 ? NULL : &tokens->entries[found - 1];
}

const char *ss_proxy_token_name(const ss_proxy_token *entry) {
  return entry->name;
}

size_t ss_proxy_token_line(const ss_proxy_token *entry) { return entry->line; }

int ss_proxy_token_allows_route(const ss_proxy_token *entry,
                                const uint8_t *route, size_t route_len) {
  if (entry->any_route) {
    return 1;
  }
  ss_cbs wanted, list, item;
  ss_cbs_init(&wanted, route, route_len);
  ss_cbs_init(&list, entry->routes, entry->routes_len);
  int more = 1;
  while (next_item(&list, &item, ',', &more)) {
    if (cbs_equal(&item, &wanted)) {
      return 1;
    }
  }
  return 0;
}

static int is_b64token_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
         c == '~' || c == '+' || c == '/';
}

static uint8_t ascii_lower(uint8_t c) {
  return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

int ss_proxy_auth_parse_bearer(ss_cbs *out_token, const uint8_t *value,
                               size_t value_len, ss_status *st) {
  static const char kExpected[] = "expected \"Bearer <token>\"";
  ss_cbs_init(out_token, NULL, 0);
  ss_cbs cbs, scheme;
  ss_cbs_init(&cbs, value, value_len);
  if (value_len == 0) {
    return ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                         "credentials are empty; %s", kExpected);
  }
  // Nothing before the first space is shown: a client that left out the
  // scheme sent its token there.
  if (!ss_cbs_get_until(&cbs, &scheme, ' ')) {
    return ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                         "credentials have no scheme; %s", kExpected);
  }
  static const char kBearer[] = "bearer";
  int is_bearer = scheme.len == sizeof(kBearer) - 1;
  uint8_t c;
  for (size_t i = 0; is_bearer && ss_cbs_get_u8(&scheme, &c); i++) {
    is_bearer = ascii_lower(c) == (uint8_t)kBearer[i];
  }
  if (!is_bearer) {
    return ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                         "credentials scheme is not Bearer; %s", kExpected);
  }
  if (cbs.len == 0) {
    return ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                         "bearer token is empty; %s", kExpected);
  }
  if (cbs.len > SS_PROXY_TOKEN_MAX_BYTES) {
    return ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                         "bearer token is longer than %d bytes",
                         SS_PROXY_TOKEN_MAX_BYTES);
  }
  ss_cbs token = cbs;
  int padding = 0;
  for (size_t i = 1; ss_cbs_get_u8(&cbs, &c); i++) {
    if (c == '=' && i > 1) {
      padding = 1;
    } else if (padding || !is_b64token_char(c)) {
      if (i == 1 && c == ' ') {
        return ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                             "more than one space after Bearer; %s", kExpected);
      }
      return ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                           "bearer token character %zu is not allowed (RFC "
                           "6750 b64token: A-Z a-z 0-9 - . _ ~ + / then "
                           "trailing '=')",
                           i);
    }
  }
  *out_token = token;
  return 1;
}

int ss_proxy_tokens_authenticate(const ss_proxy_token **out_entry,
                                 const ss_proxy_tokens *tokens,
                                 const uint8_t *value, size_t value_len,
                                 const uint8_t *route, size_t route_len,
                                 ss_status *st) {
  *out_entry = NULL;
  ss_cbs token;
  if (!ss_proxy_auth_parse_bearer(&token, value, value_len, st)) {
    return 0;
  }
  const ss_proxy_token *entry =
      ss_proxy_tokens_lookup(tokens, token.data, token.len);
  if (entry == NULL) {
    return ss_status_set(st, GRPC_STATUS_UNAUTHENTICATED,
                         "bearer token is not known to this proxy");
  }
  if (!ss_proxy_token_allows_route(entry, route, route_len)) {
    char shown[SS_STATUS_SHOWN_MAX + 4];
    return ss_status_set(
        st, GRPC_STATUS_PERMISSION_DENIED, "token '%s' may not use route '%s'",
        entry->name, ss_status_shown(shown, (const char *)route, route_len));
  }
  *out_entry = entry;
  return 1;
}

int ss_proxy_token_generate(char **out_token, char **out_line, const char *name,
                            const char *routes, ss_status *st) {
  *out_token = NULL;
  *out_line = NULL;
  uint8_t raw[GEN_RANDOM_BYTES];
  uint8_t digest[HASH_LEN];
  char token[sizeof(SS_PROXY_TOKEN_PREFIX) - 1 + 43 + 1];
  char *line = NULL;
  char *copy = NULL;
  const size_t prefix_len = sizeof(SS_PROXY_TOKEN_PREFIX) - 1;
  const size_t token_len = prefix_len + ss_b64url_encoded_len(sizeof(raw));
  if (!ss_proxy_name_check("token name", (const uint8_t *)name, strlen(name),
                           st) ||
      !ss_proxy_route_list_check("route list", (const uint8_t *)routes,
                                 strlen(routes), st)) {
    goto err;
  }
  if (RAND_bytes(raw, (int)sizeof(raw)) != 1) {
    ss_status_set(st, GRPC_STATUS_INTERNAL,
                  "RAND_bytes failed: no random bytes for a new token");
    goto err;
  }
  memcpy(token, SS_PROXY_TOKEN_PREFIX, prefix_len);
  ss_b64url_encode(token + prefix_len, raw, sizeof(raw));
  token[token_len] = '\0';
  SHA256((const uint8_t *)token, token_len, digest);
  size_t line_cap = strlen(name) + 1 + HEX_LEN + 1 + strlen(routes) + 2;
  line = malloc(line_cap);
  copy = malloc(token_len + 1);
  if (line == NULL || copy == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto err;
  }
  size_t pos = (size_t)snprintf(line, line_cap, "%s ", name);
  for (size_t i = 0; i < HASH_LEN; i++) {
    pos += (size_t)snprintf(line + pos, line_cap - pos, "%02x", digest[i]);
  }
  snprintf(line + pos, line_cap - pos, " %s\n", routes);
  memcpy(copy, token, token_len + 1);
  OPENSSL_cleanse(raw, sizeof(raw));
  OPENSSL_cleanse(token, sizeof(token));
  *out_token = copy;
  *out_line = line;
  return 1;

err:
  OPENSSL_cleanse(raw, sizeof(raw));
  OPENSSL_cleanse(token, sizeof(token));
  free(line);
  free(copy);  // never holds the token: it is copied last
  return 0;
}

void ss_proxy_secret_free(char *secret) {
  if (secret == NULL) {
    return;
  }
  OPENSSL_cleanse(secret, strlen(secret));
  free(secret);
}
