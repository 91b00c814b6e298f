// Configuration of sealstream-proxy: command-line flags and an optional JSON
// file (--config FILE) holding the same settings and per-route backend TLS.
// A flag given on the command line overrides the file's value; a list of
// --route flags replaces the file's "routes" as a whole.
//
// Flags come from the operator; the config file and the tokens file it names
// are parsed as untrusted bytes (size-capped, duplicate JSON members and
// unknown members refused). Nothing here prints or exits: every problem is
// returned in an ss_status (INVALID_ARGUMENT unless noted) whose message
// names the flag or the file and member, so the main program can print it.
//
// Paths are recorded, not opened, except the tokens file, which is loaded
// (proxy/tokens.h). Relative paths are relative to the working directory,
// also inside the config file.
//
// The JSON file (every member optional; flags named the same way fill in):
//
//   {
//     "listen": "0.0.0.0:8443",           "port_file": "/run/p.port",
//     "metrics": "127.0.0.1:9090",
//     "routes": [
//       {"name": "orders", "target": "orders.internal:443",
//        "tls": {"ca": "ca.pem", "cert": "c.pem", "key": "k.pem",
//                "server_name": "orders.internal"}},
//       {"name": "local", "target": "127.0.0.1:50051", "plaintext": true}
//     ],
//     "default_route": "orders",          "route_header": "x-sealstream-route",
//     "tokens": "/etc/sealstream/tokens", "no_auth": false,
//     "auth_header": "authorization",
//     "tls": {"cert": "srv.pem", "key": "srv.key", "client_ca": "ca.pem"},
//     "plaintext": false,
//     "max_streams": 10000, "max_streams_per_token": 1000,
//     "max_message_bytes": 67108864, "max_metadata_bytes": 16384,
//     "idle_timeout": 0, "drain_timeout": 30, "threads": 2,
//     "access_log": true
//   }
//
// A route without "tls" or "plaintext" uses TLS with the system roots.
#ifndef SEALSTREAM_PROXY_CONFIG_H
#define SEALSTREAM_PROXY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"
#include "lib/protocol/names.h"
#include "proxy/tokens.h"

#ifdef __cplusplus
extern "C" {
#endif

// Defaults and ranges (inclusive) of the settings.
#define SS_PROXY_DEFAULT_LISTEN "0.0.0.0:8443"
#define SS_PROXY_DEFAULT_ROUTE_HEADER SS_PROTOCOL_ROUTE_HEADER
#define SS_PROXY_DEFAULT_AUTH_HEADER SS_PROTOCOL_AUTH_HEADER
#define SS_PROXY_DEFAULT_MAX_STREAMS 10000           // 1 to 1000000
#define SS_PROXY_DEFAULT_MAX_STREAMS_PER_TOKEN 1000  // 1 to 1000000
// 64 MiB: a client may ask for 16 MiB batches, and a compact JWE is 4/3 of
// its ciphertext. 1 KiB to 1 GiB.
#define SS_PROXY_DEFAULT_MAX_MESSAGE_BYTES (64 * 1024 * 1024)
#define SS_PROXY_DEFAULT_MAX_METADATA_BYTES (16 * 1024)  // 1 KiB to 1 MiB
#define SS_PROXY_DEFAULT_IDLE_TIMEOUT_S 0                // 0 (off) to 86400
#define SS_PROXY_DEFAULT_DRAIN_TIMEOUT_S 30              // 0 to 3600
#define SS_PROXY_DEFAULT_THREADS 2                       // 1 to 64
// Largest config file read.
#define SS_PROXY_CONFIG_MAX_FILE_BYTES (1024 * 1024)
// Most routes in one configuration.
#define SS_PROXY_MAX_ROUTES 1024

typedef enum ss_proxy_mode {
  SS_PROXY_MODE_SERVE,      // run the proxy with this configuration
  SS_PROXY_MODE_HELP,       // --help: print ss_proxy_config_usage(), exit 0
  SS_PROXY_MODE_GEN_TOKEN,  // gen-token NAME ROUTES: ss_proxy_token_generate
} ss_proxy_mode;

// One backend. Strings are owned by the config; NULL when not set.
typedef struct ss_proxy_route {
  const char *name;             // [A-Za-z0-9._-]{1,64}, unique in the config
  const char *target;           // HOST:PORT, port 1 to 65535
  int plaintext;                // 1: plain TCP to the backend; 0: TLS
  const char *tls_ca_file;      // PEM roots; NULL: the system roots
  const char *tls_cert_file;    // PEM client certificate, with tls_key_file
  const char *tls_key_file;     // PEM private key, with tls_cert_file
  const char *tls_server_name;  // name checked in the backend's certificate;
                                // NULL: the target's host
} ss_proxy_route;

typedef struct ss_proxy_limits {
  int max_streams;            // concurrent streams through the proxy
  int max_streams_per_token;  // concurrent streams of one token entry
  int max_message_bytes;      // largest message in either direction
  int max_metadata_bytes;     // largest request metadata (headers)
  int idle_timeout_s;         // end a stream no message moved on for
                              // this long, either way; 0: never
  int drain_timeout_s;        // on shutdown, let streams finish this long
  int threads;                // completion-queue threads
} ss_proxy_limits;

// What a reload kept from the running configuration (reload_kept bits).
#define SS_PROXY_RELOAD_KEPT_LISTEN 0x1u     // listen_addr
#define SS_PROXY_RELOAD_KEPT_PORT_FILE 0x2u  // port_file
#define SS_PROXY_RELOAD_KEPT_METRICS 0x4u    // metrics_addr
#define SS_PROXY_RELOAD_KEPT_TLS 0x8u        // plaintext and tls_* files
#define SS_PROXY_RELOAD_KEPT_THREADS 0x10u   // limits.threads

typedef struct ss_proxy_config_saved ss_proxy_config_saved;

// A parsed configuration. Made by ss_proxy_config_parse or _reload and
// immutable afterwards: read the fields, never write them. Every pointer is
// owned by the config and lives until ss_proxy_config_free.
typedef struct ss_proxy_config {
  ss_proxy_mode mode;
  // SS_PROXY_MODE_GEN_TOKEN only (checked with the token-file rules);
  // NULL otherwise.
  const char *gen_token_name;
  const char *gen_token_routes;

  // Everything below is set only in SS_PROXY_MODE_SERVE.
  const char *config_file;   // --config; NULL: flags only
  const char *listen_addr;   // HOST:PORT; port 0 picks a free one
  const char *port_file;     // write the bound port here; NULL: none
  const char *metrics_addr;  // Prometheus HOST:PORT; NULL: no metrics

  const ss_proxy_route *routes;  // |num_routes| >= 1, in the order given
  size_t num_routes;
  const ss_proxy_route *default_route;  // into |routes|; NULL: requests
                                        // must name a route
  const char *route_header;  // lowercase metadata key naming the route
  const char *auth_header;   // lowercase metadata key with the credentials

  // Exactly one of |tokens| and |no_auth| is set.
  const char *tokens_file;  // --tokens; NULL when |no_auth|
  ss_proxy_tokens *tokens;  // loaded from |tokens_file|; the config holds a
                            // reference (ss_proxy_tokens_ref to keep it
                            // past ss_proxy_config_free)
  int no_auth;              // 1: --no-auth, clients are not authenticated

  // Client-facing transport: exactly one of TLS (cert and key) and
  // |plaintext|.
  int plaintext;                   // 1: plain TCP for clients
  const char *tls_cert_file;       // PEM certificate chain
  const char *tls_key_file;        // PEM private key
  const char *tls_client_ca_file;  // PEM roots: require client
                                   // certificates; NULL: not required

  ss_proxy_limits limits;
  int access_log;  // 1 (default): one log line per call

  // Set by ss_proxy_config_reload: SS_PROXY_RELOAD_KEPT_* bits for settings
  // that changed in the file or flags but kept their running values, and a
  // sentence saying so for the log (NULL when nothing was kept).
  unsigned reload_kept;
  const char *reload_note;

  ss_proxy_config_saved *saved;  // private: what a reload needs
} ss_proxy_config;

// ss_proxy_config_parse reads the command line |argv| (|argc| entries,
// argv[0] the program name) and, with --config, the JSON file it names, and
// loads the tokens file. Returns a new config (free with
// ss_proxy_config_free) whose |mode| says what to do, or NULL with |st| set:
// INVALID_ARGUMENT naming the flag, or the file, line or member, at fault
// ("unknown flag --foo", "--route 'x': expected NAME=HOST:PORT", "config
// FILE: member \"routes\"[2].target: ..."). Copies what it keeps from
// |argv|.
ss_proxy_config *ss_proxy_config_parse(int argc, char *const *argv,
                                       ss_status *st);

// ss_proxy_config_reload parses the same command line as |current| again,
// re-reading its config file and tokens file. Returns a new config, or NULL
// with |st| set (message starting "reload: "); |current| is never changed
// and stays valid either way. Settings that need a restart (listen address,
// port file, metrics address, client TLS files and plaintext, threads) keep
// |current|'s values; the new config's |reload_kept| and |reload_note| say
// which ones differed. FAILED_PRECONDITION unless |current| is in
// SS_PROXY_MODE_SERVE.
ss_proxy_config *ss_proxy_config_reload(const ss_proxy_config *current,
                                        ss_status *st);

// ss_proxy_config_free frees |config| and drops its tokens reference. NULL
// does nothing.
void ss_proxy_config_free(ss_proxy_config *config);

// ss_proxy_config_find_route returns the route named by the |name_len|
// untrusted bytes at |name| (no NUL needed; compared exactly), borrowed from
// |config|, or NULL.
const ss_proxy_route *ss_proxy_config_find_route(const ss_proxy_config *config,
                                                 const uint8_t *name,
                                                 size_t name_len);

// ss_proxy_config_usage returns the --help text: every flag with its
// default, and the gen-token subcommand. Static; ends with a newline.
const char *ss_proxy_config_usage(void);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_PROXY_CONFIG_H
