#include "engine/domain/decide.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace keytrail::domain {
namespace {

constexpr size_t kMaxReasonLength = 500;

Rejection Reject(RejectionCode code, std::string message) { return {code, std::move(message)}; }

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool ValidKeyName(std::string_view name) {
  if (name.size() < 3 || name.size() > 50) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
           c == '-' || c == '_' || c == '.';
  });
}

// Group ids: 1-64 characters of [a-z0-9-_].
bool ValidGroupId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

// Member ids: 1-128 visible ASCII characters (emails, UUIDs, IdP subject ids).
bool ValidMemberId(std::string_view id) {
  if (id.empty() || id.size() > kMaxMemberIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::vector<std::unique_ptr<fb::RuleT>> ToFb(const std::vector<Rule>& rules) {
  std::vector<std::unique_ptr<fb::RuleT>> out;
  out.reserve(rules.size());
  for (const Rule& rule : rules) {
    auto r = std::make_unique<fb::RuleT>();
    r->role = std::string(RoleName(rule.role));
    r->resources = rule.resources;
    out.push_back(std::move(r));
  }
  return out;
}

fb::Sha256 ToFb(const SecretHash& hash) {
  return fb::Sha256(flatbuffers::span<const uint8_t, 32>(hash.data(), hash.size()));
}

template <typename T>
NewEvent Event(std::string aggregate_id, uint64_t version, T payload) {
  NewEvent e;
  e.aggregate_id = std::move(aggregate_id);
  e.aggregate_version = version;
  e.payload.Set(std::move(payload));
  return e;
}

Rejection KeyNotFound(const KeyId& id) {
  return Reject(RejectionCode::kKeyNotFound, fmt::format("no key {}", FormatKeyId(id)));
}

// Rejects commands on keys that are revoked or past their expiry.
std::optional<Rejection> RequireLive(const KeyState& key, Micros now) {
  if (key.status == KeyStatus::kRevoked) {
    return Reject(RejectionCode::kKeyRevoked,
                  fmt::format("key {} is revoked", FormatKeyId(key.id)));
  }
  if (!key.ActiveAt(now)) {
    return Reject(RejectionCode::kKeyExpired,
                  fmt::format("key {} has expired", FormatKeyId(key.id)));
  }
  return std::nullopt;
}

class Decider {
 public:
  Decider(const OrgState& state, Micros now, const DomainOptions& options)
      : state_(state), now_(now), options_(options) {}

  Decision operator()(const CreateOrg& c) const {
    if (c.name.empty() || c.name.size() > 200) {
      return Reject(RejectionCode::kInvalidName, "org name must be 1-200 characters");
    }
    std::vector<NewEvent> events;
    if (!state_.exists) {
      fb::OrgCreatedT p;
      p.name = c.name;
      events.push_back(Event(state_.id, 1, std::move(p)));
    }
    // A creation cut short (Kafka may keep a prefix of the append) left built-in groups
    // out: they are created now. An org with all of them exists already.
    for (const BuiltinGroup& builtin : BuiltinGroups()) {
      if (state_.groups.contains(builtin.id)) continue;
      fb::GroupCreatedT g;
      g.group_id = std::string(builtin.id);
      g.name = g.group_id;
      g.description = std::string(builtin.description);
      g.rules = ToFb({Rule{builtin.role, {}}});
      g.builtin = true;
      events.push_back(Event(std::string(builtin.id), NextGroupVersion(builtin.id), std::move(g)));
    }
    if (events.empty()) return Reject(RejectionCode::kOrgExists, "org already exists");
    return events;
  }

  Decision operator()(const CreateGroup& c) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    if (!ValidGroupId(c.group_id)) {
      return Reject(RejectionCode::kInvalidGroupId,
                    "group id must be 1-64 characters of a-z, 0-9, '-' and '_'");
    }
    if (state_.GroupExists(c.group_id)) {
      return Reject(RejectionCode::kGroupExists, fmt::format("group {} exists", c.group_id));
    }
    if (c.name.size() > kMaxGroupNameLength) {
      return Reject(RejectionCode::kInvalidName,
                    fmt::format("group name must be at most {} characters", kMaxGroupNameLength));
    }
    if (auto r = CheckDescription(c.description)) return *r;
    auto rules = ValidateRules(c.rules);
    if (auto* rejection = std::get_if<Rejection>(&rules)) return std::move(*rejection);
    fb::GroupCreatedT p;
    p.group_id = c.group_id;
    p.name = c.name.empty() ? c.group_id : c.name;
    p.description = c.description;
    p.rules = ToFb(std::get<std::vector<Rule>>(rules));
    return Events(Event(c.group_id, NextGroupVersion(c.group_id), std::move(p)));
  }

  Decision operator()(const ChangeGroupRules& c) const {
    auto group = ChangeableGroup(c.group_id, "changed");
    if (auto* rejection = std::get_if<Rejection>(&group)) return std::move(*rejection);
    const GroupState& g = *std::get<const GroupState*>(group);
    if (c.description) {
      if (auto r = CheckDescription(*c.description)) return *r;
    }
    auto validated = ValidateRules(c.rules);
    if (auto* rejection = std::get_if<Rejection>(&validated)) return std::move(*rejection);
    auto& rules = std::get<std::vector<Rule>>(validated);
    const std::string& description = c.description ? *c.description : g.description;
    if (rules == g.rules && description == g.description) return std::vector<NewEvent>{};
    fb::GroupRulesChangedT p;
    p.group_id = c.group_id;
    p.rules = ToFb(rules);
    p.description = description;  // the whole description after the change
    return Events(Event(c.group_id, g.version + 1, std::move(p)));
  }

  Decision operator()(const DeleteGroup& c) const {
    auto group = ChangeableGroup(c.group_id, "deleted");
    if (auto* rejection = std::get_if<Rejection>(&group)) return std::move(*rejection);
    const GroupState& g = *std::get<const GroupState*>(group);
    if (g.live_keys > 0 || g.members > 0) {
      return Reject(RejectionCode::kGroupInUse,
                    fmt::format("group {} still has {} key(s) and {} member(s); move them to "
                                "another group first",
                                c.group_id, g.live_keys, g.members));
    }
    fb::GroupDeletedT p;
    p.group_id = c.group_id;
    return Events(Event(c.group_id, g.version + 1, std::move(p)));
  }

  Decision operator()(const SetMemberGroups& c) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    if (auto r = CheckMemberId(c.member_id)) return *r;
    if (c.groups.empty() || c.groups.size() > kMaxGroupsPerMember) {
      return Reject(RejectionCode::kInvalidMemberGroups,
                    fmt::format("a member has 1-{} groups (to take all away, remove the member)",
                                kMaxGroupsPerMember));
    }
    std::vector<std::string> groups = c.groups;
    std::sort(groups.begin(), groups.end());
    groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
    for (const std::string& group : groups) {
      if (!state_.GroupExists(group)) {
        return Reject(RejectionCode::kGroupNotFound, fmt::format("no group '{}'", group));
      }
    }
    auto it = state_.members.find(c.member_id);
    if (it != state_.members.end() && it->second.groups == groups) {
      return std::vector<NewEvent>{};  // already so: nothing to do
    }
    fb::MemberGroupsChangedT p;
    p.member_id = c.member_id;
    p.groups = std::move(groups);
    const uint64_t version = it == state_.members.end() ? 1 : it->second.version + 1;
    return Events(Event(c.member_id, version, std::move(p)));
  }

  Decision operator()(const RemoveMember& c) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    if (auto r = CheckMemberId(c.member_id)) return *r;
    const MemberState* member = state_.FindMember(c.member_id);
    if (member == nullptr) {
      return Reject(RejectionCode::kMemberNotFound, fmt::format("no member '{}'", c.member_id));
    }
    std::vector<NewEvent> events = RemoveEntirely(c.member_id, *member);
    if (c.revoke_keys) RevokeLiveKeys(c.member_id, std::nullopt, "offboarded", events);
    return events;
  }

  Decision operator()(const CreateKey& c) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    if (!ValidKeyName(c.name)) {
      return Reject(RejectionCode::kInvalidName,
                    "key name must be 3-50 characters: letters, digits, space, '-', '_', '.'");
    }
    if (auto r = NameTaken(c.name)) return *r;
    if (!state_.GroupExists(c.group)) {
      return Reject(RejectionCode::kGroupNotFound, fmt::format("no group '{}'", c.group));
    }
    auto resolved = NewExpiry(c.expires);
    if (auto* r = std::get_if<Rejection>(&resolved)) return std::move(*r);
    const Micros expires_at = std::get<Micros>(resolved);
    for (const std::string& permission : c.permissions) {
      const auto& known = KnownPermissions();
      if (std::find(known.begin(), known.end(), permission) == known.end()) {
        return Reject(RejectionCode::kInvalidPermission,
                      fmt::format("unknown permission '{}'", permission));
      }
    }
    // ActiveKeyCount reads every key: only for an org at its quota by event.
    if (state_.live_key_count >= options_.max_active_keys &&
        state_.ActiveKeyCount(now_) >= options_.max_active_keys) {
      return Reject(RejectionCode::kQuotaExceeded,
                    fmt::format("the org has {} active keys, the quota", options_.max_active_keys));
    }
    if (state_.keys.contains(c.key_id)) {
      return Reject(RejectionCode::kKeyExists, "key id collision; retry");
    }
    fb::KeyCreatedT p;
    p.key_id = FormatKeyId(c.key_id);
    p.name = c.name;
    p.group_id = c.group;
    p.secret_hash = std::make_unique<fb::Sha256>(ToFb(c.secret_hash));
    p.hint = c.hint;
    p.expires_at_us = expires_at;
    p.permissions = c.permissions;
    std::sort(p.permissions.begin(), p.permissions.end());
    p.permissions.erase(std::unique(p.permissions.begin(), p.permissions.end()),
                        p.permissions.end());
    p.created_by = c.created_by;
    std::string id = p.key_id;
    return Events(Event(std::move(id), 1, std::move(p)));
  }

  Decision operator()(const RotateKey& c) const {
    const KeyState* found = state_.FindKey(c.key_id);
    if (found == nullptr) return KeyNotFound(c.key_id);
    const KeyState& key = *found;
    if (auto r = RequireLive(key, now_)) return *r;
    if (c.grace < 0 || c.grace > kMaxRotationGrace) {
      return Reject(RejectionCode::kInvalidGrace, "grace must be between 0s and 24h");
    }
    std::optional<Micros> renewed;
    if (c.expires) {
      auto at = NewExpiry(*c.expires);
      if (auto* r = std::get_if<Rejection>(&at)) return std::move(*r);
      renewed = std::get<Micros>(at);
    }
    fb::KeyRotatedT p;
    p.key_id = FormatKeyId(key.id);
    p.secret_hash = std::make_unique<fb::Sha256>(ToFb(c.new_secret_hash));
    p.hint = c.hint;
    if (c.grace > 0) {
      const Micros expires_at = renewed.value_or(key.expires_at);
      p.previous_valid_until_us =
          expires_at == 0 ? now_ + c.grace : std::min(now_ + c.grace, expires_at);
    }
    std::vector<NewEvent> events;
    std::string id = p.key_id;
    events.push_back(Event(id, key.version + 1, std::move(p)));
    if (renewed && *renewed != key.expires_at) {  // renewed in the same decision
      fb::KeyUpdatedT u;
      u.key_id = id;
      u.expires_changed = true;
      u.expires_at_us = *renewed;
      events.push_back(Event(std::move(id), key.version + 2, std::move(u)));
    }
    return events;
  }

  Decision operator()(const UpdateKey& c) const {
    const KeyState* found = state_.FindKey(c.key_id);
    if (found == nullptr) return KeyNotFound(c.key_id);
    const KeyState& key = *found;
    if (auto r = RequireLive(key, now_)) return *r;
    fb::KeyUpdatedT p;
    if (c.name && *c.name != state_.keys.NameOf(key)) {
      if (!ValidKeyName(*c.name)) {
        return Reject(RejectionCode::kInvalidName,
                      "key name must be 3-50 characters: letters, digits, space, '-', '_', '.'");
      }
      if (auto r = NameTaken(*c.name)) return *r;
      p.name_changed = true;
      p.name = *c.name;
    }
    if (c.expires) {
      auto at = NewExpiry(*c.expires);
      if (auto* r = std::get_if<Rejection>(&at)) return std::move(*r);
      if (std::get<Micros>(at) != key.expires_at) {
        p.expires_changed = true;
        p.expires_at_us = std::get<Micros>(at);
      }
    }
    if (c.description) {
      if (auto r = CheckDescription(*c.description)) return *r;
      p.description_changed = true;
      p.description = *c.description;
    }
    if (!p.name_changed && !p.expires_changed && !p.description_changed) {
      return std::vector<NewEvent>{};  // already so
    }
    return KeyEvent(key, std::move(p));
  }

  Decision operator()(const RevokeKey& c) const {
    const KeyState* found = state_.FindKey(c.key_id);
    if (found == nullptr) return KeyNotFound(c.key_id);
    const KeyState& key = *found;
    if (key.status == KeyStatus::kRevoked) {
      return Reject(RejectionCode::kAlreadyRevoked,
                    fmt::format("key {} is already revoked", FormatKeyId(key.id)));
    }
    if (!key.ActiveAt(now_)) {
      return Reject(RejectionCode::kKeyExpired,
                    fmt::format("key {} has expired", FormatKeyId(key.id)));
    }
    if (c.reason.size() > kMaxReasonLength) {
      return Reject(RejectionCode::kInvalidReason, "reason must be at most 500 characters");
    }
    fb::KeyRevokedT p;
    p.reason = c.reason;
    if (c.leak) {
      p.leak = std::make_unique<fb::LeakReportT>();
      p.leak->source = c.leak->source.substr(0, kMaxLeakSourceLength);
      p.leak->url = c.leak->url.substr(0, kMaxLeakUrlLength);
    }
    return KeyEvent(key, std::move(p));
  }

  Decision operator()(const ProvisionMember& c) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    if (auto r = CheckMemberId(c.member_id)) return *r;
    const MemberProfile& p = c.profile;
    for (const std::string* field :
         {&p.external_id, &p.display_name, &p.given_name, &p.family_name}) {
      if (field->size() > kMaxProfileFieldLength) {
        return Reject(
            RejectionCode::kInvalidProfile,
            fmt::format("profile fields are at most {} characters", kMaxProfileFieldLength));
      }
    }
    if (p.emails.size() > kMaxEmailsPerMember ||
        std::any_of(p.emails.begin(), p.emails.end(), [](const std::string& e) {
          return e.empty() || e.size() > kMaxProfileFieldLength;
        })) {
      return Reject(RejectionCode::kInvalidProfile,
                    fmt::format("at most {} emails of 1-{} characters", kMaxEmailsPerMember,
                                kMaxProfileFieldLength));
    }
    auto it = state_.members.find(c.member_id);
    const bool exists = it != state_.members.end() && it->second.Exists();
    if (exists && c.create_only) {
      return Reject(RejectionCode::kMemberExists, fmt::format("member '{}' exists", c.member_id));
    }
    if (exists && !it->second.provisioned) return NotProvisioned(c.member_id);
    if (c.expected_version && (!exists || it->second.version != *c.expected_version)) {
      return Reject(
          RejectionCode::kStaleVersion,
          fmt::format("member '{}' changed since version {}", c.member_id, *c.expected_version));
    }
    if (!exists) {  // userName is unique regardless of case (RFC 7643 4.1.1)
      for (const auto& [id, member] : state_.members) {
        if (member.Exists() && EqualsIgnoringCase(id, c.member_id)) {
          return Reject(RejectionCode::kMemberExists,
                        fmt::format("member '{}' exists (names differ only in case)", id));
        }
      }
    }
    if (exists && it->second.provisioned && it->second.profile == p) {
      return std::vector<NewEvent>{};  // already so
    }
    fb::MemberProfileChangedT e;
    e.member_id = c.member_id;
    e.provisioned = true;
    e.active = p.active;
    e.external_id = p.external_id;
    e.display_name = p.display_name;
    e.given_name = p.given_name;
    e.family_name = p.family_name;
    e.emails = p.emails;
    const uint64_t version = it == state_.members.end() ? 1 : it->second.version + 1;
    return Events(Event(c.member_id, version, std::move(e)));
  }

  Decision operator()(const DeprovisionMember& c) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    const MemberState* member = state_.FindMember(c.member_id);
    if (member == nullptr) {
      return Reject(RejectionCode::kMemberNotFound, fmt::format("no member '{}'", c.member_id));
    }
    if (!member->provisioned) return NotProvisioned(c.member_id);
    return RemoveEntirely(c.member_id, *member);
  }

  Decision operator()(const ProvisionGroup& c) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    std::vector<NewEvent> events;
    const GroupState* group = state_.FindGroup(c.group_id);
    if (c.create) {
      if (group != nullptr) {
        return Reject(RejectionCode::kGroupExists, fmt::format("group {} exists", c.group_id));
      }
      auto created = (*this)(CreateGroup{c.group_id, c.display_name, "provisioned by SCIM", {}});
      if (auto* r = std::get_if<Rejection>(&created)) return std::move(*r);
      events = std::move(std::get<std::vector<NewEvent>>(created));
      events.front().payload.AsGroupCreated()->provisioned = true;
    } else if (group == nullptr) {
      return Reject(RejectionCode::kGroupNotFound, fmt::format("no group '{}'", c.group_id));
    }
    // Each member's groups after the change, for the members it changes.
    std::map<std::string, std::vector<std::string>> changed;
    auto groups_of = [&](const std::string& id) -> std::vector<std::string>& {
      auto [it, inserted] = changed.try_emplace(id);
      if (inserted) {
        const auto found = state_.members.find(id);
        if (found != state_.members.end()) it->second = found->second.groups;
      }
      return it->second;
    };
    if (c.add.size() + c.remove.size() > kMaxMembersPerChange ||
        (c.members && c.members->size() > kMaxMembersPerChange)) {
      return Reject(RejectionCode::kInvalidMemberGroups,
                    fmt::format("at most {} members change in one request", kMaxMembersPerChange));
    }
    std::vector<std::string> add = c.add, remove = c.remove;
    if (c.members) {  // its provisioned members become these; the others stay
      const std::set<std::string> wanted(c.members->begin(), c.members->end());
      add.assign(wanted.begin(), wanted.end());
      for (const auto& [id, member] : state_.members) {
        if (member.provisioned && !wanted.contains(id) &&
            std::binary_search(member.groups.begin(), member.groups.end(), c.group_id)) {
          remove.push_back(id);
        }
      }
    }
    for (const std::string& id : remove) {
      const MemberState* member = state_.FindMember(id);
      if (member != nullptr && !member->provisioned) return NotProvisioned(id);
    }
    for (const std::string& id : add) {
      const MemberState* member = state_.FindMember(id);
      if (member == nullptr) {
        return Reject(RejectionCode::kMemberNotFound, fmt::format("no member '{}'", id));
      }
      if (!member->provisioned) return NotProvisioned(id);
      auto& groups = groups_of(id);
      if (!std::binary_search(groups.begin(), groups.end(), c.group_id)) {
        groups.insert(std::upper_bound(groups.begin(), groups.end(), c.group_id), c.group_id);
      }
      if (groups.size() > kMaxGroupsPerMember) {
        return Reject(RejectionCode::kInvalidMemberGroups,
                      fmt::format("a member has at most {} groups", kMaxGroupsPerMember));
      }
    }
    for (const std::string& id : remove) std::erase(groups_of(id), c.group_id);
    for (auto& [id, groups] : changed) {
      const auto found = state_.members.find(id);
      const bool same = found != state_.members.end() && found->second.groups == groups;
      if (same) continue;
      fb::MemberGroupsChangedT p;
      p.member_id = id;
      p.groups = std::move(groups);
      const uint64_t version = found == state_.members.end() ? 1 : found->second.version + 1;
      events.push_back(Event(id, version, std::move(p)));
    }
    return events;
  }

  Decision operator()(const DeprovisionGroup& c) const {
    auto group = ChangeableGroup(c.group_id, "deleted");
    if (auto* rejection = std::get_if<Rejection>(&group)) return std::move(*rejection);
    const GroupState& g = *std::get<const GroupState*>(group);
    if (!g.provisioned) {
      return Reject(
          RejectionCode::kGroupBuiltin,
          fmt::format("group {} was not created through SCIM; an admin deletes it", c.group_id));
    }
    if (g.live_keys > 0) {
      return Reject(RejectionCode::kGroupInUse,
                    fmt::format("group {} still has {} key(s); move them to another group first",
                                c.group_id, g.live_keys));
    }
    std::vector<NewEvent> events;
    for (const auto& [id, member] : state_.members) {
      if (!std::binary_search(member.groups.begin(), member.groups.end(), c.group_id)) continue;
      fb::MemberGroupsChangedT p;
      p.member_id = id;
      p.groups = member.groups;
      std::erase(p.groups, c.group_id);
      events.push_back(Event(id, member.version + 1, std::move(p)));
    }
    fb::GroupDeletedT p;
    p.group_id = c.group_id;
    events.push_back(Event(c.group_id, g.version + 1, std::move(p)));
    return events;
  }

  Decision operator()(const SetSso& c) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    const SsoConfig& s = c.config;
    if (s.enabled()) {
      if (s.client_id.empty() || s.client_id.size() > 256 || s.issuer.size() > 512) {
        return Reject(RejectionCode::kInvalidSso,
                      "client_id is 1-256 characters, issuer at most 512");
      }
      if (s.claim != "email" && s.claim != "preferred_username" && s.claim != "sub") {
        return Reject(RejectionCode::kInvalidSso, "claim is email, preferred_username or sub");
      }
      if (!s.jit_group.empty()) {
        const GroupState* group = state_.FindGroup(s.jit_group);
        if (group == nullptr) {
          return Reject(RejectionCode::kInvalidSso, fmt::format("no group '{}'", s.jit_group));
        }
        if (group->grants.admin) {
          return Reject(RejectionCode::kInvalidSso,
                        "jit_group may not hold organization-admin: admins are made by admins");
        }
      }
    }
    const SsoConfig next = s.enabled() ? s : SsoConfig{};
    if (state_.sso == next) return std::vector<NewEvent>{};  // already so
    fb::OrgSsoChangedT p;
    p.issuer = next.issuer;
    p.client_id = next.client_id;
    p.client_secret_id = next.client_secret_id;
    p.claim = next.enabled() ? next.claim : std::string();
    p.jit_group = next.jit_group;
    p.password_sign_in = next.password_sign_in;
    return Events(Event(state_.id, state_.version + 1, std::move(p)));
  }

  Decision operator()(const RevokeKeys& c) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    if (!c.created_by && !c.group) {
      return Reject(RejectionCode::kInvalidFilter,
                    "name the keys to revoke: created_by, group, or both");
    }
    if (c.reason.size() > kMaxReasonLength) {
      return Reject(RejectionCode::kInvalidReason, "reason must be at most 500 characters");
    }
    std::vector<NewEvent> events;
    RevokeLiveKeys(c.created_by, c.group, c.reason, events);
    return events;
  }

  Decision operator()(const RevokeUnusedKey& c) const {
    const KeyState* found = state_.FindKey(c.key_id);
    if (found == nullptr) return KeyNotFound(c.key_id);
    if (auto r = RequireLive(*found, now_)) return *r;
    const Micros window = state_.policy.revoke_unused_after;
    if (window == 0) {
      return Reject(RejectionCode::kNothingDue, "the org's policy revokes no unused keys");
    }
    if (now_ < UnusedDeadline(*found, state_.policy)) {
      return Reject(RejectionCode::kNotDue,
                    fmt::format("key {} was used recently", FormatKeyId(found->id)));
    }
    fb::KeyRevokedT p;
    p.reason = "unused";
    return KeyEvent(*found, std::move(p));
  }

  Decision operator()(const NoteExpiringSoon& c) const {
    const KeyState* found = state_.FindKey(c.key_id);
    if (found == nullptr) return KeyNotFound(c.key_id);
    if (auto r = RequireLive(*found, now_)) return *r;
    const Micros window = state_.policy.expiring_soon;
    if (window == 0 || found->expires_at == 0 || found->warned_expiry == found->expires_at) {
      return Reject(RejectionCode::kNothingDue,
                    fmt::format("no expiry warning is due for key {}", FormatKeyId(found->id)));
    }
    if (now_ < found->expires_at - window) {
      return Reject(RejectionCode::kNotDue,
                    fmt::format("key {} expires later", FormatKeyId(found->id)));
    }
    fb::KeyExpiringSoonT p;
    p.expires_at_us = found->expires_at;
    return KeyEvent(*found, std::move(p));
  }

  Decision operator()(const SuspendKey& c) const {
    const KeyState* found = state_.FindKey(c.key_id);
    if (found == nullptr) return KeyNotFound(c.key_id);
    if (auto r = RequireLive(*found, now_)) return *r;
    if (found->suspended) {
      return Reject(RejectionCode::kKeySuspended,
                    fmt::format("key {} is suspended already", FormatKeyId(found->id)));
    }
    if (c.reason.size() > kMaxReasonLength) {
      return Reject(RejectionCode::kInvalidReason, "reason must be at most 500 characters");
    }
    fb::KeySuspendedT p;
    p.reason = c.reason;
    return KeyEvent(*found, std::move(p));
  }

  Decision operator()(const ResumeKey& c) const {
    const KeyState* found = state_.FindKey(c.key_id);
    if (found == nullptr) return KeyNotFound(c.key_id);
    if (auto r = RequireLive(*found, now_)) return *r;
    if (!found->suspended) {
      return Reject(RejectionCode::kKeyNotSuspended,
                    fmt::format("key {} is not suspended", FormatKeyId(found->id)));
    }
    return KeyEvent(*found, fb::KeyResumedT{});
  }

  Decision operator()(const ExpireKey& c) const {
    const KeyState* found = state_.FindKey(c.key_id);
    if (found == nullptr) return KeyNotFound(c.key_id);
    const KeyState& key = *found;
    if (key.status == KeyStatus::kRevoked) {
      return Reject(RejectionCode::kKeyRevoked,
                    fmt::format("key {} is revoked", FormatKeyId(key.id)));
    }
    if (key.status == KeyStatus::kExpired) {
      return Reject(RejectionCode::kKeyExpired,
                    fmt::format("key {} has already expired", FormatKeyId(key.id)));
    }
    if (key.expires_at == 0 || now_ < key.expires_at) {
      return Reject(RejectionCode::kNotDue, fmt::format("key {} is not due", FormatKeyId(key.id)));
    }
    fb::KeyExpiredT p;
    p.expires_at_us = key.expires_at;
    return KeyEvent(key, std::move(p));
  }

  Decision operator()(const SetKeyPolicy& c) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    if (c.max_lifetime < 0 || c.max_lifetime > kMaxPolicyLifetime) {
      return Reject(RejectionCode::kInvalidExpiration, "max_lifetime must be 0 to 36600 days");
    }
    if (c.revoke_unused_after != 0 &&
        (c.revoke_unused_after < kMicrosPerDay || c.revoke_unused_after > kMaxPolicyLifetime)) {
      return Reject(RejectionCode::kInvalidExpiration,
                    "revoke_unused_after must be 0 (off) or 1 to 36600 days");
    }
    if (c.expiring_soon < 0 || c.expiring_soon > kMaxPolicyLifetime) {
      return Reject(RejectionCode::kInvalidExpiration,
                    "expiring_soon must be 0 (off) to 36600 days");
    }
    const KeyPolicy wanted{c.max_lifetime, c.require_expiry, c.revoke_unused_after,
                           c.expiring_soon};
    if (state_.policy == wanted) return std::vector<NewEvent>{};  // already so
    fb::OrgPolicyChangedT p;
    p.max_lifetime_us = c.max_lifetime;
    p.require_expiry = c.require_expiry;
    p.revoke_unused_after_us = c.revoke_unused_after;
    p.expiring_soon_us = c.expiring_soon;
    return Events(Event(state_.id, state_.version + 1, std::move(p)));
  }

  Decision operator()(const RecordKeyUse& c) const {
    fb::KeysUsedT p;
    for (const auto& [id, at] : c.uses) {
      if (state_.FindKey(id) == nullptr) continue;
      auto use = std::make_unique<fb::KeyUsedT>();
      use->key_id = FormatKeyId(id);
      use->used_at_us = at;
      p.uses.push_back(std::move(use));
    }
    if (p.uses.empty()) return std::vector<NewEvent>{};
    return Events(Event(state_.id, state_.version, std::move(p)));
  }

  Decision operator()(const InviteMember& c) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    if (state_.FindMember(c.member_id) == nullptr) {
      return Reject(RejectionCode::kMemberNotFound,
                    fmt::format("no member '{}' (give it groups first)", c.member_id));
    }
    fb::MemberInvitedT p;
    p.member_id = c.member_id;
    p.invitation_id = c.invitation_id;
    p.expires_at_us = c.expires_at;
    return Events(Event(c.invitation_id, 1, std::move(p)));
  }

  Decision operator()(const AcceptInvitation& c) const {
    const InvitationState* invitation = state_.FindInvitation(c.invitation_id, now_);
    if (invitation == nullptr) {
      return Reject(RejectionCode::kInvitationInvalid,
                    "the invitation is not valid: unknown, used, voided or expired");
    }
    if (!state_.FindMember(invitation->member_id)->profile.active) {
      return Reject(RejectionCode::kMemberInactive, "the member is deactivated");
    }
    fb::MemberPasswordSetT p;
    p.member_id = invitation->member_id;
    p.invitation_id = c.invitation_id;
    p.credential_id = c.credential_id;
    return Events(Event(c.invitation_id, 2, std::move(p)));
  }

  Decision operator()(const StartSession& c) const {
    const MemberState* member = state_.FindMember(c.member_id);
    if (member == nullptr) {
      return Reject(RejectionCode::kMemberNotFound, fmt::format("no member '{}'", c.member_id));
    }
    if (!member->profile.active) {
      return Reject(RejectionCode::kMemberInactive, "the member is deactivated");
    }
    const SsoConfig& sso = state_.sso;
    if (!c.sso_issuer.empty()) {
      if (c.sso_issuer != sso.issuer) {
        return Reject(RejectionCode::kNoPassword,
                      "the org no longer signs in through that provider");
      }
    } else if (sso.enabled() && !sso.password_sign_in) {
      return Reject(RejectionCode::kNoPassword, "the org signs in through its provider only");
    } else if (member->password_credential.empty() ||
               member->password_credential != c.password_credential) {
      return Reject(RejectionCode::kNoPassword,
                    "the member has no password, or it changed since it was checked");
    }
    if (c.expires_at <= now_) {
      return Reject(RejectionCode::kInvalidExpiration, "a session must end in the future");
    }
    std::vector<NewEvent> events;
    size_t live = 0;
    for (const SessionState& s : member->sessions) live += s.expires_at > now_ ? 1 : 0;
    if (live >= kMaxSessionsPerMember) {  // the oldest live one makes room
      for (const SessionState& s : member->sessions) {
        if (s.expires_at <= now_) continue;
        fb::MemberSignedOutT out;
        out.member_id = c.member_id;
        out.session_id = s.id;
        out.reason = "replaced";
        events.push_back(Event(s.id, 2, std::move(out)));
        break;
      }
    }
    fb::MemberSignedInT p;
    p.member_id = c.member_id;
    p.session_id = c.session_id;
    p.expires_at_us = c.expires_at;
    events.push_back(Event(c.session_id, 1, std::move(p)));
    return events;
  }

  Decision operator()(const EndSession& c) const {
    const MemberState* member = state_.FindMember(c.member_id);
    const SessionState* session = member ? member->FindSession(c.session_id) : nullptr;
    if (session == nullptr || session->expires_at <= now_) {
      return Reject(RejectionCode::kSessionNotFound, "no such live session");
    }
    fb::MemberSignedOutT p;
    p.member_id = c.member_id;
    p.session_id = c.session_id;
    p.reason = c.reason;
    return Events(Event(c.session_id, 2, std::move(p)));
  }

  Decision operator()(const ChangeKeyGroup& c) const {
    const KeyState* found = state_.FindKey(c.key_id);
    if (found == nullptr) return KeyNotFound(c.key_id);
    const KeyState& key = *found;
    if (auto r = RequireLive(key, now_)) return *r;
    if (!state_.GroupExists(c.group)) {
      return Reject(RejectionCode::kGroupNotFound, fmt::format("no group '{}'", c.group));
    }
    if (state_.GroupOf(key) == c.group)
      return std::vector<NewEvent>{};  // already there: nothing to do
    fb::KeyGroupChangedT p;
    p.group_id = c.group;
    p.previous_group_id = state_.GroupOf(key);
    return KeyEvent(key, std::move(p));
  }

 private:
  // Groups keep their version across deletion, so a re-created group continues it.
  uint64_t NextGroupVersion(std::string_view id) const {
    auto it = state_.groups.find(id);
    return it == state_.groups.end() ? 1 : it->second.version + 1;
  }

  // The group `id` if it exists and may be changed or deleted; else the rejection.
  std::variant<const GroupState*, Rejection> ChangeableGroup(const std::string& id,
                                                             std::string_view what) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    const GroupState* group = state_.FindGroup(id);
    if (group == nullptr) {
      return Reject(RejectionCode::kGroupNotFound, fmt::format("no group '{}'", id));
    }
    if (group->builtin) {
      return Reject(RejectionCode::kGroupBuiltin,
                    fmt::format("group {} is built in and cannot be {}", id, what));
    }
    return group;
  }

  // name_taken if a live key of the org is called `name`.
  std::optional<Rejection> NameTaken(const std::string& name) const {
    const KeyState* holder = state_.keys.Named(name);
    if (holder == nullptr || !holder->ActiveAt(now_)) return std::nullopt;
    return Reject(RejectionCode::kNameTaken, fmt::format("a key named '{}' exists", name));
  }

  // The expiry `expires` gives now: 0 (never) or a time in the future, within the org's
  // key policy (policy_violation names the rule it breaks).
  std::variant<Micros, Rejection> NewExpiry(const Expiration& expires) const {
    const Micros at = ResolveExpiration(expires, now_);
    if (expires.kind == Expiration::Kind::kAt && at <= now_) {
      return Reject(RejectionCode::kInvalidExpiration, "expiration must be in the future");
    }
    const KeyPolicy& policy = state_.policy;
    if (policy.require_expiry && at == 0) {
      return Reject(RejectionCode::kPolicyViolation,
                    "require_expiry: the org's policy requires every key to expire");
    }
    if (policy.max_lifetime > 0 && (at == 0 || at - now_ > policy.max_lifetime)) {
      return Reject(RejectionCode::kPolicyViolation,
                    fmt::format("max_lifetime: the org's policy lets a key live at most {} days "
                                "from now",
                                policy.max_lifetime / kMicrosPerDay));
    }
    return at;
  }

  static std::optional<Rejection> CheckDescription(std::string_view description) {
    if (description.size() <= kMaxDescriptionLength) return std::nullopt;
    return Reject(RejectionCode::kInvalidDescription,
                  fmt::format("description must be at most {} characters", kMaxDescriptionLength));
  }

  static std::optional<Rejection> CheckMemberId(std::string_view id) {
    if (ValidMemberId(id)) return std::nullopt;
    return Reject(
        RejectionCode::kInvalidMemberId,
        fmt::format("member id must be 1-{} visible ASCII characters", kMaxMemberIdLength));
  }

  // Appends a KeyRevoked for every live key (suspended ones included) that `created_by`
  // created and/or that is in `group`, in key id order (so a replica decides the same).
  void RevokeLiveKeys(const std::optional<std::string>& created_by,
                      const std::optional<std::string>& group, std::string_view reason,
                      std::vector<NewEvent>& events) const {
    std::vector<const KeyState*> matching;
    for (const KeyState& key : state_.keys) {
      if (!key.ActiveAt(now_)) continue;
      if (created_by && state_.CreatorOf(key) != *created_by) continue;
      if (group && state_.GroupOf(key) != *group) continue;
      matching.push_back(&key);
    }
    std::sort(matching.begin(), matching.end(),
              [](const KeyState* a, const KeyState* b) { return a->id < b->id; });
    for (const KeyState* key : matching) {
      fb::KeyRevokedT p;
      p.key_id = FormatKeyId(key->id);
      p.reason = std::string(reason);
      std::string id = p.key_id;
      events.push_back(Event(std::move(id), key->version + 1, std::move(p)));
    }
  }

  // The events that remove a member entirely: out of its groups, its profile forgotten.
  static std::vector<NewEvent> RemoveEntirely(const std::string& id, const MemberState& member) {
    std::vector<NewEvent> events;
    uint64_t version = member.version;
    if (!member.groups.empty()) {
      fb::MemberGroupsChangedT out;
      out.member_id = id;  // and no groups
      events.push_back(Event(id, ++version, std::move(out)));
    }
    if (member.provisioned) {
      fb::MemberProfileChangedT gone;
      gone.member_id = id;  // not provisioned: the profile is forgotten
      events.push_back(Event(id, ++version, std::move(gone)));
    }
    return events;
  }

  // SCIM changes only what it provisioned: members made in keytrail (the bootstrap admin
  // among them) are an admin's to change.
  static Rejection NotProvisioned(std::string_view member) {
    return Reject(
        RejectionCode::kNotProvisioned,
        fmt::format("member '{}' was not provisioned through SCIM; an admin manages it", member));
  }

  // The key's next event: carries its id and the next aggregate version.
  template <typename T>
  static Decision KeyEvent(const KeyState& key, T payload) {
    payload.key_id = FormatKeyId(key.id);
    std::string id = payload.key_id;
    return Events(Event(std::move(id), key.version + 1, std::move(payload)));
  }

  static Decision Events(NewEvent e) {
    std::vector<NewEvent> out;
    out.push_back(std::move(e));
    return out;
  }

  const OrgState& state_;
  const Micros now_;
  const DomainOptions& options_;
};

}  // namespace

Decision Decide(const OrgState& state, const Command& command, Micros now,
                const DomainOptions& options) {
  return std::visit(Decider(state, now, options), command);
}

fb::EnvelopeT Stamp(const CommandContext& context, NewEvent event, const fb::EventId& id,
                    Micros now) {
  fb::EnvelopeT e;
  e.id = std::make_unique<fb::EventId>(id);
  e.org = context.org;
  e.aggregate_id = std::move(event.aggregate_id);
  e.aggregate_version = event.aggregate_version;
  e.occurred_at_us = now;
  e.actor = std::make_unique<fb::ActorT>();
  e.actor->kind = context.actor_kind;
  e.actor->id = context.actor_id;
  e.actor->on_behalf_of = context.on_behalf_of;
  e.command_id = context.command_id;
  e.command_hash = context.command_hash;
  e.correlation_id = context.correlation_id;
  e.payload = std::move(event.payload);
  return e;
}

}  // namespace keytrail::domain
