// The event loop: a completion reaches its tag's handler with its owner on
// the pump thread, and stopping drains the queue whether or not the pump
// ever ran. Completions come from calls on a lame channel, which fail at
// once without a network.
#include "lib/rpc/loop.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

typedef struct lame_call {
  ss_rpc_tag tag;
  ss_rpc_loop *loop;
  grpc_call *call;
  grpc_metadata_array trailing;
  grpc_status_code status;
  grpc_slice details;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int on_pump;
  void *seen_owner;
} lame_call;

static grpc_channel *g_channel;

static int setup(void **state) {
  (void)state;
  grpc_init();
  g_channel = grpc_lame_client_channel_create("lame", GRPC_STATUS_UNAVAILABLE,
                                              "this channel never connects");
  return g_channel == NULL;
}

static int teardown(void **state) {
  (void)state;
  grpc_channel_destroy(g_channel);
  grpc_shutdown();
  return 0;
}

static void on_status(void *owner, int ok) {
  lame_call *c = owner;
  pthread_mutex_lock(&c->mu);
  c->seen_owner = owner;
  c->on_pump = ss_rpc_loop_on_thread(c->loop);
  c->done = ok ? 1 : -1;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void lame_call_start(lame_call *c, ss_rpc_loop *loop) {
  memset(c, 0, sizeof(*c));
  c->loop = loop;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  grpc_metadata_array_init(&c->trailing);
  ss_rpc_tag_init(&c->tag, on_status, c);
  c->call = grpc_channel_create_call(
      g_channel, NULL, GRPC_PROPAGATE_DEFAULTS, ss_rpc_loop_cq(loop),
      grpc_slice_from_static_string("/test.Lame/Call"), NULL,
      gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
  assert_non_null(c->call);
  grpc_op ops[2];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[1].data.recv_status_on_client.trailing_metadata = &c->trailing;
  ops[1].data.recv_status_on_client.status = &c->status;
  ops[1].data.recv_status_on_client.status_details = &c->details;
  assert_int_equal(grpc_call_start_batch(c->call, ops, 2, &c->tag, NULL),
                   GRPC_CALL_OK);
}

static void lame_call_cleanup(lame_call *c) {
  grpc_call_unref(c->call);
  grpc_metadata_array_destroy(&c->trailing);
  grpc_slice_unref(c->details);
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
}

static void test_loop_runs_the_handler_with_its_owner_on_the_pump_thread(
    void **state) {
  (void)state;
  ss_status st;
  ss_rpc_loop *loop = ss_rpc_loop_new("test-loop", &st);
  assert_non_null(loop);
  assert_true(ss_rpc_loop_start(loop, &st));
  assert_false(ss_rpc_loop_on_thread(loop));
  lame_call c;
  lame_call_start(&c, loop);
  pthread_mutex_lock(&c.mu);
  while (c.done == 0) {
    pthread_cond_wait(&c.cv, &c.mu);
  }
  pthread_mutex_unlock(&c.mu);
  assert_int_equal(c.done, 1);
  assert_ptr_equal(c.seen_owner, &c);
  assert_true(c.on_pump);
  assert_int_equal(c.status, GRPC_STATUS_UNAVAILABLE);
  ss_rpc_loop_stop(loop);
  ss_rpc_loop_stop(loop);  // idempotent
  assert_int_equal(ss_rpc_loop_completions(loop), 1);
  ss_rpc_loop_free(loop);
  lame_call_cleanup(&c);
}

static void test_loop_never_started_is_drained_by_stop(void **state) {
  (void)state;
  ss_status st;
  ss_rpc_loop *loop = ss_rpc_loop_new("test-loop", &st);
  assert_non_null(loop);
  lame_call c;
  lame_call_start(&c, loop);
  ss_rpc_loop_free(loop);  // dispatches the completion on this thread
  assert_int_equal(c.done, 1);
  assert_false(c.on_pump);
  lame_call_cleanup(&c);
}

static void test_loop_refuses_a_second_start(void **state) {
  (void)state;
  ss_status st;
  ss_rpc_loop *loop = ss_rpc_loop_new("test-loop", &st);
  assert_non_null(loop);
  assert_true(ss_rpc_loop_start(loop, &st));
  assert_false(ss_rpc_loop_start(loop, &st));
  assert_int_equal(st.code, GRPC_STATUS_FAILED_PRECONDITION);
  ss_rpc_loop_free(loop);
  ss_rpc_loop_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(
          test_loop_runs_the_handler_with_its_owner_on_the_pump_thread),
      cmocka_unit_test(test_loop_never_started_is_drained_by_stop),
      cmocka_unit_test(test_loop_refuses_a_second_start),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
