#include "engine/domain/authorize.h"

#include <algorithm>
#include <vector>

namespace keytrail::domain {
namespace {

// The first rule of `group` that grants `action` on `resource` to a principal whose own
// keys are those created by `self`.
const Rule* Match(const GroupState& group, Action action, const Resource& resource,
                  std::string_view self) {
  if (!group.grants.any.Has(action)) return nullptr;  // the common refusal: one bit test
  const bool own = resource.kind == ResourceKind::kKey && !self.empty() && resource.id == self;
  for (const Rule& rule : group.rules) {
    const RoleInfo& info = InfoOf(rule.role);
    if ((info.actions.Has(action) || (own && info.own_key_actions.Has(action))) &&
        Covers(rule, resource)) {
      return &rule;
    }
  }
  return nullptr;
}

struct SideResult {
  DenyReason reason = DenyReason::kNone;
  Grant grant;
};

SideResult AuthorizeKey(const GroupDirectory& state, const Principal& key, Action action,
                        const Resource& resource) {
  const GroupState* group = state.FindGroup(key.group);
  if (group == nullptr) return {DenyReason::kNoGroup, {}};
  if (action == Action::kScim) {
    if (key.scim) return {DenyReason::kNone, {group->id, nullptr}};
    return {DenyReason::kNotGranted, {}};
  }
  if (const Rule* rule = Match(*group, action, resource, key.id)) {
    return {DenyReason::kNone, {group->id, rule}};
  }
  return {DenyReason::kNotGranted, {}};
}

SideResult AuthorizeMember(const GroupDirectory& state, std::string_view id, Action action,
                           const Resource& resource) {
  const MemberState* member = state.FindMember(id);
  if (member == nullptr || !member->profile.active) return {DenyReason::kNotAMember, {}};
  for (const std::string& name : member->groups) {
    const GroupState* group = state.FindGroup(name);
    if (group == nullptr) continue;
    if (const Rule* rule = Match(*group, action, resource, id)) {
      return {DenyReason::kNone, {group->id, rule}};
    }
  }
  return {DenyReason::kNotGranted, {}};
}

// The live groups whose rules one side of a principal has.
using Side = std::vector<const GroupState*>;

Side KeySide(const GroupDirectory& state, std::string_view group) {
  const GroupState* g = state.FindGroup(group);
  return g == nullptr ? Side{} : Side{g};
}

Side MemberSide(const GroupDirectory& state, std::string_view id) {
  Side side;
  if (const MemberState* member = state.FindMember(id)) {
    for (const std::string& name : member->groups) {
      if (const GroupState* g = state.FindGroup(name)) side.push_back(g);
    }
  }
  return side;
}

// Whether `side` grants `action` on every resource of `kind` (id empty) or on the
// resource `id` of that kind (matched against rules of that kind only).
bool Covered(const Side& side, ResourceKind kind, Action action, std::string_view id) {
  for (const GroupState* g : side) {
    if (g->grants.On(kind).Has(action)) return true;
    if (id.empty()) continue;
    for (const Rule& rule : g->rules) {
      const RoleInfo& info = InfoOf(rule.role);
      if (rule.scoped() && info.scope == kind && info.actions.Has(action) &&
          std::binary_search(rule.resources.begin(), rule.resources.end(), id,
                             [](std::string_view a, std::string_view b) { return a < b; })) {
        return true;
      }
    }
  }
  return false;
}

bool CoveredOnOwnKeys(const Side& side, Action action) {
  return std::any_of(side.begin(), side.end(), [action](const GroupState* g) {
    return g->grants.On(ResourceKind::kKey).Has(action) || g->grants.own_keys.Has(action);
  });
}

template <typename F>
bool AllActions(ActionSet set, F&& f) {
  for (size_t i = 0; i < kActionCount; ++i) {
    const auto action = static_cast<Action>(i);
    if (set.Has(action) && !f(action)) return false;
  }
  return true;
}

bool Within(const Side& side, std::span<const Rule> rules) {
  for (const Rule& rule : rules) {
    const RoleInfo& info = InfoOf(rule.role);
    const bool ok = AllActions(info.actions, [&](Action action) {
      if (!rule.scoped()) return Covered(side, info.scope, action, {});
      return std::all_of(rule.resources.begin(), rule.resources.end(), [&](const std::string& id) {
        return Covered(side, info.scope, action, id);
      });
    });
    if (!ok) return false;
    if (!AllActions(info.own_key_actions,
                    [&](Action action) { return CoveredOnOwnKeys(side, action); })) {
      return false;
    }
  }
  return true;
}

bool SideIsAdmin(const Side& side) {
  return std::any_of(side.begin(), side.end(), [](const GroupState* g) { return g->grants.admin; });
}

Side PrincipalSide(const GroupDirectory& state, const Principal& principal) {
  return principal.kind == Principal::Kind::kKey ? KeySide(state, principal.group)
                                                 : MemberSide(state, principal.id);
}

}  // namespace

std::string_view DenyReasonName(DenyReason reason) {
  switch (reason) {
    case DenyReason::kNone:
      return "none";
    case DenyReason::kNoGroup:
      return "no-group";
    case DenyReason::kNotAMember:
      return "not-a-member";
    case DenyReason::kNotGranted:
      return "not-granted";
  }
  return "unknown";
}

AccessDecision Authorize(const GroupDirectory& state, const Principal& principal, Action action,
                         const Resource& resource) {
  AccessDecision decision;
  const SideResult self = principal.kind == Principal::Kind::kKey
                              ? AuthorizeKey(state, principal, action, resource)
                              : AuthorizeMember(state, principal.id, action, resource);
  if (self.reason != DenyReason::kNone) {
    decision.reason = self.reason;
    return decision;
  }
  if (!principal.on_behalf_of.empty()) {
    const SideResult member = AuthorizeMember(state, principal.on_behalf_of, action, resource);
    if (member.reason != DenyReason::kNone) {
      decision.reason = member.reason;
      decision.denied_on_behalf = true;
      return decision;
    }
    decision.on_behalf_grant = member.grant;
  }
  decision.allowed = true;
  decision.grant = self.grant;
  return decision;
}

std::span<const Rule> EffectiveRules(const GroupDirectory& state, std::string_view group) {
  const GroupState* g = state.FindGroup(group);
  return g == nullptr ? std::span<const Rule>() : std::span<const Rule>(g->rules);
}

bool IsAdmin(const GroupDirectory& state, const Principal& principal) {
  if (!SideIsAdmin(PrincipalSide(state, principal))) return false;
  return principal.on_behalf_of.empty() || SideIsAdmin(MemberSide(state, principal.on_behalf_of));
}

bool GrantsWithin(const GroupDirectory& state, std::span<const Rule> rules,
                  const Principal& principal) {
  if (rules.empty()) return true;
  if (!Within(PrincipalSide(state, principal), rules)) return false;
  return principal.on_behalf_of.empty() || Within(MemberSide(state, principal.on_behalf_of), rules);
}

bool GroupWithin(const GroupDirectory& state, std::string_view group, const Principal& principal) {
  return GrantsWithin(state, EffectiveRules(state, group), principal);
}

}  // namespace keytrail::domain
