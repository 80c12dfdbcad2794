// OrgState: everything the writer needs to decide a command for one org, folded from
// the org's events by Evolve, and nothing more (it is held in memory for every key).
// Pure data; no I/O.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "engine/key_material.h"
#include "schemas/events_generated.h"

namespace keytrail::domain {

enum class KeyStatus : uint8_t { kActive, kRevoked, kExpired };

struct KeyState {
  KeyId id;
  std::string name;
  std::string group;
  Micros expires_at = 0;  // 0 = never
  KeyStatus status = KeyStatus::kActive;
  uint64_t version = 0;  // aggregate version of the key's last event

  // Active at `now`: not revoked, not expired by event, and not past its expiry.
  bool ActiveAt(Micros now) const {
    return status == KeyStatus::kActive && (expires_at == 0 || now < expires_at);
  }
};

struct GroupState {
  std::string id;
  bool deleted = false;
  uint64_t version = 0;
};

// What a command id produced, so a retry is answered instead of applied twice.
struct CommandRecord {
  fb::Payload first_event = fb::Payload::NONE;
  std::string aggregate_id;
};

struct OrgState {
  std::string id;  // the org's id; set by whoever creates the state
  bool exists = false;
  uint64_t version = 0;  // aggregate version of the org itself
  std::map<std::string, GroupState> groups;
  std::unordered_map<KeyId, KeyState, KeyIdHash> keys;
  // Names of keys that are neither revoked nor expired by event. A key past its
  // expiry that the scheduler has not expired yet is still listed; decide checks.
  std::unordered_map<std::string, KeyId> names;
  // Keys that are neither revoked nor expired by event: those that never expire are
  // only counted; the others are ordered by expiry.
  size_t live_never_expiring = 0;
  std::set<std::pair<Micros, KeyId>> live_by_expiry;
  std::unordered_map<std::string, CommandRecord> commands;

  bool GroupExists(const std::string& id) const {
    auto it = groups.find(id);
    return it != groups.end() && !it->second.deleted;
  }
  const KeyState* FindKey(const KeyId& id) const {
    auto it = keys.find(id);
    return it == keys.end() ? nullptr : &it->second;
  }
  // Keys active at `now`: live keys minus those whose expiry has passed.
  size_t ActiveKeyCount(Micros now) const;
};

// Folds one event of this org into `state`. Deterministic: the result depends only on
// the state and the event. Errors (kCorruption) mean the log contradicts itself, e.g.
// a rotation of a key that was never created.
Status Evolve(OrgState& state, const fb::Envelope& event);

}  // namespace keytrail::domain
