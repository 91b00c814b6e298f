// sealstream-query: run one SQL query on a sealstream server, directly or
// through a proxy, and print the decrypted rows as they arrive (table, CSV
// or JSON lines; query_format.h). Output is streamed: on an error, rows
// already printed stay printed, and the error goes to stderr as
// "sealstream-query: CODE_NAME: message" with a non-zero exit status.
// Command-line arguments are trusted (they are the user's); rows are not.
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/status.h>
#include <grpc/support/log.h>

#include "client/query_format.h"
#include "sealstream/client.h"

// Exit statuses.
#define EXIT_QUERY_FAILED 1
#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130

// Progress is redrawn at most this often.
#define PROGRESS_INTERVAL_NS 250000000LL

static const char kUsage[] =
    "usage: sealstream-query --target HOST:PORT [OPTIONS] [--query] SQL\n"
    "\n"
    "Runs SQL on a sealstream server (or through a proxy) and prints the\n"
    "rows, decrypted batch by batch with a key pair made for this run.\n"
    "\n"
    "connection:\n"
    "  --target HOST:PORT       server or proxy address (required)\n"
    "  --tls                    use TLS with the system's roots\n"
    "  --tls-ca FILE            use TLS, trusting the PEM roots in FILE\n"
    "  --tls-cert FILE          client certificate for mutual TLS (PEM)\n"
    "  --tls-key FILE           its private key (PEM, unencrypted)\n"
    "  --tls-server-name NAME   name to check in the server's certificate\n"
    "  --route R                x-sealstream-route metadata for the proxy\n"
    "  --token T                authorization: Bearer T for the proxy; the\n"
    "                           SEALSTREAM_TOKEN environment variable does\n"
    "                           the same without showing T in ps\n"
    "encryption:\n"
    "  --key ec|x25519|rsa      key pair: P-256 (default) or X25519 with\n"
    "                           ECDH-ES+A256KW, or RSA-4096 with RSA-OAEP-256\n"
    "  --enc ALG                content encryption (default A256GCM)\n"
    "  --compact                ask for compact JWEs instead of parts\n"
    "  --compress               ask for compressed (zip DEF) batches\n"
    "query:\n"
    "  --query SQL              the query (or give it as the last argument)\n"
    "  --max-rows-per-batch N   rows per batch (0: the server's default)\n"
    "  --max-bytes-per-batch N  plaintext bytes per batch (0: default)\n"
    "  --max-total-rows N       stop after N rows (0: no limit)\n"
    "  --timeout-ms N           deadline for the whole query (0: none)\n"
    "  --max-message-bytes N    largest response accepted (default 64 MiB)\n"
    "output:\n"
    "  --format table|csv|jsonl (default table)\n"
    "      table: columns aligned per batch (widths only grow, so a later\n"
    "             batch with wider values shifts its columns); NULL shown as\n"
    "             NULL; control characters escaped\n"
    "      csv:   RFC 4180 with a header row and CRLF; null is an empty\n"
    "             field, an empty string is \"\"\n"
    "      jsonl: one JSON object per row; null as null, bytes as base64,\n"
    "             timestamps as RFC 3339 strings, NaN/Infinity as strings\n"
    "  --no-progress            no progress line on stderr\n"
    "  --help                   print this help\n"
    "  (gRPC's own log lines are hidden unless GRPC_VERBOSITY is set)\n"
    "\n"
    "Bytes print as base64 and timestamps as RFC 3339 (UTC) in every format.\n"
    "When stderr is a terminal and stdout is not, a progress line (rows,\n"
    "MB/s received) is drawn on stderr. Rows are printed as they arrive: if\n"
    "the query fails midway, the rows printed so far stay and the error is\n"
    "printed on stderr as \"sealstream-query: CODE: message\"; exit status\n"
    "0 on success, 1 when the query fails, 2 for usage errors, 130 when\n"
    "interrupted (Ctrl-C cancels the query; a second Ctrl-C exits at once).\n";

enum {
  OPT_TARGET = 256,
  OPT_QUERY,
  OPT_TLS,
  OPT_TLS_CA,
  OPT_TLS_CERT,
  OPT_TLS_KEY,
  OPT_TLS_SERVER_NAME,
  OPT_ROUTE,
  OPT_TOKEN,
  OPT_KEY,
  OPT_ENC,
  OPT_COMPACT,
  OPT_COMPRESS,
  OPT_MAX_ROWS_PER_BATCH,
  OPT_MAX_BYTES_PER_BATCH,
  OPT_MAX_TOTAL_ROWS,
  OPT_TIMEOUT_MS,
  OPT_MAX_MESSAGE_BYTES,
  OPT_FORMAT,
  OPT_NO_PROGRESS,
  OPT_HELP,
};

static const struct option kOptions[] = {
    {"target", required_argument, NULL, OPT_TARGET},
    {"query", required_argument, NULL, OPT_QUERY},
    {"tls", no_argument, NULL, OPT_TLS},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-server-name", required_argument, NULL, OPT_TLS_SERVER_NAME},
    {"route", required_argument, NULL, OPT_ROUTE},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"key", required_argument, NULL, OPT_KEY},
    {"enc", required_argument, NULL, OPT_ENC},
    {"compact", no_argument, NULL, OPT_COMPACT},
    {"compress", no_argument, NULL, OPT_COMPRESS},
    {"max-rows-per-batch", required_argument, NULL, OPT_MAX_ROWS_PER_BATCH},
    {"max-bytes-per-batch", required_argument, NULL, OPT_MAX_BYTES_PER_BATCH},
    {"max-total-rows", required_argument, NULL, OPT_MAX_TOTAL_ROWS},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS},
    {"max-message-bytes", required_argument, NULL, OPT_MAX_MESSAGE_BYTES},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

typedef struct cli {
  ss_client_options client;
  ss_query_options query;
  const char *sql;
  ss_output_format format;
  int progress;
} cli;

// --- errors ---

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt,
                                                              ...) {
  char msg[512];
  va_list args;
  va_start(args, fmt);
  vsnprintf(msg, sizeof(msg), fmt, args);
  va_end(args);
  fprintf(stderr, "sealstream-query: INVALID_ARGUMENT: %s; see --help\n",
          msg);
  return EXIT_USAGE;
}

static void print_error(const ss_error *err) {
  // Rows printed so far come first, then the reason they stopped.
  fflush(stdout);
  fprintf(stderr, "sealstream-query: %s: %s\n", ss_error_code_name(err->code),
          err->message);
}

// --- arguments ---

static int parse_u64(const char *name, const char *text, uint64_t max,
                     uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 ||
      v > max) {
    usage_error("--%s wants a whole number from 0 to %" PRIu64 ", not \"%s\"",
                name, max, text);
    return 0;
  }
  *out = v;
  return 1;
}

static int parse_args(cli *c, int argc, char **argv, int *out_exit) {
  memset(c, 0, sizeof(*c));
  ss_client_options_init(&c->client);
  c->format = SS_OUTPUT_TABLE;
  c->progress = 1;
  c->client.auth_token = getenv("SEALSTREAM_TOKEN");
  if (c->client.auth_token != NULL && c->client.auth_token[0] == '\0') {
    c->client.auth_token = NULL;
  }
  *out_exit = EXIT_USAGE;
  opterr = 0;
  int opt;
  uint64_t v;
  // A leading ':' makes a missing value return ':' rather than '?'.
  while ((opt = getopt_long(argc, argv, ":", kOptions, NULL)) != -1) {
    const char *name = optind > 1 ? argv[optind - 1] : "";
    switch (opt) {
      case OPT_TARGET:
        c->client.target = optarg;
        break;
      case OPT_QUERY:
        c->sql = optarg;
        break;
      case OPT_TLS:
        c->client.use_tls = 1;
        break;
      case OPT_TLS_CA:
        c->client.tls_ca_file = optarg;
        break;
      case OPT_TLS_CERT:
        c->client.tls_cert_file = optarg;
        break;
      case OPT_TLS_KEY:
        c->client.tls_key_file = optarg;
        break;
      case OPT_TLS_SERVER_NAME:
        c->client.tls_server_name = optarg;
        break;
      case OPT_ROUTE:
        c->client.route = optarg;
        break;
      case OPT_TOKEN:
        c->client.auth_token = optarg;
        break;
      case OPT_KEY:
        if (strcmp(optarg, "ec") == 0) {
          c->client.key_type = SS_KEY_EC_P256;
        } else if (strcmp(optarg, "x25519") == 0) {
          c->client.key_type = SS_KEY_X25519;
        } else if (strcmp(optarg, "rsa") == 0) {
          c->client.key_type = SS_KEY_RSA_4096;
        } else {
          usage_error("--key wants ec, x25519 or rsa, not \"%s\"", optarg);
          return 0;
        }
        break;
      case OPT_ENC:
        c->client.content_alg = optarg;
        break;
      case OPT_COMPACT:
        c->client.compact = 1;
        break;
      case OPT_COMPRESS:
        c->client.compress = 1;
        break;
      case OPT_MAX_ROWS_PER_BATCH:
        if (!parse_u64("max-rows-per-batch", optarg, UINT32_MAX, &v)) {
          return 0;
        }
        c->query.max_rows_per_batch = (uint32_t)v;
        break;
      case OPT_MAX_BYTES_PER_BATCH:
        if (!parse_u64("max-bytes-per-batch", optarg, UINT64_MAX, &v)) {
          return 0;
        }
        c->query.max_bytes_per_batch = v;
        break;
      case OPT_MAX_TOTAL_ROWS:
        if (!parse_u64("max-total-rows", optarg, UINT64_MAX, &v)) {
          return 0;
        }
        c->query.max_total_rows = v;
        break;
      case OPT_TIMEOUT_MS:
        if (!parse_u64("timeout-ms", optarg, INT64_MAX, &v)) {
          return 0;
        }
        c->query.timeout_ms = (int64_t)v;
        break;
      case OPT_MAX_MESSAGE_BYTES:
        if (!parse_u64("max-message-bytes", optarg, SIZE_MAX, &v)) {
          return 0;
        }
        c->client.max_message_bytes = (size_t)v;
        break;
      case OPT_FORMAT:
        if (!ss_output_format_parse(optarg, &c->format)) {
          usage_error("--format wants table, csv or jsonl, not \"%s\"",
                      optarg);
          return 0;
        }
        break;
      case OPT_NO_PROGRESS:
        c->progress = 0;
        break;
      case OPT_HELP:
        fputs(kUsage, stdout);
        *out_exit = fflush(stdout) == 0 ? 0 : 1;
        return 0;
      case ':':
        usage_error("%s needs a value", name);
        return 0;
      default:
        usage_error("unknown option %s", name);
        return 0;
    }
  }
  if (optind < argc) {
    if (c->sql != NULL || optind + 1 < argc) {
      usage_error("give one query, with --query or as the last argument");
      return 0;
    }
    c->sql = argv[optind];
  }
  if (c->client.target == NULL) {
    usage_error("--target HOST:PORT is required");
    return 0;
  }
  if (c->sql == NULL || c->sql[0] == '\0') {
    usage_error("no query given");
    return 0;
  }
  return 1;
}

// --- cancelling on Ctrl-C ---

// SIGINT and SIGTERM are blocked in every thread (gRPC's included) and
// taken by one thread with sigwait, which may call ss_query_cancel: a signal
// handler could not (gRPC is not async-signal-safe).
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static ss_query *g_running;  // guarded by g_mu
static int g_interrupted;    // guarded by g_mu

static void *signal_thread(void *arg) {
  const sigset_t *signals = arg;
  for (;;) {
    int sig;
    if (sigwait(signals, &sig) != 0) {
      continue;
    }
    pthread_mutex_lock(&g_mu);
    int again = g_interrupted;
    g_interrupted = 1;
    if (g_running != NULL) {
      ss_query_cancel(g_running);
    }
    pthread_mutex_unlock(&g_mu);
    if (again) {
      _exit(EXIT_INTERRUPTED);
    }
  }
  return NULL;
}

static int start_signal_thread(void) {
  static sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &signals, NULL) != 0) {
    return 0;
  }
  pthread_t thread;
  if (pthread_create(&thread, NULL, signal_thread, &signals) != 0) {
    return 0;
  }
  pthread_detach(thread);
  return 1;
}

static void set_running(ss_query *query) {
  pthread_mutex_lock(&g_mu);
  g_running = query;
  if (query != NULL && g_interrupted) {
    ss_query_cancel(query);  // Ctrl-C came while the query was starting
  }
  pthread_mutex_unlock(&g_mu);
}

static int interrupted(void) {
  pthread_mutex_lock(&g_mu);
  int v = g_interrupted;
  pthread_mutex_unlock(&g_mu);
  return v;
}

// --- progress ---

typedef struct progress {
  int on;
  struct timespec start;
  int64_t last_ns;  // since start, at the last redraw
} progress;

static int64_t elapsed_ns(const progress *p) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)(now.tv_sec - p->start.tv_sec) * 1000000000LL +
         (now.tv_nsec - p->start.tv_nsec);
}

static double mb_per_second(uint64_t bytes, int64_t ns) {
  return ns > 0 ? (double)bytes / 1e6 / ((double)ns / 1e9) : 0.0;
}

static void progress_update(progress *p, const ss_query *query,
                            uint64_t rows) {
  if (!p->on) {
    return;
  }
  int64_t ns = elapsed_ns(p);
  if (ns - p->last_ns < PROGRESS_INTERVAL_NS) {
    return;
  }
  p->last_ns = ns;
  uint64_t bytes = ss_query_bytes_received(query);
  fprintf(stderr, "\r\033[K%" PRIu64 " rows, %.1f MB, %.1f MB/s", rows,
          (double)bytes / 1e6, mb_per_second(bytes, ns));
}

static void progress_done(progress *p, const ss_query *query, uint64_t rows,
                          int ok) {
  if (!p->on) {
    return;
  }
  fputs("\r\033[K", stderr);
  if (ok) {
    int64_t ns = elapsed_ns(p);
    uint64_t bytes = ss_query_bytes_received(query);
    fprintf(stderr,
            "%" PRIu64 " rows in %" PRIu64 " batches, %.1f MB in %.2f s "
            "(%.1f MB/s)\n",
            rows, ss_query_total_batches(query), (double)bytes / 1e6,
            (double)ns / 1e9, mb_per_second(bytes, ns));
  }
}

// --- main ---

// drop_grpc_log keeps gRPC's own log lines (a failed TLS handshake, ...)
// off stderr: the query's status already reports them, on one line. Set
// GRPC_VERBOSITY to see them.
static void drop_grpc_log(gpr_log_func_args *args) { (void)args; }

static int run(const cli *c) {
  ss_error err;
  ss_client *client = NULL;
  ss_query *query = NULL;
  ss_printer *printer = NULL;
  int status = EXIT_QUERY_FAILED;
  progress prog = {.on = c->progress && isatty(STDERR_FILENO) &&
                         !isatty(STDOUT_FILENO)};
  clock_gettime(CLOCK_MONOTONIC, &prog.start);

  client = ss_client_new(&c->client, &err);
  if (client == NULL) {
    print_error(&err);
    goto done;
  }
  query = ss_query_start(client, c->sql, &c->query, &err);
  if (query == NULL) {
    print_error(&err);
    goto done;
  }
  set_running(query);
  printer = ss_printer_new(stdout, c->format, query);
  if (printer == NULL) {
    err.code = GRPC_STATUS_RESOURCE_EXHAUSTED;
    snprintf(err.message, sizeof(err.message), "out of memory");
    print_error(&err);
    goto done;
  }
  const ss_batch *batch;
  int got;
  int write_errno = 0;
  while ((got = ss_query_next(query, &batch, &err)) == 1) {
    // Each batch reaches stdout before the next is read: output streams.
    errno = 0;
    if (!ss_printer_batch(printer, batch) || fflush(stdout) != 0) {
      write_errno = errno;
      break;
    }
    progress_update(&prog, query, ss_printer_rows(printer));
  }
  if (got < 0) {
    progress_done(&prog, query, ss_printer_rows(printer), 0);
    print_error(&err);
    status = interrupted() ? EXIT_INTERRUPTED : EXIT_QUERY_FAILED;
    goto done;
  }
  if (got == 0) {
    errno = 0;
    if (!ss_printer_finish(printer)) {
      write_errno = errno;
      got = 1;
    }
  }
  if (got > 0) {
    // The loop stopped on a write error (or memory ran out).
    progress_done(&prog, query, ss_printer_rows(printer), 0);
    err.code = GRPC_STATUS_INTERNAL;
    snprintf(err.message, sizeof(err.message),
             "writing the output failed: %s",
             write_errno != 0 ? strerror(write_errno) : "out of memory");
    print_error(&err);
    goto done;
  }
  progress_done(&prog, query, ss_printer_rows(printer), 1);
  status = 0;

done:
  set_running(NULL);
  ss_printer_free(printer);
  ss_query_free(query);
  ss_client_free(client);
  return status;
}

int main(int argc, char **argv) {
  cli c;
  int exit_status;
  if (!parse_args(&c, argc, argv, &exit_status)) {
    return exit_status;
  }
  if (getenv("GRPC_VERBOSITY") == NULL) {
    gpr_set_log_function(drop_grpc_log);
  }
  if (!start_signal_thread()) {
    fprintf(stderr, "sealstream-query: INTERNAL: cannot set up Ctrl-C "
                    "handling\n");
    return EXIT_QUERY_FAILED;
  }
  if (!isatty(STDOUT_FILENO)) {
    // Rows are flushed per batch; whole buffers in between.
    static char out_buffer[1 << 16];
    setvbuf(stdout, out_buffer, _IOFBF, sizeof(out_buffer));
  }
  return run(&c);
}
