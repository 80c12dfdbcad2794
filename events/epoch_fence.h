// EpochFence: which events of one partition count, when several nodes may have written
// to it. The one rule every reader applies (the projector for the views and the audit
// trail, the writer when it folds its state, rebuilds), so every replica agrees:
//
//   - A WriterClaimed whose epoch is the partition's current epoch + 1 (and which carries
//     that epoch as its writer_epoch) starts that epoch, and counts. Any other claim lost
//     a race or is malformed: fenced.
//   - A KeysUsed counts whatever its epoch: any node notes the uses its verification saw
//     (engine/engine.h, FlushKeyUse); they only ever move a key's last use forward.
//   - Any other event counts iff its writer_epoch equals the current epoch (0 until the
//     first claim). An event of an older epoch was written by a writer that had lost
//     the partition (paused, cut off): fenced, whatever it says.
//
// So safety comes from the log, never from timing: a stale writer may still append, but
// nothing it appends after the new owner's claim changes any state. Pure; not
// thread-safe (one reader of the partition drives it, in offset order).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "schemas/events_generated.h"

namespace keytrail::events {

// The partition's latest accepted claim: who owns it, since when.
struct PartitionClaim {
  int64_t epoch = 0;    // 0: never claimed
  int64_t offset = -1;  // of the WriterClaimed record; -1 if never claimed
  std::string node_id;  // empty if never claimed
  std::string advertise_url;

  friend bool operator==(const PartitionClaim&, const PartitionClaim&) = default;
};

class EpochFence {
 public:
  EpochFence() = default;
  explicit EpochFence(PartitionClaim claim) : claim_(std::move(claim)) {}

  // Whether `event`, read at `offset`, counts; a counting claim becomes the current one.
  // REQUIRES: offsets come in increasing order.
  bool Admit(int64_t offset, const fb::Envelope& event);

  const PartitionClaim& claim() const { return claim_; }

 private:
  PartitionClaim claim_;
};

// The record key of the WriterClaimed records of `partition`: the first of
// "keytrail.writer.<partition>.<n>" (n = 0, 1, ...) that Kafka's partitioner maps to
// `partition`, so claims land where they rule without a second Append API. The dots make
// it an invalid org id, so it never collides with an org.
std::string ClaimKeyFor(int32_t partition, int32_t partition_count);

}  // namespace keytrail::events
