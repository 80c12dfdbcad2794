#include "engine/verify_index.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>

#include "projections/key_view.h"

namespace keytrail {

constexpr Micros kMicrosPerMinute = 60LL * 1'000'000;

// One key, fixed size, no pointer it owns: a shard is copied with memcpy. Immutable once
// published but for used_minute, which readers write (std::atomic_ref, relaxed): the
// minute the key last verified valid, so Verify can say when a key is first used in a
// minute without touching memory the entry's cache line does not hold.
struct VerifyIndex::Entry {
  KeyId id;
  SecretHash hash;
  SecretHash previous_hash;
  Micros previous_valid_until_us;
  Micros expires_at_us;
  const GroupRef* group;
  uint16_t permissions;  // kPermission* bits (two are defined)
  model::KeyStatus status;
  uint32_t used_minute;  // minutes since the epoch; 0 = not since this entry was made
};
static_assert(std::is_trivially_copyable_v<VerifyIndex::Entry>);
static_assert(sizeof(VerifyIndex::Entry) <= 112);

// One allocation, immutable once published: a header, then `size` search keys (each
// entry's first 8 id bytes, big-endian, so they sort like the ids), then the `size`
// entries sorted by id. Searching the dense key array first touches one or two cache
// lines where a binary search over the 112-byte entries would miss the cache ~8 times.
struct alignas(8) VerifyIndex::Shard {
  uint32_t size;
  const uint64_t* keys() const { return reinterpret_cast<const uint64_t*>(this + 1); }
  uint64_t* keys() { return reinterpret_cast<uint64_t*>(this + 1); }
  const Entry* entries() const { return reinterpret_cast<const Entry*>(keys() + size); }
  Entry* entries() { return reinterpret_cast<Entry*>(keys() + size); }
  static size_t Bytes(size_t n) { return sizeof(Shard) + n * (sizeof(uint64_t) + sizeof(Entry)); }
};

namespace {

using Entry = VerifyIndex::Entry;
using Shard = VerifyIndex::Shard;
using model::KeyRecord;
using model::KeyStatus;

// --- epoch-based reclamation ------------------------------------------------------------
//
// A reader announces the global epoch in its thread's slot before it loads a shard
// pointer and clears the slot (0) when done. A writer publishes new shards, then takes
// E = epoch++ as the retire epoch of the shards it replaced. A reader that still holds an
// old shard loaded it before the publish, so it announced an epoch <= E and its slot
// still shows it; a retired shard is therefore freed only once every active slot shows an
// epoch > E. All slot and pointer operations are seq_cst: the announce must not be
// reordered after the pointer load (a StoreLoad order, which acquire/release lacks).
// The registry is process-wide (a thread has one slot whichever index it reads), so a
// writer may wait for a reader of another index; that costs memory for a moment, never
// correctness.

struct alignas(64) ReaderSlot {
  std::atomic<uint64_t> epoch{0};  // 0 = not inside Verify
  std::atomic<bool> claimed{false};
};

class ReaderRegistry {
 public:
  static ReaderRegistry& Instance() {
    static auto* registry = new ReaderRegistry;  // never destroyed: threads outlive statics
    return *registry;
  }

  std::atomic<uint64_t> epoch{1};

  ReaderSlot* Claim() {
    for (size_t i = 0; i < VerifyIndex::kMaxReaderThreads; ++i) {
      ReaderSlot& slot = slots_[i];
      if (slot.claimed.load(std::memory_order_relaxed) ||
          slot.claimed.exchange(true, std::memory_order_acquire)) {
        continue;
      }
      size_t high = high_water_.load(std::memory_order_relaxed);
      while (high < i + 1 && !high_water_.compare_exchange_weak(high, i + 1)) {
      }
      return &slot;
    }
    return nullptr;
  }

  static void Release(ReaderSlot* slot) {
    slot->epoch.store(0, std::memory_order_seq_cst);
    slot->claimed.store(false, std::memory_order_release);
  }

  // The least epoch announced by a reader now inside Verify; UINT64_MAX if none.
  uint64_t MinActiveEpoch() const {
    uint64_t min = UINT64_MAX;
    const size_t high = high_water_.load(std::memory_order_seq_cst);
    for (size_t i = 0; i < high; ++i) {
      const uint64_t e = slots_[i].epoch.load(std::memory_order_seq_cst);
      if (e != 0 && e < min) min = e;
    }
    return min;
  }

 private:
  ReaderSlot slots_[VerifyIndex::kMaxReaderThreads];
  std::atomic<size_t> high_water_{0};  // slots at or past it were never claimed
};

// This thread's slot, claimed on first use and released when the thread exits.
class ThreadSlot {
 public:
  ~ThreadSlot() {
    if (slot_ != nullptr) ReaderRegistry::Release(slot_);
  }
  ReaderSlot* Get() {
    if (slot_ == nullptr) slot_ = ReaderRegistry::Instance().Claim();
    return slot_;
  }

 private:
  ReaderSlot* slot_ = nullptr;
};

thread_local ThreadSlot this_thread_slot;

// --- shards ---------------------------------------------------------------------------

size_t ShardOf(const KeyId& id) {
  // Ids are random, but a multiplicative hash keeps made-up (sequential) ids spread too.
  uint64_t v;
  std::memcpy(&v, id.bytes.data(), sizeof(v));
  return static_cast<size_t>((v * 0x9E3779B97F4A7C15ULL) >> 52);
}
static_assert(VerifyIndex::kShards == size_t{1} << 12);

int CompareIds(const KeyId& a, const KeyId& b) {
  return std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size());
}

uint64_t SearchKey(const KeyId& id) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | id.bytes[i];
  return v;
}

// The first index whose key is >= target. Ids are random, so the target's rank is close
// to target / 2^64 of the way along: start there and gallop outwards, which touches one or
// two cache lines; ids that are not random only cost a binary search's probes.
size_t LowerBound(const uint64_t* keys, size_t n, uint64_t target) {
  const size_t guess = static_cast<size_t>((static_cast<unsigned __int128>(target) * n) >> 64);
  size_t lo, hi;  // the answer is in [lo, hi]; keys[hi] >= target or hi == n
  if (keys[guess] < target) {
    lo = guess + 1;
    size_t step = 1;
    while (guess + step < n && keys[guess + step] < target) {
      lo = guess + step + 1;
      step *= 2;
    }
    hi = std::min(guess + step, n);
  } else {
    hi = guess;
    size_t step = 1;
    while (step <= guess && keys[guess - step] >= target) {
      hi = guess - step;
      step *= 2;
    }
    lo = step <= guess ? guess - step + 1 : 0;
  }
  return static_cast<size_t>(std::lower_bound(keys + lo, keys + hi, target) - keys);
}

const Entry* Find(const Shard* shard, const KeyId& id) {
  if (shard == nullptr) return nullptr;
  const size_t n = shard->size;
  const uint64_t* keys = shard->keys();
  const uint64_t target = SearchKey(id);
  for (size_t i = LowerBound(keys, n, target); i < n && keys[i] == target; ++i) {
    if (CompareIds(shard->entries()[i].id, id) == 0) return &shard->entries()[i];
  }
  return nullptr;
}

// REQUIRES: entries non-empty and sorted by id.
Shard* NewShard(std::span<const Entry> entries) {
  void* memory = ::operator new(Shard::Bytes(entries.size()));
  auto* shard = new (memory) Shard{static_cast<uint32_t>(entries.size())};
  for (size_t i = 0; i < entries.size(); ++i) shard->keys()[i] = SearchKey(entries[i].id);
  std::memcpy(shard->entries(), entries.data(), entries.size_bytes());
  return shard;
}

void FreeShard(const Shard* shard) { ::operator delete(const_cast<Shard*>(shard)); }

size_t ShardBytes(const Shard* shard) { return shard == nullptr ? 0 : Shard::Bytes(shard->size); }

std::string GroupKey(std::string_view org, std::string_view group) {
  std::string key = std::to_string(org.size());
  key.push_back(':');
  key.append(org);
  key.append(group);
  return key;
}

constexpr size_t kGroupRefBytes = sizeof(VerifyIndex::GroupRef) + 64;  // + map node, approx.

VerifyResult Evaluate(const Entry* e, const ParsedToken& token, Micros now) {
  VerifyResult result;
  if (e == nullptr) return result;  // kUnknown
  // Both comparisons always run, so timing does not tell which secret matched.
  const bool current = HashesEqual(e->hash, token.hash);
  const bool previous =
      HashesEqual(e->previous_hash, token.hash) && now < e->previous_valid_until_us;
  if (!current && !previous) return result;
  result.key_id = e->id;
  result.previous_secret = !current;
  result.org = e->group->org;
  result.group = e->group->group;
  result.expires_at_us = e->expires_at_us;
  if (e->status == KeyStatus::kRevoked) {
    result.reason = VerifyReason::kRevoked;
  } else if (e->status == KeyStatus::kExpired ||
             (e->expires_at_us != 0 && now >= e->expires_at_us)) {
    result.reason = VerifyReason::kExpired;
  } else if (e->status == KeyStatus::kSuspended) {
    result.reason = VerifyReason::kSuspended;
  } else if (e->group->group.empty() || e->group->deleted.load(std::memory_order_acquire)) {
    result.reason = VerifyReason::kNoGroup;
  } else {
    result.valid = true;
    result.reason = VerifyReason::kValid;
    result.permissions = e->permissions;
    const auto minute = static_cast<uint32_t>(now / kMicrosPerMinute);
    std::atomic_ref<uint32_t> used(const_cast<Entry*>(e)->used_minute);
    if (used.load(std::memory_order_relaxed) != minute) {
      used.store(minute, std::memory_order_relaxed);
      result.first_use_in_minute = true;
    }
  }
  return result;
}

// A copy of an entry another thread may be marking used (Evaluate): used_minute is read
// as the atomic it is written as.
VerifyIndex::Entry CopyOf(const VerifyIndex::Entry& e) {
  VerifyIndex::Entry copy;
  std::memcpy(&copy, &e, offsetof(VerifyIndex::Entry, used_minute));
  copy.used_minute = std::atomic_ref<uint32_t>(const_cast<VerifyIndex::Entry&>(e).used_minute)
                         .load(std::memory_order_relaxed);
  return copy;
}

}  // namespace

std::string_view ReasonCode(VerifyReason reason) {
  switch (reason) {
    case VerifyReason::kValid:
      return "valid";
    case VerifyReason::kMalformed:
      return "malformed";
    case VerifyReason::kUnknown:
      return "unknown";
    case VerifyReason::kRevoked:
      return "revoked";
    case VerifyReason::kExpired:
      return "expired";
    case VerifyReason::kNoGroup:
      return "no-group";
    case VerifyReason::kSuspended:
      return "suspended";
  }
  return "unknown";
}

uint32_t PermissionBits(std::span<const std::string> permissions) {
  uint32_t bits = 0;
  for (const std::string& p : permissions) {
    if (p == "scim") bits |= kPermissionScim;
    if (p == "on-behalf-of") bits |= kPermissionOnBehalfOf;
  }
  return bits;
}

struct VerifyIndex::Change {
  size_t shard;
  Entry entry;
};

VerifyIndex::VerifyIndex() : shards_(new std::atomic<const Shard*>[kShards]) {
  for (size_t i = 0; i < kShards; ++i) shards_[i].store(nullptr, std::memory_order_relaxed);
  bytes_.store(kShards * sizeof(shards_[0]), std::memory_order_relaxed);
}

VerifyIndex::~VerifyIndex() {
  for (size_t i = 0; i < kShards; ++i) FreeShard(shards_[i].load(std::memory_order_relaxed));
  for (const Retired& r : retired_) FreeShard(r.shard);
}

// --- readers --------------------------------------------------------------------------

VerifyResult VerifyIndex::Verify(const ParsedToken& token, Micros now) const {
  ReaderSlot* slot = this_thread_slot.Get();
  if (slot == nullptr) return VerifyLocked(token, now);
  ReaderRegistry& registry = ReaderRegistry::Instance();
  slot->epoch.store(registry.epoch.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
  const Shard* shard = shards_[ShardOf(token.key_id)].load(std::memory_order_seq_cst);
  VerifyResult result = Evaluate(Find(shard, token.key_id), token, now);
  slot->epoch.store(0, std::memory_order_release);
  return result;
}

VerifyResult VerifyIndex::VerifyLocked(const ParsedToken& token, Micros now) const {
  std::lock_guard lock(mu_);
  const Shard* shard = shards_[ShardOf(token.key_id)].load(std::memory_order_acquire);
  return Evaluate(Find(shard, token.key_id), token, now);
}

VerifyResult VerifyIndex::Verify(const std::optional<ParsedToken>& token, Micros now) const {
  if (!token.has_value()) {
    VerifyResult result;
    result.reason = VerifyReason::kMalformed;
    return result;
  }
  return Verify(*token, now);
}

VerifyResult VerifyIndex::Verify(const TokenCodec& codec, std::string_view token,
                                 Micros now) const {
  return Verify(codec.Parse(token), now);
}

// --- writers --------------------------------------------------------------------------

VerifyIndex::GroupRef* VerifyIndex::Intern(std::string_view org, std::string_view group) {
  auto [it, inserted] = groups_.try_emplace(GroupKey(org, group));
  if (inserted) {
    it->second = std::make_unique<GroupRef>();
    it->second->org = std::string(org);
    it->second->group = std::string(group);
    bytes_.fetch_add(kGroupRefBytes + org.size() + group.size(), std::memory_order_relaxed);
  }
  return it->second.get();
}

VerifyIndex::Entry VerifyIndex::MakeEntry(const KeyRecord& r) {
  Entry e{};
  e.id = r.key_id;
  e.hash = r.secret_hash;
  e.previous_hash = r.previous_hash;
  e.previous_valid_until_us = r.previous_valid_until_us;
  e.expires_at_us = r.expires_at_us;
  e.group = Intern(r.org, r.group_id);
  e.permissions = static_cast<uint16_t>(PermissionBits(r.permissions));
  e.status = r.status;
  return e;
}

void VerifyIndex::Publish(size_t index, const Shard* fresh) {
  const Shard* old = shards_[index].exchange(fresh, std::memory_order_seq_cst);
  bytes_.fetch_add(ShardBytes(fresh), std::memory_order_relaxed);
  // Epoch 0 = pending: Reclaim gives it the epoch it takes after this exchange.
  if (old != nullptr) retired_.push_back({old, 0});
}

void VerifyIndex::Reclaim(bool force_scan) {
  if (retired_.empty()) return;
  // Shards retired since the last call sit at the tail with epoch 0; the epoch they get
  // is taken now, after their exchange.
  if (retired_.back().epoch == 0) {
    const uint64_t e = ReaderRegistry::Instance().epoch.fetch_add(1, std::memory_order_seq_cst);
    for (auto it = retired_.rbegin(); it != retired_.rend() && it->epoch == 0; ++it) it->epoch = e;
  }
  // A scan reads every reader slot; doubling the threshold over what a scan had to keep
  // bounds the work per retired shard even while a stalled reader pins many of them.
  if (!force_scan && retired_.size() < next_scan_) return;
  const uint64_t min_active = ReaderRegistry::Instance().MinActiveEpoch();
  size_t kept = 0;
  for (const Retired& r : retired_) {
    if (r.epoch < min_active) {
      bytes_.fetch_sub(ShardBytes(r.shard), std::memory_order_relaxed);
      FreeShard(r.shard);
    } else {
      retired_[kept++] = r;
    }
  }
  retired_.resize(kept);
  next_scan_ = std::max(kScanEvery, 2 * kept);
}

void VerifyIndex::Upsert(const KeyRecord& record) {
  Upsert(std::span<const KeyRecord>(&record, 1));
}

void VerifyIndex::Upsert(std::span<const KeyRecord> records) {
  if (records.empty()) return;
  std::lock_guard lock(mu_);
  std::vector<Change> changes;
  changes.reserve(records.size());
  for (const KeyRecord& r : records) changes.push_back({ShardOf(r.key_id), MakeEntry(r)});
  // By shard, then id; stable, so of several records for one key the last comes last.
  std::stable_sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) {
    if (a.shard != b.shard) return a.shard < b.shard;
    return CompareIds(a.entry.id, b.entry.id) < 0;
  });

  size_t added = 0;
  for (size_t begin = 0; begin < changes.size();) {
    const size_t index = changes[begin].shard;
    size_t end = begin;
    while (end < changes.size() && changes[end].shard == index) ++end;

    // Merge the shard's sorted entries with the sorted run of changes.
    const Shard* old = shards_[index].load(std::memory_order_relaxed);
    const Entry* cur = old == nullptr ? nullptr : old->entries();
    const Entry* cur_end = old == nullptr ? nullptr : cur + old->size;
    scratch_.clear();
    for (size_t i = begin; i < end; ++i) {
      if (i + 1 < end && CompareIds(changes[i].entry.id, changes[i + 1].entry.id) == 0) continue;
      const Entry& change = changes[i].entry;
      while (cur != cur_end && CompareIds(cur->id, change.id) < 0)
        scratch_.push_back(CopyOf(*cur++));
      if (cur != cur_end && CompareIds(cur->id, change.id) == 0) {
        ++cur;  // replaced
      } else {
        ++added;
      }
      scratch_.push_back(change);
    }
    while (cur != cur_end) scratch_.push_back(CopyOf(*cur++));
    Publish(index, NewShard(scratch_));
    Reclaim(/*force_scan=*/false);  // a large batch must not hold two copies of the index
    begin = end;
  }
  size_.fetch_add(added, std::memory_order_relaxed);
  Reclaim(/*force_scan=*/false);
}

void VerifyIndex::SetGroupDeleted(std::string_view org, std::string_view group, bool deleted) {
  std::lock_guard lock(mu_);
  Intern(org, group)->deleted.store(deleted, std::memory_order_release);
}

Status VerifyIndex::RebuildFrom(projections::ViewStore& store) {
  std::lock_guard lock(mu_);
  std::vector<std::vector<Entry>> buckets(kShards);
  Status s = projections::KeyViewProjection::ForEachKey(store, [&](const KeyRecord& r) {
    buckets[ShardOf(r.key_id)].push_back(MakeEntry(r));
    return true;
  });
  KT_RETURN_IF_ERROR(s);
  std::unordered_map<std::string, bool> deleted;
  s = projections::KeyViewProjection::ForEachGroup(
      store, [&](std::string_view org, std::string_view group, bool exists) {
        deleted[GroupKey(org, group)] = !exists;
        Intern(org, group);
        return true;
      });
  KT_RETURN_IF_ERROR(s);

  // Groups first: a key published below must not be seen with its group's old state.
  for (auto& [key, ref] : groups_) {
    auto it = deleted.find(key);
    ref->deleted.store(it != deleted.end() && it->second, std::memory_order_release);
  }
  size_t total = 0;
  for (size_t i = 0; i < kShards; ++i) {
    std::vector<Entry>& bucket = buckets[i];
    std::sort(bucket.begin(), bucket.end(),
              [](const Entry& a, const Entry& b) { return CompareIds(a.id, b.id) < 0; });
    total += bucket.size();
    Publish(i, bucket.empty() ? nullptr : NewShard(bucket));
    std::vector<Entry>().swap(bucket);
    Reclaim(/*force_scan=*/false);
  }
  size_.store(total, std::memory_order_relaxed);
  Reclaim(/*force_scan=*/true);
  return Status::Ok();
}

projections::KeyViewListener VerifyIndex::Listener() {
  projections::KeyViewListener listener;
  listener.on_keys = [this](std::span<const KeyRecord> keys) { Upsert(keys); };
  listener.on_groups = [this](std::span<const projections::GroupChange> groups) {
    for (const projections::GroupChange& g : groups) SetGroupDeleted(g.org, g.group, g.deleted);
  };
  return listener;
}

}  // namespace keytrail
