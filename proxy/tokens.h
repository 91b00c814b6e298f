// Bearer tokens for sealstream-proxy: the token file, constant-time lookup,
// authorization header parsing and new-token generation.
//
// The token file is operator-written but parsed as untrusted bytes. One entry
// per line:
//
//   NAME SHA256HEX ROUTE[,ROUTE...]
//
// NAME and each ROUTE are 1 to 64 characters of [A-Za-z0-9._-]; ROUTE "*"
// (alone) allows every route. SHA256HEX is the SHA-256 of the token as 64
// lowercase hex digits (uppercase is refused, so one token has one
// spelling). Fields are separated by spaces or tabs; a line whose first
// non-blank character is '#' is a comment; blank lines are ignored; a '\r'
// before the newline is accepted. Names and hashes must be unique.
//
// The file holds hashes only. Tokens themselves are secrets: nothing here
// logs them or puts them in a status message, and copies are wiped.
//
// A loaded ss_proxy_tokens is immutable and reference-counted, so the proxy
// can swap in a newly loaded object on reload while calls in flight keep the
// one they started with.
#ifndef SEALSTREAM_PROXY_TOKENS_H
#define SEALSTREAM_PROXY_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// Longest token or route name.
#define SS_PROXY_NAME_MAX 64
// Largest token file read.
#define SS_PROXY_TOKENS_MAX_FILE_BYTES (16 * 1024 * 1024)
// Most entries in one token file.
#define SS_PROXY_TOKENS_MAX_ENTRIES 100000
// Longest bearer token accepted from a client, in bytes.
#define SS_PROXY_TOKEN_MAX_BYTES 4096
// Generated tokens are this prefix plus 43 base64url characters (32 random
// bytes), so a leaked one is easy to recognize in a secret scanner.
#define SS_PROXY_TOKEN_PREFIX "sst_"

typedef struct ss_proxy_tokens ss_proxy_tokens;
// One entry of a token file, borrowed from its ss_proxy_tokens.
typedef struct ss_proxy_token ss_proxy_token;

// ss_proxy_name_check checks that the |len| bytes at |name| are 1 to
// SS_PROXY_NAME_MAX characters of [A-Za-z0-9._-] (the rule for token and
// route names). Returns 1, or 0 with INVALID_ARGUMENT in |st|: a message that
// starts with |what| ("--route", "token name") and shows the name.
int ss_proxy_name_check(const char *what, const uint8_t *name, size_t len,
                        ss_status *st);

// ss_proxy_route_list_check checks the |len| bytes at |list|: "*" alone, or
// ROUTE[,ROUTE...] with each ROUTE passing ss_proxy_name_check and none
// repeated. Returns 1, or 0 with INVALID_ARGUMENT in |st| starting with
// |what|.
int ss_proxy_route_list_check(const char *what, const uint8_t *list, size_t len,
                              ss_status *st);

// ss_proxy_tokens_parse parses |len| bytes of token-file text at |text|;
// |source| names it in messages (the file's path). Returns a new object with
// one reference, or NULL with INVALID_ARGUMENT in |st| naming |source|, the
// line number and what is wrong (RESOURCE_EXHAUSTED when memory is short).
// An empty file (no entries) is valid and matches no token.
ss_proxy_tokens *ss_proxy_tokens_parse(const char *source, const uint8_t *text,
                                       size_t len, ss_status *st);

// ss_proxy_tokens_load reads and parses the token file at |path|. Returns a
// new object with one reference, or NULL with |st| set: INVALID_ARGUMENT
// naming |path| for an unreadable file, one larger than
// SS_PROXY_TOKENS_MAX_FILE_BYTES, or any error of ss_proxy_tokens_parse.
ss_proxy_tokens *ss_proxy_tokens_load(const char *path, ss_status *st);

// ss_proxy_tokens_ref takes another reference to |tokens| and returns it.
// Thread-safe. NULL is returned as is.
ss_proxy_tokens *ss_proxy_tokens_ref(ss_proxy_tokens *tokens);

// ss_proxy_tokens_unref drops a reference; the last one frees the object and
// every entry borrowed from it. Thread-safe; NULL does nothing.
void ss_proxy_tokens_unref(ss_proxy_tokens *tokens);

// ss_proxy_tokens_count returns the number of entries (0 for NULL).
size_t ss_proxy_tokens_count(const ss_proxy_tokens *tokens);

// ss_proxy_tokens_get returns entry |i| in file order, or NULL when |i| is
// out of range. Borrowed from |tokens|.
const ss_proxy_token *ss_proxy_tokens_get(const ss_proxy_tokens *tokens,
                                          size_t i);

// ss_proxy_tokens_lookup hashes the |token_len| bytes of the presented
// |token| and returns the entry with that hash (borrowed from |tokens|), or
// NULL. Every entry is compared with CRYPTO_memcmp and no comparison stops
// early, so the time taken does not depend on which entry matched or how
// much of a hash did. NULL |tokens| matches nothing.
const ss_proxy_token *ss_proxy_tokens_lookup(const ss_proxy_tokens *tokens,
                                             const uint8_t *token,
                                             size_t token_len);

// ss_proxy_token_name returns the entry's NAME (NUL-terminated, borrowed).
const char *ss_proxy_token_name(const ss_proxy_token *entry);

// ss_proxy_token_line returns the line of the token file |entry| came from.
size_t ss_proxy_token_line(const ss_proxy_token *entry);

// ss_proxy_token_allows_route returns 1 if |entry| may use the route named
// by the |route_len| untrusted bytes at |route| (not NUL-terminated), else 0.
// An entry with route "*" allows every name.
int ss_proxy_token_allows_route(const ss_proxy_token *entry,
                                const uint8_t *route, size_t route_len);

// ss_proxy_auth_parse_bearer parses an authorization header value of the
// form "Bearer <token>" (RFC 6750 section 2.1): the scheme is matched
// case-insensitively, exactly one space follows it, and the token is 1 to
// SS_PROXY_TOKEN_MAX_BYTES characters of b64token
// ([A-Za-z0-9-._~+/] then any number of '='), with nothing after it. Returns
// 1 with |*out_token| pointing into |value| (borrowed, no copy to wipe), or
// 0 with UNAUTHENTICATED in |st| saying what is malformed (never showing the
// token) and |*out_token| empty.
int ss_proxy_auth_parse_bearer(ss_cbs *out_token, const uint8_t *value,
                               size_t value_len, ss_status *st);

// ss_proxy_tokens_authenticate checks a client's authorization header value
// for |route|: ss_proxy_auth_parse_bearer, ss_proxy_tokens_lookup, then
// ss_proxy_token_allows_route. Returns 1 with |*out_entry| set (borrowed from
// |tokens|), or 0 with |*out_entry| NULL and |st| set: UNAUTHENTICATED for a
// missing, malformed or unknown token, PERMISSION_DENIED (naming the entry
// and the route) when the token may not use |route|.
int ss_proxy_tokens_authenticate(const ss_proxy_token **out_entry,
                                 const ss_proxy_tokens *tokens,
                                 const uint8_t *value, size_t value_len,
                                 const uint8_t *route, size_t route_len,
                                 ss_status *st);

// ss_proxy_token_generate makes a new token for the entry |name| allowed on
// |routes| ("*" or ROUTE[,ROUTE...]), both checked as in the token file. On
// success sets |*out_token| to the new NUL-terminated token
// (SS_PROXY_TOKEN_PREFIX + 43 base64url characters from 32 RAND_bytes; free
// it with ss_proxy_secret_free) and |*out_line| to the newline-terminated
// line to add to the token file (free with free()) and returns 1. Returns 0
// with |st| set and both outputs NULL on failure.
int ss_proxy_token_generate(char **out_token, char **out_line, const char *name,
                            const char *routes, ss_status *st);

// ss_proxy_secret_free wipes and frees a NUL-terminated secret string.
// NULL does nothing.
void ss_proxy_secret_free(char *secret);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_PROXY_TOKENS_H
