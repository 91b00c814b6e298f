// Status values: a gRPC status code plus a human-readable message.
//
// Every function in sealstream that can fail takes an |ss_status *st| as its
// last argument and fills it on failure. The message travels unchanged to the
// RPC status or the CLI's stderr, so it must say what was wrong and what to
// do, and must never contain key bytes, plaintext or raw input.
#ifndef SEALSTREAM_LIB_BASE_STATUS_H
#define SEALSTREAM_LIB_BASE_STATUS_H

#include <grpc/status.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SS_STATUS_MSG_MAX 320

typedef struct ss_status {
  grpc_status_code code;        // GRPC_STATUS_OK when no error was recorded
  char msg[SS_STATUS_MSG_MAX];  // NUL-terminated, truncated if longer
} ss_status;

// ss_status_init sets |st| to OK with an empty message. NULL is ignored.
void ss_status_init(ss_status *st);

// ss_status_set records |code| and a printf-style message in |st|. It
// allocates nothing; a NULL |st| is ignored. Always returns 0 so that error
// paths can `return ss_status_set(...)`.
int ss_status_set(ss_status *st, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// ss_status_prefix prepends printf-style context to the message in |st|
// ("JWE ciphertext: " + "invalid base64url ..."), keeping the code. Ignored
// when |st| is NULL or OK. Always returns 0.
int ss_status_prefix(ss_status *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// SS_STATUS_SHOWN_MAX bounds how much of an untrusted value a message shows.
#define SS_STATUS_SHOWN_MAX 48

// ss_status_shown writes a bounded, printable rendering of the untrusted
// |len| bytes at |text| to |out| for use in a message: bytes outside
// printable ASCII become '?', and more than SS_STATUS_SHOWN_MAX bytes are
// cut with "...". Returns |out|.
char *ss_status_shown(char out[SS_STATUS_SHOWN_MAX + 4], const char *text,
                      size_t len);

// ss_status_ok returns 1 if |st| holds no error.
int ss_status_ok(const ss_status *st);

// ss_status_code_name returns the canonical name of |code|
// ("INVALID_ARGUMENT"), or "UNKNOWN" for values outside the enum.
const char *ss_status_code_name(grpc_status_code code);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_BASE_STATUS_H
