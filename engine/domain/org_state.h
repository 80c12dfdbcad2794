// OrgState: everything the writer needs to decide and authorize a command for one org
// (keys, groups with their rules, members), folded from the org's events by Evolve, and
// nothing more (it is held in memory for every key). Pure data; no I/O; not thread-safe
// (one owner, the org's writer).
#pragma once

#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "engine/domain/commands.h"
#include "engine/domain/key_table.h"
#include "engine/domain/roles.h"
#include "keys/key_material.h"
#include "schemas/events_generated.h"

namespace keytrail::domain {

// Strings that many keys share (their groups, their creators), each stored once; keys
// hold an index. Entries never move (a deque), so a view of one lasts as long as the table.
// A lookup allocates nothing (the writer's timers intern the org on every key event).
// Moves, but is not copied: `index` views the entries of `strings`.
struct StringTable {
  StringTable() = default;
  StringTable(const StringTable&) = delete;
  StringTable& operator=(const StringTable&) = delete;
  StringTable(StringTable&&) = default;
  StringTable& operator=(StringTable&&) = default;

  std::deque<std::string> strings;
  std::unordered_map<std::string_view, uint32_t> index;  // views of `strings`

  uint32_t Intern(std::string_view text);
  // The index of `text`, if interned.
  std::optional<uint32_t> Find(std::string_view text) const {
    auto it = index.find(text);
    if (it == index.end()) return std::nullopt;
    return it->second;
  }
  std::string_view At(uint32_t i) const {
    return i < strings.size() ? std::string_view(strings[i]) : std::string_view();
  }
};

// A group: its rules (what its keys and members may do) and who is in it. A deleted
// group keeps its entry (for its version) but has no rules and grants nothing.
struct GroupState {
  std::string id;
  std::string name;
  std::string description;
  std::vector<Rule> rules;   // canonical (see ValidateRules); empty when deleted
  Grants grants;             // Grants::Of(rules)
  bool builtin = false;      // created with the org; cannot be changed or deleted
  bool provisioned = false;  // created through SCIM, which alone may delete it that way
  bool deleted = false;
  uint64_t version = 0;
  Micros created_at = 0;  // its GroupCreated
  Micros updated_at = 0;  // its last event
  size_t live_keys = 0;   // keys in the group that are neither revoked nor expired by event
  size_t members = 0;     // members that have the group among theirs
};

// A member's live sign-in session (MemberSignedIn, not yet ended or expired).
struct SessionState {
  std::string id;
  Micros started_at = 0;
  Micros expires_at = 0;
};

// A member (a human principal) and its groups. A removed member keeps its entry, with
// no groups, so that its aggregate version continues if it is added again.
struct MemberState {
  std::vector<std::string> groups;  // sorted, unique; empty (and not provisioned) = removed
  uint64_t version = 0;
  // Provisioned by an identity provider (SCIM): exists without groups, has a profile.
  bool provisioned = false;
  MemberProfile profile;
  Micros created_at = 0;  // its first event
  Micros updated_at = 0;  // its last event

  bool Exists() const { return !groups.empty() || provisioned; }
  // The credential id of the member's password (credentials stream); empty = none set.
  // Removing the member forgets its password and ends its sessions.
  std::string password_credential;
  std::vector<SessionState> sessions;  // oldest first; at most kMaxSessionsPerMember

  const SessionState* FindSession(std::string_view id) const {
    for (const SessionState& s : sessions) {
      if (s.id == id) return &s;
    }
    return nullptr;
  }
};

// An invitation to set a member's password, until it is used or expires. It is good
// only for the member as it was invited (its version then): any change of the member's
// groups, its removal, or a password set meanwhile voids it.
struct InvitationState {
  std::string member_id;
  uint64_t member_version = 0;
  Micros expires_at = 0;
};

// What a command id produced, so a retry is answered instead of applied twice.
struct CommandRecord {
  fb::Payload first_event = fb::Payload::NONE;
  std::string aggregate_id;
  std::string command_hash;  // CommandContext::command_hash; empty = none recorded
  Micros recorded_at = 0;    // the event's occurred_at_us
};

// The part of an org's state that Authorize reads: its groups (with their rules) and its
// members. It holds no keys, so it is small: a read side may keep a copy per org
// (GroupDirectory(state)) to authorize off the writer's thread.
// What the org asks of its keys (OrgPolicyChanged); the default asks nothing.
struct KeyPolicy {
  Micros max_lifetime = 0;  // 0 = no limit
  bool require_expiry = false;
  Micros revoke_unused_after = 0;  // 0 = off; else the scheduler revokes keys idle this long
  Micros expiring_soon = 0;        // 0 = off; else KeyExpiringSoon this long before expiry
  friend bool operator==(const KeyPolicy&, const KeyPolicy&) = default;
};

struct GroupDirectory {
  KeyPolicy policy;  // here so that reads (GET .../policy) need no writer
  SsoConfig sso;     // and sign-in pages (GET /v1/sso/{org})
  std::map<std::string, GroupState, std::less<>> groups;
  std::map<std::string, MemberState, std::less<>> members;
  // Live sessions (MemberState::sessions) by id: the member each belongs to.
  std::unordered_map<std::string, std::string> session_members;
  // Invitations neither used, voided nor expired (expired ones are dropped as new ones
  // come).
  std::unordered_map<std::string, InvitationState> invitations;

  // The pending invitation `id` at `now`, still good for its member; nullptr otherwise.
  const InvitationState* FindInvitation(std::string_view id, Micros now) const {
    auto it = invitations.find(std::string(id));
    if (it == invitations.end() || now >= it->second.expires_at) return nullptr;
    const MemberState* member = FindMember(it->second.member_id);
    if (member == nullptr || member->version != it->second.member_version) return nullptr;
    return &it->second;
  }

  bool GroupExists(std::string_view id) const { return FindGroup(id) != nullptr; }
  // The group `id` unless it does not exist or was deleted.
  const GroupState* FindGroup(std::string_view id) const {
    auto it = groups.find(id);
    return it == groups.end() || it->second.deleted ? nullptr : &it->second;
  }
  // The live session `id` and its member, unless unknown, ended or expired at `now`.
  std::pair<const SessionState*, std::string_view> FindSession(std::string_view id,
                                                               Micros now) const {
    auto it = session_members.find(std::string(id));
    if (it == session_members.end()) return {nullptr, {}};
    const MemberState* member = FindMember(it->second);
    const SessionState* session = member ? member->FindSession(id) : nullptr;
    if (session == nullptr || now >= session->expires_at) return {nullptr, {}};
    return {session, it->second};
  }
  // The member `id` unless it does not exist or was removed.
  const MemberState* FindMember(std::string_view id) const {
    auto it = members.find(id);
    return it == members.end() || !it->second.Exists() ? nullptr : &it->second;
  }
};

struct OrgState : GroupDirectory {
  OrgState() = default;
  OrgState(const OrgState&) = delete;  // moved, never copied (it holds every key)
  OrgState& operator=(const OrgState&) = delete;
  OrgState(OrgState&&) = default;
  OrgState& operator=(OrgState&&) = default;

  std::string id;  // the org's id; set by whoever creates the state
  bool exists = false;
  uint64_t version = 0;  // aggregate version of the org itself
  // Every key not yet forgotten, and the names of the live ones: a key that is neither
  // revoked nor expired by event holds its name (a key past its expiry that the
  // scheduler has not expired yet still does; decide checks).
  KeyTable keys;
  // Key creators and key groups, interned: keys hold an index (most keys share a few).
  StringTable creators;
  StringTable key_groups;
  // Keys that are neither revoked nor expired by event (some may be past their expiry).
  size_t live_key_count = 0;
  // Command ids seen (Idempotency-Keys and the like), for answering retries; the
  // scheduler's ids are not recorded (an expiry is idempotent by itself). Oldest first
  // in command_order, so ForgetCommandsBefore costs what it forgets.
  std::unordered_map<std::string, CommandRecord> commands;
  std::deque<std::pair<Micros, std::string>> command_order;
  // Keys revoked or expired by event that are still in `keys`, by when (the event's
  // occurred_at, or the recall's time), earliest on top: one entry per such key, so
  // ForgetRetiredKeysBefore costs what it forgets.
  using Retirement = std::pair<Micros, KeyId>;
  std::priority_queue<Retirement, std::vector<Retirement>, std::greater<>> retired;

  // The name of `key` (a key of `keys`).
  std::string_view NameOf(const KeyState& key) const { return keys.NameOf(key); }
  // KeyCreated.created_by of `key`.
  std::string_view CreatorOf(const KeyState& key) const { return creators.At(key.creator); }
  // The group `key` is in (its KeyCreated or latest KeyGroupChanged).
  std::string_view GroupOf(const KeyState& key) const { return key_groups.At(key.group); }
  const KeyState* FindKey(const KeyId& id) const { return keys.Find(id); }
  // Keys active at `now`: live keys minus those whose expiry has passed. Reads every
  // key (O(keys)): for the rare check that live_key_count alone cannot settle.
  size_t ActiveKeyCount(Micros now) const;
};

// When a key unused since key.idle_since is revoked under `policy` (revoke_unused_after
// > 0): the window, plus kUnusedMargin for uses still on their way (noted to the minute,
// written every few seconds, from any node).
inline constexpr Micros kUnusedMargin = 2LL * 60 * 1'000'000;
inline Micros UnusedDeadline(const KeyState& key, const KeyPolicy& policy) {
  return key.idle_since + policy.revoke_unused_after + kUnusedMargin;
}

// Forgets the command ids recorded before `before`: a retry of one is then decided as a
// new command. Bounds the memory idempotency takes (the idempotency window).
void ForgetCommandsBefore(OrgState& state, Micros before);

// Forgets the keys retired (revoked or expired by event) before `before`: they leave
// `keys`, so writer memory follows the most live keys the org had (KeyTable reuses freed records),
// not every key ever made. A command naming a forgotten key must RecallRetiredKey it first (its
// state is in the key view), or it is decided as for an unknown key. Returns how many were
// forgotten.
size_t ForgetRetiredKeysBefore(OrgState& state, Micros before);

// Puts a forgotten retired key back, as the key view holds it, so that a command on it is
// decided as before it was forgotten (already revoked, expired); forgotten again after
// the retirement window from `now`. key.group and key.creator are set from `group` and
// `creator`. REQUIRES: key.status is not kActive and state.keys has no key key.id.
void RecallRetiredKey(OrgState& state, KeyState key, std::string_view name, std::string_view group,
                      std::string_view creator, Micros now);

// Folds one event of this org into `state`. Deterministic: the result depends only on
// the state and the event. Errors (kCorruption) mean the log contradicts itself, e.g.
// a rotation of a key that was never created.
Status Evolve(OrgState& state, const fb::Envelope& event);

}  // namespace keytrail::domain
