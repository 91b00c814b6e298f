// grpc.health.v1.Health/Check (see health.h). The request is untrusted: it
// is size-capped and parsed with protobuf-c.
#include "lib/rpc/health.h"

#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "lib/rpc/buffer.h"

// A HealthCheckRequest holds one service name.
#define SS_RPC_MAX_HEALTH_REQUEST_BYTES 1024

static void on_check(void *ctx, ss_rpc_call *call) {
  const ss_rpc_health *health = ctx;
  ss_status st;
  Grpc__Health__V1__HealthCheckRequest *req =
      (Grpc__Health__V1__HealthCheckRequest *)ss_rpc_buffer_unpack(
          &grpc__health__v1__health_check_request__descriptor,
          ss_rpc_call_request(call), SS_RPC_MAX_HEALTH_REQUEST_BYTES,
          "HealthCheckRequest", &st);
  if (req == NULL) {
    ss_rpc_call_finish(call, NULL, st.code, st.msg, NULL);
    return;
  }
  int known = strcmp(req->service, "") == 0 ||
              (health->service != NULL &&
               strcmp(req->service, health->service) == 0);
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (!known) {
    if (health->service != NULL) {
      ss_status_set(&st, GRPC_STATUS_NOT_FOUND,
                    "unknown service; this server serves %s", health->service);
    } else {
      ss_status_set(&st, GRPC_STATUS_NOT_FOUND,
                    "unknown service; ask for \"\" (the whole server)");
    }
    ss_rpc_call_finish(call, NULL, st.code, st.msg, NULL);
    return;
  }
  Grpc__Health__V1__HealthCheckResponse resp =
      GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  resp.status =
      health->serving(health->ctx)
          ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
          : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
  grpc_byte_buffer *bb = ss_rpc_buffer_pack(&resp.base, &st);
  if (bb == NULL) {
    ss_rpc_call_finish(call, NULL, st.code, st.msg, NULL);
    return;
  }
  ss_rpc_call_finish(call, bb, GRPC_STATUS_OK, NULL, NULL);
}

int ss_rpc_health_add(ss_rpc_server *server, const ss_rpc_health *health,
                      ss_status *st) {
  if (health == NULL || health->serving == NULL) {
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "a health check needs a serving function");
  }
  return ss_rpc_server_add_method(server, SS_RPC_HEALTH_CHECK_METHOD, on_check,
                                  (void *)health, st);
}
