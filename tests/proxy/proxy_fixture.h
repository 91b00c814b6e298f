// Test support for the sealstream-proxy tests: the real proxy and a TLS
// server as child processes on loopback (through ss_test_daemon_start), the
// proxy's command line built from a small options struct, tokens files,
// clients that go through the proxy, the proxy's resident memory and its
// metrics page. Test-only; every step returns its error in an ss_status so
// that a cmocka setup can print it.
#ifndef SEALSTREAM_TESTS_PROXY_PROXY_FIXTURE_H
#define SEALSTREAM_TESTS_PROXY_PROXY_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/base/status.h"
#include "sealstream/client.h"
#include "tests/support/server_process.h"
#include "tests/support/test_pki.h"

#ifdef __cplusplus
extern "C" {
#endif

// Binaries every proxy test is given: SERVER DEMO_DATA PROXY (runfiles).
typedef struct ss_proxy_test_binaries {
  const char *server;  // sealstream-server
  const char *demo;    // sealstream-demo-data
  const char *proxy;   // sealstream-proxy
} ss_proxy_test_binaries;

// ss_proxy_test_args reads argv[1..3] into |out| (borrowed from |argv|).
// Returns 1, or 0 after printing the usage to stderr.
int ss_proxy_test_args(int argc, char **argv, ss_proxy_test_binaries *out);

#define SS_TEST_PROXY_MAX_ROUTES 8

typedef struct ss_test_proxy_options {
  const char *binary;  // sealstream-proxy
  // "NAME=HOST:PORT" backends, |num_routes| of them.
  const char *routes[SS_TEST_PROXY_MAX_ROUTES];
  size_t num_routes;
  const char *default_route;  // NULL: none
  // TLS on both hops with this PKI (the proxy presents the server
  // certificate and trusts the CA for backends named "localhost"); NULL:
  // --plaintext and --backend-plaintext.
  const ss_test_pki *pki;
  const char *tokens_file;  // NULL: --no-auth
  const char *metrics;      // --metrics HOST:PORT; NULL: off
  // Limits; 0 leaves the proxy's default.
  int max_streams;
  int max_streams_per_token;
  int max_metadata_bytes;
  int idle_timeout_s;
  int drain_timeout_s;
} ss_test_proxy_options;

// ss_test_proxy_start runs the proxy with |options| on 127.0.0.1, port 0,
// and waits until it serves. Returns it (stop with ss_test_server_stop), or
// NULL with |st| set.
ss_test_server *ss_test_proxy_start(const ss_test_proxy_options *options,
                                    ss_status *st);

// ss_test_tls_server_start runs sealstream-server |binary| on |db_path| with
// TLS from |pki| (server certificate and key). Returns it, or NULL with |st|
// set.
ss_test_server *ss_test_tls_server_start(const char *binary,
                                         const char *db_path,
                                         const ss_test_pki *pki, ss_status *st);

// ss_test_proxy_client makes a client of the proxy at |target| (TLS
// trusting |pki|'s CA and checking "localhost" when |pki| is not NULL)
// sending |route| and |token| (either may be NULL: not sent). Returns it,
// or NULL with |st| set.
ss_client *ss_test_proxy_client(const char *target, const ss_test_pki *pki,
                                const char *route, const char *token,
                                ss_key_type key_type, int compact,
                                ss_status *st);

// ss_test_token makes a new token for |name| on |routes| and appends its
// line to the text |*file_text| (realloc'd; NULL starts a new text).
// Returns the token (free with free()), or NULL with |st| set.
char *ss_test_token(char **file_text, const char *name, const char *routes,
                    ss_status *st);

// ss_test_token_file makes a new token for |name| on |routes| and writes a
// tokens file holding only it to "$TEST_TMPDIR/|file_name|", whose path goes
// to |path| (|path_len| bytes). Returns the token (free with free()), or
// NULL with |st| set.
char *ss_test_token_file(char *path, size_t path_len, const char *file_name,
                         const char *name, const char *routes, ss_status *st);

// A backend for tests with one route and one token, made by
// ss_test_backend_start. Paths and the token are owned by the caller's
// struct; the token is freed by ss_test_backend_stop.
typedef struct ss_test_backend {
  ss_test_server *server;  // plain TCP, on db_path
  char db_path[4096];      // "$TEST_TMPDIR/NAME.db"
  char tokens_path[4200];  // "$TEST_TMPDIR/NAME.tokens": one token
  char route[64];          // "main=127.0.0.1:PORT"
  char *token;             // allowed on route "main"
} ss_test_backend;

// ss_test_backend_start makes a test database of |rows| events (|seed|),
// starts |server_binary| on it with |workers| (0: default), and writes a
// tokens file with one new token for route "main". Returns 1, or 0 after
// printing why to stderr (|b| may hold a server: ss_test_backend_stop it).
int ss_test_backend_start(ss_test_backend *b, const char *name,
                          const ss_proxy_test_binaries *bin, uint64_t rows,
                          uint64_t seed, unsigned workers);

// ss_test_backend_stop stops the server (exit 0 and a clean log expected)
// and frees the token. Returns 1, or 0 after printing why.
int ss_test_backend_stop(ss_test_backend *b);

// ss_test_stop_daemon stops |*daemon| as ss_test_server_stop does (|what|
// names it on stderr when that fails), after setting |*daemon| to NULL.
// Returns 1 if it exited 0 with a clean log (or was NULL), else 0.
int ss_test_stop_daemon(ss_test_server **daemon, const char *what);

// ss_test_sleep_ms sleeps |ms| milliseconds; ss_test_now_s reads a monotonic
// clock in seconds.
void ss_test_sleep_ms(long ms);
double ss_test_now_s(void);

// ss_test_write_file writes |text| to |path| atomically (a temporary file
// renamed over it). Returns 1, or 0 with |st| set.
int ss_test_write_file(const char *path, const char *text, ss_status *st);

// ss_test_wait_log waits up to |timeout_ms| for |needle| to appear in
// |daemon|'s log. Returns 1 once it did, else 0.
int ss_test_wait_log(const ss_test_server *daemon, const char *needle,
                     int timeout_ms);

// ss_test_log_has_line returns 1 if one line of |daemon|'s log (read from
// its stderr, so the daemon must be running) contains both |a| and |b|.
int ss_test_log_has_line(const ss_test_server *daemon, const char *a,
                         const char *b);

// ss_test_log_count_lines returns the number of lines of |daemon|'s log
// that contain both |a| and |b| (0 when the log cannot be read).
int ss_test_log_count_lines(const ss_test_server *daemon, const char *a,
                            const char *b);

// ss_test_wait_log_line waits up to |timeout_ms| for ss_test_log_has_line.
int ss_test_wait_log_line(const ss_test_server *daemon, const char *a,
                          const char *b, int timeout_ms);

// ss_test_rss_kb sets |*out_kb| to the current resident set size (VmRSS,
// KiB) of |pid|. Returns 1, or 0 with |st| set.
int ss_test_rss_kb(pid_t pid, uint64_t *out_kb, ss_status *st);

// ss_test_free_port returns a TCP port on 127.0.0.1 that was free a moment
// ago, or -1.
int ss_test_free_port(void);

// ss_test_http_get fetches http://127.0.0.1:|port||path| and writes the
// whole response, headers included, NUL-terminated, to |out| (|out_len|
// bytes; truncated). Returns 1, or 0 with |st| set.
int ss_test_http_get(int port, const char *path, char *out, size_t out_len,
                     ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_TESTS_PROXY_PROXY_FIXTURE_H
