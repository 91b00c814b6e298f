// Test support: a proxy that stands where sealstream's untrusted proxy
// stands and misbehaves on purpose. It is sealstream-proxy itself, in the
// test process (filter_proxy.h), with a filter that carries out a tamper plan
// on the server-to-client messages of each call (flip a byte, drop,
// duplicate, swap, truncate, or replay a recorded stream); everything else
// (any method, metadata, client messages, status) is forwarded unchanged.
#ifndef SEALSTREAM_TESTS_TAMPER_TAMPER_PROXY_H
#define SEALSTREAM_TESTS_TAMPER_TAMPER_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ss_tamper_mode {
  SS_TAMPER_NONE = 0,   // forward everything unchanged
  SS_TAMPER_FLIP,       // xor one byte of message |message| with |xor_mask|
  SS_TAMPER_DROP,       // never deliver message |message|
  SS_TAMPER_DUPLICATE,  // deliver message |message| twice in a row
  SS_TAMPER_SWAP,       // deliver message |message| + 1 before |message|
  SS_TAMPER_TRUNCATE,   // deliver messages 0..|message|, then end with OK
  // Answer with the messages recorded from the last call forwarded whole,
  // then OK. The server still gets the request, but none of its messages
  // reach the client.
  SS_TAMPER_REPLAY,
} ss_tamper_mode;

typedef struct ss_tamper_plan {
  ss_tamper_mode mode;
  size_t message;    // 0-based index among the server-to-client messages
  size_t offset;     // FLIP: byte offset in the message; SIZE_MAX: last byte
  uint8_t xor_mask;  // FLIP: 0 means 0x01
} ss_tamper_plan;

typedef struct ss_tamper_proxy ss_tamper_proxy;

// ss_tamper_proxy_new listens on 127.0.0.1 (a free port) and forwards to
// |backend| ("host:port", insecure). The plan starts as SS_TAMPER_NONE.
// Returns NULL with |st| set.
ss_tamper_proxy *ss_tamper_proxy_new(const char *backend, ss_status *st);

// ss_tamper_proxy_free shuts the proxy down, cancelling calls in flight,
// and frees it. NULL is ignored.
void ss_tamper_proxy_free(ss_tamper_proxy *proxy);

// ss_tamper_proxy_target returns "127.0.0.1:PORT" for clients. Borrowed.
const char *ss_tamper_proxy_target(const ss_tamper_proxy *proxy);

// ss_tamper_proxy_set_plan sets the plan (copied) for calls that start
// after it; each call keeps the plan it started with.
void ss_tamper_proxy_set_plan(ss_tamper_proxy *proxy,
                              const ss_tamper_plan *plan);

// ss_tamper_proxy_applied returns how many calls had their plan carried out
// (a plan aimed past the end of a stream does nothing and is not counted).
uint64_t ss_tamper_proxy_applied(ss_tamper_proxy *proxy);

// ss_tamper_proxy_recorded returns the number of messages recorded from
// the last call forwarded whole, and sets |*out_len| to the length of
// message |index| of it (0 if there is no such message). |out_len| may be
// NULL.
size_t ss_tamper_proxy_recorded(ss_tamper_proxy *proxy, size_t index,
                                size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_TESTS_TAMPER_TAMPER_PROXY_H
