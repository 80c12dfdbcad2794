// Rebuilding views from the log: the operator tools' core (`keytrail rebuild`,
// `keytrail check`) and the rebuild benchmark.
//
// RebuildViews folds every partition of a log into a store with a fresh ViewSet per
// worker thread, exactly as the engine's projectors do, so a rebuild from offset 0 into
// an empty store (plus the live store's skip rows, see CopySkips) equals views the engine
// built from the same records, row for row.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "events/event_log.h"
#include "projections/view_store.h"

namespace keytrail::projections {

struct RebuildProgress {
  int64_t done = 0;   // events applied by this call so far
  int64_t total = 0;  // events this call applies in all
  double seconds = 0;
};

struct RebuildOptions {
  // Per partition, the offset to stop before. Empty: each partition's end offset, read
  // at the start. Otherwise one entry per partition of the log.
  std::vector<int64_t> end_offsets;
  // Partitions are independent (an org lives in one), so they are applied in parallel.
  int threads = 2;
  // Called from the calling thread about every `progress_interval` and once at the end.
  std::function<void(const RebuildProgress&)> progress;
  std::chrono::milliseconds progress_interval{200};
};

struct RebuildResult {
  int64_t events = 0;  // applied by this call
  double seconds = 0;
  std::vector<int64_t> end_offsets;  // where each partition's checkpoint now stands
};

// Applies each partition from the store's checkpoint (0 in a fresh store) up to its end
// offset. On the first failure (a poison record, I/O) no new partition is started and
// the error, naming partition and offset, is returned once running ones finish.
Result<RebuildResult> RebuildViews(events::EventLog& log, ViewStore& store,
                                   const RebuildOptions& options);

// Per partition, the offset of the first record that occurred at or after `t` (the
// partition's end if none): the end offsets of a rebuild "as of just before t". keytrail
// writes each partition in time order, so this is the longest prefix of the partition
// that happened before t. A record that does not decode does not end the prefix (the
// rebuild halts on it unless it was skipped).
Result<std::vector<int64_t>> OffsetsBefore(events::EventLog& log, Micros t);

}  // namespace keytrail::projections
