// gRPC server on ss_rpc_loops (see server.h): creation and credentials,
// methods and the fallback, the requests awaited for calls, and shutdown;
// the accepted calls are in server_call.c. It follows grpc.h's rules for the
// core API: registered methods read the request message with the call;
// shutdown is shutdown_and_notify, optionally cancel_all, wait for the
// notification, destroy, then drain and destroy the queues.
//
// Calls and method paths come from the network and are untrusted; TLS files
// come from the operator.
#include "lib/rpc/server.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/rpc/server_internal.h"
#include "lib/rpc/tls.h"

#define SS_RPC_MAX_REQUESTS_PER_METHOD 1024
#define SS_RPC_KEEPALIVE_TIME_MS (60 * 1000)
#define SS_RPC_KEEPALIVE_TIMEOUT_MS (20 * 1000)

void ss_rpc_server_options_init(ss_rpc_server_options *options) {
  memset(options, 0, sizeof(*options));
}

void ss__rpc_server_outstanding_done(ss_rpc_server *server) {
  pthread_mutex_lock(&server->mu);
  if (--server->outstanding == 0) {
    pthread_cond_broadcast(&server->cv);
  }
  pthread_mutex_unlock(&server->mu);
}

void ss__rpc_server_arm(ss_rpc_server *server, rpc_method *method,
                        ss_rpc_loop *loop) {
  ss_rpc_call *c = ss__rpc_call_new(server, method, loop);
  if (c == NULL) {
    // Out of memory: one fewer call is awaited until the next acceptance.
    return;
  }
  grpc_completion_queue *cq = ss_rpc_loop_cq(loop);
  pthread_mutex_lock(&server->mu);
  grpc_call_error err = GRPC_CALL_ERROR;
  if (!server->shutdown_called) {
    if (method != NULL) {
      err = grpc_server_request_registered_call(
          server->server, method->handle, &c->call, &c->deadline,
          &c->request_md, &c->request, cq, cq, &c->accept_tag);
    } else {
      err = grpc_server_request_call(server->server, &c->call, &c->details,
                                     &c->request_md, cq, cq, &c->accept_tag);
    }
    if (err == GRPC_CALL_OK) {
      server->outstanding++;
    }
  }
  pthread_mutex_unlock(&server->mu);
  if (err != GRPC_CALL_OK) {
    ss__rpc_call_free(c);  // no completion will arrive
  }
}

static void on_shutdown(void *owner, int ok) {
  (void)ok;  // the notification always succeeds
  ss_rpc_server *server = owner;
  pthread_mutex_lock(&server->mu);
  server->shutdown_done = 1;
  pthread_cond_broadcast(&server->cv);
  pthread_mutex_unlock(&server->mu);
}

static void free_methods(rpc_method *m) {
  while (m != NULL) {
    rpc_method *next = m->next;
    free(m->path);
    free(m);
    m = next;
  }
}

ss_rpc_server *ss_rpc_server_new(const ss_rpc_server_options *options,
                                 ss_status *st) {
  if (options->listen_addr == NULL || options->listen_addr[0] == '\0') {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "no listen address (HOST:PORT)");
    return NULL;
  }
  int num_loops = options->num_loops == 0 ? 1 : options->num_loops;
  if (num_loops < 1 || num_loops > SS_RPC_MAX_LOOPS) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "completion queues: %d; expected 1 to %d", num_loops,
                  SS_RPC_MAX_LOOPS);
    return NULL;
  }
  int requests = options->requests_per_method == 0
                     ? SS_RPC_DEFAULT_REQUESTS_PER_METHOD
                     : options->requests_per_method;
  if (requests < 1 || requests > SS_RPC_MAX_REQUESTS_PER_METHOD) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "requests per method: %d; expected 1 to %d", requests,
                  SS_RPC_MAX_REQUESTS_PER_METHOD);
    return NULL;
  }
  size_t max_recv = options->max_receive_bytes == 0
                        ? SS_RPC_DEFAULT_MAX_RECEIVE_BYTES
                        : options->max_receive_bytes;
  size_t max_send = options->max_send_bytes == 0 ? SS_RPC_DEFAULT_MAX_SEND_BYTES
                                                 : options->max_send_bytes;
  if (max_recv > INT32_MAX || max_send > INT32_MAX ||
      options->max_metadata_bytes > INT32_MAX) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "message and metadata size caps must be below 2 GiB");
    return NULL;
  }

  ss_rpc_server *server = calloc(1, sizeof(*server));
  if (server == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&server->mu, NULL);
  pthread_condattr_t cond_attr;
  pthread_condattr_init(&cond_attr);
  pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC);
  pthread_cond_init(&server->cv, &cond_attr);
  pthread_condattr_destroy(&cond_attr);
  atomic_init(&server->live_calls, 0);
  server->requests_per_method = requests;
  ss_rpc_tag_init(&server->shutdown_tag, on_shutdown, server);

  grpc_server_credentials *creds = NULL;
  for (int i = 0; i < num_loops; i++) {
    char name[16];
    snprintf(name, sizeof(name), "ss-cq-%d", i % 100);
    server->loops[i] = ss_rpc_loop_new(name, st);
    if (server->loops[i] == NULL) {
      goto err;
    }
    server->num_loops = i + 1;
  }

  // The pumps run before the port is bound so that every failure below
  // can destroy a server that has no listener, without a shutdown.
  for (int i = 0; i < server->num_loops; i++) {
    if (!ss_rpc_loop_start(server->loops[i], st)) {
      goto err;
    }
  }
  ss_tls_server_options tls = {options->tls_cert_file, options->tls_key_file,
                               options->tls_client_ca_file};
  creds = ss_tls_server_credentials_new(&tls, st);
  if (creds == NULL) {
    goto err;
  }
  grpc_arg args[7];
  memset(args, 0, sizeof(args));
  size_t num_args = 0;
  args[num_args].type = GRPC_ARG_INTEGER;
  args[num_args].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[num_args++].value.integer = (int)max_recv;
  args[num_args].type = GRPC_ARG_INTEGER;
  args[num_args].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
  args[num_args++].value.integer = (int)max_send;
  // gRPC sets SO_REUSEPORT by default, which lets a second server bind a
  // port in use and silently share its connections. Refuse that.
  args[num_args].type = GRPC_ARG_INTEGER;
  args[num_args].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
  args[num_args++].value.integer = 0;
  // A peer that vanished without closing its connection would otherwise
  // hold its streams, blocked on flow control, until TCP gives up: ping
  // connections with calls in progress and drop those that do not answer.
  args[num_args].type = GRPC_ARG_INTEGER;
  args[num_args].key = (char *)GRPC_ARG_KEEPALIVE_TIME_MS;
  args[num_args++].value.integer = SS_RPC_KEEPALIVE_TIME_MS;
  args[num_args].type = GRPC_ARG_INTEGER;
  args[num_args].key = (char *)GRPC_ARG_KEEPALIVE_TIMEOUT_MS;
  args[num_args++].value.integer = SS_RPC_KEEPALIVE_TIMEOUT_MS;
  if (options->max_metadata_bytes > 0) {
    args[num_args].type = GRPC_ARG_INTEGER;
    args[num_args].key = (char *)GRPC_ARG_MAX_METADATA_SIZE;
    args[num_args++].value.integer = (int)options->max_metadata_bytes;
  }
  if (options->keep_compressed) {
    args[num_args].type = GRPC_ARG_INTEGER;
    args[num_args].key = (char *)GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION;
    args[num_args++].value.integer = 0;
  }
  grpc_channel_args channel_args = {num_args, args};
  server->server = grpc_server_create(&channel_args, NULL);
  for (int i = 0; i < server->num_loops; i++) {
    grpc_server_register_completion_queue(
        server->server, ss_rpc_loop_cq(server->loops[i]), NULL);
  }
  server->port =
      grpc_server_add_http2_port(server->server, options->listen_addr, creds);
  grpc_server_credentials_release(creds);
  if (server->port == 0) {
    ss_status_set(st, GRPC_STATUS_UNAVAILABLE,
                  "cannot listen on %s (address in use, not local, or not "
                  "HOST:PORT)",
                  options->listen_addr);
    goto err;
  }
  return server;

err:
  if (server->server != NULL) {
    // Not started and without a listener: no shutdown is needed.
    grpc_server_destroy(server->server);
  }
  for (int i = 0; i < server->num_loops; i++) {
    ss_rpc_loop_free(server->loops[i]);
  }
  pthread_cond_destroy(&server->cv);
  pthread_mutex_destroy(&server->mu);
  free(server);
  return NULL;
}

int ss_rpc_server_add_method(ss_rpc_server *server, const char *path,
                             ss_rpc_call_handler handler, void *ctx,
                             ss_status *st) {
  if (server->started) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "method %s added after the server started", path);
  }
  if (path == NULL || path[0] != '/' || handler == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "method path must start with '/' and have a handler");
  }
  rpc_method *m = calloc(1, sizeof(*m));
  if (m == NULL || (m->path = strdup(path)) == NULL) {
    free(m);
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  }
  m->handle =
      grpc_server_register_method(server->server, m->path, NULL,
                                  GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
  if (m->handle == NULL) {
    free(m->path);
    free(m);
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "method %s cannot be registered (registered twice?)",
                         path);
  }
  m->handler = handler;
  m->ctx = ctx;
  m->next = server->methods;
  server->methods = m;
  return 1;
}

int ss_rpc_server_set_fallback(ss_rpc_server *server,
                               ss_rpc_call_handler handler, void *ctx,
                               ss_status *st) {
  if (server->started) {
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "fallback set after the server started");
  }
  if (handler == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "a fallback needs a handler");
  }
  server->fallback = handler;
  server->fallback_ctx = ctx;
  return 1;
}

int ss_rpc_server_start(ss_rpc_server *server, ss_status *st) {
  pthread_mutex_lock(&server->mu);
  if (server->started || server->shutdown_called) {
    pthread_mutex_unlock(&server->mu);
    return ss_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                         "server already started or shut down");
  }
  server->started = 1;
  pthread_mutex_unlock(&server->mu);
  grpc_server_start(server->server);
  for (int i = 0; i < server->num_loops; i++) {
    for (int r = 0; r < server->requests_per_method; r++) {
      for (rpc_method *m = server->methods; m != NULL; m = m->next) {
        ss__rpc_server_arm(server, m, server->loops[i]);
      }
    }
    // Without a fallback, unregistered paths are rare: one awaited call per
    // loop, re-armed on each acceptance, is enough to answer them.
    int unregistered =
        server->fallback != NULL ? server->requests_per_method : 1;
    for (int r = 0; r < unregistered; r++) {
      ss__rpc_server_arm(server, NULL, server->loops[i]);
    }
  }
  return 1;
}

int ss_rpc_server_port(const ss_rpc_server *server) { return server->port; }

int ss_rpc_server_num_loops(const ss_rpc_server *server) {
  return server->num_loops;
}

ss_rpc_loop *ss_rpc_server_loop(const ss_rpc_server *server, int index) {
  if (index < 0 || index >= server->num_loops) {
    return NULL;
  }
  return server->loops[index];
}

void ss_rpc_server_shutdown(ss_rpc_server *server) {
  pthread_mutex_lock(&server->mu);
  int first = !server->shutdown_called;
  server->shutdown_called = 1;
  pthread_mutex_unlock(&server->mu);
  if (first) {
    grpc_server_shutdown_and_notify(server->server,
                                    ss_rpc_loop_cq(server->loops[0]),
                                    &server->shutdown_tag);
  }
}

int ss_rpc_server_wait(ss_rpc_server *server, int64_t timeout_ms) {
  struct timespec until;
  if (timeout_ms >= 0) {
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
  }
  pthread_mutex_lock(&server->mu);
  while (!server->shutdown_done || server->outstanding > 0) {
    if (timeout_ms < 0) {
      pthread_cond_wait(&server->cv, &server->mu);
    } else if (pthread_cond_timedwait(&server->cv, &server->mu, &until) ==
               ETIMEDOUT) {
      break;
    }
  }
  int done = server->shutdown_done && server->outstanding == 0;
  pthread_mutex_unlock(&server->mu);
  return done;
}

void ss_rpc_server_cancel_all(ss_rpc_server *server) {
  ss_rpc_server_shutdown(server);
  grpc_server_cancel_all_calls(server->server);
}

int ss_rpc_server_live_calls(const ss_rpc_server *server) {
  return atomic_load(&server->live_calls);
}

void ss_rpc_server_free(ss_rpc_server *server) {
  if (server == NULL) {
    return;
  }
  ss_rpc_server_shutdown(server);
  if (!ss_rpc_server_wait(server, 0)) {
    ss_rpc_server_cancel_all(server);
    ss_rpc_server_wait(server, -1);
  }
  grpc_server_destroy(server->server);
  // No request is awaited and no call is left (see |outstanding|): the
  // queues hold no more work and can be shut down.
  for (int i = 0; i < server->num_loops; i++) {
    ss_rpc_loop_free(server->loops[i]);
  }
  free_methods(server->methods);
  pthread_cond_destroy(&server->cv);
  pthread_mutex_destroy(&server->mu);
  free(server);
}
