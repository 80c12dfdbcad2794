// Projector: applies a log's events, in offset order, to a set of projections.
//
// Exactly once: each commit writes the projections' rows for a run of records AND the
// partition's checkpoint (the next offset to apply) in one atomic ViewStore batch, so
// after a crash at any point the store holds exactly the effects of the records before
// its checkpoint, and the projector resumes there.
//
// Fail-stop: a record that does not decode (fails verification, unknown type, newer
// schema) or that a projection refuses halts the partition at that offset with an error
// naming partition and offset. It is never skipped silently: only an explicit Skip
// (an operator's decision, stored as a skip row next to the checkpoints) moves past it,
// and every projector that later meets a skipped record (after a restart, or in a
// rebuild that carried the skip rows over) passes it with Projection::ApplySkipped.
//
// Rows the projector owns (besides the projections' own):
//   "\0ckpt/" ‖ partition (4 BE)                -> next offset to apply (8 BE)
//   "\0skip/" ‖ partition (4 BE) ‖ offset (8 BE) -> SkippedRecord as JSON
//   "\0claim/" ‖ partition (4 BE)               -> the partition's current claim (epoch
//                                                  8 BE ‖ offset 8 BE ‖ c(node) ‖ url)
//
// Fencing (events/epoch_fence.h): the projector keeps each partition's EpochFence, stored
// with the checkpoint. A record the fence refuses (written by a writer that had lost the
// partition) is not applied: every projection gets ApplyFenced instead, so the trail shows
// it and every replica and replay agrees.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "events/epoch_fence.h"
#include "events/event_log.h"
#include "projections/projection.h"
#include "projections/view_store.h"

namespace keytrail::projections {

// Key of a partition's checkpoint in the store ("\x00ckpt/" ‖ partition big-endian).
std::string CheckpointKey(int32_t partition);

// The stored next offset of `partition`; 0 if it has none.
Result<int64_t> ReadCheckpoint(ViewStore& store, int32_t partition);

// Key of a skip row, and the prefix of every skip row (of one partition, if given).
std::string SkipKey(int32_t partition, int64_t offset);
std::string SkipPrefix();
std::string SkipPrefix(int32_t partition);

// The stored claim of `partition` (epoch 0 if it was never claimed), as of its checkpoint.
Result<events::PartitionClaim> ReadClaim(ViewStore& store, int32_t partition);

// The skipped records of `partition`, by offset. kCorruption for a malformed row.
Result<std::map<int64_t, SkippedRecord>> ReadSkips(ViewStore& store, int32_t partition);

// Copies every skip row of `from` into `to` (one batch): the operator decisions a fresh
// rebuild must honour to pass the same records. Returns how many were copied.
Result<size_t> CopySkips(ViewStore& from, ViewStore& to);

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

  // Adds a projection, applied after those given at construction. REQUIRES: no Step yet
  // (its rows would miss the records applied before).
  void Add(Projection* projection) { projections_.push_back(projection); }

  // The store the projections write to (for reading their rows).
  ViewStore& store() const { return store_; }

  // Makes a Step of `partition` waiting in another thread return now (LogReader::Wake).
  // The one call that may come from another thread.
  void Wake(int32_t partition);

  // Reads the next records of `partition` (waiting up to `wait`) and applies them.
  // Returns the number applied (0 if none arrived). Once halted, returns the halting
  // error again without reading.
  Result<size_t> Step(int32_t partition, std::chrono::milliseconds wait);

  // Applies `partition` until its checkpoint reaches the log's end offset as read at
  // the start of the call.
  Status CatchUp(int32_t partition);

  // Applies `partition` until its checkpoint reaches `end`, never past it, calling
  // `on_applied(n)` (if set) after each committed run of n records. kTimeout if offsets
  // below `end` do not arrive within 30 s.
  Status CatchUpTo(int32_t partition, int64_t end,
                   const std::function<void(size_t applied)>& on_applied = {});

  // CatchUp on every partition of the log.
  Status CatchUpAll();

  // The next offset this projector will apply for `partition`.
  Result<int64_t> Checkpoint(int32_t partition);

  // The partition's current claim as of Checkpoint(partition).
  Result<events::PartitionClaim> Claim(int32_t partition);
  // Events of `partition` this projector fenced since it (re)loaded the partition.
  Result<uint64_t> FencedEvents(int32_t partition);

  // The offsets of `partition` an operator skipped (read when the partition was first
  // used), in order.
  Result<std::vector<int64_t>> SkippedOffsets(int32_t partition);

  // Skips the record at `offset` of `partition` for good. In one batch: the skip row
  // (`skip`, with its org and error filled in from the record), every projection's
  // ApplySkipped, and the checkpoint offset + 1. The partition's halt, if any, is
  // cleared. For operators (`keytrail projector skip`): nothing else may write to the
  // store meanwhile.
  // Errors: kFailedPrecondition if `offset` is not the partition's checkpoint (only the
  // record the projector stands at may be skipped) or if the record decodes and every
  // projection accepts it (there is nothing to skip); kNotFound if the log has no record
  // there yet; the log's or the store's errors.
  Status Skip(int32_t partition, int64_t offset, SkippedRecord skip);

 private:
  struct PartitionState;
  Result<PartitionState*> State(int32_t partition);
  // Drops the partition's state: the next call starts over from the store.
  void ResetPartition(int32_t partition);
  // Step, reading no record at or past `end`.
  Result<size_t> StepUntil(int32_t partition, int64_t end, std::chrono::milliseconds wait);
  // Why the record cannot be applied (decoded and applied to a batch never committed),
  // or OK if it can.
  Status TryApply(const LogPosition& position, const events::LogRecord& record);
  // Applies `records` to `batch`, with the new checkpoint; commits nothing.
  Status ApplyRecords(PartitionState& state, const std::vector<events::LogRecord>& records,
                      ViewBatch& batch);

  events::EventLog& log_;
  ViewStore& store_;
  std::vector<Projection*> projections_;
  Options options_;
  // Guards the partitions_ slots' reader pointers against Wake from another thread.
  std::mutex readers_mu_;
  std::vector<std::unique_ptr<PartitionState>> partitions_;
};

}  // namespace keytrail::projections
