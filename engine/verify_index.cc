#include "engine/verify_index.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <unordered_map>

#include "projections/key_view.h"

namespace keytrail {

constexpr Micros kMicrosPerMinute = 60LL * 1'000'000;

// What the index holds of one key: the writer's unit of change. Fixed size, no pointer it
// owns. In a shard it is split in two: the Slot Verify reads, and the previous secret,
// kept apart because few keys have one.
struct VerifyIndex::Entry {
  KeyId id;
  SecretHash hash;
  SecretHash previous_hash;
  Micros previous_valid_until_us;  // 0: no previous secret
  Micros expires_at_us;
  const GroupRef* group;
  uint8_t permissions;  // kPermission* bits
  model::KeyStatus status;
  uint32_t used_minute;  // minutes since the epoch; 0 = not since this entry was made
};
static_assert(std::is_trivially_copyable_v<VerifyIndex::Entry>);
static_assert(kPermissionScim <= 0xff && kPermissionOnBehalfOf <= 0xff);

// The part of an entry Verify reads: one cache line. With its tag (see Shard) it holds
// the whole key id. Immutable once published but for two fields, accessed through
// std::atomic_ref: used_minute (relaxed), which readers write (the minute the key last
// verified valid, so Verify can say when a key is first used in a minute without
// touching another line), and status, which a writer changes in place when nothing else
// of the key changed (seq_cst; a revoke, an expiry, a suspension: no shard copy, so a
// burst of expiries costs what it changes, not the index's size).
struct alignas(64) VerifyIndex::Slot {
  uint64_t id_tail;  // id bytes 8..15
  SecretHash hash;
  Micros expires_at_us;
  const GroupRef* group;
  uint32_t used_minute;
  uint8_t permissions;
  model::KeyStatus status;
  uint8_t flags;  // kIdLowBit, kHasPrevious
  uint8_t unused = 0;
};
static_assert(std::is_trivially_copyable_v<VerifyIndex::Slot>);
static_assert(sizeof(VerifyIndex::Slot) == 64);

// A rotated key's previous secret, while it may still verify.
struct PreviousSecret {
  KeyId id;
  SecretHash hash;
  Micros valid_until_us;
};

// One allocation (64-byte aligned), immutable once published: an open-addressing table
// (linear probing, at most 80% full, so a probe always ends at an empty slot) of
// `capacity` slots in two parallel arrays, then the previous secrets sorted by id:
//   tags[capacity]    id bytes 0..7 as a little-endian word with its low bit set
//                     (0 = empty; the slot keeps the bit that the tag overwrites);
//   slots[capacity]   what Verify reads, from a 64-byte boundary;
//   previous[previous_count].
// A key's slot is found from its id alone, so Verify starts loading its tag and slot
// before it hashes the secret, and a verify costs about one memory latency.
struct alignas(64) VerifyIndex::Shard {
  uint32_t size;
  uint32_t capacity;
  uint32_t previous_count;

  static size_t SlotsOffset(size_t capacity) {
    return (sizeof(Shard) + capacity * sizeof(uint64_t) + 63) / 64 * 64;
  }
  // slots(), from a capacity the caller knows: no read of the header.
  const Slot* slots(uint32_t known_capacity) const {
    return reinterpret_cast<const Slot*>(reinterpret_cast<const char*>(this) +
                                         SlotsOffset(known_capacity));
  }
  const uint64_t* tags() const { return reinterpret_cast<const uint64_t*>(this + 1); }
  uint64_t* tags() { return reinterpret_cast<uint64_t*>(this + 1); }
  const Slot* slots() const {
    return reinterpret_cast<const Slot*>(reinterpret_cast<const char*>(this) +
                                         SlotsOffset(capacity));
  }
  Slot* slots() {
    return reinterpret_cast<Slot*>(reinterpret_cast<char*>(this) + SlotsOffset(capacity));
  }
  const PreviousSecret* previous() const {
    return reinterpret_cast<const PreviousSecret*>(slots() + capacity);
  }
  PreviousSecret* previous() { return reinterpret_cast<PreviousSecret*>(slots() + capacity); }

  static size_t Bytes(size_t capacity, size_t previous_count) {
    return SlotsOffset(capacity) + capacity * sizeof(Slot) +
           previous_count * sizeof(PreviousSecret);
  }
};

namespace {

using Entry = VerifyIndex::Entry;
using Slot = VerifyIndex::Slot;
using Shard = VerifyIndex::Shard;
using model::KeyRecord;
using model::KeyStatus;

// --- epoch-based reclamation ------------------------------------------------------------
//
// A reader announces the global epoch in its thread's slot before it loads a shard's
// word (its address and capacity) and clears the slot (0) when done. A writer publishes new shards,
// then takes E = epoch++ as the retire epoch of the shards it replaced. A reader that still holds
// an old shard loaded it before the publish, so it announced an epoch <= E and its slot still shows
// it; a retired shard is therefore freed only once every active slot shows an epoch > E. All slot
// and pointer operations are seq_cst: the announce must not be reordered after the word's load (a
// StoreLoad order, which acquire/release lacks). The registry is process-wide (a thread has one
// slot whichever index it reads), so a writer may wait for a reader of another index; that costs
// memory for a moment, never correctness.

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
  // The first 8 bytes of an id keytrail makes are a time (6 bytes) that the ids of a
  // period share, then 2 random bytes; older ids are random throughout. The multiply
  // carries the random high bits onto the top bits it keeps, so ids of one millisecond
  // spread over the shards as random ids do, and made-up (sequential) ids spread too.
  uint64_t v;
  std::memcpy(&v, id.bytes.data(), sizeof(v));
  return static_cast<size_t>((v * 0x9E3779B97F4A7C15ULL) >> 52);
}
static_assert(VerifyIndex::kShards == size_t{1} << 12);

int CompareIds(const KeyId& a, const KeyId& b) {
  return std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size());
}

// Tags and id tails are the id's bytes read as little-endian words.
static_assert(std::endian::native == std::endian::little, "the verify index assumes little-endian");

constexpr uint8_t kIdLowBit = 1;     // Slot::flags: bit 0 of id byte 0 (the tag sets it)
constexpr uint8_t kHasPrevious = 2;  // Slot::flags: the shard's previous table has the key

uint64_t TagOf(const KeyId& id) {
  uint64_t v;
  std::memcpy(&v, id.bytes.data(), sizeof(v));
  return v | 1;
}

uint64_t TailOf(const KeyId& id) {
  uint64_t v;
  std::memcpy(&v, id.bytes.data() + 8, sizeof(v));
  return v;
}

// The slot holding `id` given its tag matched: the rest of the id is the slot's.
bool SlotHolds(const Slot& slot, const KeyId& id) {
  return slot.id_tail == TailOf(id) && (slot.flags & kIdLowBit) == (id.bytes[0] & 1);
}

// The slot a key's probe starts at. Mixed (not the raw tag) so ids that are not random,
// and ids of one shard (which share bits through ShardOf), still spread.
size_t HomeOf(uint64_t tag, uint32_t capacity) {
  uint64_t h = tag ^ (tag >> 31);
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 29;
  return static_cast<size_t>((static_cast<unsigned __int128>(h) * capacity) >> 64);
}

size_t Next(size_t i, uint32_t capacity) { return i + 1 == capacity ? 0 : i + 1; }

// The slot index of `id` in `shard` of `capacity` slots, or SIZE_MAX.
size_t FindById(const Shard* shard, uint32_t capacity, const KeyId& id) {
  if (shard == nullptr) return SIZE_MAX;
  const uint64_t tag = TagOf(id);
  const uint64_t* tags = shard->tags();
  const Slot* slots = shard->slots(capacity);
  for (size_t i = HomeOf(tag, capacity); tags[i] != 0; i = Next(i, capacity)) {
    if (tags[i] == tag && SlotHolds(slots[i], id)) return i;
  }
  return SIZE_MAX;
}

size_t FindById(const Shard* shard, const KeyId& id) {
  return shard == nullptr ? SIZE_MAX : FindById(shard, shard->capacity, id);
}

// A published shard as one word: its address in the low 48 bits (a user-space address on
// x86-64 and AArch64), its capacity in the high 16 when it fits (else 0: read it from the
// shard). One atomic load gives a reader both, so finding a key's tag and slot waits for
// no read of the shard's header, which at 1M keys is a DRAM miss of its own before them.
#if !defined(__x86_64__) && !defined(__aarch64__)
#error "VerifyIndex packs shard addresses into 48 bits: x86-64 and AArch64 only"
#endif
static_assert(sizeof(void*) == 8);
constexpr int kAddressBits = 48;
constexpr uint64_t kAddressMask = (uint64_t{1} << kAddressBits) - 1;

uint64_t ShardWord(const Shard* shard) {
  const auto address = static_cast<uint64_t>(reinterpret_cast<std::uintptr_t>(shard));
  if ((address & ~kAddressMask) != 0) {
    // Tagged pointers (HWASan, MTE, LAM) or addresses of 5-level paging.
    std::fprintf(stderr,
                 "verify index: shard address %p does not fit in 48 bits (tagged pointers and "
                 "5-level paging addresses are not supported)\n",
                 static_cast<const void*>(shard));
    std::abort();
  }
  const uint64_t capacity = shard != nullptr && shard->capacity <= 0xffff ? shard->capacity : 0;
  return address | capacity << kAddressBits;
}

const Shard* ShardIn(uint64_t word) {
  return reinterpret_cast<const Shard*>(static_cast<std::uintptr_t>(word & kAddressMask));
}

uint32_t CapacityIn(uint64_t word) {
  const auto capacity = static_cast<uint32_t>(word >> kAddressBits);
  const Shard* shard = ShardIn(word);
  return capacity != 0 || shard == nullptr ? capacity : shard->capacity;
}

const PreviousSecret* FindPrevious(const Shard* shard, const KeyId& id) {
  const PreviousSecret* begin = shard->previous();
  const PreviousSecret* end = begin + shard->previous_count;
  const PreviousSecret* it = std::lower_bound(
      begin, end, id,
      [](const PreviousSecret& p, const KeyId& k) { return CompareIds(p.id, k) < 0; });
  return it != end && it->id == id ? it : nullptr;
}

// Where a token's hash matched: the key's slot, and whether it was the previous secret.
struct Match {
  const Slot* slot = nullptr;
  bool previous = false;
};

// The token's key, if its hash is the key's current one or, while now < the end of its
// grace, its previous one. Hashes are compared in constant time.
Match Find(const Shard* shard, uint32_t capacity, const ParsedToken& token, Micros now) {
  const size_t i = FindById(shard, capacity, token.key_id);
  if (i == SIZE_MAX) return {};
  const Slot& slot = shard->slots(capacity)[i];
  if (HashesEqual(slot.hash, token.hash)) return {&slot, false};
  // A second comparison whether or not the key has a previous secret, so the time a
  // wrong secret takes does not tell that the key was rotated (beyond the side table's
  // search when it was).
  static constexpr SecretHash kNone{};
  const PreviousSecret* p =
      (slot.flags & kHasPrevious) != 0 ? FindPrevious(shard, token.key_id) : nullptr;
  const bool previous = HashesEqual(p != nullptr ? p->hash : kNone, token.hash);
  if (p != nullptr && previous && now < p->valid_until_us) return {&slot, true};
  return {};
}

// Starts loading the cache lines Find(shard, capacity, id) will most likely read: the
// key's tag and the first slots from its home (a key sits on average 2 slots past it at
// 80% load).
void Prefetch(const Shard* shard, uint32_t capacity, const KeyId& id) {
  if (shard == nullptr) return;
  const size_t home = HomeOf(TagOf(id), capacity);
  __builtin_prefetch(shard->tags() + home);
  const Slot* slots = shard->slots(capacity);
  for (size_t i = home, n = 0; n < 3; ++n, i = Next(i, capacity)) __builtin_prefetch(slots + i);
}

VerifyResult Malformed() {
  VerifyResult result;
  result.reason = VerifyReason::kMalformed;
  return result;
}

KeyStatus StatusOf(const Slot& slot) {
  return std::atomic_ref<KeyStatus>(const_cast<Slot&>(slot).status).load(std::memory_order_seq_cst);
}

// Whether `change` differs from `current` in its status alone (what a writer may change
// in place).
bool OnlyStatusDiffers(const Entry& current, const Entry& change) {
  return current.hash == change.hash && current.expires_at_us == change.expires_at_us &&
         current.group == change.group && current.permissions == change.permissions &&
         current.previous_valid_until_us == change.previous_valid_until_us &&
         (change.previous_valid_until_us == 0 || current.previous_hash == change.previous_hash);
}

// The entry in slot i of `shard` (tag i non-zero). Another thread may be marking the slot
// used (Evaluate): used_minute is read as the atomic it is written as.
Entry EntryAt(const Shard* shard, size_t i) {
  const Slot& slot = shard->slots()[i];
  Entry e{};
  const uint64_t head = (shard->tags()[i] & ~uint64_t{1}) | (slot.flags & kIdLowBit);
  std::memcpy(e.id.bytes.data(), &head, sizeof(head));
  std::memcpy(e.id.bytes.data() + 8, &slot.id_tail, sizeof(slot.id_tail));
  e.hash = slot.hash;
  e.expires_at_us = slot.expires_at_us;
  e.group = slot.group;
  e.permissions = slot.permissions;
  e.status = StatusOf(slot);
  e.used_minute = std::atomic_ref<uint32_t>(const_cast<Slot&>(slot).used_minute)
                      .load(std::memory_order_relaxed);
  if ((slot.flags & kHasPrevious) != 0) {
    if (const PreviousSecret* p = FindPrevious(shard, e.id); p != nullptr) {
      e.previous_hash = p->hash;
      e.previous_valid_until_us = p->valid_until_us;
    }
  }
  return e;
}

// REQUIRES: entries non-empty, no id twice.
Shard* NewShard(std::span<const Entry> entries) {
  const size_t n = entries.size();
  const auto capacity = static_cast<uint32_t>(n + n / 4 + 2);
  size_t previous_count = 0;
  for (const Entry& e : entries) previous_count += e.previous_valid_until_us != 0;
  void* memory = ::operator new (Shard::Bytes(capacity, previous_count), std::align_val_t{64});
  auto* shard =
      new (memory) Shard{static_cast<uint32_t>(n), capacity, static_cast<uint32_t>(previous_count)};
  std::memset(shard->tags(), 0, capacity * sizeof(uint64_t));
  PreviousSecret* previous = shard->previous();
  for (const Entry& e : entries) {
    const uint64_t tag = TagOf(e.id);
    size_t i = HomeOf(tag, capacity);
    while (shard->tags()[i] != 0) i = Next(i, capacity);
    shard->tags()[i] = tag;
    Slot& slot = *new (shard->slots() + i) Slot{};
    slot.id_tail = TailOf(e.id);
    slot.hash = e.hash;
    slot.expires_at_us = e.expires_at_us;
    slot.group = e.group;
    slot.used_minute = e.used_minute;
    slot.permissions = e.permissions;
    slot.status = e.status;
    slot.flags = static_cast<uint8_t>(e.id.bytes[0] & kIdLowBit);
    if (e.previous_valid_until_us != 0) {
      slot.flags |= kHasPrevious;
      *previous++ = {e.id, e.previous_hash, e.previous_valid_until_us};
    }
  }
  std::sort(shard->previous(), previous, [](const PreviousSecret& a, const PreviousSecret& b) {
    return CompareIds(a.id, b.id) < 0;
  });
  return shard;
}

void FreeShard(const Shard* shard) {
  ::operator delete (const_cast<Shard*>(shard), std::align_val_t{64});
}

size_t ShardBytes(const Shard* shard) {
  return shard == nullptr ? 0 : Shard::Bytes(shard->capacity, shard->previous_count);
}

std::string GroupKey(std::string_view org, std::string_view group) {
  std::string key = std::to_string(org.size());
  key.push_back(':');
  key.append(org);
  key.append(group);
  return key;
}

constexpr size_t kGroupRefBytes = sizeof(VerifyIndex::GroupRef) + 64;  // + map node, approx.

VerifyResult Evaluate(Match match, const ParsedToken& token, Micros now) {
  VerifyResult result;
  const Slot* e = match.slot;
  if (e == nullptr) return result;  // kUnknown
  result.key_id = token.key_id;
  result.previous_secret = match.previous;
  result.org = e->group->org;
  result.group = e->group->group;
  result.expires_at_us = e->expires_at_us;
  const KeyStatus status = StatusOf(*e);
  if (status == KeyStatus::kRevoked) {
    result.reason = VerifyReason::kRevoked;
  } else if (status == KeyStatus::kExpired || (e->expires_at_us != 0 && now >= e->expires_at_us)) {
    result.reason = VerifyReason::kExpired;
  } else if (status == KeyStatus::kSuspended) {
    result.reason = VerifyReason::kSuspended;
  } else if (e->group->group.empty() || e->group->deleted.load(std::memory_order_acquire)) {
    result.reason = VerifyReason::kNoGroup;
  } else {
    result.valid = true;
    result.reason = VerifyReason::kValid;
    result.permissions = e->permissions;
    const auto minute = static_cast<uint32_t>(now / kMicrosPerMinute);
    std::atomic_ref<uint32_t> used(const_cast<Slot*>(e)->used_minute);
    if (used.load(std::memory_order_relaxed) != minute) {
      used.store(minute, std::memory_order_relaxed);
      result.first_use_in_minute = true;
    }
  }
  return result;
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
  Micros retired_at_us;  // the record's
};

namespace {

bool IsRetired(KeyStatus status) { return !model::IsLive(status); }

}  // namespace

VerifyIndex::VerifyIndex(bool track_retirements)
    : shards_(new std::atomic<uint64_t>[kShards]), track_retirements_(track_retirements) {
  for (size_t i = 0; i < kShards; ++i) shards_[i].store(0, std::memory_order_relaxed);
  bytes_.store(kShards * sizeof(shards_[0]), std::memory_order_relaxed);
}

size_t VerifyIndex::ShardCapacity(const KeyId& id) const {
  std::lock_guard lock(mu_);
  const Shard* shard = ShardIn(shards_[ShardOf(id)].load(std::memory_order_relaxed));
  return shard == nullptr ? 0 : shard->capacity;
}

VerifyIndex::~VerifyIndex() {
  for (size_t i = 0; i < kShards; ++i)
    FreeShard(ShardIn(shards_[i].load(std::memory_order_relaxed)));
  for (const Retired& r : retired_) FreeShard(r.shard);
}

// --- readers --------------------------------------------------------------------------

// Runs evaluate(shard of `id`, its capacity) inside this thread's read-side critical
// section (or under the writer mutex when no reader slot is free), so the shard cannot be
// freed meanwhile.
template <typename Evaluate>
VerifyResult VerifyIndex::Read(const KeyId& id, Evaluate&& evaluate) const {
  ReaderSlot* slot = this_thread_slot.Get();
  if (slot == nullptr) {
    std::lock_guard lock(mu_);
    const uint64_t word = shards_[ShardOf(id)].load(std::memory_order_acquire);
    return evaluate(ShardIn(word), CapacityIn(word));
  }
  ReaderRegistry& registry = ReaderRegistry::Instance();
  slot->epoch.store(registry.epoch.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
  const uint64_t word = shards_[ShardOf(id)].load(std::memory_order_seq_cst);
  VerifyResult result = evaluate(ShardIn(word), CapacityIn(word));
  slot->epoch.store(0, std::memory_order_release);
  return result;
}

VerifyResult VerifyIndex::Verify(const ParsedToken& token, Micros now) const {
  return Read(token.key_id, [&](const Shard* shard, uint32_t capacity) {
    return Evaluate(Find(shard, capacity, token, now), token, now);
  });
}

VerifyResult VerifyIndex::Verify(const std::optional<ParsedToken>& token, Micros now) const {
  if (!token.has_value()) return Malformed();
  return Verify(*token, now);
}

VerifyResult VerifyIndex::Verify(const TokenCodec& codec, std::string_view token,
                                 Micros now) const {
  DecodedToken decoded;
  if (!codec.Decode(token, decoded)) return Malformed();
  return Read(decoded.key_id(), [&](const Shard* shard, uint32_t capacity) {
    // The key's entry is most likely in DRAM: start loading it, then hash the secret
    // while it arrives (the hash is ~45-60 ns, a miss 100-250 ns).
    Prefetch(shard, capacity, decoded.key_id());
    const ParsedToken parsed = codec.Finish(decoded);
    return Evaluate(Find(shard, capacity, parsed, now), parsed, now);
  });
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
  e.permissions = static_cast<uint8_t>(PermissionBits(r.permissions));
  e.status = r.status;
  return e;
}

void VerifyIndex::Publish(size_t index, const Shard* fresh) {
  const Shard* old = ShardIn(shards_[index].exchange(ShardWord(fresh), std::memory_order_seq_cst));
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
  for (const KeyRecord& r : records) {
    changes.push_back({ShardOf(r.key_id), MakeEntry(r), r.retired_at_us});
  }
  Apply(changes);
}

void VerifyIndex::SetStatuses(std::span<const model::KeyStatusChange> status_changes) {
  if (status_changes.empty()) return;
  std::lock_guard lock(mu_);
  std::vector<Change> changes;
  changes.reserve(status_changes.size());
  // A key changed twice in the span: the second starts from the first's status (Apply
  // keeps the last change of an id, so each change carries everything before it).
  std::unordered_map<KeyId, size_t, KeyIdHash> latest;  // id -> its last change so far
  for (const model::KeyStatusChange& c : status_changes) {
    const size_t shard = ShardOf(c.key_id);
    Entry entry{};
    Micros retired_at = 0;  // of the key's retirement in this span, if an earlier change did it
    if (auto it = latest.find(c.key_id); it != latest.end()) {
      entry = changes[it->second].entry;
      retired_at = changes[it->second].retired_at_us;
    } else {
      const Shard* current = ShardIn(shards_[shard].load(std::memory_order_relaxed));
      const size_t at = FindById(current, c.key_id);
      if (at == SIZE_MAX) continue;
      entry = EntryAt(current, at);
    }
    const bool was_live = model::IsLive(entry.status);
    entry.status = model::StatusAfter(entry.status, c.change);
    if (c.change == model::StatusChange::kRotate) {
      entry.previous_hash = entry.hash;
      entry.hash = c.hash;
      entry.previous_valid_until_us = c.previous_valid_until_us;
    }
    latest[c.key_id] = changes.size();
    changes.push_back({shard, entry, was_live ? c.at_us : retired_at});
  }
  Apply(changes);
}

void VerifyIndex::Apply(std::vector<Change>& changes) {
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

    const Shard* old = ShardIn(shards_[index].load(std::memory_order_relaxed));
    // Keys that retire now (the last change of each id decides) join the retirements.
    for (size_t i = begin; i < end && track_retirements_; ++i) {
      const Change& c = changes[i];
      if (!IsRetired(c.entry.status) ||
          (i + 1 < end && CompareIds(c.entry.id, changes[i + 1].entry.id) == 0)) {
        continue;
      }
      const size_t at = FindById(old, c.entry.id);
      if (at == SIZE_MAX || !IsRetired(StatusOf(old->slots()[at]))) {
        retirements_.emplace(c.retired_at_us, c.entry.id);
      }
    }
    // When every change only sets a key's status, set it in place: no copy.
    bool in_place = old != nullptr;
    for (size_t i = begin; i < end && in_place; ++i) {
      const size_t at = FindById(old, changes[i].entry.id);
      in_place = at != SIZE_MAX && OnlyStatusDiffers(EntryAt(old, at), changes[i].entry);
    }
    if (in_place) {
      for (size_t i = begin; i < end; ++i) {  // in order: of several for one key, the last
        Slot& slot = const_cast<Shard*>(old)->slots()[FindById(old, changes[i].entry.id)];
        // seq_cst, as a shard's publication: a verify that starts after the change (in
        // the order of seq_cst operations) sees it.
        std::atomic_ref<KeyStatus>(slot.status)
            .store(changes[i].entry.status, std::memory_order_seq_cst);
      }
      begin = end;
      continue;
    }
    // The shard's entries that no change replaces, then the changes (the last of each id).
    replaced_.assign(old == nullptr ? 0 : old->capacity, false);
    scratch_.clear();
    for (size_t i = begin; i < end; ++i) {
      if (i + 1 < end && CompareIds(changes[i].entry.id, changes[i + 1].entry.id) == 0) continue;
      const size_t at = FindById(old, changes[i].entry.id);
      if (at == SIZE_MAX) {
        ++added;
      } else {
        replaced_[at] = true;
      }
      scratch_.push_back(changes[i].entry);
    }
    for (size_t i = 0; old != nullptr && i < old->capacity; ++i) {
      if (old->tags()[i] != 0 && !replaced_[i]) scratch_.push_back(EntryAt(old, i));
    }
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

Status VerifyIndex::RebuildFrom(projections::ViewStore& store, Micros now,
                                Micros retired_key_window) {
  std::lock_guard lock(mu_);
  std::vector<std::vector<Entry>> buckets(kShards);
  std::vector<Retirement> retirements;
  Status s = projections::KeyViewProjection::ForEachKey(store, [&](const KeyRecord& r) {
    if (IsRetired(r.status) && retired_key_window > 0) {
      const Micros retired_at = r.retired_at_us != 0 ? r.retired_at_us : now;
      if (retired_at < now - retired_key_window) return true;
      if (track_retirements_) retirements.emplace_back(retired_at, r.key_id);
    }
    buckets[ShardOf(r.key_id)].push_back(MakeEntry(r));
    return true;
  });
  KT_RETURN_IF_ERROR(s);
  retirements_ = decltype(retirements_)(std::greater<>(), std::move(retirements));
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
    total += bucket.size();
    Publish(i, bucket.empty() ? nullptr : NewShard(bucket));
    std::vector<Entry>().swap(bucket);
    Reclaim(/*force_scan=*/false);
  }
  size_.store(total, std::memory_order_relaxed);
  Reclaim(/*force_scan=*/true);
  return Status::Ok();
}

size_t VerifyIndex::ForgetRetiredBefore(Micros before) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<size_t, KeyId>> due;  // (shard, id)
  while (!retirements_.empty() && retirements_.top().first < before) {
    const KeyId& id = retirements_.top().second;
    due.emplace_back(ShardOf(id), id);
    retirements_.pop();
  }
  if (due.empty()) return 0;
  std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : CompareIds(a.second, b.second) < 0;
  });
  size_t removed = 0;
  for (size_t begin = 0; begin < due.size();) {
    const size_t index = due[begin].first;
    size_t end = begin;
    while (end < due.size() && due[end].first == index) ++end;
    const Shard* old = ShardIn(shards_[index].load(std::memory_order_relaxed));
    // The shard's entries but those still retired among the due ones.
    replaced_.assign(old == nullptr ? 0 : old->capacity, false);
    size_t dropped = 0;
    for (size_t i = begin; i < end; ++i) {
      const size_t at = FindById(old, due[i].second);
      if (at != SIZE_MAX && !replaced_[at] && IsRetired(StatusOf(old->slots()[at]))) {
        replaced_[at] = true;
        ++dropped;
      }
    }
    begin = end;
    if (dropped == 0) continue;
    scratch_.clear();
    for (size_t i = 0; i < old->capacity; ++i) {
      if (old->tags()[i] != 0 && !replaced_[i]) scratch_.push_back(EntryAt(old, i));
    }
    Publish(index, scratch_.empty() ? nullptr : NewShard(scratch_));
    Reclaim(/*force_scan=*/false);
    removed += dropped;
  }
  size_.fetch_sub(removed, std::memory_order_relaxed);
  Reclaim(/*force_scan=*/true);
  return removed;
}

projections::KeyViewListener VerifyIndex::Listener() {
  projections::KeyViewListener listener;
  listener.on_keys = [this](std::span<const KeyRecord> keys) { Upsert(keys); };
  listener.on_status_changes = [this](std::span<const model::KeyStatusChange> changes) {
    SetStatuses(changes);
  };
  listener.on_groups = [this](std::span<const projections::GroupChange> groups) {
    for (const projections::GroupChange& g : groups) SetGroupDeleted(g.org, g.group, g.deleted);
  };
  return listener;
}

}  // namespace keytrail
