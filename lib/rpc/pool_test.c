// The worker pool: every job runs exactly once, queued jobs survive
// shutdown, jobs may resubmit themselves, bad sizes are refused.
#include "lib/rpc/pool.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#define NUM_JOBS 1000

typedef struct counted {
  ss_rpc_job job;
  _Atomic int *runs;
  int times;  // for resubmission: runs left
  ss_rpc_pool *pool;
} counted;

static void count_run(void *owner) {
  counted *c = owner;
  atomic_fetch_add(c->runs, 1);
}

static void test_pool_runs_every_job_exactly_once(void **state) {
  (void)state;
  ss_status st;
  ss_rpc_pool *pool = ss_rpc_pool_new(4, "test", &st);
  assert_non_null(pool);
  _Atomic int runs[NUM_JOBS];
  counted *jobs = calloc(NUM_JOBS, sizeof(counted));
  for (int i = 0; i < NUM_JOBS; i++) {
    atomic_init(&runs[i], 0);
    jobs[i].runs = &runs[i];
    ss_rpc_job_init(&jobs[i].job, count_run, &jobs[i]);
    ss_rpc_pool_submit(pool, &jobs[i].job);
  }
  ss_rpc_pool_free(pool);
  for (int i = 0; i < NUM_JOBS; i++) {
    assert_int_equal(atomic_load(&runs[i]), 1);
  }
  free(jobs);
}

typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int entered;
  int open;
} gate;

static gate g_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0,
                      0};

static void blocking_run(void *owner) {
  (void)owner;
  pthread_mutex_lock(&g_gate.mu);
  g_gate.entered = 1;
  pthread_cond_broadcast(&g_gate.cv);
  while (!g_gate.open) {
    pthread_cond_wait(&g_gate.cv, &g_gate.mu);
  }
  pthread_mutex_unlock(&g_gate.mu);
}

static void *open_gate_later(void *arg) {
  (void)arg;
  pthread_mutex_lock(&g_gate.mu);
  g_gate.open = 1;
  pthread_cond_broadcast(&g_gate.cv);
  pthread_mutex_unlock(&g_gate.mu);
  return NULL;
}

static void test_pool_free_runs_jobs_still_queued(void **state) {
  (void)state;
  ss_status st;
  ss_rpc_pool *pool = ss_rpc_pool_new(1, "test", &st);
  assert_non_null(pool);
  ss_rpc_job blocker;
  ss_rpc_job_init(&blocker, blocking_run, NULL);
  ss_rpc_pool_submit(pool, &blocker);
  pthread_mutex_lock(&g_gate.mu);
  while (!g_gate.entered) {
    pthread_cond_wait(&g_gate.cv, &g_gate.mu);
  }
  pthread_mutex_unlock(&g_gate.mu);
  // The only worker is busy: these stay queued until it returns.
  _Atomic int runs;
  atomic_init(&runs, 0);
  counted jobs[10];
  for (int i = 0; i < 10; i++) {
    jobs[i].runs = &runs;
    ss_rpc_job_init(&jobs[i].job, count_run, &jobs[i]);
    ss_rpc_pool_submit(pool, &jobs[i].job);
  }
  pthread_t opener;
  assert_int_equal(pthread_create(&opener, NULL, open_gate_later, NULL), 0);
  ss_rpc_pool_free(pool);
  pthread_join(opener, NULL);
  assert_int_equal(atomic_load(&runs), 10);
}

static void resubmit_run(void *owner) {
  counted *c = owner;
  atomic_fetch_add(c->runs, 1);
  if (--c->times > 0) {
    ss_rpc_pool_submit(c->pool, &c->job);
  }
}

static void test_pool_job_may_resubmit_itself(void **state) {
  (void)state;
  ss_status st;
  ss_rpc_pool *pool = ss_rpc_pool_new(2, "test", &st);
  assert_non_null(pool);
  _Atomic int runs;
  atomic_init(&runs, 0);
  counted c = {.runs = &runs, .times = 100, .pool = pool};
  ss_rpc_job_init(&c.job, resubmit_run, &c);
  ss_rpc_pool_submit(pool, &c.job);
  ss_rpc_pool_free(pool);
  assert_int_equal(atomic_load(&runs), 100);
}

static void test_pool_refuses_zero_and_too_many_threads(void **state) {
  (void)state;
  ss_status st;
  assert_null(ss_rpc_pool_new(0, "test", &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_null(ss_rpc_pool_new(SS_RPC_POOL_MAX_THREADS + 1, "test", &st));
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  ss_rpc_pool_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pool_runs_every_job_exactly_once),
      cmocka_unit_test(test_pool_free_runs_jobs_still_queued),
      cmocka_unit_test(test_pool_job_may_resubmit_itself),
      cmocka_unit_test(test_pool_refuses_zero_and_too_many_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
