// The proxy's reloadable settings: its routes with their backend channels,
// the tokens, the limits and the header names, built from an
// ss_proxy_config.
//
// An ss_proxy_settings is immutable and reference-counted: a call holds the
// settings it started with, and a reload publishes new ones without touching
// calls in flight. A backend channel is shared by every route, and every
// later settings, that names the same target with the same TLS files, so a
// reload that does not change a backend keeps its connection.
#ifndef SEALSTREAM_PROXY_SETTINGS_H
#define SEALSTREAM_PROXY_SETTINGS_H

#include <grpc/grpc.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"
#include "proxy/config.h"
#include "proxy/tokens.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ss_proxy_settings ss_proxy_settings;

// One route: where calls naming it go.
typedef struct ss_proxy_backend_route {
  const char *name;       // the route's name
  grpc_channel *channel;  // to the backend; shared, owned by the settings
  // 1 for a plaintext backend: the client's :authority is passed on. A TLS
  // backend gets the channel's own, which its certificate is checked
  // against.
  int pass_host;
} ss_proxy_backend_route;

// ss_proxy_settings_new builds the settings of |config| (read now, not
// kept), reusing the backend channels of |previous| (may be NULL) whose
// target and TLS files are unchanged, and making channels for the others
// (messages of |config->limits.max_message_bytes| at most, retries off,
// compressed messages kept compressed, a fixed flow-control window).
// Returns settings with one reference, or NULL with |st| set:
// INVALID_ARGUMENT naming the route whose TLS files are wrong,
// RESOURCE_EXHAUSTED when memory is short.
ss_proxy_settings *ss_proxy_settings_new(const ss_proxy_config *config,
                                         const ss_proxy_settings *previous,
                                         ss_status *st);

// ss_proxy_settings_ref takes another reference and returns |settings|.
// Thread-safe.
ss_proxy_settings *ss_proxy_settings_ref(ss_proxy_settings *settings);

// ss_proxy_settings_unref drops a reference; the last frees the settings and
// the channels no other settings share. Thread-safe; NULL is ignored.
void ss_proxy_settings_unref(ss_proxy_settings *settings);

// ss_proxy_settings_route returns the route named by the |len| untrusted
// bytes at |name| (compared exactly), borrowed from |settings|, or NULL.
const ss_proxy_backend_route *ss_proxy_settings_route(
    const ss_proxy_settings *settings, const uint8_t *name, size_t len);

// Accessors; everything returned is borrowed from |settings|.
// ss_proxy_settings_default_route: the route for calls naming none, or NULL.
const char *ss_proxy_settings_default_route(const ss_proxy_settings *settings);
// ss_proxy_settings_route_header: the request header naming the route.
const char *ss_proxy_settings_route_header(const ss_proxy_settings *settings);
// ss_proxy_settings_auth_header: the request header with the bearer token.
const char *ss_proxy_settings_auth_header(const ss_proxy_settings *settings);
// ss_proxy_settings_tokens: the tokens, or NULL when clients are not
// authenticated.
const ss_proxy_tokens *ss_proxy_settings_tokens(
    const ss_proxy_settings *settings);
// ss_proxy_settings_limits: the limits.
const ss_proxy_limits *ss_proxy_settings_limits(
    const ss_proxy_settings *settings);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_PROXY_SETTINGS_H
