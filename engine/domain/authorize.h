// Authorize: the one evaluation of "may this principal do this action on this
// resource?", for API keys and members alike.
//
//   Authorize(state, principal, action, resource) -> allowed | denied, and the group
//                                                    and rule that allowed it
//
// Semantics (docs/roles.md):
//   - A key has exactly the rules of its one group. A key without a group, or whose
//     group was deleted, is denied everything (never an implicit admin). Its "scim"
//     permission (and nothing else) grants action scim, while its group exists.
//   - A member has the union of the rules of its groups (deleted groups grant nothing).
//     A member that does not exist, or has been removed, is denied everything.
//   - On behalf of a member (a key acting for a human): allowed only if both the key and
//     the member are allowed, i.e. the intersection of their rights.
//   - Rules are evaluated at call time against `state`, so a rule change applies to every
//     key and member of the group from the event on.
//
// They read only the org's GroupDirectory (groups and members), so they take an
// OrgState as well as a read side's copy of its directory. Pure functions of their
// arguments. Authorize allocates nothing; the least-privilege helpers (GrantsWithin,
// GroupWithin) may. Results that point into `state` (group names, rules) are valid until
// `state` next changes.
#pragma once

#include <span>
#include <string_view>

#include "engine/domain/org_state.h"
#include "engine/domain/roles.h"

namespace keytrail::domain {

// Who asks. All strings are views and must outlive the Principal.
struct Principal {
  enum class Kind : uint8_t { kKey, kMember };
  Kind kind = Kind::kKey;
  // The key's id (text form) or the member's id. "Own" keys are those whose created_by
  // equals it.
  std::string_view id;
  std::string_view group;         // kKey: the key's group; empty = none (denied everything)
  bool scim = false;              // kKey: the key holds the "scim" permission
  std::string_view on_behalf_of;  // a member the key acts for; empty = none

  static Principal Key(std::string_view key_id, std::string_view group, bool scim = false) {
    return {Kind::kKey, key_id, group, scim, {}};
  }
  static Principal Member(std::string_view member_id) {
    return {Kind::kMember, member_id, {}, false, {}};
  }
  // The same principal, acting on behalf of `member_id` (rights = the intersection).
  Principal OnBehalfOf(std::string_view member_id) const {
    Principal p = *this;
    p.on_behalf_of = member_id;
    return p;
  }
};

// Why a request was denied.
enum class DenyReason : uint8_t {
  kNone,        // not denied
  kNoGroup,     // the key has no group, or its group was deleted
  kNotAMember,  // the member does not exist or was removed
  kNotGranted,  // no rule of the principal's groups grants the action on the resource
};

// "none", "no-group", "not-a-member", "not-granted".
std::string_view DenyReasonName(DenyReason reason);

// What allowed one side of a request.
struct Grant {
  std::string_view group;      // the group whose rule allowed (for scim: the key's group)
  const Rule* rule = nullptr;  // that rule; nullptr when the key's scim permission allowed
};

// The answer of Authorize.
struct AccessDecision {
  bool allowed = false;
  Grant grant;                            // set iff allowed: the principal's group and rule
  Grant on_behalf_grant;                  // set iff allowed on behalf of a member: the member's
  DenyReason reason = DenyReason::kNone;  // set iff denied
  bool denied_on_behalf = false;          // denied because of the member acted for
};

// May `principal` do `action` on `resource` in the org of `state`? The first allowing
// rule is reported, in the order of the member's groups (sorted by id) and of the
// group's rules (catalogue order). No allocation.
AccessDecision Authorize(const GroupDirectory& state, const Principal& principal, Action action,
                         const Resource& resource);

// The rules a key of `group` has now: the group's, or none if the group does not exist
// or was deleted. For verify answers.
std::span<const Rule> EffectiveRules(const GroupDirectory& state, std::string_view group);

// Whether the principal holds organization-admin (on behalf of a member: both do).
bool IsAdmin(const GroupDirectory& state, const Principal& principal);

// Least privilege: whether everything `rules` grant is also granted to `principal` (on
// behalf of a member: to both). "Own key" grants are compared as such (a developer's
// rotate-own is within another developer's). Conservative where the model cannot know
// more: a graph or subgraph named in a rule is covered by the principal's unscoped or
// matching rules of its own kind, org-level rules and unscoped namespace rules, but not
// by namespace-scoped rules (a rule does not say which namespace a graph is in).
bool GrantsWithin(const GroupDirectory& state, std::span<const Rule> rules,
                  const Principal& principal);

// GrantsWithin for the current rules of group `group`. A group that does not exist or
// was deleted grants nothing, so it is within anyone's grants.
bool GroupWithin(const GroupDirectory& state, std::string_view group, const Principal& principal);

}  // namespace keytrail::domain
