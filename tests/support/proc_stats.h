// Test support: a process's peak memory and CPU time, read from /proc, so
// end-to-end tests can assert that streaming stays in bounded memory and that
// a cancelled query stops consuming CPU.
#ifndef SEALSTREAM_TESTS_SUPPORT_PROC_STATS_H
#define SEALSTREAM_TESTS_SUPPORT_PROC_STATS_H

#include <stdint.h>
#include <sys/types.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

// ss_proc_peak_rss_kb sets |*out_kb| to VmHWM (peak resident set size, KiB)
// of process |pid| (0: this process). Returns 1, or 0 with |st| set.
int ss_proc_peak_rss_kb(pid_t pid, uint64_t *out_kb, ss_status *st);

// ss_proc_cpu_ms sets |*out_ms| to the user plus system CPU time, in
// milliseconds, that process |pid| (0: this process) has used, all threads
// included. Returns 1, or 0 with |st| set.
int ss_proc_cpu_ms(pid_t pid, uint64_t *out_ms, ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_TESTS_SUPPORT_PROC_STATS_H
