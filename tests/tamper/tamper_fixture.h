// Test support for the tamper tests: the real server on a test database with
// a tamper proxy in front of it, started and torn down in one place for
// tamper_proxy_test and tamper_test.
#ifndef SEALSTREAM_TESTS_TAMPER_TAMPER_FIXTURE_H
#define SEALSTREAM_TESTS_TAMPER_TAMPER_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "tests/support/server_process.h"
#include "tests/tamper/tamper_proxy.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss_tamper_fixture_start makes the test database |db_name| (|rows| event
// rows from |seed|; its path goes to |db_path|, |db_path_len| bytes), starts
// |server_binary| on it with plaintext allowed, so that a real plaintext
// stream can be recorded, and a tamper proxy in front of it. Returns 1 with
// |*out_server| and |*out_proxy| set, or 0 after printing why to stderr;
// what was started is still in them, for ss_tamper_fixture_free.
int ss_tamper_fixture_start(char *db_path, size_t db_path_len,
                            const char *db_name, const char *server_binary,
                            const char *demo_binary, uint64_t rows,
                            uint64_t seed, ss_test_server **out_server,
                            ss_tamper_proxy **out_proxy);

// ss_tamper_fixture_free frees |*proxy| and kills |*server| (for a teardown
// after a failed test) and sets both to NULL. NULLs are ignored.
void ss_tamper_fixture_free(ss_test_server **server, ss_tamper_proxy **proxy);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_TESTS_TAMPER_TAMPER_FIXTURE_H
