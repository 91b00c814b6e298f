// A gRPC server on completion-queue event loops, and the server side of its
// calls, shared by the sealstream server and proxy.
//
// ss_rpc_server owns a grpc_server, its listening port and credentials
// (insecure, TLS, or mutual TLS), and one or more ss_rpc_loops. Methods are
// registered by path with GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, so a
// new call arrives with its request message already read; calls to any other
// path go to the fallback handler if one is set (arriving with no message
// read), else are answered UNIMPLEMENTED. Handlers run on the pump thread of
// the call's loop.
//
// ss_rpc_call is one accepted call. It counts one reference for the
// application (dropped by ss_rpc_call_finish), one per batch in flight and
// one per outgoing call it is the parent of (see client_call.h); when the
// last is dropped it reports on_release and frees itself. A call receives
// messages one at a time, sends its initial metadata (alone or with the
// first message) and any number of messages, one at a time, then its status
// with optional trailing metadata. A client cancel or an expired deadline is
// reported once through on_cancel.
//
// Everything a peer sends (messages, metadata, method paths) is untrusted.
#ifndef SEALSTREAM_LIB_RPC_SERVER_H
#define SEALSTREAM_LIB_RPC_SERVER_H

#include <grpc/grpc.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/status.h"
#include "lib/rpc/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

// Defaults for the message size caps.
#define SS_RPC_DEFAULT_MAX_RECEIVE_BYTES (1024 * 1024)
#define SS_RPC_DEFAULT_MAX_SEND_BYTES (32 * 1024 * 1024)
// Calls awaited per method and loop before they arrive.
#define SS_RPC_DEFAULT_REQUESTS_PER_METHOD 8
#define SS_RPC_MAX_LOOPS 64

typedef struct ss_rpc_server_options {
  const char *listen_addr;  // "host:port"; port 0 picks a free port
  // TLS when both are set (PEM files); insecure otherwise.
  const char *tls_cert_file;  // certificate chain
  const char *tls_key_file;   // private key
  // PEM roots; when set, clients must present a certificate they verify.
  const char *tls_client_ca_file;
  size_t max_receive_bytes;  // per message; 0: the default above
  size_t max_send_bytes;     // per message; 0: the default above
  size_t max_metadata_bytes;  // request headers (soft limit); 0: gRPC's
  int num_loops;             // completion queues (one thread each); 0: 1
  int requests_per_method;   // 0: the default above
  // 1: a message the client compressed arrives as it was sent (a
  // grpc_byte_buffer whose data.raw.compression names the algorithm), never
  // inflated here; for forwarding, where inflating first would let a small
  // request cost the memory of its inflated size.
  int keep_compressed;
} ss_rpc_server_options;

// ss_rpc_server_options_init sets |options| to all defaults (zero/NULL).
void ss_rpc_server_options_init(ss_rpc_server_options *options);

typedef struct ss_rpc_server ss_rpc_server;
typedef struct ss_rpc_call ss_rpc_call;

// ss_rpc_call_handler receives each new call of a method on the call's pump
// thread. It must lead to exactly one ss_rpc_call_finish, from any thread,
// now or later.
typedef void (*ss_rpc_call_handler)(void *ctx, ss_rpc_call *call);

// ss_rpc_server_new creates a server listening (once started) on
// |options->listen_addr| with the credentials the options name (files are
// read now) and starts its pump threads. Errors: INVALID_ARGUMENT for bad
// options or an unreadable or half-given TLS configuration, UNAVAILABLE when
// the address cannot be bound. Returns NULL with |st| set on failure.
ss_rpc_server *ss_rpc_server_new(const ss_rpc_server_options *options,
                                 ss_status *st);

// ss_rpc_server_add_method routes calls to |path| ("/pkg.Service/Method",
// copied) to |handler| with |ctx| (borrowed; must outlive the server). Only
// before ss_rpc_server_start. Returns 1, or 0 with |st| set.
int ss_rpc_server_add_method(ss_rpc_server *server, const char *path,
                             ss_rpc_call_handler handler, void *ctx,
                             ss_status *st);

// ss_rpc_server_set_fallback routes calls to every path no method was added
// for to |handler| with |ctx| (borrowed; must outlive the server). Such calls
// arrive without a message read: use ss_rpc_call_recv. As many calls are
// awaited for them per loop as for each method. Only before
// ss_rpc_server_start. Returns 1, or 0 with |st| set.
int ss_rpc_server_set_fallback(ss_rpc_server *server,
                               ss_rpc_call_handler handler, void *ctx,
                               ss_status *st);

// ss_rpc_server_start starts serving. Returns 1, or 0 with |st| set.
int ss_rpc_server_start(ss_rpc_server *server, ss_status *st);

// ss_rpc_server_port returns the bound TCP port.
int ss_rpc_server_port(const ss_rpc_server *server);

// ss_rpc_server_num_loops and ss_rpc_server_loop give the server's loops
// (borrowed), for outgoing calls that should share a call's pump thread.
int ss_rpc_server_num_loops(const ss_rpc_server *server);
ss_rpc_loop *ss_rpc_server_loop(const ss_rpc_server *server, int index);

// ss_rpc_server_shutdown stops accepting calls and connections
// (grpc_server_shutdown_and_notify); calls in progress continue. Idempotent
// and non-blocking, so safe from any thread, handlers included.
void ss_rpc_server_shutdown(ss_rpc_server *server);

// ss_rpc_server_wait waits until a shutdown has completed: every call
// ended and was released. |timeout_ms| < 0 waits without limit. Returns 1 when
// complete, 0 on timeout. Must not be called from a pump thread.
int ss_rpc_server_wait(ss_rpc_server *server, int64_t timeout_ms);

// ss_rpc_server_cancel_all cancels every call in progress
// (grpc_server_cancel_all_calls); each reports on_cancel. Shuts the server
// down first if needed.
void ss_rpc_server_cancel_all(ss_rpc_server *server);

// ss_rpc_server_live_calls returns how many accepted calls are not yet
// released.
int ss_rpc_server_live_calls(const ss_rpc_server *server);

// ss_rpc_server_free shuts down, cancels what is left, waits for every call
// to be released, destroys the grpc_server, drains and stops the loops and
// frees |server|. The handlers' contexts must stay valid until it returns.
// Not from a pump thread. NULL is ignored.
void ss_rpc_server_free(ss_rpc_server *server);

// Callbacks of one call, set by its handler. All are optional.
typedef struct ss_rpc_call_ops {
  // on_send_done runs on the pump thread when the message of
  // ss_rpc_call_send has been accepted by flow control (|ok| 1) or the call
  // ended first (|ok| 0). Another send may start from here.
  void (*on_send_done)(void *app, int ok);
  // on_cancel runs once on the pump thread when the client cancelled, the
  // deadline expired, the connection broke or the server cancelled all calls,
  // unless the call was already finished. ss_rpc_call_finish is still owed.
  void (*on_cancel)(void *app);
  // on_release runs once when the call is finished and no operation is in
  // flight, just before the call is freed: the place to free |app|. It runs
  // on whichever thread dropped the last reference.
  void (*on_release)(void *app);
  // on_recv runs on the pump thread when the receive started by
  // ss_rpc_call_recv completed: |msg| is the client's next message (owned
  // by the callee), or NULL when the client half-closed or the call ended.
  // Another receive may start from here. Not called once the call was
  // finished (the message is dropped).
  void (*on_recv)(void *app, grpc_byte_buffer *msg);
} ss_rpc_call_ops;

// ss_rpc_call_set_ops attaches |ops| (borrowed, usually static) and |app|
// to |call|. Call it from the handler, before any send.
void ss_rpc_call_set_ops(ss_rpc_call *call, const ss_rpc_call_ops *ops,
                         void *app);

// ss_rpc_call_method returns the call's method path (borrowed from the
// server for registered methods).
const char *ss_rpc_call_method(const ss_rpc_call *call);

// ss_rpc_call_host returns the :authority the client sent (borrowed, valid
// until release) for calls that reached the fallback, "" otherwise.
const char *ss_rpc_call_host(const ss_rpc_call *call);

// ss_rpc_call_request returns the request message the client sent (borrowed,
// valid until release), or NULL if it sent none or it could not be read.
grpc_byte_buffer *ss_rpc_call_request(const ss_rpc_call *call);

// ss_rpc_call_metadata returns the client's initial metadata (borrowed,
// valid until release).
const grpc_metadata_array *ss_rpc_call_metadata(const ss_rpc_call *call);

// ss_rpc_call_deadline_ms returns the call's deadline as an absolute
// CLOCK_MONOTONIC time in milliseconds, or 0 when it has none. A deadline
// already past is returned as a time in the past, never 0.
int64_t ss_rpc_call_deadline_ms(const ss_rpc_call *call);

// ss_rpc_call_peer returns the peer's address ("ipv4:127.0.0.1:5000") as a
// new string (free with free()), or NULL when out of memory. Not
// authenticated: for logs only.
char *ss_rpc_call_peer(const ss_rpc_call *call);

// ss_rpc_call_grpc returns the underlying call (borrowed), for instance as
// the parent of an outgoing call.
grpc_call *ss_rpc_call_grpc(const ss_rpc_call *call);

// ss_rpc_call_loop returns the loop whose pump thread runs the call's
// handlers.
ss_rpc_loop *ss_rpc_call_loop(const ss_rpc_call *call);

// ss_rpc_call_cancelled returns 1 once the call is known to be cancelled.
int ss_rpc_call_cancelled(ss_rpc_call *call);

// ss_rpc_call_send starts sending |msg| (with the initial metadata before the
// first one). Takes ownership of |msg| on success; on_send_done follows.
// Safe from any thread. Once it returns 1 the completion may already have
// run. Fails with FAILED_PRECONDITION, changing nothing, while another send is
// in flight or after ss_rpc_call_finish, and with INTERNAL if gRPC refuses
// the batch. Returns 1, or 0 with |st| set.
int ss_rpc_call_send(ss_rpc_call *call, grpc_byte_buffer *msg, ss_status *st);

// ss_rpc_call_recv starts receiving the client's next message; on_recv
// follows. One receive at a time. Safe from any thread. Fails with
// FAILED_PRECONDITION, changing nothing, while another receive is in flight
// or after ss_rpc_call_finish, and with INTERNAL if gRPC refuses the batch.
// Returns 1, or 0 with |st| set.
int ss_rpc_call_recv(ss_rpc_call *call, ss_status *st);

// ss_rpc_call_send_initial_metadata sends the call's initial metadata now,
// without waiting for a first message: |num_metadata| entries of |metadata|
// (borrowed; gRPC copies them before this returns). Safe from any thread.
// Fails with FAILED_PRECONDITION once initial metadata went out (with a
// first message or the status) or the call was finished, and with INTERNAL
// if gRPC refuses the batch (for instance reserved or malformed keys).
// Returns 1, or 0 with |st| set.
int ss_rpc_call_send_initial_metadata(ss_rpc_call *call,
                                      const grpc_metadata *metadata,
                                      size_t num_metadata, ss_status *st);

// ss_rpc_call_finish sends the optional last message |msg| and the status
// |code| with |details| (copied; NULL or "" for none), and ends the
// application's use of |call|: afterwards it must not be touched, as it may
// already be released. Always takes ownership of |msg|. If a send is still in
// flight, the status follows when it completes. Safe from any thread.
// Returns 1; 0 with |st| set if the call was already finished (nothing is
// sent) or gRPC refused the batch (the call is then cancelled with |code|).
int ss_rpc_call_finish(ss_rpc_call *call, grpc_byte_buffer *msg,
                       grpc_status_code code, const char *details,
                       ss_status *st);

// ss_rpc_call_finish_with_metadata is ss_rpc_call_finish that also sends
// the |num_trailing| entries of |trailing| (the slices are referenced, so
// the array may be freed once this returns) as trailing metadata.
int ss_rpc_call_finish_with_metadata(ss_rpc_call *call, grpc_byte_buffer *msg,
                                     grpc_status_code code,
                                     const char *details,
                                     const grpc_metadata *trailing,
                                     size_t num_trailing, ss_status *st);

// ss_rpc_call_cancel cancels |call| with |code| and |details| unless it
// already ended; on_cancel follows. ss_rpc_call_finish is still owed. Safe
// from any thread while the application holds the call.
void ss_rpc_call_cancel(ss_rpc_call *call, grpc_status_code code,
                        const char *details);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_RPC_SERVER_H
