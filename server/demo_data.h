// Synthetic HTTP telemetry for demos and benchmarks: one SQLite table
//
//   http_events(time TIMESTAMP,       -- int64 ns since the Unix epoch, UTC
//               service TEXT, pod TEXT, method TEXT, path TEXT,
//               status INTEGER, latency_ms REAL,
//               request_bytes INTEGER, response_bytes INTEGER)
//
// in time order from SS_DEMO_DATA_START_NS, with an index on time. A few
// services with a few pods each serve weighted paths and methods; status is
// mostly 2xx with some 4xx and 5xx, latency log-normal per service, traffic
// following a daily cycle. The content is a function of the row count and
// the seed alone: the same arguments write the same file, byte for byte,
// with the same SQLite and C library.
#ifndef SEALSTREAM_SERVER_DEMO_DATA_H
#define SEALSTREAM_SERVER_DEMO_DATA_H

#include <stdint.h>

#include "lib/base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SS_DEMO_DATA_TABLE "http_events"

// 2024-01-01T00:00:00Z.
#define SS_DEMO_DATA_START_NS (INT64_C(1704067200) * 1000000000)

// ss_demo_data_generate writes |num_rows| rows drawn from |seed| to a new
// SQLite database at |path|. Returns 1, or 0 with |st| set:
// FAILED_PRECONDITION if |path| exists (it is left alone), UNAVAILABLE if it
// cannot be created or written (what was written is removed).
int ss_demo_data_generate(const char *path, uint64_t num_rows, uint64_t seed,
                          ss_status *st);

#ifdef __cplusplus
}
#endif

#endif  // SEALSTREAM_SERVER_DEMO_DATA_H
