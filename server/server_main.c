// sealstream-server: serves sealstream.v1.QueryService from a SQLite file.
// Options come from the command line (operator-trusted); SIGTERM or SIGINT
// drains the server and exits 0. Signals are taken with sigwait on the main
// thread after being blocked in every thread, so no work runs in a signal
// handler.
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/port_file.h"
#include "lib/base/status.h"
#include "server/server.h"

static const char kUsage[] =
    "usage: sealstream-server --db FILE [options]\n"
    "\n"
    "Serves sealstream.v1.QueryService (read-only SQL on FILE, results\n"
    "encrypted to each client's key) and grpc.health.v1.Health.\n"
    "\n"
    "  --db FILE              SQLite database to serve (required)\n"
    "  --listen HOST:PORT     address to bind "
    "(default " SS_SERVER_DEFAULT_LISTEN
    ");\n"
    "                         port 0 picks a free port\n"
    "  --port-file FILE       write the bound port to FILE once serving\n"
    "  --tls-cert FILE        PEM certificate chain; enables TLS with "
    "--tls-key\n"
    "  --tls-key FILE         PEM private key\n"
    "  --tls-client-ca FILE   PEM roots: require and verify client "
    "certificates\n"
    "  --allow-plaintext      answer requests without a public key in clear\n"
    "  --workers N            SQLite worker threads (default 4)\n"
    "  --max-streams N        concurrent queries before RESOURCE_EXHAUSTED\n"
    "                         (default 256)\n"
    "  --drain-timeout SECS   on SIGTERM, let streams finish this long, then\n"
    "                         cancel them (default 10)\n"
    "  --drain-grace SECS     on SIGTERM, report NOT_SERVING this long before\n"
    "                         refusing new calls (default 0)\n"
    "  --max-query-time SECS  stop any query after this long, whatever the\n"
    "                         client's deadline (default 0: no limit)\n"
    "  --help                 print this help\n"
    "\n"
    "Without TLS the server is meant for loopback or a trusted network.\n";

enum {
  kOptDb = 1,
  kOptListen,
  kOptPortFile,
  kOptTlsCert,
  kOptTlsKey,
  kOptTlsClientCa,
  kOptAllowPlaintext,
  kOptWorkers,
  kOptMaxStreams,
  kOptDrainTimeout,
  kOptDrainGrace,
  kOptMaxQueryTime,
  kOptHelp,
};

static const struct option kOptions[] = {
    {"db", required_argument, NULL, kOptDb},
    {"listen", required_argument, NULL, kOptListen},
    {"port-file", required_argument, NULL, kOptPortFile},
    {"tls-cert", required_argument, NULL, kOptTlsCert},
    {"tls-key", required_argument, NULL, kOptTlsKey},
    {"tls-client-ca", required_argument, NULL, kOptTlsClientCa},
    {"allow-plaintext", no_argument, NULL, kOptAllowPlaintext},
    {"workers", required_argument, NULL, kOptWorkers},
    {"max-streams", required_argument, NULL, kOptMaxStreams},
    {"drain-timeout", required_argument, NULL, kOptDrainTimeout},
    {"drain-grace", required_argument, NULL, kOptDrainGrace},
    {"max-query-time", required_argument, NULL, kOptMaxQueryTime},
    {"help", no_argument, NULL, kOptHelp},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...) {
  char msg[512];
  va_list args;
  va_start(args, fmt);
  vsnprintf(msg, sizeof(msg), fmt, args);
  va_end(args);
  fprintf(stderr, "sealstream-server: %s\nTry 'sealstream-server --help'.\n",
          msg);
  return 2;
}

static int parse_int(const char *text, long min, long max, int *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
    return 0;
  }
  *out = (int)v;
  return 1;
}

// parse_seconds reads a non-negative number of seconds (fractions allowed,
// at most a day) as milliseconds.
static int parse_seconds(const char *text, int64_t *out_ms) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || v < 0 ||
      v > 86400) {
    return 0;
  }
  *out_ms = (int64_t)(v * 1000.0 + 0.5);
  return 1;
}

int main(int argc, char **argv) {
  ss_server_options options;
  ss_server_options_init(&options);
  const char *port_file = NULL;
  char text[32];
  int opt;
  while ((opt = getopt_long(argc, argv, "", kOptions, NULL)) != -1) {
    switch (opt) {
      case kOptDb:
        options.db_path = optarg;
        break;
      case kOptListen:
        options.listen_addr = optarg;
        break;
      case kOptPortFile:
        port_file = optarg;
        break;
      case kOptTlsCert:
        options.tls_cert_file = optarg;
        break;
      case kOptTlsKey:
        options.tls_key_file = optarg;
        break;
      case kOptTlsClientCa:
        options.tls_client_ca_file = optarg;
        break;
      case kOptAllowPlaintext:
        options.allow_plaintext = 1;
        break;
      case kOptWorkers:
        if (!parse_int(optarg, 1, 256, &options.num_workers)) {
          return usage_error("--workers: expected 1 to 256, got \"%s\"",
                             optarg);
        }
        break;
      case kOptMaxStreams:
        if (!parse_int(optarg, 1, 100000, &options.max_streams)) {
          return usage_error("--max-streams: expected 1 to 100000, got \"%s\"",
                             optarg);
        }
        break;
      case kOptDrainTimeout:
        if (!parse_seconds(optarg, &options.drain_timeout_ms)) {
          return usage_error(
              "--drain-timeout: expected seconds from 0 to 86400, got \"%s\"",
              optarg);
        }
        break;
      case kOptDrainGrace:
        if (!parse_seconds(optarg, &options.drain_grace_ms)) {
          return usage_error(
              "--drain-grace: expected seconds from 0 to 86400, got \"%s\"",
              optarg);
        }
        break;
      case kOptMaxQueryTime:
        if (!parse_seconds(optarg, &options.max_query_ms)) {
          return usage_error(
              "--max-query-time: expected seconds from 0 to 86400, got \"%s\"",
              optarg);
        }
        break;
      case kOptHelp:
        fputs(kUsage, stdout);
        return 0;
      default:
        // getopt_long printed what was wrong.
        fprintf(stderr, "Try 'sealstream-server --help'.\n");
        return 2;
    }
  }
  if (optind < argc) {
    return usage_error("unexpected argument \"%s\"", argv[optind]);
  }
  if (options.db_path == NULL) {
    return usage_error("--db FILE is required");
  }
  if ((options.tls_cert_file == NULL) != (options.tls_key_file == NULL)) {
    return usage_error("--tls-cert and --tls-key go together");
  }
  if (options.tls_client_ca_file != NULL && options.tls_cert_file == NULL) {
    return usage_error("--tls-client-ca needs --tls-cert and --tls-key");
  }

  // Block the stop signals before any thread exists, so that every thread
  // inherits the mask and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
  signal(SIGPIPE, SIG_IGN);

  ss_status st;
  ss_server *server = ss_server_start(&options, &st);
  if (server == NULL) {
    fprintf(stderr, "sealstream-server: %s\n", st.msg);
    return 1;
  }
  int port = ss_server_port(server);
  int tls = options.tls_cert_file != NULL;
  fprintf(stderr, "sealstream-server: serving %s on %s (port %d), %s%s\n",
          options.db_path, options.listen_addr, port,
          tls ? (options.tls_client_ca_file != NULL ? "mutual TLS" : "TLS")
              : "no TLS",
          options.allow_plaintext ? ", plaintext answers allowed" : "");
  if (!tls && !ss_addr_is_loopback(options.listen_addr)) {
    fprintf(stderr,
            "sealstream-server: warning: %s is not a loopback address and TLS "
            "is off; metadata and request keys travel in clear\n",
            options.listen_addr);
  }
  if (port_file != NULL && !ss_port_file_write(port_file, port, &st)) {
    fprintf(stderr, "sealstream-server: --port-file: %s\n", st.msg);
    ss_server_free(server);
    return 1;
  }

  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  snprintf(text, sizeof(text), "%.1f", (double)options.drain_timeout_ms / 1000);
  fprintf(stderr, "sealstream-server: %s: draining (up to %s s)\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM", text);
  ss_server_free(server);
  fprintf(stderr, "sealstream-server: stopped\n");
  return 0;
}
