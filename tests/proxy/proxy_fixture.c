// Support for the proxy tests (see proxy_fixture.h). The daemons' logs,
// /proc files and the metrics page are read as untrusted text.
#include "tests/proxy/proxy_fixture.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxy/tokens.h"
#include "tests/support/fixture.h"

#define MAX_ARGS 64

int ss_proxy_test_args(int argc, char **argv, ss_proxy_test_binaries *out) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s SERVER_BINARY DEMO_DATA_BINARY PROXY_BINARY\n",
            argv[0]);
    return 0;
  }
  out->server = argv[1];
  out->demo = argv[2];
  out->proxy = argv[3];
  return 1;
}

// add_int appends "FLAG N" to |argv| when |value| is not 0, the number
// written to |buf| (16 bytes).
static void add_int(char **argv, size_t *argc, const char *flag, int value,
                    char *buf) {
  if (value == 0) {
    return;
  }
  snprintf(buf, 16, "%d", value);
  argv[(*argc)++] = (char *)flag;
  argv[(*argc)++] = buf;
}

ss_test_server *ss_test_proxy_start(const ss_test_proxy_options *options,
                                    ss_status *st) {
  char *argv[MAX_ARGS];
  char numbers[5][16];
  size_t argc = 0;
  if (options->num_routes > SS_TEST_PROXY_MAX_ROUTES) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "too many routes");
    return NULL;
  }
  argv[argc++] = (char *)options->binary;
  argv[argc++] = "--listen";
  argv[argc++] = "127.0.0.1:0";
  for (size_t i = 0; i < options->num_routes; i++) {
    argv[argc++] = "--route";
    argv[argc++] = (char *)options->routes[i];
  }
  if (options->default_route != NULL) {
    argv[argc++] = "--default-route";
    argv[argc++] = (char *)options->default_route;
  }
  if (options->pki != NULL) {
    argv[argc++] = "--tls-cert";
    argv[argc++] =
        (char *)ss_test_pki_path(options->pki, SS_TEST_PKI_SERVER_CERT);
    argv[argc++] = "--tls-key";
    argv[argc++] =
        (char *)ss_test_pki_path(options->pki, SS_TEST_PKI_SERVER_KEY);
    argv[argc++] = "--backend-ca";
    argv[argc++] = (char *)ss_test_pki_path(options->pki, SS_TEST_PKI_CA_CERT);
    argv[argc++] = "--backend-server-name";
    argv[argc++] = "localhost";
  } else {
    argv[argc++] = "--plaintext";
    argv[argc++] = "--backend-plaintext";
  }
  if (options->tokens_file != NULL) {
    argv[argc++] = "--tokens";
    argv[argc++] = (char *)options->tokens_file;
  } else {
    argv[argc++] = "--no-auth";
  }
  if (options->metrics != NULL) {
    argv[argc++] = "--metrics";
    argv[argc++] = (char *)options->metrics;
  }
  add_int(argv, &argc, "--max-streams", options->max_streams, numbers[0]);
  add_int(argv, &argc, "--max-streams-per-token",
          options->max_streams_per_token, numbers[1]);
  add_int(argv, &argc, "--max-metadata-bytes", options->max_metadata_bytes,
          numbers[2]);
  add_int(argv, &argc, "--idle-timeout", options->idle_timeout_s, numbers[3]);
  add_int(argv, &argc, "--drain-timeout", options->drain_timeout_s, numbers[4]);
  argv[argc] = NULL;
  return ss_test_daemon_start("sealstream-proxy", argv, st);
}

ss_test_server *ss_test_tls_server_start(const char *binary,
                                         const char *db_path,
                                         const ss_test_pki *pki,
                                         ss_status *st) {
  char *argv[] = {
      (char *)binary,
      "--db",
      (char *)db_path,
      "--listen",
      "127.0.0.1:0",
      "--tls-cert",
      (char *)ss_test_pki_path(pki, SS_TEST_PKI_SERVER_CERT),
      "--tls-key",
      (char *)ss_test_pki_path(pki, SS_TEST_PKI_SERVER_KEY),
      "--drain-timeout",
      "5",
      NULL,
  };
  return ss_test_daemon_start("sealstream-server", argv, st);
}

ss_client *ss_test_proxy_client(const char *target, const ss_test_pki *pki,
                                const char *route, const char *token,
                                ss_key_type key_type, int compact,
                                ss_status *st) {
  ss_client_options options;
  ss_client_options_init(&options);
  options.target = target;
  options.key_type = key_type;
  options.compact = compact;
  options.route = route;
  options.auth_token = token;
  if (pki != NULL) {
    options.tls_ca_file = ss_test_pki_path(pki, SS_TEST_PKI_CA_CERT);
    options.tls_server_name = "localhost";
  }
  ss_error err;
  ss_client *client = ss_client_new(&options, &err);
  if (client == NULL) {
    ss_status_set(st, (grpc_status_code)err.code, "client of %s: %s", target,
                  err.message);
  }
  return client;
}

char *ss_test_token(char **file_text, const char *name, const char *routes,
                    ss_status *st) {
  char *token = NULL;
  char *line = NULL;
  if (!ss_proxy_token_generate(&token, &line, name, routes, st)) {
    return NULL;
  }
  size_t old_len = *file_text != NULL ? strlen(*file_text) : 0;
  char *grown = realloc(*file_text, old_len + strlen(line) + 1);
  if (grown == NULL) {
    free(line);
    ss_proxy_secret_free(token);
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  memcpy(grown + old_len, line, strlen(line) + 1);
  *file_text = grown;
  free(line);
  // A plain heap copy, so that callers free it like any other string.
  char *copy = strdup(token);
  ss_proxy_secret_free(token);
  if (copy == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  return copy;
}

char *ss_test_token_file(char *path, size_t path_len, const char *file_name,
                         const char *name, const char *routes, ss_status *st) {
  char *text = NULL;
  char *token = ss_test_token(&text, name, routes, st);
  if (token != NULL && (!ss_test_tmp_path(path, path_len, file_name, st) ||
                        !ss_test_write_file(path, text, st))) {
    free(token);
    token = NULL;
  }
  free(text);
  return token;
}

int ss_test_stop_daemon(ss_test_server **daemon, const char *what) {
  ss_test_server *stopping = *daemon;
  *daemon = NULL;
  ss_status st;
  if (!ss_test_server_stop(stopping, 60, &st)) {
    fprintf(stderr, "%s stop: %s\n", what, st.msg);
    return 0;
  }
  return 1;
}

int ss_test_backend_start(ss_test_backend *b, const char *name,
                          const ss_proxy_test_binaries *bin, uint64_t rows,
                          uint64_t seed, unsigned workers) {
  char file[128];
  snprintf(file, sizeof(file), "%s.db", name);
  ss_test_server_options options = {.binary = bin->server, .workers = workers};
  b->server = ss_test_fixture_start(b->db_path, sizeof(b->db_path), file,
                                    bin->demo, rows, seed, &options);
  if (b->server == NULL) {
    return 0;
  }
  snprintf(b->route, sizeof(b->route), "main=%s",
           ss_test_server_target(b->server));
  ss_status st;
  ss_status_init(&st);
  snprintf(file, sizeof(file), "%s.tokens", name);
  b->token = ss_test_token_file(b->tokens_path, sizeof(b->tokens_path), file,
                                name, "main", &st);
  if (b->token == NULL) {
    fprintf(stderr, "tokens: %s\n", st.msg);
    return 0;
  }
  return 1;
}

int ss_test_backend_stop(ss_test_backend *b) {
  free(b->token);
  b->token = NULL;
  return ss_test_stop_daemon(&b->server, "server");
}

void ss_test_sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

double ss_test_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ss_test_write_file(const char *path, const char *text, ss_status *st) {
  char tmp[4200];
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (f == NULL) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "cannot write %s", tmp);
  }
  size_t len = strlen(text);
  int ok = fwrite(text, 1, len, f) == len;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "cannot write %s", path);
  }
  return 1;
}

int ss_test_wait_log(const ss_test_server *daemon, const char *needle,
                     int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 20) {
    if (ss_test_server_log_contains(daemon, needle)) {
      return 1;
    }
    ss_test_sleep_ms(20);
  }
  return 0;
}

int ss_test_log_has_line(const ss_test_server *daemon, const char *a,
                         const char *b) {
  return ss_test_log_count_lines(daemon, a, b) > 0;
}

int ss_test_log_count_lines(const ss_test_server *daemon, const char *a,
                            const char *b) {
  // The daemon's stderr is its log file; opening it through /proc reads it
  // from the start.
  char path[64];
  snprintf(path, sizeof(path), "/proc/%ld/fd/2",
           (long)ss_test_server_pid(daemon));
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return 0;
  }
  char line[4096];
  int count = 0;
  while (fgets(line, sizeof(line), f) != NULL) {
    count += strstr(line, a) != NULL && strstr(line, b) != NULL;
  }
  fclose(f);
  return count;
}

int ss_test_wait_log_line(const ss_test_server *daemon, const char *a,
                          const char *b, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 20) {
    if (ss_test_log_has_line(daemon, a, b)) {
      return 1;
    }
    ss_test_sleep_ms(20);
  }
  return 0;
}

int ss_test_rss_kb(pid_t pid, uint64_t *out_kb, ss_status *st) {
  *out_kb = 0;
  char path[64];
  snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return ss_status_set(st, GRPC_STATUS_NOT_FOUND, "cannot open %s", path);
  }
  char line[256];
  int found = 0;
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, "VmRSS:", 6) == 0) {
      found = sscanf(line + 6, "%" SCNu64, out_kb) == 1;
      break;
    }
  }
  fclose(f);
  if (!found) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "%s has no VmRSS line",
                         path);
  }
  return 1;
}

int ss_test_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return -1;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
      getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

int ss_test_http_get(int port, const char *path, char *out, size_t out_len,
                     ss_status *st) {
  out[0] = '\0';
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "socket failed");
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons((uint16_t)port);
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    close(fd);
    return ss_status_set(st, GRPC_STATUS_UNAVAILABLE,
                         "cannot connect to 127.0.0.1:%d", port);
  }
  char request[512];
  int n = snprintf(request, sizeof(request),
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Connection: close\r\n\r\n",
                   path);
  if (send(fd, request, (size_t)n, 0) != n) {
    close(fd);
    return ss_status_set(st, GRPC_STATUS_UNAVAILABLE, "send failed");
  }
  size_t got = 0;
  for (;;) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 10000) != 1) {
      close(fd);
      return ss_status_set(st, GRPC_STATUS_DEADLINE_EXCEEDED,
                           "GET %s: no answer within 10 s", path);
    }
    if (got + 1 >= out_len) {
      break;
    }
    ssize_t r = recv(fd, out + got, out_len - 1 - got, 0);
    if (r <= 0) {
      break;
    }
    got += (size_t)r;
  }
  out[got] = '\0';
  close(fd);
  return 1;
}
