// Test support: the real sealstream-server binary as a child process on
// loopback, for end-to-end tests. The server is started on port 0, found
// through its --port-file, and stopped the way an operator stops it
// (SIGTERM), which must drain and exit 0; under AddressSanitizer its own
// leak report at exit makes the stop fail.
#ifndef SEALSTREAM_TESTS_SUPPORT_SERVER_PROCESS_H
#define SEALSTREAM_TESTS_SUPPORT_SERVER_PROCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ss_test_server_options {
  const char *binary;         // path of sealstream-server
  const char *db_path;        // SQLite file to serve
  int allow_plaintext;        // 1: pass --allow-plaintext
  unsigned workers;           // --workers; 0: the server's default
  unsigned drain_timeout_s;   // --drain-timeout; 0: the server's default
  unsigned max_streams;       // --max-streams; 0: the server's default
  unsigned max_query_time_s;  // --max-query-time; 0: the server's default
} ss_test_server_options;

typedef struct ss_test_server ss_test_server;

// ss_test_server_start runs the server with |options| (copied), its stdout
// and stderr going to a log file in the test's temporary directory, and
// waits until it has written its port. The child is killed if the test
// process dies. Returns the server, or NULL with |st| set (the log is
// printed to stderr when the child exited early).
ss_test_server *ss_test_server_start(const ss_test_server_options *options,
                                     ss_status *st);

// ss_test_daemon_start runs the daemon |argv| (argv[0] the binary's path,
// NULL-terminated, borrowed) with "--port-file FILE" appended, like
// ss_test_server_start: |name| names it in file names and messages. Returns
// it (an ss_test_server: every function below applies), or NULL with |st|
// set.
ss_test_server *ss_test_daemon_start(const char *name, char *const argv[],
                                     ss_status *st);

// ss_test_server_target returns "127.0.0.1:PORT". Borrowed from |server|.
const char *ss_test_server_target(const ss_test_server *server);

// ss_test_server_pid returns the server's process id.
pid_t ss_test_server_pid(const ss_test_server *server);

// ss_test_server_port returns the port it listens on.
int ss_test_server_port(const ss_test_server *server);

// ss_test_server_log_contains returns 1 if the server's log so far contains
// |needle|.
int ss_test_server_log_contains(const ss_test_server *server,
                                const char *needle);

// ss_test_server_stop sends SIGTERM, waits up to |timeout_s| seconds for the
// server to exit, and frees |server| (also on failure; a server still
// running at the timeout is killed). Returns 1 if it exited with status 0 and
// its log holds no sanitizer report; else 0 with |st| set and the log
// printed to stderr. NULL is ignored (returns 1).
int ss_test_server_stop(ss_test_server *server, unsigned timeout_s,
                        ss_status *st);

// ss_test_server_kill kills the server with SIGKILL and frees it, for
// teardown after a failed test. NULL is ignored.
void ss_test_server_kill(ss_test_server *server);

// ss_test_tmp_path writes "$TEST_TMPDIR/|name|" (or /tmp when unset) to
// |out|. Returns 1, or 0 with |st| set when it does not fit.
int ss_test_tmp_path(char *out, size_t out_len, const char *name,
                     ss_status *st);

// ss_test_run_program runs |argv| (argv[0] is the path) to completion with
// its output appended to the file |log_path|. Returns 1 if it exited 0; else
// 0 with |st| set and the log printed to stderr.
int ss_test_run_program(char *const argv[], const char *log_path,
                        ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_TESTS_SUPPORT_SERVER_PROCESS_H
