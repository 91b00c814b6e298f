// A fixed pool of worker threads for blocking work (SQLite steps, sealing)
// that must not run on a completion-queue pump thread.
//
// Jobs are ss_rpc_job values embedded in their owners, queued in FIFO order
// without allocating. A job is queued at most once at a time; its owner keeps
// it alive until it has run.
#ifndef SEALSTREAM_LIB_RPC_POOL_H
#define SEALSTREAM_LIB_RPC_POOL_H

#include <stddef.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ss_rpc_job {
  void (*run)(void *owner);  // runs on a worker thread
  void *owner;               // borrowed; passed to |run|
  struct ss_rpc_job *next;   // queue link, owned by the pool while queued
} ss_rpc_job;

// ss_rpc_job_init points |job| at |run| and |owner|.
void ss_rpc_job_init(ss_rpc_job *job, void (*run)(void *owner), void *owner);

typedef struct ss_rpc_pool ss_rpc_pool;

// ss_rpc_pool_new starts |num_threads| worker threads (1 to
// SS_RPC_POOL_MAX_THREADS). Returns NULL with |st| set on failure; threads
// already started are then joined.
#define SS_RPC_POOL_MAX_THREADS 256
ss_rpc_pool *ss_rpc_pool_new(int num_threads, const char *name, ss_status *st);

// ss_rpc_pool_submit queues |job| to run on a worker thread. Never fails;
// safe from any thread, including a worker running another job. |job| must
// not already be queued.
void ss_rpc_pool_submit(ss_rpc_pool *pool, ss_rpc_job *job);

// ss_rpc_pool_free runs every job still queued, joins the threads and frees
// |pool|. Jobs must not be submitted once this has started. NULL is ignored.
void ss_rpc_pool_free(ss_rpc_pool *pool);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_LIB_RPC_POOL_H
