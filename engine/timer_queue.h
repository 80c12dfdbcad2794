// TimerQueue: the expiry timers of one partition — every live key that has an expiry,
// earliest first. The partition's writer keeps it in step with the events it applies
// and sleeps until its earliest timer is due.
//
// Not thread-safe: the writer thread owns it.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "engine/latency_histogram.h"
#include "keys/key_material.h"
#include "schemas/events_generated.h"

namespace keytrail {

class TimerQueue {
 public:
  struct Timer {
    Micros due = 0;  // the key's expires_at
    std::string org;
    KeyId key_id;
    friend auto operator<=>(const Timer&, const Timer&) = default;
  };

  // Follows one applied event: a KeyCreated with an expiry adds a timer; KeyRevoked and
  // KeyExpired remove the key's timer. Other events change nothing.
  void Apply(const fb::Envelope& event);
  void Remove(const Timer& timer);
  void Clear();

  // The earliest due time, if any timer is queued.
  std::optional<Micros> NextDue() const;
  // Up to `limit` timers with due <= now, earliest first. They stay queued until the
  // key's KeyExpired (or KeyRevoked) is applied.
  std::vector<Timer> Due(Micros now, size_t limit) const;
  size_t size() const { return timers_.size(); }

 private:
  std::set<Timer> timers_;
  std::unordered_map<KeyId, Micros, KeyIdHash> due_of_;  // key -> its timer's due time
};

// The expiry scheduler's metrics (of one partition, or summed over all).
struct SchedulerStats {
  size_t pending_timers = 0;
  std::optional<Micros> next_due;  // earliest due time, if any timer is queued
  uint64_t expired = 0;            // KeyExpired events the scheduler wrote
  // Lateness of each expiry: its KeyExpired time minus the key's expires_at.
  LatencySnapshot lateness;

  void Add(const SchedulerStats& other);
};

}  // namespace keytrail
