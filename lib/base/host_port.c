// HOST:PORT and [IPV6]:PORT addresses (see host_port.h), read through a
// bounds-checked cursor: they come from operators' flags and files.
#include "lib/base/host_port.h"

#include <stdint.h>
#include <string.h>

// parse_port reads all of |cbs|: 1 to 5 decimal digits, at most 65535.
static int parse_port(ss_cbs cbs, int *out_port) {
  if (cbs.len == 0 || cbs.len > 5) {
    return 0;
  }
  int port = 0;
  uint8_t digit;
  while (ss_cbs_get_u8(&cbs, &digit)) {
    if (digit < '0' || digit > '9') {
      return 0;
    }
    port = port * 10 + (digit - '0');
  }
  if (port > 65535) {
    return 0;
  }
  *out_port = port;
  return 1;
}

int ss_host_port_split(const char *text, size_t len, ss_cbs *out_host,
                       int *out_port, int *out_bracketed) {
  ss_cbs cbs, host;
  ss_cbs_init(&cbs, text, len);
  ss_cbs_init(out_host, NULL, 0);
  *out_port = 0;
  *out_bracketed = 0;
  int bracketed = 0;
  ss_cbs after_bracket = cbs;
  uint8_t c;
  if (ss_cbs_get_u8(&after_bracket, &c) && c == '[') {
    bracketed = 1;
    if (!ss_cbs_get_until(&after_bracket, &host, ']') ||
        !ss_cbs_get_u8(&after_bracket, &c) || c != ':') {
      return 0;
    }
    cbs = after_bracket;
  } else if (!ss_cbs_get_until(&cbs, &host, ':')) {
    return 0;
  }
  int port;
  if (host.len == 0 || !parse_port(cbs, &port)) {
    return 0;
  }
  *out_host = host;
  *out_port = port;
  *out_bracketed = bracketed;
  return 1;
}
