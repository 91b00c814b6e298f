// The standard gRPC health check (grpc.health.v1.Health/Check) for servers
// built on lib/rpc: the sealstream server and proxy answer it the same way.
#ifndef SEALSTREAM_LIB_RPC_HEALTH_H
#define SEALSTREAM_LIB_RPC_HEALTH_H

#include "lib/base/status.h"
#include "lib/rpc/server.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SS_RPC_HEALTH_CHECK_METHOD "/grpc.health.v1.Health/Check"

// ss_rpc_health_serving_fn returns 1 while the server can take work
// (SERVING), 0 otherwise (NOT_SERVING). Called on a pump thread.
typedef int (*ss_rpc_health_serving_fn)(void *ctx);

// Health answers Check for the service "" (the whole server) and, when
// |service| is not NULL, for that service name; any other name is NOT_FOUND
// naming what is served. A request that is not a HealthCheckRequest is
// INVALID_ARGUMENT.
typedef struct ss_rpc_health {
  const char *service;  // borrowed; may be NULL
  ss_rpc_health_serving_fn serving;
  void *ctx;  // borrowed; passed to |serving|
} ss_rpc_health;

// ss_rpc_health_add registers Check on |server| (before it starts), answered
// from |health| (borrowed; must outlive the server). Returns 1, or 0 with
// |st| set.
int ss_rpc_health_add(ss_rpc_server *server, const ss_rpc_health *health,
                      ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_RPC_HEALTH_H
