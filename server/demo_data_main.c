// sealstream-demo-data: writes a synthetic HTTP telemetry database (see
// demo_data.h) for demos and benchmarks. Refuses to replace an existing file
// unless told to; on failure nothing is left behind.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/status.h"
#include "server/demo_data.h"

// Ten billion rows is about a terabyte; more is surely a typo.
#define MAX_ROWS UINT64_C(10000000000)

static const char kUsage[] =
    "usage: sealstream-demo-data --out FILE --rows N [--seed S] [--force]\n"
    "\n"
    "Writes N rows of synthetic HTTP telemetry to a new SQLite database FILE,\n"
    "table " SS_DEMO_DATA_TABLE
    "(time TIMESTAMP (int64 ns), service, pod, method,\n"
    "path, status, latency_ms, request_bytes, response_bytes), indexed on\n"
    "time. The same N and S always write the same data.\n"
    "\n"
    "  --out FILE   the database to create\n"
    "  --rows N     rows to write, 0 to 10000000000\n"
    "  --seed S     seed of the generator, 0 to 2^64-1 (default 1)\n"
    "  --force      replace FILE if it exists\n"
    "  --help       print this help\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt,
                                                             ...) {
  va_list args;
  va_start(args, fmt);
  fprintf(stderr, "sealstream-demo-data: ");
  vfprintf(stderr, fmt, args);
  va_end(args);
  fprintf(stderr, " (see sealstream-demo-data --help)\n");
  return 2;
}

// parse_u64 reads a decimal number of at most |max| with nothing around it.
// Returns 1, or 0 for anything else.
static int parse_u64(const char *text, uint64_t max, uint64_t *out) {
  if (text[0] < '0' || text[0] > '9') {
    return 0;  // strtoull would accept spaces, signs and "-1"
  }
  errno = 0;
  char *end;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || v > max) {
    return 0;
  }
  *out = v;
  return 1;
}

static double seconds_since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) +
         (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int main(int argc, char **argv) {
  const char *out = NULL;
  const char *rows_text = NULL;
  const char *seed_text = NULL;
  int force = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(kUsage, stdout);
      return 0;
    }
    if (strcmp(arg, "--force") == 0) {
      force = 1;
      continue;
    }
    const char **value = strcmp(arg, "--out") == 0    ? &out
                         : strcmp(arg, "--rows") == 0 ? &rows_text
                         : strcmp(arg, "--seed") == 0 ? &seed_text
                                                      : NULL;
    if (value == NULL) {
      return usage_error("unknown argument \"%s\"", arg);
    }
    if (i + 1 == argc) {
      return usage_error("%s needs a value", arg);
    }
    *value = argv[++i];
  }
  if (out == NULL || rows_text == NULL) {
    return usage_error("--out and --rows are required");
  }
  if (out[0] == '\0') {
    return usage_error("--out needs a file name");
  }
  uint64_t rows;
  uint64_t seed = 1;
  if (!parse_u64(rows_text, MAX_ROWS, &rows)) {
    return usage_error("--rows needs a whole number from 0 to %llu",
                       (unsigned long long)MAX_ROWS);
  }
  if (seed_text != NULL && !parse_u64(seed_text, UINT64_MAX, &seed)) {
    return usage_error("--seed needs a whole number from 0 to %llu",
                       (unsigned long long)UINT64_MAX);
  }
  struct stat sb;
  if (lstat(out, &sb) == 0) {
    if (!force) {
      fprintf(stderr,
              "sealstream-demo-data: %s exists; pass --force to replace it\n",
              out);
      return 1;
    }
    if (S_ISDIR(sb.st_mode)) {
      fprintf(stderr, "sealstream-demo-data: %s is a directory\n", out);
      return 1;
    }
    if (unlink(out) != 0) {
      fprintf(stderr, "sealstream-demo-data: cannot remove %s: %s\n", out,
              strerror(errno));
      return 1;
    }
  }
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  ss_status st;
  ss_status_init(&st);
  if (!ss_demo_data_generate(out, rows, seed, &st)) {
    fprintf(stderr, "sealstream-demo-data: %s: %s\n", out, st.msg);
    return 1;
  }
  double elapsed = seconds_since(&start);
  long long size = stat(out, &sb) == 0 ? (long long)sb.st_size : -1;
  printf("wrote %llu rows (seed %llu) to %s: %.1f MB in %.2f s, %.0f rows/s\n",
         (unsigned long long)rows, (unsigned long long)seed, out,
         (double)size / 1e6, elapsed,
         elapsed > 0 ? (double)rows / elapsed : 0.0);
  return 0;
}
