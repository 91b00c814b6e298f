// Setup steps shared by the end-to-end tests (see fixture.h). Each wraps a
// support or client call and prints its error, prefixed by the step.
#include "tests/support/fixture.h"

#include <stdio.h>

#include "lib/base/status.h"
#include "tests/support/test_db.h"

int ss_test_fixture_args(int argc, char **argv, const char **out_server_binary,
                         const char **out_demo_binary) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SERVER_BINARY DEMO_DATA_BINARY\n", argv[0]);
    return 0;
  }
  *out_server_binary = argv[1];
  *out_demo_binary = argv[2];
  return 1;
}

int ss_test_fixture_db(char *db_path, size_t db_path_len, const char *name,
                       const char *demo_binary, uint64_t rows, uint64_t seed) {
  ss_status st;
  ss_status_init(&st);
  if (!ss_test_tmp_path(db_path, db_path_len, name, &st) ||
      !ss_test_db_create(db_path, demo_binary, rows, seed, &st)) {
    fprintf(stderr, "test database: %s\n", st.msg);
    return 0;
  }
  return 1;
}

ss_test_server *ss_test_fixture_server(const ss_test_server_options *options) {
  ss_status st;
  ss_status_init(&st);
  ss_test_server *server = ss_test_server_start(options, &st);
  if (server == NULL) {
    fprintf(stderr, "server: %s\n", st.msg);
  }
  return server;
}

ss_test_server *ss_test_fixture_start(char *db_path, size_t db_path_len,
                                      const char *name, const char *demo_binary,
                                      uint64_t rows, uint64_t seed,
                                      const ss_test_server_options *options) {
  if (!ss_test_fixture_db(db_path, db_path_len, name, demo_binary, rows,
                          seed)) {
    return NULL;
  }
  ss_test_server_options on_db = *options;
  on_db.db_path = db_path;
  return ss_test_fixture_server(&on_db);
}

int ss_test_fixture_stop(ss_test_server **server, ss_status *st) {
  ss_test_server *stopping = *server;
  *server = NULL;
  return ss_test_server_stop(stopping, 60, st);
}

ss_client *ss_test_fixture_client(const char *target, int compact) {
  ss_client_options options;
  ss_client_options_init(&options);
  options.target = target;
  options.compact = compact;
  ss_error err;
  ss_client *client = ss_client_new(&options, &err);
  if (client == NULL) {
    fprintf(stderr, "client: %s: %s\n", ss_error_code_name(err.code),
            err.message);
  }
  return client;
}
