// Listen and target addresses of the form HOST:PORT or [IPV6]:PORT, as
// operators write them in flags and config files.
#ifndef SEALSTREAM_LIB_BASE_HOST_PORT_H
#define SEALSTREAM_LIB_BASE_HOST_PORT_H

#include <stddef.h>

#include "lib/base/bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss_host_port_split splits the |len| bytes at |text| into the host
// (|*out_host|, borrowed from |text|, without the brackets of the [IPV6]
// form, never empty) and the port (|*out_port|, 1 to 5 decimal digits, 0 to
// 65535). |*out_bracketed| is 1 for the [IPV6] form. The host's characters
// are not checked. Returns 1, or 0 when |text| is not of that form (the
// outputs are then zero).
int ss_host_port_split(const char *text, size_t len, ss_cbs *out_host,
                       int *out_port, int *out_bracketed);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_BASE_HOST_PORT_H
