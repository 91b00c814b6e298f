// sealstream daemons (the server, the proxy) as child processes (see
// server_process.h).
// Between fork and exec the child calls only async-signal-safe functions:
// the test process runs gRPC threads. The port file and log are written by
// the child and read here as untrusted text.
#include "tests/support/server_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// Time a server (slow under sanitizers) may take to start listening.
#define START_TIMEOUT_MS 60000
#define POLL_MS 10
#define MAX_ARGS 24

struct ss_test_server {
  pid_t pid;
  char name[64];        // the program's name, for messages
  char target[32];      // "127.0.0.1:PORT"
  char log_path[4096];  // the child's stdout and stderr
  char port_path[4096];
};

static unsigned next_server_id;

int ss_test_tmp_path(char *out, size_t out_len, const char *name,
                     ss_status *st) {
  const char *dir = getenv("TEST_TMPDIR");
  if (dir == NULL || dir[0] == '\0') {
    dir = "/tmp";
  }
  int n = snprintf(out, out_len, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= out_len) {
    return ss_status_set(st, GRPC_STATUS_OUT_OF_RANGE,
                         "temporary path for %s is too long", name);
  }
  return 1;
}

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void print_log(const char *path, const char *what) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return;
  }
  fprintf(stderr, "----- %s (%s) -----\n", what, path);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    fwrite(chunk, 1, n, stderr);
  }
  fprintf(stderr, "----- end of %s -----\n", what);
  fclose(f);
}

// file_contains returns 1 if the file at |path| contains |needle|. The log is
// read in overlapping chunks so a match across a chunk border is found.
static int file_contains(const char *path, const char *needle) {
  size_t nlen = strlen(needle);
  if (nlen == 0 || nlen >= 1024) {
    return 0;
  }
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return 0;
  }
  char buf[8192 + 1];
  size_t kept = 0;
  int found = 0;
  for (;;) {
    size_t n = fread(buf + kept, 1, sizeof(buf) - 1 - kept, f);
    if (n == 0) {
      break;
    }
    size_t len = kept + n;
    buf[len] = '\0';
    // memmem, not strstr: the log may hold NUL bytes.
    if (memmem(buf, len, needle, nlen) != NULL) {
      found = 1;
      break;
    }
    kept = nlen - 1 < len ? nlen - 1 : len;
    memmove(buf, buf + len - kept, kept);
  }
  fclose(f);
  return found;
}

// read_port parses the port file: decimal digits, optionally followed by
// whitespace. Returns the port, or 0 while the file is missing, incomplete
// or not a port.
static unsigned read_port(const char *path) {
  char text[32];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (n <= 0) {
    return 0;
  }
  text[n] = '\0';
  unsigned long port = 0;
  size_t i = 0;
  for (; text[i] >= '0' && text[i] <= '9'; i++) {
    port = port * 10 + (unsigned long)(text[i] - '0');
    if (port > 65535) {
      return 0;
    }
  }
  if (i == 0) {
    return 0;
  }
  for (; text[i] != '\0'; i++) {
    if (text[i] != '\n' && text[i] != ' ' && text[i] != '\r') {
      return 0;
    }
  }
  return (unsigned)port;
}

// wait_exit waits up to |timeout_ms| for |pid|. Returns 1 with |*out_status|
// set, or 0 if it is still running.
static int wait_exit(pid_t pid, long timeout_ms, int *out_status) {
  for (long waited = 0;; waited += POLL_MS) {
    pid_t r = waitpid(pid, out_status, WNOHANG);
    if (r == pid) {
      return 1;
    }
    if (r < 0 && errno != EINTR) {
      // Not our child any more: nothing to wait for.
      *out_status = 0;
      return 1;
    }
    if (waited >= timeout_ms) {
      return 0;
    }
    sleep_ms(POLL_MS);
  }
}

static void describe_exit(char *out, size_t out_len, int status) {
  if (WIFEXITED(status)) {
    snprintf(out, out_len, "exit status %d", WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    snprintf(out, out_len, "killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  } else {
    snprintf(out, out_len, "wait status 0x%x", (unsigned)status);
  }
}

// spawn starts |argv| with stdin from /dev/null and stdout and stderr
// appended to |log_path|. With |die_with_parent| the child gets SIGKILL when
// the test process dies. Returns the pid, or -1 with |st| set.
static pid_t spawn(char *const argv[], const char *log_path,
                   int die_with_parent, ss_status *st) {
  int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "cannot open %s: %s", log_path,
                  strerror(errno));
    return -1;
  }
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    close(log_fd);
    ss_status_set(st, GRPC_STATUS_INTERNAL, "cannot open /dev/null");
    return -1;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    if (die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) {
        _exit(126);
      }
    }
    // dup2 clears O_CLOEXEC on the new descriptors.
    if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) {
      _exit(126);
    }
    execv(argv[0], argv);
    static const char kExecFailed[] = "exec failed\n";
    ssize_t ignored = write(2, kExecFailed, sizeof(kExecFailed) - 1);
    (void)ignored;
    _exit(127);
  }
  int fork_errno = errno;
  close(log_fd);
  close(null_fd);
  if (pid < 0) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "fork: %s", strerror(fork_errno));
    return -1;
  }
  return pid;
}

int ss_test_run_program(char *const argv[], const char *log_path,
                        ss_status *st) {
  pid_t pid = spawn(argv, log_path, 1, st);
  if (pid < 0) {
    return 0;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return ss_status_set(st, GRPC_STATUS_INTERNAL, "waitpid: %s",
                           strerror(errno));
    }
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char how[96];
    describe_exit(how, sizeof(how), status);
    print_log(log_path, argv[0]);
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "%s: %s", argv[0], how);
  }
  return 1;
}

ss_test_server *ss_test_daemon_start(const char *name, char *const argv[],
                                     ss_status *st) {
  ss_test_server *server = calloc(1, sizeof(*server));
  if (server == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  server->pid = -1;
  snprintf(server->name, sizeof(server->name), "%s", name);
  unsigned id = next_server_id++;
  char file[96];
  snprintf(file, sizeof(file), "%s-%u.log", name, id);
  if (!ss_test_tmp_path(server->log_path, sizeof(server->log_path), file,
                        st)) {
    goto err;
  }
  snprintf(file, sizeof(file), "%s-%u.port", name, id);
  if (!ss_test_tmp_path(server->port_path, sizeof(server->port_path), file,
                        st)) {
    goto err;
  }
  unlink(server->port_path);
  unlink(server->log_path);

  char *full[MAX_ARGS + 3];
  size_t argc = 0;
  for (; argv[argc] != NULL; argc++) {
    if (argc == MAX_ARGS) {
      ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                    "%s: more than %d arguments", name, MAX_ARGS);
      goto err;
    }
    full[argc] = argv[argc];
  }
  full[argc++] = "--port-file";
  full[argc++] = server->port_path;
  full[argc] = NULL;

  server->pid = spawn(full, server->log_path, 1, st);
  if (server->pid < 0) {
    goto err;
  }
  for (long waited = 0;; waited += POLL_MS) {
    unsigned port = read_port(server->port_path);
    if (port != 0) {
      // A partly written number would also parse: accept it once it reads
      // the same a moment later.
      sleep_ms(POLL_MS);
      if (read_port(server->port_path) == port) {
        snprintf(server->target, sizeof(server->target), "127.0.0.1:%u", port);
        return server;
      }
    }
    int status = 0;
    if (waitpid(server->pid, &status, WNOHANG) == server->pid) {
      char how[96];
      describe_exit(how, sizeof(how), status);
      server->pid = -1;
      print_log(server->log_path, name);
      ss_status_set(st, GRPC_STATUS_UNAVAILABLE,
                    "%s exited before listening: %s", name, how);
      goto err;
    }
    if (waited >= START_TIMEOUT_MS) {
      print_log(server->log_path, name);
      ss_status_set(st, GRPC_STATUS_DEADLINE_EXCEEDED,
                    "%s wrote no port to %s within %d ms", name,
                    server->port_path, START_TIMEOUT_MS);
      goto err;
    }
    sleep_ms(POLL_MS);
  }

err:
  ss_test_server_kill(server);
  return NULL;
}

ss_test_server *ss_test_server_start(const ss_test_server_options *options,
                                     ss_status *st) {
  char workers[16];
  char drain[16];
  char streams[16];
  char query_time[16];
  char *argv[MAX_ARGS + 1];
  size_t argc = 0;
  argv[argc++] = (char *)options->binary;
  argv[argc++] = "--db";
  argv[argc++] = (char *)options->db_path;
  argv[argc++] = "--listen";
  argv[argc++] = "127.0.0.1:0";
  if (options->allow_plaintext) {
    argv[argc++] = "--allow-plaintext";
  }
  if (options->workers != 0) {
    snprintf(workers, sizeof(workers), "%u", options->workers);
    argv[argc++] = "--workers";
    argv[argc++] = workers;
  }
  if (options->drain_timeout_s != 0) {
    snprintf(drain, sizeof(drain), "%u", options->drain_timeout_s);
    argv[argc++] = "--drain-timeout";
    argv[argc++] = drain;
  }
  if (options->max_streams != 0) {
    snprintf(streams, sizeof(streams), "%u", options->max_streams);
    argv[argc++] = "--max-streams";
    argv[argc++] = streams;
  }
  if (options->max_query_time_s != 0) {
    snprintf(query_time, sizeof(query_time), "%u", options->max_query_time_s);
    argv[argc++] = "--max-query-time";
    argv[argc++] = query_time;
  }
  argv[argc] = NULL;
  return ss_test_daemon_start("sealstream-server", argv, st);
}

const char *ss_test_server_target(const ss_test_server *server) {
  return server->target;
}

pid_t ss_test_server_pid(const ss_test_server *server) { return server->pid; }

int ss_test_server_port(const ss_test_server *server) {
  return atoi(strchr(server->target, ':') + 1);
}

int ss_test_server_log_contains(const ss_test_server *server,
                                const char *needle) {
  return file_contains(server->log_path, needle);
}

int ss_test_server_stop(ss_test_server *server, unsigned timeout_s,
                        ss_status *st) {
  if (server == NULL) {
    return 1;
  }
  int ok = 0;
  if (server->pid <= 0) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "%s not running", server->name);
    goto done;
  }
  if (kill(server->pid, SIGTERM) != 0) {
    ss_status_set(st, GRPC_STATUS_INTERNAL, "kill(SIGTERM): %s",
                  strerror(errno));
    goto done;
  }
  int status = 0;
  if (!wait_exit(server->pid, (long)timeout_s * 1000, &status)) {
    kill(server->pid, SIGKILL);
    wait_exit(server->pid, 10000, &status);
    server->pid = -1;
    print_log(server->log_path, server->name);
    ss_status_set(st, GRPC_STATUS_DEADLINE_EXCEEDED,
                  "%s still running %u s after SIGTERM", server->name,
                  timeout_s);
    goto done;
  }
  server->pid = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char how[96];
    describe_exit(how, sizeof(how), status);
    print_log(server->log_path, server->name);
    ss_status_set(st, GRPC_STATUS_INTERNAL,
                  "%s after SIGTERM: %s, expected exit 0", server->name, how);
    goto done;
  }
  // AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer reports.
  if (file_contains(server->log_path, "Sanitizer") ||
      file_contains(server->log_path, "runtime error:")) {
    print_log(server->log_path, server->name);
    ss_status_set(st, GRPC_STATUS_INTERNAL, "%s log holds a sanitizer report",
                  server->name);
    goto done;
  }
  ok = 1;

done:
  ss_test_server_kill(server);
  return ok;
}

void ss_test_server_kill(ss_test_server *server) {
  if (server == NULL) {
    return;
  }
  if (server->pid > 0) {
    kill(server->pid, SIGKILL);
    int status;
    wait_exit(server->pid, 10000, &status);
  }
  free(server);
}
