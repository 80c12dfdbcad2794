// The read side's answer about keys: a key as the key view holds it, the filter a key
// list takes, and one page of a list. Plain data, no I/O. projections/ fills these;
// engine/queries.h hands them out; server/ renders them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "keys/key_material.h"

namespace keytrail::model {

// kSuspended: live (it keeps its name and expiry) but refused by verification until
// resumed.
enum class KeyStatus : uint8_t { kActive = 0, kRevoked = 1, kExpired = 2, kSuspended = 3 };

// Neither revoked nor expired by event (active or suspended).
inline bool IsLive(KeyStatus status) {
  return status == KeyStatus::kActive || status == KeyStatus::kSuspended;
}

// What an event that needs none of a key's other fields does to it: KeyRevoked,
// KeyExpired, KeySuspended, KeyResumed set its status (StatusAfter); KeyRotated
// (kRotate) keeps the status and replaces its secret, the current one becoming the
// previous. The key view applies them to its rows without reading them first, the verify
// index to its entries. The values are stored (the key view's merge operands; 5 is taken
// there): never renumber them.
enum class StatusChange : uint8_t {
  kRevoke = 1,
  kExpire = 2,
  kSuspend = 3,
  kResume = 4,
  kRotate = 6
};

// The status after `change`: an expiry retires only a live key (a revoked key stays
// revoked); the others set theirs.
inline KeyStatus StatusAfter(KeyStatus before, StatusChange change) {
  switch (change) {
    case StatusChange::kRevoke:
      return KeyStatus::kRevoked;
    case StatusChange::kExpire:
      return IsLive(before) ? KeyStatus::kExpired : before;
    case StatusChange::kSuspend:
      return KeyStatus::kSuspended;
    case StatusChange::kResume:
      return KeyStatus::kActive;
    case StatusChange::kRotate:
      return before;
  }
  return before;
}

// One key's StatusChange by an event that occurred at `at_us` (its retirement time, if
// it retires the key).
struct KeyStatusChange {
  KeyId key_id;
  StatusChange change = StatusChange::kRevoke;
  Micros at_us = 0;
  // kRotate only: the new secret's hash, and until when the one it replaces still works
  // (0: not at all).
  SecretHash hash{};
  Micros previous_valid_until_us = 0;
};

// A key's state as the view holds it. Holds hashes, never a secret.
struct KeyRecord {
  std::string org;
  KeyId key_id;
  std::string name;
  std::string group_id;
  SecretHash secret_hash{};
  SecretHash previous_hash{};          // the secret before the last rotation
  Micros previous_valid_until_us = 0;  // previous secret valid while now < this
  std::string hint;
  Micros created_at_us = 0;
  std::string created_by;
  Micros expires_at_us = 0;  // 0 = never
  std::vector<std::string> permissions;
  KeyStatus status = KeyStatus::kActive;  // as stored: set by KeyRevoked / KeyExpired
  std::string revoked_reason;
  Micros last_rotated_at_us = 0;  // 0 = never rotated
  uint64_t version = 0;           // aggregate version of the key's latest event
  Micros last_used_at_us = 0;     // to the minute, from KeysUsed; 0 = never seen used
  std::string suspended_reason;   // while suspended
  std::string description;        // set by an update; empty = none
  // When it was revoked or expired by event (that event's occurred_at); 0 while live.
  // Rows written before this field existed have 0 for retired keys too.
  Micros retired_at_us = 0;

  friend bool operator==(const KeyRecord&, const KeyRecord&) = default;
};

// The status a person sees at `now`: a key past its expiry is expired from that
// instant, whether or not the scheduler has written its KeyExpired yet.
inline KeyStatus StatusAt(const KeyRecord& key, Micros now) {
  if (!IsLive(key.status)) return key.status;
  if (key.expires_at_us != 0 && now >= key.expires_at_us) return KeyStatus::kExpired;
  return key.status;
}

// Which keys of an org a list wants; an unset field does not filter, and every set
// field must match.
struct KeyFilter {
  std::optional<std::string> group;
  std::optional<std::string> created_by;
  std::optional<KeyStatus> status;          // StatusAt(key, now)
  Micros now = 0;                           // the time `status` is judged at
  std::optional<Micros> expires_before_us;  // keys with 0 < expires_at < this
  std::optional<bool> never_expires;        // true: expires_at == 0; false: it has an expiry
  // Keys whose secret was last issued (rotated, or created if never rotated) before this.
  std::optional<Micros> not_rotated_since_us;
  // Keys last used before this (never-used keys included: they were not used since).
  std::optional<Micros> used_before_us;
  std::optional<bool> never_used;  // true: no use seen; false: some use seen
  // Keys idle since before this: created before it and not used since (the keys an
  // org's revoke_unused_after would revoke).
  std::optional<Micros> idle_before_us;
  // Keys whose name contains this, ignoring ASCII case (empty: any name).
  std::string name_contains;
  // Keys whose expiry breaks a key policy (of an org, judged at `now`): never expiring
  // when one is required or a lifetime is bounded, or expiring more than max_lifetime
  // after now.
  struct PolicyBound {
    Micros max_lifetime = 0;  // 0 = no limit
    bool require_expiry = false;
  };
  std::optional<PolicyBound> breaks_policy;
};

// The order of a key list: by one field, then by key id (so it is total and a page
// token names a place in it).
struct KeyOrder {
  enum class Field : uint8_t { kId, kName, kCreatedAt, kExpiresAt, kLastUsedAt };
  Field field = Field::kId;
  bool descending = false;
  // Never-expiring keys sort as expiring last; never-used keys as used first.
};

struct KeyPage {
  std::vector<KeyRecord> keys;  // in the KeyOrder asked for (key id by default)
  std::string next_page_token;  // empty: this is the last page
};

}  // namespace keytrail::model
