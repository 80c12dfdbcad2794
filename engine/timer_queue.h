// TimerQueue: the scheduler's timers of one partition, earliest first. Each live key has
// up to three: its expiry, and under the org's policy (domain::KeyPolicy) the opening of
// its expiring-soon window and the day it has been unused for revoke_unused_after. A
// timer's due time is a function of its key's state and the org's policy, so the queue
// keeps no copy of them: the partition's writer takes the timers of the keys an event
// touches out before it applies the event (Forget) and puts them back after (Apply). It
// sleeps until the earliest timer is due.
//
// Laid out small (one to three per live key): an entry is 16 bytes in a b-tree, the org
// interned and the key named by its record in the org's KeyTable rather than its id.
//
// Not thread-safe: the writer thread owns it.
#pragma once

#include <absl/container/btree_set.h>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "engine/domain/org_state.h"
#include "engine/latency_histogram.h"
#include "keys/key_material.h"
#include "schemas/events_generated.h"

namespace keytrail {

class TimerQueue {
 public:
  enum class Kind : uint8_t {
    kExpire,        // the key's expires_at: ExpireKey
    kExpiringSoon,  // expires_at minus the policy's expiring_soon: NoteExpiringSoon
    kUnused,        // idle_since plus the policy's revoke_unused_after: RevokeUnusedKey
  };

  struct Timer {
    Micros due = 0;
    std::string org;
    KeyId key_id;
    Kind kind = Kind::kExpire;
    uint32_t record = 0;      // the key's KeyTable record when Due returned it
    uint64_t generation = 0;  // the queue's, when Due returned it (Clear starts a new one)
    friend auto operator<=>(const Timer&, const Timer&) = default;
  };

  // The state of org `org` as the writer holds it, or nullptr if it has none.
  using OrgStates = std::function<const domain::OrgState*(std::string_view org)>;

  // Before one event of `state`'s org is applied to `state`: takes out the timers of the
  // keys it touches (the org's every key for an OrgPolicyChanged).
  void Forget(const fb::Envelope& event, const domain::OrgState& state);
  // After: puts back those the keys' new state and the org's policy call for.
  void Apply(const fb::Envelope& event, const domain::OrgState& state);
  // Takes `timer` out until an event of its key puts it back. Nothing if the queue was
  // cleared since Due returned it (records are numbered anew by the refold after).
  void Remove(const Timer& timer);
  // Whether `timer` is queued (an event may have moved it since Due returned it); false if
  // the queue was cleared since.
  bool Contains(const Timer& timer) const;
  // Empties the queue, for a refold of the states from the log.
  void Clear();

  // The earliest due time, if any timer is queued.
  std::optional<Micros> NextDue() const;
  // Up to `limit` timers with due <= now, earliest first, their keys named from
  // `states` (the states Forget and Apply were given). They stay queued until an event
  // reschedules their key (or Remove). A timer whose key is no longer live (an event
  // that named its key two ways retired it unseen) is dropped on the way.
  std::vector<Timer> Due(Micros now, size_t limit, const OrgStates& states);
  size_t size() const { return timers_.size(); }

 private:
  struct Entry {
    Micros due = 0;
    uint32_t org = 0;          // index into orgs_
    uint32_t record_kind = 0;  // the key's KeyTable record << 2 | its Kind
    friend auto operator<=>(const Entry&, const Entry&) = default;
  };
  static_assert(sizeof(Entry) == 16);
  static constexpr uint32_t kMaxRecord = UINT32_MAX >> 2;
  static Entry EntryOf(Micros due, uint32_t org, uint32_t record, Kind kind) {
    return {due, org, record << 2 | static_cast<uint32_t>(kind)};
  }

  // Adds (add) or erases the timers of every key `event` touches.
  void Visit(const fb::Envelope& event, const domain::OrgState& state, bool add);
  // Adds or erases the timers `key`'s state and `policy` call for.
  void Visit(uint32_t org, const domain::OrgState& state, const domain::KeyState& key, bool add);

  absl::btree_set<Entry> timers_;
  domain::StringTable orgs_;
  uint64_t generation_ = 0;  // Clear's count
};

// The scheduler's metrics (of one partition, or summed over all).
struct SchedulerStats {
  size_t pending_timers = 0;
  std::optional<Micros> next_due;  // earliest due time, if any timer is queued
  uint64_t expired = 0;            // KeyExpired events the scheduler wrote
  uint64_t revoked_unused = 0;     // keys it revoked as unused
  uint64_t expiring_soon = 0;      // KeyExpiringSoon events it wrote
  // Lateness of each expiry: its KeyExpired time minus the key's expires_at.
  LatencySnapshot lateness;

  void Add(const SchedulerStats& other);
};

}  // namespace keytrail
