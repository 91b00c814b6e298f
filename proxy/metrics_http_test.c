#include "proxy/metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

// Longest a test waits for the server; far above any normal answer, so a
// hang fails the test instead of blocking it.
#define WAIT_MS 10000

static const char kMetricsText[] =
    "# HELP sealstream_proxy_streams_total Streams.\n"
    "# TYPE sealstream_proxy_streams_total counter\n"
    "sealstream_proxy_streams_total 42\n";

typedef struct fixture {
  ss_metrics_http *http;  // NULL once a test stopped it
  atomic_int renders;     // calls of render_text
  int fail_render;        // render_text returns 0
} fixture;

static int render_text(void *ctx, ss_buf *out) {
  fixture *f = ctx;
  atomic_fetch_add(&f->renders, 1);
  return !f->fail_render && ss_buf_append_str(out, kMetricsText);
}

static int setup_server(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  if (f == NULL) {
    return -1;
  }
  ss_status st;
  ss_status_init(&st);
  f->http = ss_metrics_http_start("127.0.0.1:0", render_text, f, &st);
  *state = f;
  return f->http == NULL ? -1 : 0;
}

static int teardown_server(void **state) {
  fixture *f = *state;
  ss_metrics_http_stop(f->http);
  free(f);
  return 0;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_to(int family, const char *ip, int port) {
  struct sockaddr_storage addr;
  memset(&addr, 0, sizeof(addr));
  socklen_t len;
  if (family == AF_INET6) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    len = sizeof(*sin6);
  } else {
    struct sockaddr_in *sin = (struct sockaddr_in *)&addr;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    len = sizeof(*sin);
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  assert_int_equal(connect(fd, (struct sockaddr *)&addr, len), 0);
  return fd;
}

static int connect_local(const fixture *f) {
  return connect_to(AF_INET, "127.0.0.1", ss_metrics_http_port(f->http));
}

static void send_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    assert_true(n > 0);
    p += n;
    len -= (size_t)n;
  }
}

// read_response reads from |fd| until the server closes it and returns what
// came, NUL-terminated, to free.
static char *read_response(int fd) {
  size_t cap = 1 << 16, len = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, WAIT_MS), 1);
    assert_true(len + 1 < cap);
    ssize_t n = recv(fd, text + len, cap - 1 - len, 0);
    if (n < 0 && errno == ECONNRESET) {
      break;
    }
    assert_true(n >= 0);
    if (n == 0) {
      break;
    }
    len += (size_t)n;
  }
  text[len] = '\0';
  return text;
}

// fetch sends |len| bytes of |request| on a new connection and returns the
// whole response, to free.
static char *fetch_bytes(const fixture *f, const char *request, size_t len) {
  int fd = connect_local(f);
  send_all(fd, request, len);
  char *response = read_response(fd);
  close(fd);
  return response;
}

static char *fetch(const fixture *f, const char *request) {
  return fetch_bytes(f, request, strlen(request));
}

static int status_of(const char *response) {
  int status = 0;
  if (sscanf(response, "HTTP/1.1 %d ", &status) != 1) {
    return 0;
  }
  return status;
}

static const char *body_of(const char *response) {
  const char *end = strstr(response, "\r\n\r\n");
  assert_non_null(end);
  return end + 4;
}

static void assert_status(const fixture *f, const char *request, int status) {
  char *response = fetch(f, request);
  if (status_of(response) != status) {
    fail_msg("request \"%s\": expected %d, got \"%.40s\"", request, status,
             response);
  }
  assert_non_null(strstr(response, "\r\nConnection: close\r\n"));
  free(response);
}

static void assert_all_status(const fixture *f, const char *const *requests,
                              size_t num_requests, int status) {
  for (size_t i = 0; i < num_requests; i++) {
    assert_status(f, requests[i], status);
  }
  assert_int_equal(atomic_load(&f->renders), 0);
}

static void test_http_get_metrics_returns_the_rendered_text(void **state) {
  fixture *f = *state;
  char *response = fetch(f,
                         "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                         "Accept: text/plain\r\n\r\n");
  assert_int_equal(status_of(response), 200);
  assert_non_null(
      strstr(response,
             "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  char length[64];
  snprintf(length, sizeof(length), "\r\nContent-Length: %zu\r\n",
           strlen(kMetricsText));
  assert_non_null(strstr(response, length));
  assert_non_null(strstr(response, "\r\nConnection: close\r\n"));
  assert_string_equal(body_of(response), kMetricsText);
  free(response);
  assert_int_equal(atomic_load(&f->renders), 1);

  // A query string is ignored; HTTP/1.0 and bare LF line ends are accepted.
  response = fetch(f, "GET /metrics?name[]=x HTTP/1.0\n\n");
  assert_int_equal(status_of(response), 200);
  assert_string_equal(body_of(response), kMetricsText);
  free(response);
}

static void test_http_healthz_answers_ok(void **state) {
  fixture *f = *state;
  char *response = fetch(f, "GET /healthz HTTP/1.1\r\n\r\n");
  assert_int_equal(status_of(response), 200);
  assert_string_equal(body_of(response), "ok\n");
  free(response);
  assert_int_equal(atomic_load(&f->renders), 0);
}

static void test_http_unknown_paths_are_404(void **state) {
  static const char *const kRequests[] = {
      "GET / HTTP/1.1\r\n\r\n",
      "GET /metricsx HTTP/1.1\r\n\r\n",
      "GET /metrics/ HTTP/1.1\r\n\r\n",
      "GET /METRICS HTTP/1.1\r\n\r\n",
  };
  assert_all_status(*state, kRequests, sizeof(kRequests) / sizeof(kRequests[0]),
                    404);
}

static void test_http_other_methods_are_405(void **state) {
  fixture *f = *state;
  static const char *const kRequests[] = {
      "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
      "HEAD /metrics HTTP/1.1\r\n\r\n",
      "DELETE /nope HTTP/1.1\r\n\r\n",
      "get /metrics HTTP/1.1\r\n\r\n",
  };
  assert_all_status(f, kRequests, sizeof(kRequests) / sizeof(kRequests[0]),
                    405);
  char *response = fetch(f, kRequests[0]);
  assert_non_null(strstr(response, "\r\nAllow: GET\r\n"));
  free(response);
}

static void test_http_malformed_requests_are_400(void **state) {
  fixture *f = *state;
  static const char *const kRequests[] = {
      "\r\n\r\n",
      "GET\r\n\r\n",
      "GET /metrics\r\n\r\n",
      "GET /metrics HTTP/2.0\r\n\r\n",
      "GET /metrics HTTP/1.1 \r\n\r\n",
      "GET  /metrics HTTP/1.1\r\n\r\n",
      "GET metrics HTTP/1.1\r\n\r\n",
      "GET /met rics HTTP/1.1\r\n\r\n",
      "GET /\x01 HTTP/1.1\r\n\r\n",
      "GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
      "G(T /metrics HTTP/1.1\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost localhost\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
      "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nX: a\x7f\r\n\r\n",
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
  };
  assert_all_status(f, kRequests, sizeof(kRequests) / sizeof(kRequests[0]),
                    400);
  static const char kNul[] = "GET /metrics HTTP/1.1\r\nX: a\0b\r\n\r\n";
  char *response = fetch_bytes(f, kNul, sizeof(kNul) - 1);
  assert_int_equal(status_of(response), 400);
  free(response);

  // A head cut short by the client closing its side.
  int fd = connect_local(f);
  send_all(fd, "GET /metrics HTTP/1.1\r\n", 23);
  assert_int_equal(shutdown(fd, SHUT_WR), 0);
  response = read_response(fd);
  close(fd);
  assert_int_equal(status_of(response), 400);
  free(response);
  assert_int_equal(atomic_load(&f->renders), 0);
}

// head_with_padding returns a GET /metrics head of exactly |len| bytes.
static char *head_with_padding(size_t len) {
  static const char kStart[] = "GET /metrics HTTP/1.1\r\nX-Pad: ";
  static const char kEnd[] = "\r\n\r\n";
  size_t fixed = sizeof(kStart) - 1 + sizeof(kEnd) - 1;
  assert_true(len > fixed);
  char *head = malloc(len + 1);
  assert_non_null(head);
  memcpy(head, kStart, sizeof(kStart) - 1);
  memset(head + sizeof(kStart) - 1, 'a', len - fixed);
  memcpy(head + len - (sizeof(kEnd) - 1), kEnd, sizeof(kEnd));
  return head;
}

static void test_http_request_head_over_the_limit_is_431(void **state) {
  fixture *f = *state;
  char *head = head_with_padding(SS_METRICS_HTTP_MAX_HEAD);
  char *response = fetch(f, head);
  assert_int_equal(status_of(response), 200);
  free(response);
  free(head);

  head = head_with_padding(SS_METRICS_HTTP_MAX_HEAD + 1);
  response = fetch(f, head);
  assert_int_equal(status_of(response), 431);
  free(response);
  free(head);

  // Far more than the limit, still being sent when the server answers.
  head = head_with_padding(256 * 1024);
  response = fetch(f, head);
  assert_int_equal(status_of(response), 431);
  free(response);
  free(head);
  assert_int_equal(atomic_load(&f->renders), 1);
}

static void test_http_request_split_across_writes_is_served(void **state) {
  fixture *f = *state;
  static const char kRequest[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  int fd = connect_local(f);
  for (size_t i = 0; i < sizeof(kRequest) - 1; i++) {
    send_all(fd, kRequest + i, 1);
  }
  char *response = read_response(fd);
  close(fd);
  assert_int_equal(status_of(response), 200);
  free(response);
}

static void test_http_silent_client_does_not_block_another(void **state) {
  fixture *f = *state;
  int silent = connect_local(f);
  char *response = fetch(f, "GET /metrics HTTP/1.1\r\n\r\n");
  assert_int_equal(status_of(response), 200);
  assert_string_equal(body_of(response), kMetricsText);
  free(response);
  // The silent connection was accepted first and is still open: the second
  // was served while the first was waiting, not after it timed out.
  struct pollfd p = {.fd = silent, .events = POLLIN};
  assert_int_equal(poll(&p, 1, 0), 0);
  close(silent);
}

static void test_http_stop_with_a_connection_open_returns_promptly(
    void **state) {
  fixture *f = *state;
  int silent = connect_local(f);
  send_all(silent, "GET /metr", 9);
  char *response = fetch(f, "GET /healthz HTTP/1.1\r\n\r\n");
  assert_int_equal(status_of(response), 200);
  free(response);

  int64_t start = now_ms();
  ss_metrics_http_stop(f->http);
  f->http = NULL;
  assert_true(now_ms() - start < SS_METRICS_HTTP_TIMEOUT_MS / 2);
  // The server closed the connection without answering.
  struct pollfd p = {.fd = silent, .events = POLLIN};
  assert_int_equal(poll(&p, 1, WAIT_MS), 1);
  char byte;
  ssize_t n = recv(silent, &byte, 1, 0);
  assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
  close(silent);
}

static void test_http_render_failure_is_500(void **state) {
  fixture *f = *state;
  f->fail_render = 1;
  assert_status(f, "GET /metrics HTTP/1.1\r\n\r\n", 500);
}

static void test_http_address_in_use_is_unavailable(void **state) {
  fixture *f = *state;
  char address[32];
  snprintf(address, sizeof(address), "127.0.0.1:%d",
           ss_metrics_http_port(f->http));
  ss_status st;
  ss_status_init(&st);
  assert_null(ss_metrics_http_start(address, render_text, f, &st));
  assert_int_equal(st.code, GRPC_STATUS_UNAVAILABLE);
  assert_non_null(strstr(st.msg, "in use"));
  assert_non_null(strstr(st.msg, address));
}

static void test_http_bad_listen_addresses_are_invalid_argument(void **state) {
  fixture *f = *state;
  const char *addresses[] = {
      "",
      "127.0.0.1",
      "127.0.0.1:",
      ":9090",
      "127.0.0.1:65536",
      "127.0.0.1:-1",
      "127.0.0.1:+80",
      "127.0.0.1:80x",
      "127.0.0.1:0000000",
      "1.2.3:80",
      "256.0.0.1:80",
      "example.com:80",
      "::1:80",
      "[::1]",
      "[::1]80",
      "[::1:80",
      "[127.0.0.1]:80",
      "[]:80",
      "localhost:80:80",
      " 127.0.0.1:80",
  };
  for (size_t i = 0; i < sizeof(addresses) / sizeof(addresses[0]); i++) {
    ss_status st;
    ss_status_init(&st);
    if (ss_metrics_http_start(addresses[i], render_text, f, &st) != NULL) {
      fail_msg("address \"%s\" was accepted", addresses[i]);
    }
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  }
  ss_status st;
  ss_status_init(&st);
  assert_null(ss_metrics_http_start(NULL, render_text, f, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_status_init(&st);
  assert_null(ss_metrics_http_start("127.0.0.1:0", NULL, f, &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_http_listens_on_localhost_and_ipv6_loopback(void **state) {
  fixture *f = *state;
  ss_status st;
  ss_status_init(&st);
  ss_metrics_http *local =
      ss_metrics_http_start("localhost:0", render_text, f, &st);
  assert_non_null(local);
  int fd = connect_to(AF_INET, "127.0.0.1", ss_metrics_http_port(local));
  send_all(fd, "GET /healthz HTTP/1.1\r\n\r\n", 25);
  char *response = read_response(fd);
  close(fd);
  assert_int_equal(status_of(response), 200);
  free(response);
  ss_metrics_http_stop(local);

  ss_status_init(&st);
  ss_metrics_http *v6 = ss_metrics_http_start("[::1]:0", render_text, f, &st);
  if (v6 == NULL) {
    // A host without IPv6 loopback cannot bind it; that is all it may say.
    assert_int_equal(st.code, GRPC_STATUS_UNAVAILABLE);
    skip();
  }
  fd = connect_to(AF_INET6, "::1", ss_metrics_http_port(v6));
  send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25);
  response = read_response(fd);
  close(fd);
  assert_int_equal(status_of(response), 200);
  assert_string_equal(body_of(response), kMetricsText);
  free(response);
  ss_metrics_http_stop(v6);
}

static void test_http_stop_accepts_null(void **state) {
  (void)state;
  ss_metrics_http_stop(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_server, teardown_server)
      T(test_http_get_metrics_returns_the_rendered_text),
      T(test_http_healthz_answers_ok),
      T(test_http_unknown_paths_are_404),
      T(test_http_other_methods_are_405),
      T(test_http_malformed_requests_are_400),
      T(test_http_request_head_over_the_limit_is_431),
      T(test_http_request_split_across_writes_is_served),
      T(test_http_silent_client_does_not_block_another),
      T(test_http_stop_with_a_connection_open_returns_promptly),
      T(test_http_render_failure_is_500),
      T(test_http_address_in_use_is_unavailable),
      T(test_http_bad_listen_addresses_are_invalid_argument),
      T(test_http_listens_on_localhost_and_ipv6_loopback),
      cmocka_unit_test(test_http_stop_accepts_null),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
