// Status values (see status.h). Formatting never allocates, so a status can
// be set on out-of-memory paths.
#include "lib/base/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ss_status_init(ss_status *st) {
  if (st == NULL) {
    return;
  }
  st->code = GRPC_STATUS_OK;
  st->msg[0] = '\0';
}

int ss_status_set(ss_status *st, grpc_status_code code, const char *fmt, ...) {
  if (st == NULL) {
    return 0;
  }
  st->code = code;
  va_list args;
  va_start(args, fmt);
  vsnprintf(st->msg, sizeof(st->msg), fmt, args);
  va_end(args);
  return 0;
}

int ss_status_prefix(ss_status *st, const char *fmt, ...) {
  if (st == NULL || st->code == GRPC_STATUS_OK) {
    return 0;
  }
  char prefix[SS_STATUS_MSG_MAX];
  va_list args;
  va_start(args, fmt);
  int prefix_len = vsnprintf(prefix, sizeof(prefix), fmt, args);
  va_end(args);
  if (prefix_len <= 0) {
    return 0;
  }
  size_t plen = (size_t)prefix_len < sizeof(prefix) ? (size_t)prefix_len
                                                      : sizeof(prefix) - 1;
  size_t mlen = strlen(st->msg);
  size_t room = sizeof(st->msg) - 1;
  if (plen >= room) {
    memcpy(st->msg, prefix, room);
    st->msg[room] = '\0';
    return 0;
  }
  size_t keep = mlen < room - plen ? mlen : room - plen;
  memmove(st->msg + plen, st->msg, keep);
  memcpy(st->msg, prefix, plen);
  st->msg[plen + keep] = '\0';
  return 0;
}

char *ss_status_shown(char out[SS_STATUS_SHOWN_MAX + 4], const char *text,
                      size_t len) {
  size_t shown = len < SS_STATUS_SHOWN_MAX ? len : SS_STATUS_SHOWN_MAX;
  for (size_t i = 0; i < shown; i++) {
    unsigned char c = (unsigned char)text[i];
    out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  if (shown < len) {
    memcpy(out + shown, "...", 3);
    shown += 3;
  }
  out[shown] = '\0';
  return out;
}

int ss_status_ok(const ss_status *st) {
  return st == NULL || st->code == GRPC_STATUS_OK;
}

const char *ss_status_code_name(grpc_status_code code) {
  switch (code) {
    case GRPC_STATUS_OK:
      return "OK";
    case GRPC_STATUS_CANCELLED:
      return "CANCELLED";
    case GRPC_STATUS_UNKNOWN:
      return "UNKNOWN";
    case GRPC_STATUS_INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case GRPC_STATUS_DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case GRPC_STATUS_NOT_FOUND:
      return "NOT_FOUND";
    case GRPC_STATUS_ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case GRPC_STATUS_PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case GRPC_STATUS_FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case GRPC_STATUS_ABORTED:
      return "ABORTED";
    case GRPC_STATUS_OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case GRPC_STATUS_UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case GRPC_STATUS_INTERNAL:
      return "INTERNAL";
    case GRPC_STATUS_UNAVAILABLE:
      return "UNAVAILABLE";
    case GRPC_STATUS_DATA_LOSS:
      return "DATA_LOSS";
    case GRPC_STATUS_UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}
