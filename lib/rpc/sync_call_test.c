// Blocking calls against a server that accepts connections but never takes
// a call (so batches stay pending until a deadline or a cancel) and against a
// closed port: waiting for one tag records the others, cancel and free end
// pending batches, and refused batches leave nothing pending.
#include "lib/rpc/sync_call.h"

#include <grpc/grpc_security.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define METHOD "/test.Sync/Call"

enum { kSend = 0, kStatus = 1 };

typedef struct fixture {
  grpc_server *server;  // never requests a call
  grpc_completion_queue *server_cq;
  grpc_channel *silent;  // to |server|
  grpc_channel *closed;  // to a port nobody listens on
  grpc_metadata_array trailing_md;
  grpc_status_code status;
  grpc_slice details;
  grpc_op send_ops[2];  // initial metadata and half-close
  grpc_op status_op;
} fixture;

static char kTagShutdown;

static int setup(void **state) {
  grpc_init();
  fixture *f = calloc(1, sizeof(*f));
  if (f == NULL) {
    return 1;
  }
  *state = f;
  f->server_cq = grpc_completion_queue_create_for_next(NULL);
  f->server = grpc_server_create(NULL, NULL);
  grpc_server_register_completion_queue(f->server, f->server_cq, NULL);
  grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
  int port = grpc_server_add_http2_port(f->server, "127.0.0.1:0", creds);
  grpc_server_credentials_release(creds);
  grpc_server_start(f->server);
  char target[64];
  snprintf(target, sizeof(target), "127.0.0.1:%d", port);
  grpc_channel_credentials *insecure = grpc_insecure_credentials_create();
  f->silent = grpc_channel_create(target, insecure, NULL);
  // Port 1 (tcpmux) is not served on test machines: connections are refused.
  f->closed = grpc_channel_create("127.0.0.1:1", insecure, NULL);
  grpc_channel_credentials_release(insecure);
  grpc_metadata_array_init(&f->trailing_md);
  f->details = grpc_empty_slice();
  f->send_ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  f->send_ops[1].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  f->status_op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  f->status_op.data.recv_status_on_client.trailing_metadata = &f->trailing_md;
  f->status_op.data.recv_status_on_client.status = &f->status;
  f->status_op.data.recv_status_on_client.status_details = &f->details;
  f->status = GRPC_STATUS_OK;
  return port == 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  grpc_channel_destroy(f->silent);
  grpc_channel_destroy(f->closed);
  grpc_server_shutdown_and_notify(f->server, f->server_cq, &kTagShutdown);
  grpc_server_cancel_all_calls(f->server);
  while (grpc_completion_queue_next(f->server_cq,
                                    gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
             .tag != &kTagShutdown) {
  }
  grpc_server_destroy(f->server);
  grpc_completion_queue_shutdown(f->server_cq);
  while (grpc_completion_queue_next(f->server_cq,
                                    gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(f->server_cq);
  grpc_metadata_array_destroy(&f->trailing_md);
  grpc_slice_unref(f->details);
  free(f);
  grpc_shutdown();
  return 0;
}

static gpr_timespec in_ms(int64_t ms) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static ss_sync_call *new_call(grpc_channel *channel, gpr_timespec deadline) {
  ss_status st;
  ss_sync_call *call = ss_sync_call_new(channel, METHOD, deadline, &st);
  if (call == NULL) {
    fail_msg("%s", st.msg);
  }
  return call;
}

static void test_run_waits_for_the_batch_and_gives_its_success_bit(
    void **state) {
  fixture *f = *state;
  ss_sync_call *call = new_call(f->closed, in_ms(10000));
  ss_status st;
  int ok = -1;
  assert_true(ss_sync_call_start(call, kSend, f->send_ops, 2, &st));
  assert_true(ss_sync_call_run(call, kStatus, &f->status_op, 1, &ok, &st));
  assert_int_equal(ok, 1);
  assert_int_equal(f->status, GRPC_STATUS_UNAVAILABLE);
  ss_sync_call_free(call);
}

static void test_waiting_for_one_tag_records_the_others(void **state) {
  fixture *f = *state;
  ss_sync_call *call = new_call(f->silent, in_ms(300));
  ss_status st;
  assert_true(ss_sync_call_start(call, kSend, f->send_ops, 2, &st));
  assert_true(ss_sync_call_start(call, kStatus, &f->status_op, 1, &st));
  int ok = -1;
  // The sends complete before the status, while the status is waited for.
  assert_true(ss_sync_call_wait(call, kStatus, &ok, &st));
  assert_int_equal(ok, 1);
  assert_int_equal(f->status, GRPC_STATUS_DEADLINE_EXCEEDED);
  // Already recorded: returns without touching the queue, which is empty
  // and would block forever.
  ok = -1;
  assert_true(ss_sync_call_wait(call, kSend, &ok, &st));
  assert_int_equal(ok, 1);
  ss_sync_call_free(call);
}

static void test_cancel_ends_a_pending_batch(void **state) {
  fixture *f = *state;
  ss_sync_call *call = new_call(f->silent, gpr_inf_future(GPR_CLOCK_REALTIME));
  ss_status st;
  assert_true(ss_sync_call_start(call, kStatus, &f->status_op, 1, &st));
  ss_sync_call_cancel(call);
  int ok = -1;
  assert_true(ss_sync_call_wait(call, kStatus, &ok, &st));
  assert_int_equal(ok, 1);
  assert_int_equal(f->status, GRPC_STATUS_CANCELLED);
  ss_sync_call_free(call);
}

static void test_free_cancels_and_collects_pending_batches(void **state) {
  fixture *f = *state;
  ss_sync_call *call = new_call(f->silent, gpr_inf_future(GPR_CLOCK_REALTIME));
  ss_status st;
  assert_true(ss_sync_call_start(call, kSend, f->send_ops, 2, &st));
  assert_true(ss_sync_call_start(call, kStatus, &f->status_op, 1, &st));
  ss_sync_call_free(call);  // would block forever without the cancel
  assert_int_equal(f->status, GRPC_STATUS_CANCELLED);
  ss_sync_call_free(NULL);
}

static void test_start_refuses_a_pending_tag_and_tags_out_of_range(
    void **state) {
  fixture *f = *state;
  ss_sync_call *call = new_call(f->silent, gpr_inf_future(GPR_CLOCK_REALTIME));
  ss_status st;
  assert_true(ss_sync_call_start(call, kStatus, &f->status_op, 1, &st));
  assert_false(ss_sync_call_start(call, kStatus, &f->status_op, 1, &st));
  assert_int_equal(st.code, GRPC_STATUS_FAILED_PRECONDITION);
  assert_false(ss_sync_call_start(call, -1, f->send_ops, 2, &st));
  assert_int_equal(st.code, GRPC_STATUS_FAILED_PRECONDITION);
  assert_false(
      ss_sync_call_start(call, SS_SYNC_CALL_MAX_TAGS, f->send_ops, 2, &st));
  assert_int_equal(st.code, GRPC_STATUS_FAILED_PRECONDITION);
  int ok = -1;
  assert_false(ss_sync_call_wait(call, SS_SYNC_CALL_MAX_TAGS, &ok, &st));
  assert_int_equal(ok, 0);
  ss_sync_call_free(call);
}

static void test_a_batch_gRPC_refuses_leaves_nothing_pending(void **state) {
  fixture *f = *state;
  ss_sync_call *call = new_call(f->silent, gpr_inf_future(GPR_CLOCK_REALTIME));
  grpc_op twice[2] = {f->send_ops[0], f->send_ops[0]};
  ss_status st;
  int ok = -1;
  assert_false(ss_sync_call_run(call, kSend, twice, 2, &ok, &st));
  assert_int_equal(st.code, GRPC_STATUS_INTERNAL);
  assert_int_equal(ok, 0);
  // Nothing pending: the wait returns at once, as for a tag never used.
  ok = -1;
  assert_true(ss_sync_call_wait(call, kSend, &ok, &st));
  assert_int_equal(ok, 0);
  ok = -1;
  assert_true(ss_sync_call_wait(call, 3, &ok, &st));
  assert_int_equal(ok, 0);
  ss_sync_call_free(call);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_run_waits_for_the_batch_and_gives_its_success_bit, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_waiting_for_one_tag_records_the_others, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_ends_a_pending_batch, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_free_cancels_and_collects_pending_batches, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_start_refuses_a_pending_tag_and_tags_out_of_range, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_a_batch_gRPC_refuses_leaves_nothing_pending, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
