// TimerQueue: the scheduler's timers of one partition, earliest first. Each live key has
// up to three: its expiry, and under the org's policy (domain::KeyPolicy) the opening of
// its expiring-soon window and the day it has been unused for revoke_unused_after. The
// partition's writer keeps the queue in step with the events it applies (each event
// reschedules the keys it touches from the org's state after it) and sleeps until the
// earliest timer is due.
//
// Not thread-safe: the writer thread owns it.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
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
  static constexpr size_t kKinds = 3;

  struct Timer {
    Micros due = 0;
    std::string org;
    KeyId key_id;
    Kind kind = Kind::kExpire;
    friend auto operator<=>(const Timer&, const Timer&) = default;
  };

  // Follows one event of `state`'s org, applied to `state` already: reschedules the keys
  // it touches (the org's every key for an OrgPolicyChanged). Other events change nothing.
  void Apply(const fb::Envelope& event, const domain::OrgState& state);
  void Remove(const Timer& timer);
  // Moves `timer` to `due` (a command found it early: the clock stepped back).
  void Postpone(const Timer& timer, Micros due);
  void Clear();

  // The earliest due time, if any timer is queued.
  std::optional<Micros> NextDue() const;
  // Up to `limit` timers with due <= now, earliest first. They stay queued until an
  // event reschedules their key (or Remove).
  std::vector<Timer> Due(Micros now, size_t limit) const;
  size_t size() const { return timers_.size(); }

 private:
  // Replaces `key`'s timers with those its state and the org's policy call for.
  void Reschedule(const std::string& org, const domain::KeyState& key,
                  const domain::KeyPolicy& policy);
  void RemoveAll(const std::string& org, const KeyId& id);

  std::set<Timer> timers_;
  // A key's timers' due times by kind (0 = none): what RemoveAll erases.
  std::unordered_map<KeyId, std::array<Micros, kKinds>, KeyIdHash> due_of_;
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
