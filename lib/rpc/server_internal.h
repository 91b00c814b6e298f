// Internal to lib/rpc: the server and its accepted calls, shared by
// server.c and server_call.c, and what outgoing calls (client_call.c) need of
// the server calls that are their parents.
#ifndef SEALSTREAM_LIB_RPC_SERVER_INTERNAL_H
#define SEALSTREAM_LIB_RPC_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "lib/rpc/server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rpc_method {
  char *path;    // owned
  void *handle;  // from grpc_server_register_method
  ss_rpc_call_handler handler;
  void *ctx;                // borrowed
  struct rpc_method *next;  // owned list
} rpc_method;

struct ss_rpc_server {
  grpc_server *server;                   // owned
  ss_rpc_loop *loops[SS_RPC_MAX_LOOPS];  // owned; num_loops entries
  int num_loops;
  int port;
  int requests_per_method;
  rpc_method *methods;  // owned list, fixed once started
  // Calls to paths without a method; NULL: answered UNIMPLEMENTED.
  ss_rpc_call_handler fallback;
  void *fallback_ctx;  // borrowed

  pthread_mutex_t mu;
  pthread_cond_t cv;    // signalled when shutdown_done is set
  int started;          // guarded by mu
  int shutdown_called;  // guarded by mu; no request is armed after it
  int shutdown_done;    // guarded by mu; the notification arrived
  // Guarded by mu: awaited requests plus accepted calls not yet released.
  // gRPC may report the shutdown while a cancelled call still exists, so
  // the server is only done when this is 0 too.
  int outstanding;
  ss_rpc_tag shutdown_tag;

  _Atomic int live_calls;  // accepted and not yet released
};

struct ss_rpc_call {
  ss_rpc_server *server;      // borrowed
  rpc_method *method;         // NULL for a call to an unregistered path
  ss_rpc_loop *loop;          // borrowed; runs every handler of this call
  grpc_call *call;            // owned after acceptance
  char *unregistered_path;    // owned; the path of an unregistered call
  char *unregistered_host;    // owned; its :authority
  gpr_timespec deadline;      // registered calls
  grpc_call_details details;  // unregistered calls
  grpc_metadata_array request_md;
  grpc_byte_buffer *request;  // owned; registered calls' first message

  ss_rpc_tag accept_tag;
  ss_rpc_tag initial_md_tag;
  ss_rpc_tag send_tag;
  ss_rpc_tag recv_tag;
  ss_rpc_tag status_tag;
  ss_rpc_tag close_tag;
  int close_cancelled;  // written by gRPC when the close batch completes
  grpc_byte_buffer *received;  // written by gRPC when a receive completes

  pthread_mutex_t mu;  // guards the fields below, and serializes batches
  int refs;            // the application's + one per batch in flight
  int initial_md_sent;  // or started
  int send_in_flight;
  int recv_in_flight;
  grpc_byte_buffer *sending;    // owned while its send is in flight
  int finished;                 // ss_rpc_call_finish was called
  int status_pending;           // finish waits for the send in flight
  grpc_status_code final_code;  // valid when status_pending
  char *final_details;          // owned; valid when status_pending
  grpc_metadata *trailing_md;   // owned, slices referenced; from finish on
  size_t num_trailing_md;
  grpc_byte_buffer *final_msg;  // owned from finish to the status completion
  int cancelled;                // known to be cancelled

  const ss_rpc_call_ops *ops;  // borrowed; NULL: no callbacks
  void *app;                   // borrowed
};

// ss__rpc_call_ref keeps |call| (and so its server's shutdown) alive until
// the matching ss__rpc_call_unref. Only while the application holds |call|.
void ss__rpc_call_ref(ss_rpc_call *call);

// ss__rpc_call_unref drops a reference taken by ss__rpc_call_ref; |call|
// may be released by it.
void ss__rpc_call_unref(ss_rpc_call *call);

// ss__rpc_call_new returns a call of |server| that awaits acceptance on
// |loop|, for |method| (NULL: an unregistered path); NULL when out of memory.
ss_rpc_call *ss__rpc_call_new(ss_rpc_server *server, rpc_method *method,
                              ss_rpc_loop *loop);

// ss__rpc_call_free frees |c| and what it owns; the grpc_call must already be
// released (or never accepted).
void ss__rpc_call_free(ss_rpc_call *c);

// ss__rpc_server_arm awaits one more call to |method| (NULL: any unregistered
// path) on |loop|. Nothing is armed once shutdown was called.
void ss__rpc_server_arm(ss_rpc_server *server, rpc_method *method,
                        ss_rpc_loop *loop);

// ss__rpc_server_outstanding_done counts one awaited request or call as
// gone. Once the count reaches 0 after a shutdown, ss_rpc_server_free may
// proceed: the caller must not touch |server| after this returns.
void ss__rpc_server_outstanding_done(ss_rpc_server *server);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_RPC_SERVER_INTERNAL_H
