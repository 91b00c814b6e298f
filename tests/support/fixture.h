// Test support: the steps every end-to-end test's setup takes (a test
// database, a server on it, a client of it), each reporting its own failure
// on stderr, since a cmocka setup can only return failure, not say why.
#ifndef SEALSTREAM_TESTS_SUPPORT_FIXTURE_H
#define SEALSTREAM_TESTS_SUPPORT_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"
#include "sealstream/client.h"
#include "tests/support/server_process.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss_test_fixture_args reads the command line every end-to-end test takes,
// SERVER_BINARY DEMO_DATA_BINARY, into |*out_server_binary| and
// |*out_demo_binary| (borrowed from |argv|). Returns 1, or 0 after printing
// the usage to stderr.
int ss_test_fixture_args(int argc, char **argv, const char **out_server_binary,
                         const char **out_demo_binary);

// ss_test_fixture_db writes the path of the file |name| in the test's
// temporary directory to |db_path| (|db_path_len| bytes) and creates a test
// database there with ss_test_db_create(|demo_binary|, |rows|, |seed|).
// Returns 1, or 0 after printing why to stderr.
int ss_test_fixture_db(char *db_path, size_t db_path_len, const char *name,
                       const char *demo_binary, uint64_t rows, uint64_t seed);

// ss_test_fixture_server starts a server with |options| (see
// ss_test_server_start). Returns it, or NULL after printing why to stderr.
ss_test_server *ss_test_fixture_server(const ss_test_server_options *options);

// ss_test_fixture_start is ss_test_fixture_db followed by
// ss_test_fixture_server with |options| (copied; its db_path is replaced by
// |db_path|). Returns the server, or NULL after printing why to stderr.
ss_test_server *ss_test_fixture_start(char *db_path, size_t db_path_len,
                                      const char *name, const char *demo_binary,
                                      uint64_t rows, uint64_t seed,
                                      const ss_test_server_options *options);

// ss_test_fixture_stop stops |*server| as ss_test_server_stop does, allowing
// it 60 s, and sets |*server| to NULL first, so that a group teardown run
// after a failed stop does not kill it again. Returns 1, or 0 with |st| set.
int ss_test_fixture_stop(ss_test_server **server, ss_status *st);

// ss_test_fixture_client makes a client of |target| (borrowed; copied) with
// default options and, when |compact| is 1, compact serialization. Returns
// it (free with ss_client_free), or NULL after printing why to stderr.
ss_client *ss_test_fixture_client(const char *target, int compact);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_TESTS_SUPPORT_FIXTURE_H
