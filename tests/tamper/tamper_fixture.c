// The server-behind-a-tamper-proxy fixture of the tamper tests (see
// tamper_fixture.h), built from the end-to-end setup steps.
#include "tests/tamper/tamper_fixture.h"

#include <stdio.h>

#include "lib/base/status.h"
#include "tests/support/fixture.h"

int ss_tamper_fixture_start(char *db_path, size_t db_path_len,
                            const char *db_name, const char *server_binary,
                            const char *demo_binary, uint64_t rows,
                            uint64_t seed, ss_test_server **out_server,
                            ss_tamper_proxy **out_proxy) {
  *out_proxy = NULL;
  ss_test_server_options options = {.binary = server_binary,
                                    .allow_plaintext = 1};
  *out_server = ss_test_fixture_start(db_path, db_path_len, db_name,
                                      demo_binary, rows, seed, &options);
  if (*out_server == NULL) {
    return 0;
  }
  ss_status st;
  ss_status_init(&st);
  *out_proxy = ss_tamper_proxy_new(ss_test_server_target(*out_server), &st);
  if (*out_proxy == NULL) {
    fprintf(stderr, "proxy: %s\n", st.msg);
    return 0;
  }
  return 1;
}

void ss_tamper_fixture_free(ss_test_server **server, ss_tamper_proxy **proxy) {
  ss_tamper_proxy_free(*proxy);
  *proxy = NULL;
  ss_test_server_kill(*server);
  *server = NULL;
}
