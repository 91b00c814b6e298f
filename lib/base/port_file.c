// Port files and loopback addresses (see port_file.h).
#include "lib/base/port_file.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

int ss_port_file_write(const char *path, int port, ss_status *st) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "port file %s: path too long", path);
  }
  FILE *f = fopen(tmp, "w");
  if (f == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "port file %s: %s",
                         tmp, strerror(errno));
  }
  int ok = fprintf(f, "%d\n", port) > 0;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    int saved = errno;
    remove(tmp);
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "port file %s: %s",
                         path, strerror(saved));
  }
  return 1;
}

int ss_addr_is_loopback(const char *addr) {
  return strncmp(addr, "127.", 4) == 0 ||
         strncmp(addr, "localhost:", 10) == 0 ||
         strncmp(addr, "[::1]:", 6) == 0 || strncmp(addr, "unix:", 5) == 0;
}
