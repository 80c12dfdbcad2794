#include "engine/timer_queue.h"

#include <algorithm>

namespace keytrail {

void TimerQueue::Apply(const fb::Envelope& event) {
  const flatbuffers::String* key_text = nullptr;
  Micros due = 0;
  bool add = false;
  switch (event.payload_type()) {
    case fb::Payload::KeyCreated:
      key_text = event.payload_as_KeyCreated()->key_id();
      due = event.payload_as_KeyCreated()->expires_at_us();
      add = true;
      break;
    case fb::Payload::KeyRevoked:
      key_text = event.payload_as_KeyRevoked()->key_id();
      break;
    case fb::Payload::KeyExpired:
      key_text = event.payload_as_KeyExpired()->key_id();
      break;
    case fb::Payload::KeyUpdated: {  // a new expiry: the old timer goes, a new one comes
      const auto* p = event.payload_as_KeyUpdated();
      if (!p->expires_changed() || p->key_id() == nullptr) return;
      auto id = ParseKeyId(p->key_id()->string_view());
      if (!id) return;
      if (auto it = due_of_.find(*id); it != due_of_.end()) {
        Remove({it->second, event.org()->str(), *id});
      }
      if (p->expires_at_us() != 0) {
        timers_.insert({p->expires_at_us(), event.org()->str(), *id});
        due_of_[*id] = p->expires_at_us();
      }
      return;
    }
    default:
      return;
  }
  if (key_text == nullptr) return;
  auto key_id = ParseKeyId(key_text->string_view());
  if (!key_id) return;  // Evolve has already refused such an event
  if (add) {
    if (due == 0) return;
    timers_.insert({due, event.org()->str(), *key_id});
    due_of_[*key_id] = due;
    return;
  }
  auto it = due_of_.find(*key_id);
  if (it == due_of_.end()) return;
  Remove({it->second, event.org()->str(), *key_id});
}

void TimerQueue::Remove(const Timer& timer) {
  timers_.erase(timer);
  due_of_.erase(timer.key_id);
}

void TimerQueue::Clear() {
  timers_.clear();
  due_of_.clear();
}

std::optional<Micros> TimerQueue::NextDue() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->due;
}

std::vector<TimerQueue::Timer> TimerQueue::Due(Micros now, size_t limit) const {
  std::vector<Timer> due;
  for (auto it = timers_.begin(); it != timers_.end() && it->due <= now && due.size() < limit;
       ++it) {
    due.push_back(*it);
  }
  return due;
}

void SchedulerStats::Add(const SchedulerStats& other) {
  pending_timers += other.pending_timers;
  if (other.next_due && (!next_due || *other.next_due < *next_due)) next_due = other.next_due;
  expired += other.expired;
  lateness.Add(other.lateness);
}

}  // namespace keytrail
