#include "engine/timer_queue.h"

#include <algorithm>
#include <cassert>

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

}  // namespace

void TimerQueue::Forget(const fb::Envelope& event, const domain::OrgState& state) {
  Visit(event, state, /*add=*/false);
}

void TimerQueue::Apply(const fb::Envelope& event, const domain::OrgState& state) {
  Visit(event, state, /*add=*/true);
}

void TimerQueue::Visit(const fb::Envelope& event, const domain::OrgState& state, bool add) {
  const fb::Payload type = event.payload_type();
  const bool key_event = IsKeyEvent(type);
  const bool uses = type == fb::Payload::KeysUsed && state.policy.revoke_unused_after > 0;
  const bool policy = type == fb::Payload::OrgPolicyChanged;
  if (!key_event && !uses && !policy) return;
  const uint32_t org = orgs_.Intern(event.org()->string_view());
  auto visit = [&](const flatbuffers::String* text) {
    if (text == nullptr) return;
    auto id = ParseKeyId(text->string_view());
    if (!id) return;  // Evolve refuses such an event
    if (const domain::KeyState* key = state.FindKey(*id)) Visit(org, state, *key, add);
  };
  if (key_event) {
    visit(event.aggregate_id());
  } else if (uses) {  // nothing else waits on a use
    const auto* used = event.payload_as_KeysUsed()->uses();
    if (used == nullptr) return;
    for (const fb::KeyUsed* use : *used) {
      if (use != nullptr) visit(use->key_id());
    }
  } else {
    for (const domain::KeyState& key : state.keys) Visit(org, state, key, add);
  }
}

void TimerQueue::Visit(uint32_t org, const domain::OrgState& state, const domain::KeyState& key,
                       bool add) {
  if (key.status != domain::KeyStatus::kActive) return;
  const domain::KeyPolicy& policy = state.policy;
  const uint32_t record = state.keys.RecordOf(key);
  assert(record <= kMaxRecord);
  auto visit = [&](Micros due, Kind kind) {
    const Entry entry = EntryOf(due, org, record, kind);
    if (add) {
      timers_.insert(entry);
    } else {
      timers_.erase(entry);
    }
  };
  if (key.expires_at != 0) {
    visit(key.expires_at, Kind::kExpire);
    if (policy.expiring_soon > 0 && key.warned_expiry != key.expires_at) {
      visit(std::max<Micros>(1, key.expires_at - policy.expiring_soon), Kind::kExpiringSoon);
    }
  }
  if (policy.revoke_unused_after > 0) visit(domain::UnusedDeadline(key, policy), Kind::kUnused);
}

void TimerQueue::Remove(const Timer& timer) {
  if (timer.generation != generation_) return;
  const auto org = orgs_.Find(timer.org);
  if (org) timers_.erase(EntryOf(timer.due, *org, timer.record, timer.kind));
}

bool TimerQueue::Contains(const Timer& timer) const {
  if (timer.generation != generation_) return false;
  const auto org = orgs_.Find(timer.org);
  return org && timers_.contains(EntryOf(timer.due, *org, timer.record, timer.kind));
}

void TimerQueue::Clear() {
  timers_.clear();
  ++generation_;
  // orgs_ stays: an org's index is good for the queue's life.
}

std::optional<Micros> TimerQueue::NextDue() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->due;
}

std::vector<TimerQueue::Timer> TimerQueue::Due(Micros now, size_t limit, const OrgStates& states) {
  std::vector<Timer> due;
  const domain::OrgState* state = nullptr;  // of the previous timer's org
  uint32_t state_org = UINT32_MAX;
  for (auto it = timers_.begin(); it != timers_.end() && it->due <= now && due.size() < limit;) {
    const std::string_view org = orgs_.At(it->org);
    if (it->org != state_org) {
      state = states(org);
      state_org = it->org;
    }
    const uint32_t record = it->record_kind >> 2;
    const domain::KeyState* key = state ? state->keys.AtRecord(record) : nullptr;
    // A queued timer's key is active (Visit queues only those, and Forget takes them out
    // before an event retires their key), and only retired keys are erased. Unless an
    // event named its key one way in its header and another in its payload: Forget and
    // Apply go by the header, Evolve by the payload. Such a timer is dropped.
    if (key == nullptr || key->status != domain::KeyStatus::kActive) {
      it = timers_.erase(it);
      continue;
    }
    due.push_back({it->due, std::string(org), key->id, static_cast<Kind>(it->record_kind & 3),
                   record, generation_});
    ++it;
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
