// VerifyIndex: the in-memory index that answers "is this token valid now?" without
// touching disk and without a lock shared with writers. It mirrors the key view
// (projections/key_view.h): rebuilt from it at start (RebuildFrom) and kept in step with
// it by the key view's listener (Listener()), which hears only committed changes.
//
// Threading: Verify may be called from any number of threads concurrently with one
// another and with the writer-side calls (Upsert, SetStatuses, SetGroupDeleted,
// RebuildFrom, ForgetRetiredBefore), which
// serialize among themselves. A reader never blocks a writer and a writer never blocks a
// reader, except that beyond kMaxReaderThreads threads that have called Verify at once
// alive, further threads verify under the writer mutex (correct, slower).
//
// How: keys are spread over kShards shards by their id; each shard is an immutable
// open-addressing table published through an atomic word (its address and capacity),
// laid out so that a key's slot is found from its id and that word alone (Verify starts
// loading it before hashing the secret). A writer
// copies the shard, changes the copy, publishes it and retires the old one, which is freed once no
// reader that might still see it is inside Verify (epoch-based reclamation).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "keys/key_material.h"
#include "model/keys.h"

namespace keytrail::projections {
class ViewStore;
struct KeyViewListener;
}  // namespace keytrail::projections

namespace keytrail {

enum class VerifyReason : uint8_t {
  kValid = 0,
  kMalformed,  // not a well-formed token of this deployment (no lookup was made)
  kUnknown,    // no such key, or the secret does not match it
  kRevoked,
  kExpired,    // expired by event, or now >= its expiry
  kNoGroup,    // the key has no group, or its group was deleted
  kSuspended,  // suspended until resumed (KeySuspended)
};

// The stable wire code of a reason: "valid", "malformed", "unknown", "revoked",
// "expired", "no-group", "suspended".
std::string_view ReasonCode(VerifyReason reason);

// Permission bits of VerifyResult::permissions. Unknown permission names map to no bit.
inline constexpr uint32_t kPermissionScim = 1u << 0;
inline constexpr uint32_t kPermissionOnBehalfOf = 1u << 1;
uint32_t PermissionBits(std::span<const std::string> permissions);

struct VerifyResult {
  bool valid = false;
  VerifyReason reason = VerifyReason::kUnknown;
  // Set when the secret matched the key (valid, revoked, expired, no-group), so a caller
  // can attribute the attempt and check the org; empty for malformed and unknown.
  // org and group point into the index and stay valid as long as it lives.
  KeyId key_id;
  std::string_view org;
  std::string_view group;
  Micros expires_at_us = 0;  // 0 = never
  uint32_t permissions = 0;  // kPermission* bits
  // The secret matched the key's previous one, inside its rotation grace (set whenever
  // key_id is), so a gateway can warn callers that still use a rotated secret.
  bool previous_secret = false;
  // Valid, and the first valid verify of this key in this minute that this index saw
  // (so a caller noting use, Engine's KeyUsage, is told once a minute per key).
  bool first_use_in_minute = false;
};

// Which secret matched, on the wire: "current" or "previous".
inline std::string_view SecretName(const VerifyResult& result) {
  return result.previous_secret ? "previous" : "current";
}

class VerifyIndex {
 public:
  static constexpr size_t kShards = 4096;
  static constexpr size_t kMaxReaderThreads = 512;

  // With track_retirements false, retired keys are not tracked for ForgetRetiredBefore
  // (which then removes nothing): for an owner that keeps them forever.
  explicit VerifyIndex(bool track_retirements = true);
  // REQUIRES: no call on this index is running or will start.
  ~VerifyIndex();
  VerifyIndex(const VerifyIndex&) = delete;
  VerifyIndex& operator=(const VerifyIndex&) = delete;

  // The verdict for a parsed token at `now`. Checks, in order: unknown id -> kUnknown;
  // hash equal to neither the current hash nor (while now < previous_valid_until) the
  // previous one -> kUnknown; revoked -> kRevoked; expired by event or now >= expires_at
  // (when set) -> kExpired; suspended -> kSuspended; group empty or deleted -> kNoGroup;
  // else valid. Hashes are
  // compared in constant time. Thread-safe, lock-free against writers, no allocation.
  VerifyResult Verify(const ParsedToken& token, Micros now) const;
  // nullopt (TokenCodec::Parse refused the text) -> kMalformed.
  VerifyResult Verify(const std::optional<ParsedToken>& token, Micros now) const;
  // Parse (incl. SHA-256) then Verify.
  VerifyResult Verify(const TokenCodec& codec, std::string_view token, Micros now) const;

  // Writer side (Upsert, SetStatuses, SetGroupDeleted, RebuildFrom, ForgetRetiredBefore):
  // serialized by an internal mutex; each change becomes visible to readers atomically per key.
  // Inserts or replaces the key. With several records for one key, the last wins.
  void Upsert(const model::KeyRecord& record);
  void Upsert(std::span<const model::KeyRecord> records);
  // Applies each change, in order, to its key's status (model::StatusAfter) or, for a
  // rotation, its secrets (the current hash becomes the previous one); a key the index
  // does not hold (forgotten after its retirement) is left out.
  void SetStatuses(std::span<const model::KeyStatusChange> changes);
  // Marks (org, group) deleted or not; affects every key of the group at once.
  void SetGroupDeleted(std::string_view org, std::string_view group, bool deleted);
  // Replaces the whole contents with the key view's keys and group rows. With a
  // `retired_key_window`, keys retired (KeyRecord::retired_at_us) before
  // now - retired_key_window are left out; a retired key whose row has no retirement time
  // (written before rows had one) counts as retired at `now`. Changes that arrive through
  // Upsert/SetGroupDeleted during the call wait for it. Errors: the store's, or
  // kCorruption (the index is then left unchanged).
  Status RebuildFrom(projections::ViewStore& store, Micros now = 0, Micros retired_key_window = 0);
  // Removes the keys retired (revoked or expired by event) before `before`, so the index
  // holds the live keys and the recent retirements: a token of a removed key verifies as
  // kUnknown. Returns how many were removed.
  size_t ForgetRetiredBefore(Micros before);

  // A listener for KeyViewProjection that applies its committed changes to this index.
  // The index must outlive the projection.
  projections::KeyViewListener Listener();

  // The number of slots of the shard that holds (or would hold) `id`; 0 if that shard is
  // empty. For tests and diagnostics.
  size_t ShardCapacity(const KeyId& id) const;

  // Number of keys.
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  // Approximate heap bytes held: shards (live and awaiting reclamation), the shard table
  // and interned groups.
  size_t MemoryBytes() const { return bytes_.load(std::memory_order_relaxed); }

  // Interned per (org, group), never freed before the index, so results may point into it.
  struct GroupRef {
    std::string org;
    std::string group;
    std::atomic<bool> deleted{false};
  };
  struct Entry;
  struct Slot;
  struct Shard;

 private:
  struct Change;
  GroupRef* Intern(std::string_view org, std::string_view group);
  Entry MakeEntry(const model::KeyRecord& record);
  // REQUIRES: mu_ held. Upsert's and SetStatuses' changes, shard by shard.
  void Apply(std::vector<Change>& changes);
  // REQUIRES: mu_ held. Replaces shard `index` by `fresh` (may be null) and retires the old.
  void Publish(size_t index, const Shard* fresh);
  // REQUIRES: mu_ held. Frees retired shards no reader can see any more.
  void Reclaim(bool force_scan);
  template <typename Evaluate>
  VerifyResult Read(const KeyId& id, Evaluate&& evaluate) const;

  // Each shard as published: its address and capacity in one word (ShardWord in the .cc),
  // so a reader finds a key's tag and slot without first reading the shard's header.
  std::unique_ptr<std::atomic<uint64_t>[]> shards_;
  std::atomic<size_t> size_{0};
  std::atomic<size_t> bytes_{0};

  mutable std::mutex mu_;  // writers; readers only when no reader slot is free
  std::unordered_map<std::string, std::unique_ptr<GroupRef>> groups_;  // guarded by mu_
  struct Retired {
    const Shard* shard;
    uint64_t epoch;
  };
  std::vector<Retired> retired_;  // guarded by mu_; epoch 0 = not yet given one
  static constexpr size_t kScanEvery = 64;
  size_t next_scan_ = kScanEvery;  // guarded by mu_: scan for reclaimable shards at this size
  std::vector<Entry> scratch_;     // guarded by mu_
  std::vector<bool> replaced_;     // guarded by mu_
  // Retired keys in the index by retirement time, earliest on top (as Upsert and
  // RebuildFrom saw them): what ForgetRetiredBefore removes. Guarded by mu_.
  using Retirement = std::pair<Micros, KeyId>;
  std::priority_queue<Retirement, std::vector<Retirement>, std::greater<>> retirements_;
  const bool track_retirements_;
};

}  // namespace keytrail
