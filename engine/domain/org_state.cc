#include "engine/domain/org_state.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "engine/domain/commands.h"

namespace keytrail::domain {
namespace {

Result<KeyId> KeyIdOf(const flatbuffers::String* text) {
  if (text == nullptr) return Status::Corruption("key event without a key id");
  auto id = ParseKeyId(text->string_view());
  if (!id) return Status::Corruption(fmt::format("malformed key id '{}'", text->string_view()));
  return *id;
}

GroupState* MutableGroup(OrgState& state, std::string_view id) {
  auto it = state.groups.find(id);
  return it == state.groups.end() ? nullptr : &it->second;
}

// Live-key counts per group: a key counts in its group while it is active by event.
void CountKey(OrgState& state, const KeyState& key, bool add) {
  GroupState* group = MutableGroup(state, state.GroupOf(key));
  if (group == nullptr) return;
  if (add) {
    ++group->live_keys;
  } else if (group->live_keys > 0) {
    --group->live_keys;
  }
}

// A key's version from its event. Versions count a key's events, so they fit 32 bits
// in any log this code wrote; a larger one is a log that contradicts itself.
Status SetKeyVersion(KeyState& key, const fb::Envelope& event) {
  if (event.aggregate_version() > UINT32_MAX) {
    return Status::Corruption(
        fmt::format("key event with version {} (at most 2^32-1)", event.aggregate_version()));
  }
  key.version = static_cast<uint32_t>(event.aggregate_version());
  return Status::Ok();
}

// Rules as the log holds them. Decide writes only valid, canonical rules; anything else
// (a role this version does not know, a scoped org-level role, a repeated role) is
// dropped, so that a rule this reader cannot understand grants nothing.
std::vector<Rule> RulesOf(const flatbuffers::Vector<flatbuffers::Offset<fb::Rule>>* rules) {
  std::vector<Rule> out;
  if (rules == nullptr) return out;
  std::array<bool, kRoleCount> seen{};
  for (const fb::Rule* r : *rules) {
    if (r == nullptr || r->role() == nullptr) continue;
    std::optional<Role> role = ParseRole(r->role()->string_view());
    if (!role || seen[static_cast<size_t>(*role)]) continue;
    Rule rule{*role, {}};
    if (r->resources() != nullptr) {
      for (const flatbuffers::String* id : *r->resources()) {
        if (id != nullptr && id->size() > 0) rule.resources.push_back(id->str());
      }
    }
    if (InfoOf(*role).scope == ResourceKind::kOrg && rule.scoped()) continue;
    if (r->resources() != nullptr && r->resources()->size() > 0 && !rule.scoped()) continue;
    std::sort(rule.resources.begin(), rule.resources.end());
    rule.resources.erase(std::unique(rule.resources.begin(), rule.resources.end()),
                         rule.resources.end());
    seen[static_cast<size_t>(*role)] = true;
    out.push_back(std::move(rule));
  }
  std::sort(out.begin(), out.end(), [](const Rule& a, const Rule& b) { return a.role < b.role; });
  return out;
}

void SetRules(GroupState& group, std::vector<Rule> rules) {
  group.rules = std::move(rules);
  group.grants = Grants::Of(group.rules);
}

Result<GroupState*> ExistingGroup(OrgState& state, const flatbuffers::String* group_id,
                                  std::string_view event) {
  if (group_id == nullptr) return Status::Corruption(fmt::format("{} without group_id", event));
  GroupState* group = MutableGroup(state, group_id->string_view());
  if (group == nullptr || group->deleted) {
    return Status::Corruption(
        fmt::format("{} for group '{}', which does not exist", event, group_id->string_view()));
  }
  return group;
}

// Every member event: its version, and when the member was created and last changed.
void NoteMemberEvent(MemberState& member, const fb::Envelope& event) {
  member.version = event.aggregate_version();
  if (member.created_at == 0) member.created_at = event.occurred_at_us();
  member.updated_at = event.occurred_at_us();
}

void Retire(OrgState& state, KeyState& key, KeyStatus status, Micros at) {
  if (key.status != KeyStatus::kActive) return;
  CountKey(state, key, false);
  key.status = status;
  state.retired.emplace(at, key.id);
  --state.live_key_count;
  state.keys.ReleaseName(key);
}

Result<KeyState*> ExistingKey(OrgState& state, const flatbuffers::String* key_id) {
  auto id = KeyIdOf(key_id);
  if (!id.ok()) return id.status();
  KeyState* key = state.keys.Find(*id);
  if (key == nullptr) {
    return Status::Corruption(fmt::format("event for unknown key {}", key_id->string_view()));
  }
  return key;
}

// Ends every session of `member` (removal, a new password).
void EndSessions(OrgState& state, MemberState& member) {
  for (const SessionState& session : member.sessions) state.session_members.erase(session.id);
  member.sessions.clear();
}

}  // namespace

size_t OrgState::ActiveKeyCount(Micros now) const {
  size_t active = 0;
  for (const KeyState& key : keys) active += key.ActiveAt(now) ? 1 : 0;
  return active;
}

size_t ForgetRetiredKeysBefore(OrgState& state, Micros before) {
  size_t forgotten = 0;
  while (!state.retired.empty() && state.retired.top().first < before) {
    const KeyId& id = state.retired.top().second;
    if (const KeyState* key = state.keys.Find(id); key && key->status != KeyStatus::kActive) {
      state.keys.Erase(id);
      ++forgotten;
    }
    state.retired.pop();
  }
  return forgotten;
}

uint32_t StringTable::Intern(std::string_view text) {
  if (auto it = index.find(text); it != index.end()) return it->second;
  const auto i = static_cast<uint32_t>(strings.size());
  index.emplace(strings.emplace_back(text), i);
  return i;
}

void RecallRetiredKey(OrgState& state, KeyState key, std::string_view name, std::string_view group,
                      std::string_view creator, Micros now) {
  key.group = state.key_groups.Intern(group);
  key.creator = state.creators.Intern(creator);
  state.retired.emplace(now, key.id);
  state.keys.Insert(key, name.substr(0, KeyTable::kMaxNameSize));
}

void ForgetCommandsBefore(OrgState& state, Micros before) {
  while (!state.command_order.empty() && state.command_order.front().first < before) {
    const auto& [at, id] = state.command_order.front();
    // The id may have been used again since: then its record is the newer one. The
    // set-up's own ids ("bootstrap:...") stay: they tell a finished org set-up.
    if (auto it = state.commands.find(id); it != state.commands.end() &&
                                           it->second.recorded_at == at &&
                                           !id.starts_with("bootstrap:")) {
      state.commands.erase(it);
    }
    state.command_order.pop_front();
  }
}

Status Evolve(OrgState& state, const fb::Envelope& event) {
  const std::string_view command_id =
      event.command_id() ? event.command_id()->string_view() : std::string_view();
  const bool scheduled =
      event.actor() != nullptr && event.actor()->kind() == fb::ActorKind::Scheduler;
  if (!command_id.empty() && !scheduled) {
    // A command's events share one occurred_at; a later one with the same id is the id
    // used again after it was forgotten (ForgetCommandsBefore), and replaces it.
    CommandRecord record{event.payload_type(), event.aggregate_id()->str(),
                         event.command_hash() ? event.command_hash()->str() : std::string(),
                         event.occurred_at_us()};
    auto [it, added] = state.commands.try_emplace(std::string(command_id), record);
    if (!added && it->second.recorded_at < record.recorded_at) {
      it->second = std::move(record);
      added = true;
    }
    if (added) state.command_order.emplace_back(event.occurred_at_us(), it->first);
  }
  switch (event.payload_type()) {
    case fb::Payload::OrgCreated:
      state.exists = true;
      state.version = event.aggregate_version();
      return Status::Ok();
    case fb::Payload::OrgSsoChanged: {
      const auto* p = event.payload_as_OrgSsoChanged();
      auto text = [](const flatbuffers::String* s) { return s ? s->str() : std::string(); };
      state.sso = {text(p->issuer()), text(p->client_id()), text(p->client_secret_id()),
                   text(p->claim()),  text(p->jit_group()), p->password_sign_in()};
      state.version = event.aggregate_version();
      return Status::Ok();
    }
    case fb::Payload::OrgPolicyChanged: {
      const auto* p = event.payload_as_OrgPolicyChanged();
      state.policy = {p->max_lifetime_us(), p->require_expiry(), p->revoke_unused_after_us(),
                      p->expiring_soon_us()};
      state.version = event.aggregate_version();
      return Status::Ok();
    }
    case fb::Payload::GroupCreated: {
      const auto* p = event.payload_as_GroupCreated();
      if (p->group_id() == nullptr) return Status::Corruption("GroupCreated without group_id");
      GroupState& group = state.groups[p->group_id()->str()];
      if (!group.id.empty() && !group.deleted) {
        return Status::Corruption(
            fmt::format("group '{}' created twice", p->group_id()->string_view()));
      }
      group.id = p->group_id()->str();
      group.name = p->name() ? p->name()->str() : group.id;
      group.description = p->description() ? p->description()->str() : std::string();
      SetRules(group, RulesOf(p->rules()));
      group.builtin = p->builtin();
      group.deleted = false;
      group.provisioned = p->provisioned();
      group.version = event.aggregate_version();
      group.created_at = group.updated_at = event.occurred_at_us();
      return Status::Ok();
    }
    case fb::Payload::GroupRulesChanged: {
      const auto* p = event.payload_as_GroupRulesChanged();
      auto group = ExistingGroup(state, p->group_id(), "GroupRulesChanged");
      if (!group.ok()) return group.status();
      SetRules(**group, RulesOf(p->rules()));
      (*group)->description = p->description() ? p->description()->str() : std::string();
      (*group)->version = event.aggregate_version();
      (*group)->updated_at = event.occurred_at_us();
      return Status::Ok();
    }
    case fb::Payload::GroupDeleted: {
      const auto* p = event.payload_as_GroupDeleted();
      auto group = ExistingGroup(state, p->group_id(), "GroupDeleted");
      if (!group.ok()) return group.status();
      (*group)->deleted = true;
      SetRules(**group, {});
      (*group)->version = event.aggregate_version();
      (*group)->updated_at = event.occurred_at_us();
      return Status::Ok();
    }
    case fb::Payload::MemberGroupsChanged: {
      const auto* p = event.payload_as_MemberGroupsChanged();
      if (p->member_id() == nullptr || p->member_id()->size() == 0) {
        return Status::Corruption("MemberGroupsChanged without member_id");
      }
      MemberState& member = state.members[p->member_id()->str()];
      for (const std::string& g : member.groups) {
        if (GroupState* group = MutableGroup(state, g); group && group->members > 0) {
          --group->members;
        }
      }
      member.groups.clear();
      if (p->groups() != nullptr) {
        for (const flatbuffers::String* g : *p->groups()) {
          if (g != nullptr && g->size() > 0) member.groups.push_back(g->str());
        }
      }
      std::sort(member.groups.begin(), member.groups.end());
      member.groups.erase(std::unique(member.groups.begin(), member.groups.end()),
                          member.groups.end());
      for (const std::string& g : member.groups) {
        if (GroupState* group = MutableGroup(state, g)) ++group->members;
      }
      NoteMemberEvent(member, event);
      // Its invitations were for the member as it was: void them.
      std::erase_if(state.invitations, [&](const auto& entry) {
        return entry.second.member_id == p->member_id()->string_view();
      });
      if (!member.Exists()) {  // removed: no password, no session
        member.password_credential.clear();
        EndSessions(state, member);
      }
      return Status::Ok();
    }
    case fb::Payload::MemberProfileChanged: {
      const auto* p = event.payload_as_MemberProfileChanged();
      if (p->member_id() == nullptr || p->member_id()->size() == 0) {
        return Status::Corruption("MemberProfileChanged without member_id");
      }
      MemberState& member = state.members[p->member_id()->str()];
      NoteMemberEvent(member, event);
      member.provisioned = p->provisioned();
      MemberProfile profile;
      if (member.provisioned) {
        profile.active = p->active();
        profile.external_id = p->external_id() ? p->external_id()->str() : std::string();
        profile.display_name = p->display_name() ? p->display_name()->str() : std::string();
        profile.given_name = p->given_name() ? p->given_name()->str() : std::string();
        profile.family_name = p->family_name() ? p->family_name()->str() : std::string();
        if (p->emails() != nullptr) {
          for (const flatbuffers::String* e : *p->emails()) {
            if (e != nullptr) profile.emails.push_back(e->str());
          }
        }
      }
      member.profile = std::move(profile);
      // Invitations are for the member as it was (FindInvitation compares versions).
      std::erase_if(state.invitations, [&](const auto& entry) {
        return entry.second.member_id == p->member_id()->string_view();
      });
      if (!member.Exists()) member.password_credential.clear();
      if (!member.Exists() || !member.profile.active) EndSessions(state, member);
      return Status::Ok();
    }
    case fb::Payload::MemberInvited: {
      const auto* p = event.payload_as_MemberInvited();
      if (p->member_id() == nullptr || p->invitation_id() == nullptr) {
        return Status::Corruption("MemberInvited without member_id or invitation_id");
      }
      std::erase_if(state.invitations, [&](const auto& entry) {
        return entry.second.expires_at <= event.occurred_at_us();
      });
      const auto member = state.members.find(p->member_id()->string_view());
      state.invitations[p->invitation_id()->str()] = {
          p->member_id()->str(), member == state.members.end() ? 0 : member->second.version,
          p->expires_at_us()};
      return Status::Ok();
    }
    case fb::Payload::MemberPasswordSet: {
      const auto* p = event.payload_as_MemberPasswordSet();
      if (p->member_id() == nullptr || p->credential_id() == nullptr) {
        return Status::Corruption("MemberPasswordSet without member_id or credential_id");
      }
      // A new password voids the member's other invitations and ends its sessions (one
      // taken before a reset must not outlive it).
      std::erase_if(state.invitations, [&](const auto& entry) {
        return entry.second.member_id == p->member_id()->string_view();
      });
      MemberState& member = state.members[p->member_id()->str()];
      member.password_credential = p->credential_id()->str();
      EndSessions(state, member);
      return Status::Ok();
    }
    case fb::Payload::MemberSignedIn: {
      const auto* p = event.payload_as_MemberSignedIn();
      if (p->member_id() == nullptr || p->session_id() == nullptr) {
        return Status::Corruption("MemberSignedIn without member_id or session_id");
      }
      MemberState& member = state.members[p->member_id()->str()];
      std::erase_if(member.sessions, [&](const SessionState& s) {
        const bool over = s.expires_at <= event.occurred_at_us();
        if (over) state.session_members.erase(s.id);
        return over;
      });
      if (member.sessions.size() >= kMaxSessionsPerMember) {
        state.session_members.erase(member.sessions.front().id);
        member.sessions.erase(member.sessions.begin());
      }
      member.sessions.push_back(
          {p->session_id()->str(), event.occurred_at_us(), p->expires_at_us()});
      state.session_members[p->session_id()->str()] = p->member_id()->str();
      return Status::Ok();
    }
    case fb::Payload::MemberSignedOut: {
      const auto* p = event.payload_as_MemberSignedOut();
      if (p->member_id() == nullptr || p->session_id() == nullptr) {
        return Status::Corruption("MemberSignedOut without member_id or session_id");
      }
      auto it = state.members.find(p->member_id()->string_view());
      if (it != state.members.end()) {
        std::erase_if(it->second.sessions, [&](const SessionState& s) {
          return s.id == p->session_id()->string_view();
        });
      }
      state.session_members.erase(p->session_id()->str());
      return Status::Ok();
    }
    case fb::Payload::KeyCreated: {
      const auto* p = event.payload_as_KeyCreated();
      auto id = KeyIdOf(p->key_id());
      if (!id.ok()) return id.status();
      if (state.keys.contains(*id)) {
        return Status::Corruption(fmt::format("key {} created twice", p->key_id()->string_view()));
      }
      const std::string_view name = p->name() ? p->name()->string_view() : std::string_view();
      if (name.size() > KeyTable::kMaxNameSize) {
        return Status::Corruption(
            fmt::format("key {} with a name of {} bytes", p->key_id()->string_view(), name.size()));
      }
      KeyState key;
      key.id = *id;
      key.group = state.key_groups.Intern(p->group_id() ? p->group_id()->string_view() : "");
      key.expires_at = p->expires_at_us();
      KT_RETURN_IF_ERROR(SetKeyVersion(key, event));
      key.idle_since = event.occurred_at_us();
      if (p->permissions() != nullptr) {
        for (const flatbuffers::String* permission : *p->permissions()) {
          key.scim |= permission != nullptr && permission->string_view() == "scim";
        }
      }
      key.creator = state.creators.Intern(p->created_by() ? p->created_by()->string_view() : "");
      CountKey(state, key, true);
      ++state.live_key_count;
      state.keys.ClaimName(state.keys.Insert(key, name));
      return Status::Ok();
    }
    case fb::Payload::KeyGroupChanged: {
      const auto* p = event.payload_as_KeyGroupChanged();
      auto key = ExistingKey(state, p->key_id());
      if (!key.ok()) return key.status();
      const bool live = (*key)->status == KeyStatus::kActive;
      if (live) CountKey(state, **key, false);
      (*key)->group = state.key_groups.Intern(p->group_id() ? p->group_id()->string_view() : "");
      if (live) CountKey(state, **key, true);
      KT_RETURN_IF_ERROR(SetKeyVersion(**key, event));
      return Status::Ok();
    }
    case fb::Payload::KeyRotated: {
      const auto* p = event.payload_as_KeyRotated();
      auto key = ExistingKey(state, p->key_id());
      if (!key.ok()) return key.status();
      KT_RETURN_IF_ERROR(SetKeyVersion(**key, event));
      return Status::Ok();
    }
    case fb::Payload::KeyRevoked: {
      auto key = ExistingKey(state, event.payload_as_KeyRevoked()->key_id());
      if (!key.ok()) return key.status();
      Retire(state, **key, KeyStatus::kRevoked, event.occurred_at_us());
      KT_RETURN_IF_ERROR(SetKeyVersion(**key, event));
      return Status::Ok();
    }
    case fb::Payload::KeyUpdated: {
      const auto* p = event.payload_as_KeyUpdated();
      auto key = ExistingKey(state, p->key_id());
      if (!key.ok()) return key.status();
      KeyState& k = **key;
      const bool live = k.status == KeyStatus::kActive;
      if (p->name_changed()) {
        const std::string_view name = p->name() ? p->name()->string_view() : std::string_view();
        if (name.size() > KeyTable::kMaxNameSize) {
          return Status::Corruption(fmt::format("key {} renamed to a name of {} bytes",
                                                p->key_id()->string_view(), name.size()));
        }
        state.keys.Rename(k, name);
        if (live) state.keys.ClaimName(k);
      }
      if (p->expires_changed()) k.expires_at = p->expires_at_us();
      KT_RETURN_IF_ERROR(SetKeyVersion(k, event));
      return Status::Ok();
    }
    case fb::Payload::KeySuspended:
    case fb::Payload::KeyResumed: {
      const bool suspend = event.payload_type() == fb::Payload::KeySuspended;
      auto key = ExistingKey(state, suspend ? event.payload_as_KeySuspended()->key_id()
                                            : event.payload_as_KeyResumed()->key_id());
      if (!key.ok()) return key.status();
      (*key)->suspended = suspend;
      KT_RETURN_IF_ERROR(SetKeyVersion(**key, event));
      return Status::Ok();
    }
    case fb::Payload::KeyExpired: {
      auto key = ExistingKey(state, event.payload_as_KeyExpired()->key_id());
      if (!key.ok()) return key.status();
      Retire(state, **key, KeyStatus::kExpired, event.occurred_at_us());
      KT_RETURN_IF_ERROR(SetKeyVersion(**key, event));
      return Status::Ok();
    }
    case fb::Payload::WriterClaimed:
      return Status::Ok();  // about the partition's writer, not the org
    case fb::Payload::KeysUsed: {
      // Any node may write uses (events/epoch_fence.h): keys this org does not have are
      // skipped, and a use only ever moves idle_since forward, so order does not matter.
      const auto* uses = event.payload_as_KeysUsed()->uses();
      if (uses == nullptr) return Status::Ok();
      for (const fb::KeyUsed* use : *uses) {
        if (use == nullptr || use->key_id() == nullptr) continue;
        auto id = ParseKeyId(use->key_id()->string_view());
        if (!id) continue;
        if (KeyState* key = state.keys.Find(*id)) {  // never later than the report itself
          const Micros at = std::clamp<Micros>(use->used_at_us(), 0, event.occurred_at_us());
          key->idle_since = std::max(key->idle_since, at);
        }
      }
      return Status::Ok();
    }
    case fb::Payload::KeyExpiringSoon: {
      const auto* p = event.payload_as_KeyExpiringSoon();
      auto key = ExistingKey(state, p->key_id());
      if (!key.ok()) return key.status();
      (*key)->warned_expiry = p->expires_at_us();
      KT_RETURN_IF_ERROR(SetKeyVersion(**key, event));
      return Status::Ok();
    }
    case fb::Payload::NONE:
      break;
  }
  return Status::Corruption("event without a known payload");
}

}  // namespace keytrail::domain
