// Worker pool: one mutex-protected FIFO of intrusive jobs and a fixed set of
// threads that run them (see pool.h). Shutdown lets the queue run empty
// before the threads exit, so no queued job is ever dropped.
#include "lib/rpc/pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ss_rpc_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;   // signalled when a job is queued or on stop
  ss_rpc_job *head;    // next job to run; NULL when empty
  ss_rpc_job *tail;    // last queued job
  int stopping;        // set by ss_rpc_pool_free; guarded by mu
  int num_threads;     // threads started
  pthread_t *threads;  // owned; num_threads entries
};

void ss_rpc_job_init(ss_rpc_job *job, void (*run)(void *owner), void *owner) {
  job->run = run;
  job->owner = owner;
  job->next = NULL;
}

static void *worker_main(void *arg) {
  ss_rpc_pool *pool = arg;
  pthread_mutex_lock(&pool->mu);
  for (;;) {
    while (pool->head == NULL && !pool->stopping) {
      pthread_cond_wait(&pool->cv, &pool->mu);
    }
    ss_rpc_job *job = pool->head;
    if (job == NULL) {
      break;  // stopping and the queue ran empty
    }
    pool->head = job->next;
    if (pool->head == NULL) {
      pool->tail = NULL;
    }
    job->next = NULL;
    pthread_mutex_unlock(&pool->mu);
    // After run() starts the job belongs to its owner again: it may be
    // resubmitted or freed from inside run().
    job->run(job->owner);
    pthread_mutex_lock(&pool->mu);
  }
  pthread_mutex_unlock(&pool->mu);
  return NULL;
}

static void stop_and_join(ss_rpc_pool *pool) {
  pthread_mutex_lock(&pool->mu);
  pool->stopping = 1;
  pthread_cond_broadcast(&pool->cv);
  pthread_mutex_unlock(&pool->mu);
  for (int i = 0; i < pool->num_threads; i++) {
    pthread_join(pool->threads[i], NULL);
  }
  pool->num_threads = 0;
}

ss_rpc_pool *ss_rpc_pool_new(int num_threads, const char *name, ss_status *st) {
  if (num_threads < 1 || num_threads > SS_RPC_POOL_MAX_THREADS) {
    ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                  "worker threads: %d; expected 1 to %d", num_threads,
                  SS_RPC_POOL_MAX_THREADS);
    return NULL;
  }
  ss_rpc_pool *pool = calloc(1, sizeof(*pool));
  if (pool == NULL) {
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  pool->threads = calloc((size_t)num_threads, sizeof(pthread_t));
  if (pool->threads == NULL) {
    free(pool);
    ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&pool->mu, NULL);
  pthread_cond_init(&pool->cv, NULL);
  for (int i = 0; i < num_threads; i++) {
    int err = pthread_create(&pool->threads[i], NULL, worker_main, pool);
    if (err != 0) {
      ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                    "cannot start worker thread %d of %d: %s", i + 1,
                    num_threads, strerror(err));
      stop_and_join(pool);
      pthread_cond_destroy(&pool->cv);
      pthread_mutex_destroy(&pool->mu);
      free(pool->threads);
      free(pool);
      return NULL;
    }
    char thread_name[16];
    snprintf(thread_name, sizeof(thread_name), "%.10s-%d",
             name != NULL ? name : "worker", i % 1000);
    pthread_setname_np(pool->threads[i], thread_name);
    pool->num_threads = i + 1;
  }
  return pool;
}

void ss_rpc_pool_submit(ss_rpc_pool *pool, ss_rpc_job *job) {
  job->next = NULL;
  pthread_mutex_lock(&pool->mu);
  if (pool->tail == NULL) {
    pool->head = job;
  } else {
    pool->tail->next = job;
  }
  pool->tail = job;
  pthread_cond_signal(&pool->cv);
  pthread_mutex_unlock(&pool->mu);
}

void ss_rpc_pool_free(ss_rpc_pool *pool) {
  if (pool == NULL) {
    return;
  }
  stop_and_join(pool);
  pthread_cond_destroy(&pool->cv);
  pthread_mutex_destroy(&pool->mu);
  free(pool->threads);
  free(pool);
}
