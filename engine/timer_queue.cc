#include "engine/timer_queue.h"

#include <algorithm>

namespace keytrail {
namespace {

// The key an event of a key is about (its aggregate), if it is one of those.
bool IsKeyEvent(fb::Payload type) {
  switch (type) {
    case fb::Payload::KeyCreated:
    case fb::Payload::KeyRevoked:
    case fb::Payload::KeyExpired:
    case fb::Payload::KeyUpdated:
    case fb::Payload::KeyExpiringSoon:
      return true;
    default:  // rotations, moves, suspensions: no timer depends on them
      return false;
  }
}

size_t Index(TimerQueue::Kind kind) { return static_cast<size_t>(kind); }

}  // namespace

void TimerQueue::Apply(const fb::Envelope& event, const domain::OrgState& state) {
  const std::string org = event.org()->str();
  auto reschedule = [&](const flatbuffers::String* text) {
    if (text == nullptr) return;
    auto id = ParseKeyId(text->string_view());
    if (!id) return;  // Evolve has already refused such an event
    if (const domain::KeyState* key = state.FindKey(*id)) Reschedule(org, *key, state.policy);
  };
  const fb::Payload type = event.payload_type();
  if (IsKeyEvent(type)) {
    reschedule(event.aggregate_id());
  } else if (type == fb::Payload::KeysUsed) {
    if (state.policy.revoke_unused_after == 0) return;  // nothing waits on a use
    const auto* uses = event.payload_as_KeysUsed()->uses();
    if (uses == nullptr) return;
    for (const fb::KeyUsed* use : *uses) {
      if (use != nullptr) reschedule(use->key_id());
    }
  } else if (type == fb::Payload::OrgPolicyChanged) {
    for (const auto& [id, key] : state.keys) Reschedule(org, key, state.policy);
  }
}

void TimerQueue::Reschedule(const std::string& org, const domain::KeyState& key,
                            const domain::KeyPolicy& policy) {
  RemoveAll(org, key.id);
  if (key.status != domain::KeyStatus::kActive) return;
  std::array<Micros, kKinds> due{};
  if (key.expires_at != 0) {
    due[Index(Kind::kExpire)] = key.expires_at;
    if (policy.expiring_soon > 0 && key.warned_expiry != key.expires_at) {
      due[Index(Kind::kExpiringSoon)] = std::max<Micros>(1, key.expires_at - policy.expiring_soon);
    }
  }
  if (policy.revoke_unused_after > 0) {
    due[Index(Kind::kUnused)] = domain::UnusedDeadline(key, policy);
  }
  bool any = false;
  for (size_t kind = 0; kind < kKinds; ++kind) {
    if (due[kind] == 0) continue;
    timers_.insert({due[kind], org, key.id, static_cast<Kind>(kind)});
    any = true;
  }
  if (any) due_of_[key.id] = due;
}

void TimerQueue::RemoveAll(const std::string& org, const KeyId& id) {
  auto it = due_of_.find(id);
  if (it == due_of_.end()) return;
  for (size_t kind = 0; kind < kKinds; ++kind) {
    if (it->second[kind] != 0) timers_.erase({it->second[kind], org, id, static_cast<Kind>(kind)});
  }
  due_of_.erase(it);
}

void TimerQueue::Remove(const Timer& timer) {
  timers_.erase(timer);
  auto it = due_of_.find(timer.key_id);
  if (it == due_of_.end() || it->second[Index(timer.kind)] != timer.due) return;  // rescheduled
  it->second[Index(timer.kind)] = 0;
  if (std::all_of(it->second.begin(), it->second.end(), [](Micros d) { return d == 0; })) {
    due_of_.erase(it);
  }
}

void TimerQueue::Postpone(const Timer& timer, Micros due) {
  auto it = due_of_.find(timer.key_id);
  if (it == due_of_.end() || it->second[Index(timer.kind)] != timer.due) return;
  timers_.erase(timer);
  Timer later = timer;
  later.due = due;
  timers_.insert(std::move(later));
  it->second[Index(timer.kind)] = due;
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
  revoked_unused += other.revoked_unused;
  expiring_soon += other.expiring_soon;
  lateness.Add(other.lateness);
}

}  // namespace keytrail
