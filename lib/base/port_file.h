// What the sealstream daemons (server, proxy) tell the programs that start
// them: the port they bound, written to a file once they serve, and whether
// a listen address is reachable from other hosts.
#ifndef SEALSTREAM_LIB_BASE_PORT_FILE_H
#define SEALSTREAM_LIB_BASE_PORT_FILE_H

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss_port_file_write writes |port| and a newline to |path| through a
// temporary file renamed into place, so a reader never sees a partial
// number. Returns 1, or 0 with INVALID_ARGUMENT naming the file and the
// system's reason in |st|.
int ss_port_file_write(const char *path, int port, ss_status *st);

// ss_addr_is_loopback returns 1 for listen addresses ("HOST:PORT") only this
// host can reach.
int ss_addr_is_loopback(const char *addr);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_BASE_PORT_FILE_H
