// The metrics HTTP endpoint (HTTP/1.1, RFC 9112, request line and header
// syntax only; every response closes its connection).
//
// Everything a client sends is untrusted: the request head is read into a
// fixed buffer of SS_METRICS_HTTP_MAX_HEAD bytes and parsed with ss_cbs;
// each connection has a deadline, and one thread multiplexes the listener,
// up to SS_METRICS_HTTP_MAX_CONNS connections and a wake-up pipe with
// poll(2), so no client can hold the thread.
#include "proxy/metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/host_port.h"

// How long a connection may stay open after its response, for the client to
// read it and close; reading what it still sends avoids a reset that could
// discard the response.
#define SS_DRAIN_MS 1000

// How long to stop accepting after running out of descriptors, so the
// pending connection does not spin the loop.
#define SS_ACCEPT_PAUSE_MS 100

// Bytes of a response's status line and headers.
#define SS_MAX_RESPONSE_HEAD 256

typedef enum ss_http_phase {
  SS_HTTP_FREE = 0,  // slot unused
  SS_HTTP_READING,   // reading the request head
  SS_HTTP_WRITING,   // sending the response
  SS_HTTP_DRAINING,  // response sent and write side shut; reading until EOF
} ss_http_phase;

typedef struct ss_http_conn {
  int fd;  // owned; -1 when the slot is free
  ss_http_phase phase;
  int64_t deadline_ms;  // CLOCK_MONOTONIC; the connection is closed then
  size_t head_len;      // bytes received in head
  size_t line_start;    // offset in head of the first unterminated line
  uint8_t head[SS_METRICS_HTTP_MAX_HEAD];  // request head as received
  ss_buf response;                         // whole response, while writing
  size_t sent;                             // bytes of response sent
} ss_http_conn;

struct ss_metrics_http {
  int listen_fd;   // owned
  int wake_read;   // owned; readable once stop is asked
  int wake_write;  // owned
  int port;
  ss_metrics_http_render_fn render;  // borrowed, with ctx
  void *ctx;
  pthread_t thread;
  ss_http_conn conns[SS_METRICS_HTTP_MAX_CONNS];
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Listen address.

// parse_listen_address turns "HOST:PORT" into a socket address. Returns 1,
// or 0 with |st| set.
static int parse_listen_address(const char *text,
                                struct sockaddr_storage *out_addr,
                                socklen_t *out_len, ss_status *st) {
  char shown[SS_STATUS_SHOWN_MAX + 4];
  memset(out_addr, 0, sizeof(*out_addr));
  *out_len = 0;
  if (text == NULL) {
    text = "";
  }
  ss_cbs host;
  int port, v6;
  char host_str[INET6_ADDRSTRLEN];
  if (!ss_host_port_split(text, strlen(text), &host, &port, &v6) ||
      host.len >= sizeof(host_str)) {
    goto bad;
  }
  memcpy(host_str, host.data, host.len);
  host_str[host.len] = '\0';
  if (v6) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out_addr;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host_str, &sin6->sin6_addr) != 1) {
      goto bad;
    }
    *out_len = sizeof(*sin6);
  } else {
    struct sockaddr_in *sin = (struct sockaddr_in *)out_addr;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    const char *ip =
        strcmp(host_str, "localhost") == 0 ? "127.0.0.1" : host_str;
    if (inet_pton(AF_INET, ip, &sin->sin_addr) != 1) {
      goto bad;
    }
    *out_len = sizeof(*sin);
  }
  return 1;

bad:
  memset(out_addr, 0, sizeof(*out_addr));
  *out_len = 0;
  return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "metrics listen address \"%s\": expected HOST:PORT "
                       "with HOST an IPv4 address, localhost or [IPv6 "
                       "address] and PORT 0 to 65535",
                       ss_status_shown(shown, text, strlen(text)));
}

// Connections.

static void conn_close(ss_http_conn *c) {
  close(c->fd);
  c->fd = -1;
  c->phase = SS_HTTP_FREE;
  ss_buf_cleanup(&c->response);
}

// head_complete scans the bytes received since the last call for the empty
// line that ends a request head; afterwards the head is
// head[0..line_start). Returns 1 once it has been seen.
static int head_complete(ss_http_conn *c) {
  ss_cbs rest, line;
  ss_cbs_init(&rest, c->head + c->line_start, c->head_len - c->line_start);
  while (ss_cbs_get_until(&rest, &line, '\n')) {
    c->line_start += line.len + 1;
    if (line.len == 0 || ss_cbs_equal_str(&line, "\r")) {
      return 1;
    }
  }
  return 0;
}

// next_line sets |out| to the next line of |head| without its CR LF (a bare
// LF is accepted). Returns 1, or 0 when no line is left.
static int next_line(ss_cbs *head, ss_cbs *out) {
  if (!ss_cbs_get_until(head, out, '\n')) {
    return 0;
  }
  if (out->len > 0 && out->data[out->len - 1] == '\r') {
    out->len--;
  }
  return 1;
}

// is_tchar reports whether |c| may appear in a method or header name
// (RFC 9110 section 5.6.2).
static int is_tchar(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int all_tchars(ss_cbs cbs) {
  uint8_t c;
  if (cbs.len == 0) {
    return 0;
  }
  while (ss_cbs_get_u8(&cbs, &c)) {
    if (!is_tchar(c)) {
      return 0;
    }
  }
  return 1;
}

// valid_header_line checks "name: value" with a token name and a value free
// of control bytes other than tab; obsolete line folding is refused.
static int valid_header_line(ss_cbs line) {
  ss_cbs name;
  if (!ss_cbs_get_until(&line, &name, ':') || !all_tchars(name)) {
    return 0;
  }
  uint8_t c;
  while (ss_cbs_get_u8(&line, &c)) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return 0;
    }
  }
  return 1;
}

typedef enum ss_http_page {
  SS_PAGE_NONE,
  SS_PAGE_METRICS,
  SS_PAGE_HEALTHZ,
} ss_http_page;

// request_status parses a complete request head and returns the status to
// answer, with |*out_page| the page to serve for 200.
static int request_status(ss_cbs head, ss_http_page *out_page) {
  *out_page = SS_PAGE_NONE;
  ss_cbs line, method, target, path;
  if (!next_line(&head, &line) || !ss_cbs_get_until(&line, &method, ' ') ||
      !ss_cbs_get_until(&line, &target, ' ') || !all_tchars(method) ||
      !(ss_cbs_equal_str(&line, "HTTP/1.1") ||
        ss_cbs_equal_str(&line, "HTTP/1.0"))) {
    return 400;
  }
  ss_cbs check = target;
  uint8_t c;
  if (!ss_cbs_get_u8(&check, &c) || c != '/') {
    return 400;
  }
  do {
    if (c <= 0x20 || c >= 0x7f) {
      return 400;
    }
  } while (ss_cbs_get_u8(&check, &c));
  while (next_line(&head, &line) && line.len > 0) {
    if (!valid_header_line(line)) {
      return 400;
    }
  }
  if (!ss_cbs_equal_str(&method, "GET")) {
    return 405;
  }
  if (!ss_cbs_get_until(&target, &path, '?')) {
    path = target;
  }
  if (ss_cbs_equal_str(&path, "/metrics")) {
    *out_page = SS_PAGE_METRICS;
  } else if (ss_cbs_equal_str(&path, "/healthz")) {
    *out_page = SS_PAGE_HEALTHZ;
  } else {
    return 404;
  }
  return 200;
}

static const char *reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Internal Server Error";
  }
}

static void conn_write(ss_http_conn *c, int64_t now);

// conn_respond builds the response for |status| (and |page|) and starts
// sending it; the connection is closed if it cannot be built.
static void conn_respond(ss_metrics_http *h, ss_http_conn *c, int status,
                         ss_http_page page, int64_t now) {
  ss_buf body;
  ss_buf_init(&body, SS_METRICS_HTTP_MAX_BODY);
  const char *type = "text/plain; charset=utf-8";
  if (status == 200 && page == SS_PAGE_METRICS) {
    type = "text/plain; version=0.0.4; charset=utf-8";
    if (!h->render(h->ctx, &body) || body.failed) {
      ss_buf_cleanup(&body);
      status = 500;
    }
  }
  if (status != 200 || page != SS_PAGE_METRICS) {
    type = "text/plain; charset=utf-8";
    const char *text = status == 200 ? "ok\n" : reason_phrase(status);
    if (!ss_buf_append_str(&body, text) ||
        (status != 200 && !ss_buf_append_u8(&body, '\n'))) {
      ss_buf_cleanup(&body);
      conn_close(c);
      return;
    }
  }
  char head[SS_MAX_RESPONSE_HEAD];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: "
                   "%zu\r\n%sConnection: close\r\n\r\n",
                   status, reason_phrase(status), type, body.len,
                   status == 405 ? "Allow: GET\r\n" : "");
  ss_buf_init(&c->response, SS_MAX_RESPONSE_HEAD + SS_METRICS_HTTP_MAX_BODY);
  if (n <= 0 || (size_t)n >= sizeof(head) ||
      !ss_buf_append(&c->response, head, (size_t)n) ||
      (body.len > 0 && !ss_buf_append(&c->response, body.data, body.len))) {
    ss_buf_cleanup(&body);
    conn_close(c);
    return;
  }
  ss_buf_cleanup(&body);
  c->phase = SS_HTTP_WRITING;
  c->sent = 0;
  conn_write(c, now);
}

static void conn_read(ss_metrics_http *h, ss_http_conn *c, int64_t now) {
  ssize_t n =
      recv(c->fd, c->head + c->head_len, sizeof(c->head) - c->head_len, 0);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      conn_close(c);
    }
    return;
  }
  if (n == 0) {
    // The client closed its side mid-head: answer if it sent anything.
    if (c->head_len == 0) {
      conn_close(c);
    } else {
      conn_respond(h, c, 400, SS_PAGE_NONE, now);
    }
    return;
  }
  c->head_len += (size_t)n;
  if (head_complete(c)) {
    ss_cbs head;
    ss_cbs_init(&head, c->head, c->line_start);
    ss_http_page page;
    int status = request_status(head, &page);
    conn_respond(h, c, status, page, now);
  } else if (c->head_len == sizeof(c->head)) {
    conn_respond(h, c, 431, SS_PAGE_NONE, now);
  }
}

static void conn_write(ss_http_conn *c, int64_t now) {
  while (c->sent < c->response.len) {
    ssize_t n = send(c->fd, c->response.data + c->sent,
                     c->response.len - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        conn_close(c);
      }
      return;
    }
    c->sent += (size_t)n;
  }
  ss_buf_cleanup(&c->response);
  shutdown(c->fd, SHUT_WR);
  c->phase = SS_HTTP_DRAINING;
  if (c->deadline_ms > now + SS_DRAIN_MS) {
    c->deadline_ms = now + SS_DRAIN_MS;
  }
}

// conn_drain reads and drops what the client still sends, one read per
// wake-up, so a client that keeps sending cannot hold the thread past its
// deadline.
static void conn_drain(ss_http_conn *c) {
  ssize_t n = recv(c->fd, c->head, sizeof(c->head), 0);
  if (n == 0 ||
      (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    conn_close(c);
  }
}

// accept_ready accepts pending connections into free slots. Returns the time
// until which accepting pauses (0 for none).
static int64_t accept_ready(ss_metrics_http *h, int64_t now) {
  for (size_t i = 0; i < SS_METRICS_HTTP_MAX_CONNS; i++) {
    ss_http_conn *c = &h->conns[i];
    if (c->phase != SS_HTTP_FREE) {
      continue;
    }
    int fd;
    do {
      fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        return now + SS_ACCEPT_PAUSE_MS;
      }
      return 0;  // EAGAIN: none pending; other errors: retried at next poll
    }
    c->fd = fd;
    c->phase = SS_HTTP_READING;
    c->deadline_ms = now + SS_METRICS_HTTP_TIMEOUT_MS;
    c->head_len = 0;
    c->line_start = 0;
    c->sent = 0;
    ss_buf_init(&c->response, 0);
  }
  return 0;
}

static void *serve(void *arg) {
  ss_metrics_http *h = arg;
  int64_t accept_paused_until = 0;
  for (;;) {
    struct pollfd fds[2 + SS_METRICS_HTTP_MAX_CONNS];
    ss_http_conn *owner[2 + SS_METRICS_HTTP_MAX_CONNS];
    nfds_t nfds = 0;
    int64_t now = now_ms();
    int64_t wake_at = INT64_MAX;
    fds[nfds] = (struct pollfd){.fd = h->wake_read, .events = POLLIN};
    owner[nfds++] = NULL;
    int has_free = 0;
    for (size_t i = 0; i < SS_METRICS_HTTP_MAX_CONNS; i++) {
      ss_http_conn *c = &h->conns[i];
      if (c->phase == SS_HTTP_FREE) {
        has_free = 1;
        continue;
      }
      fds[nfds] = (struct pollfd){
          .fd = c->fd,
          .events = c->phase == SS_HTTP_WRITING ? POLLOUT : POLLIN};
      owner[nfds++] = c;
      if (c->deadline_ms < wake_at) {
        wake_at = c->deadline_ms;
      }
    }
    // While every slot is taken, new connections wait in the backlog.
    int listening = 0;
    if (has_free && now >= accept_paused_until) {
      listening = 1;
      fds[nfds] = (struct pollfd){.fd = h->listen_fd, .events = POLLIN};
      owner[nfds++] = NULL;
    } else if (has_free && accept_paused_until < wake_at) {
      wake_at = accept_paused_until;
    }
    int timeout = -1;
    if (wake_at != INT64_MAX) {
      int64_t wait = wake_at - now;
      timeout = wait < 0 ? 0 : wait > INT_MAX ? INT_MAX : (int)wait;
    }
    if (poll(fds, nfds, timeout) < 0) {
      // EINTR; EFAULT, EINVAL and ENOMEM cannot happen with this array.
      continue;
    }
    if (fds[0].revents != 0) {
      return NULL;  // stop asked
    }
    now = now_ms();
    for (nfds_t i = 1; i < nfds; i++) {
      ss_http_conn *c = owner[i];
      if (c == NULL || fds[i].revents == 0) {
        continue;
      }
      switch (c->phase) {
        case SS_HTTP_READING:
          conn_read(h, c, now);
          break;
        case SS_HTTP_WRITING:
          conn_write(c, now);
          break;
        case SS_HTTP_DRAINING:
          conn_drain(c);
          break;
        case SS_HTTP_FREE:
          break;  // cannot happen: only open connections are polled
      }
    }
    for (size_t i = 0; i < SS_METRICS_HTTP_MAX_CONNS; i++) {
      ss_http_conn *c = &h->conns[i];
      if (c->phase != SS_HTTP_FREE && now >= c->deadline_ms) {
        conn_close(c);
      }
    }
    if (listening && fds[nfds - 1].revents != 0) {
      accept_paused_until = accept_ready(h, now);
    }
  }
}

// Lifetime.

static void close_all(ss_metrics_http *h) {
  for (size_t i = 0; i < SS_METRICS_HTTP_MAX_CONNS; i++) {
    if (h->conns[i].phase != SS_HTTP_FREE) {
      conn_close(&h->conns[i]);
    }
  }
  if (h->listen_fd >= 0) {
    close(h->listen_fd);
  }
  if (h->wake_read >= 0) {
    close(h->wake_read);
  }
  if (h->wake_write >= 0) {
    close(h->wake_write);
  }
  free(h);
}

ss_metrics_http *ss_metrics_http_start(const char *listen_host_port,
                                       ss_metrics_http_render_fn render,
                                       void *ctx, ss_status *st) {
  char shown[SS_STATUS_SHOWN_MAX + 4];
  struct sockaddr_storage addr;
  socklen_t addr_len;
  if (!parse_listen_address(listen_host_port, &addr, &addr_len, st)) {
    return NULL;
  }
  if (render == NULL) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "metrics listener: no render function");
    return NULL;
  }
  ss_metrics_http *h = calloc(1, sizeof(*h));
  if (h == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "metrics listener: out of memory");
    return NULL;
  }
  h->listen_fd = h->wake_read = h->wake_write = -1;
  for (size_t i = 0; i < SS_METRICS_HTTP_MAX_CONNS; i++) {
    h->conns[i].fd = -1;
  }
  h->render = render;
  h->ctx = ctx;
  ss_status_shown(shown, listen_host_port, strlen(listen_host_port));

  h->listen_fd =
      socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (h->listen_fd < 0) {
    ss_status_set(st, GRPC_STATUS_UNAVAILABLE,
                  "metrics listener %s: cannot create a socket: %s", shown,
                  strerror(errno));
    goto err;
  }
  int one = 1;
  // Lets a restarted proxy bind while old connections sit in TIME_WAIT; on
  // Linux it does not let two listeners share a port.
  setsockopt(h->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(h->listen_fd, (struct sockaddr *)&addr, addr_len) != 0) {
    if (errno == EADDRINUSE) {
      ss_status_set(st, GRPC_STATUS_UNAVAILABLE,
                    "metrics listener %s: address already in use; choose "
                    "another port",
                    shown);
    } else {
      ss_status_set(st, GRPC_STATUS_UNAVAILABLE,
                    "metrics listener %s: cannot bind: %s", shown,
                    strerror(errno));
    }
    goto err;
  }
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof(bound);
  if (listen(h->listen_fd, 64) != 0 ||
      getsockname(h->listen_fd, (struct sockaddr *)&bound, &bound_len) != 0) {
    ss_status_set(st, GRPC_STATUS_UNAVAILABLE,
                  "metrics listener %s: cannot listen: %s", shown,
                  strerror(errno));
    goto err;
  }
  h->port = ntohs(bound.ss_family == AF_INET6
                      ? ((struct sockaddr_in6 *)&bound)->sin6_port
                      : ((struct sockaddr_in *)&bound)->sin_port);
  int wake[2];
  if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "metrics listener: cannot create a pipe: %s",
                  strerror(errno));
    goto err;
  }
  h->wake_read = wake[0];
  h->wake_write = wake[1];

  // The thread inherits a full signal mask, so process signals go to the
  // caller's threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&h->thread, NULL, serve, h);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "metrics listener: cannot start a thread: %s", strerror(rc));
    goto err;
  }
  return h;

err:
  close_all(h);
  return NULL;
}

int ss_metrics_http_port(const ss_metrics_http *h) { return h->port; }

void ss_metrics_http_stop(ss_metrics_http *h) {
  if (h == NULL) {
    return;
  }
  ssize_t n;
  do {
    n = write(h->wake_write, "x", 1);
  } while (n < 0 && errno == EINTR);
  // A full pipe (EAGAIN) already wakes the thread; nothing else can fail.
  pthread_join(h->thread, NULL);
  close_all(h);
}
