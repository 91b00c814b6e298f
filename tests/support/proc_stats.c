// Peak RSS and CPU time from /proc/<pid>/status and /proc/<pid>/stat
// (proc(5)). The files are the kernel's, read as text.
#include "tests/support/proc_stats.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void proc_path(char *out, size_t out_len, pid_t pid, const char *file) {
  if (pid == 0) {
    snprintf(out, out_len, "/proc/self/%s", file);
  } else {
    snprintf(out, out_len, "/proc/%ld/%s", (long)pid, file);
  }
}

int ss_proc_peak_rss_kb(pid_t pid, uint64_t *out_kb, ss_status *st) {
  *out_kb = 0;
  char path[64];
  proc_path(path, sizeof(path), pid, "status");
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return ss_status_set(st, GRPC_STATUS_NOT_FOUND, "cannot open %s", path);
  }
  char line[256];
  int found = 0;
  uint64_t kb = 0;
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, "VmHWM:", 6) == 0) {
      found = sscanf(line + 6, "%" SCNu64, &kb) == 1;
      break;
    }
  }
  fclose(f);
  if (!found) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "%s has no VmHWM line",
                         path);
  }
  *out_kb = kb;
  return 1;
}

int ss_proc_cpu_ms(pid_t pid, uint64_t *out_ms, ss_status *st) {
  *out_ms = 0;
  char path[64];
  proc_path(path, sizeof(path), pid, "stat");
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return ss_status_set(st, GRPC_STATUS_NOT_FOUND, "cannot open %s", path);
  }
  char line[1024];
  char *got = fgets(line, sizeof(line), f);
  fclose(f);
  // The command name (field 2) is in parentheses and may hold spaces and
  // parentheses itself; the fields after the last ')' are plain numbers.
  char *rest = got != NULL ? strrchr(line, ')') : NULL;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  // After ")": state (3), ppid .. cmajflt (4-12), utime (14), stime (15).
  if (rest == NULL ||
      sscanf(rest + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
             &utime, &stime) != 2) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "cannot parse %s", path);
  }
  long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) {
    return ss_status_set(st, GRPC_STATUS_INTERNAL, "no _SC_CLK_TCK");
  }
  *out_ms = (uint64_t)((utime + stime) * 1000ULL / (unsigned long long)ticks);
  return 1;
}
