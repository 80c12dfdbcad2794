// Projector: applies a log's events, in offset order, to a set of projections.
//
// Exactly once: each commit writes the projections' rows for a run of records AND the
// partition's checkpoint (the next offset to apply) in one atomic ViewStore batch, so
// after a crash at any point the store holds exactly the effects of the records before
// its checkpoint, and the projector resumes there.
//
// Fail-stop: a record that does not decode (fails verification, unknown type, newer
// schema) or that a projection refuses halts the partition at that offset with an error
// naming partition and offset. It is never skipped silently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "events/event_log.h"
#include "projections/projection.h"
#include "projections/view_store.h"

namespace keytrail::projections {

// Key of a partition's checkpoint in the store ("\x00ckpt/" ‖ partition big-endian).
std::string CheckpointKey(int32_t partition);

// The stored next offset of `partition`; 0 if it has none.
Result<int64_t> ReadCheckpoint(ViewStore& store, int32_t partition);

// Not thread-safe: one thread drives a Projector. Borrows log, store and projections,
// which must outlive it.
class Projector {
 public:
  struct Options {
    size_t max_batch_records = 2000;  // records per atomic commit
  };

  Projector(events::EventLog& log, ViewStore& store, std::vector<Projection*> projections,
            Options options);
  Projector(events::EventLog& log, ViewStore& store, std::vector<Projection*> projections)
      : Projector(log, store, std::move(projections), Options{}) {}
  ~Projector();
  Projector(const Projector&) = delete;
  Projector& operator=(const Projector&) = delete;

  // Reads the next records of `partition` (waiting up to `wait`) and applies them.
  // Returns the number applied (0 if none arrived). Once halted, returns the halting
  // error again without reading.
  Result<size_t> Step(int32_t partition, std::chrono::milliseconds wait);

  // Applies `partition` until its checkpoint reaches the log's end offset as read at
  // the start of the call.
  Status CatchUp(int32_t partition);

  // CatchUp on every partition of the log.
  Status CatchUpAll();

  // The next offset this projector will apply for `partition`.
  Result<int64_t> Checkpoint(int32_t partition);

 private:
  struct PartitionState;
  Result<PartitionState*> State(int32_t partition);
  Status ApplyRecords(PartitionState& state, const std::vector<events::LogRecord>& records);

  events::EventLog& log_;
  ViewStore& store_;
  std::vector<Projection*> projections_;
  Options options_;
  std::vector<std::unique_ptr<PartitionState>> partitions_;
};

}  // namespace keytrail::projections
