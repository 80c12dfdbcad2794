#include "engine/domain/command_policy.h"

#include <algorithm>

#include <fmt/format.h>

namespace keytrail::domain {
namespace {

Denial Deny(DenialCode code, std::string message) { return {code, std::move(message)}; }

class Policy {
 public:
  Policy(const OrgState& state, const Principal& principal)
      : state_(state), principal_(principal), admin_(IsAdmin(state, principal)) {}

  std::optional<Denial> operator()(const CreateOrg&) const {
    return Deny(DenialCode::kNotForPrincipals, "orgs are not created by a key or member of an org");
  }

  std::optional<Denial> operator()(const ExpireKey&) const {
    return Deny(DenialCode::kNotForPrincipals, "only the scheduler expires keys");
  }

  // Whoever may invite a member may become it (the token sets its password): as for
  // managing the member, its groups must be within the caller's.
  std::optional<Denial> operator()(const InviteMember& c) const {
    if (auto d = Need(Action::kMembersManage, Resource::Org())) return d;
    return MemberGroupsWithin(c.member_id, "invite a member of");
  }

  // The token, the password or the session is the proof, checked before the command.
  std::optional<Denial> operator()(const AcceptInvitation&) const { return NotForPrincipals(); }
  std::optional<Denial> operator()(const StartSession&) const { return NotForPrincipals(); }
  std::optional<Denial> operator()(const EndSession&) const { return NotForPrincipals(); }
  std::optional<Denial> operator()(const RecordKeyUse&) const {
    return Deny(DenialCode::kNotForPrincipals, "only keytrail records when keys were used");
  }

  // The identity provider (a key holding `scim`) provisions members and groups; it never
  // puts anyone into a group holding organization-admin.
  std::optional<Denial> operator()(const ProvisionMember&) const { return NeedScim(); }
  std::optional<Denial> operator()(const DeprovisionMember&) const { return NeedScim(); }
  std::optional<Denial> operator()(const DeprovisionGroup&) const { return NeedScim(); }
  std::optional<Denial> operator()(const ProvisionGroup& c) const {
    if (auto d = NeedScim()) return d;
    const GroupState* g = state_.FindGroup(c.group_id);
    const bool adds = !c.add.empty() || (c.members && !c.members->empty());
    if (g != nullptr && g->grants.admin && adds) {
      return Deny(DenialCode::kAdminOnly,
                  fmt::format("SCIM may not put members into group '{}', which holds "
                              "organization-admin; an admin does that",
                              c.group_id));
    }
    return std::nullopt;
  }

  std::optional<Denial> operator()(const CreateGroup& c) const {
    if (auto d = Need(Action::kGroupsManage, Resource::Org())) return d;
    return RulesWithin(c.rules, "create a group");
  }

  std::optional<Denial> operator()(const ChangeGroupRules& c) const {
    if (auto d = Need(Action::kGroupsManage, Resource::Org())) return d;
    if (auto d = GroupWithinCaller(c.group_id, "change")) return d;
    return RulesWithin(c.rules, "change group rules");
  }

  std::optional<Denial> operator()(const DeleteGroup& c) const {
    if (auto d = Need(Action::kGroupsManage, Resource::Org())) return d;
    return GroupWithinCaller(c.group_id, "delete");
  }

  std::optional<Denial> operator()(const SetMemberGroups& c) const {
    if (auto d = Need(Action::kMembersManage, Resource::Org())) return d;
    for (const std::string& group : c.groups) {
      if (auto d = IntoGroup(group, "put a member into")) return d;
    }
    return MemberGroupsWithin(c.member_id);
  }

  std::optional<Denial> operator()(const RemoveMember& c) const {
    if (auto d = Need(Action::kMembersManage, Resource::Org())) return d;
    if (c.revoke_keys && !admin_) {
      return Deny(DenialCode::kAdminOnly,
                  "only an organization-admin may revoke a member's keys with it");
    }
    return MemberGroupsWithin(c.member_id);
  }

  // Offboarding reaches keys of any group and creator: an admin's action.
  std::optional<Denial> operator()(const RevokeKeys&) const {
    if (admin_) return std::nullopt;
    return Deny(DenialCode::kAdminOnly, "only an organization-admin may revoke keys in bulk");
  }

  std::optional<Denial> operator()(const RevokeUnusedKey&) const {
    return Deny(DenialCode::kNotForPrincipals, "only the scheduler revokes unused keys");
  }
  std::optional<Denial> operator()(const NoteExpiringSoon&) const {
    return Deny(DenialCode::kNotForPrincipals, "only the scheduler notes expiring keys");
  }

  std::optional<Denial> operator()(const CreateKey& c) const {
    if (auto d = Need(Action::kKeysCreate, Resource::Org())) return d;
    if (!admin_ && !c.permissions.empty()) {
      return Deny(DenialCode::kAdminOnly,
                  fmt::format("only an organization-admin may grant '{}'", c.permissions.front()));
    }
    return IntoGroup(c.group, "create a key in");
  }

  std::optional<Denial> operator()(const RotateKey& c) const {
    return OnKey(c.key_id, Action::kKeysRotate, "rotate");
  }

  std::optional<Denial> operator()(const RevokeKey& c) const {
    return OnKey(c.key_id, Action::kKeysRevoke, "revoke");
  }

  std::optional<Denial> operator()(const SetSso&) const {
    if (admin_) return std::nullopt;
    return Deny(DenialCode::kAdminOnly, "only an organization-admin may set the org's sign-on");
  }

  std::optional<Denial> operator()(const SetKeyPolicy&) const {
    if (admin_) return std::nullopt;
    return Deny(DenialCode::kAdminOnly, "only an organization-admin may set the org's key policy");
  }

  // Renaming, renewing: managing the key as a rotation does.
  std::optional<Denial> operator()(const UpdateKey& c) const {
    return OnKey(c.key_id, Action::kKeysRotate, "update");
  }

  // Suspending is a revocation that can be undone: the same right, the same limits.
  std::optional<Denial> operator()(const SuspendKey& c) const {
    return OnKey(c.key_id, Action::kKeysRevoke, "suspend");
  }
  std::optional<Denial> operator()(const ResumeKey& c) const {
    return OnKey(c.key_id, Action::kKeysRevoke, "resume");
  }

  std::optional<Denial> operator()(const ChangeKeyGroup& c) const {
    if (auto d = OnKey(c.key_id, Action::kKeysMove, "move")) return d;
    return IntoGroup(c.group, "move a key into");
  }

 private:
  std::optional<Denial> NeedScim() const {
    if (principal_.kind == Principal::Kind::kKey && principal_.scim &&
        principal_.on_behalf_of.empty()) {
      return std::nullopt;
    }
    return Deny(DenialCode::kNotGranted, "only a key holding the scim permission provisions");
  }

  static std::optional<Denial> NotForPrincipals() {
    return Deny(DenialCode::kNotForPrincipals,
                "sign-in commands are proven by a token, password or session, not by a principal");
  }

  std::optional<Denial> Need(Action action, const Resource& resource) const {
    const AccessDecision decision = Authorize(state_, principal_, action, resource);
    if (decision.allowed) return std::nullopt;
    return Deny(DenialCode::kNotGranted,
                fmt::format("{}the caller may not {} ({})",
                            decision.denied_on_behalf ? "on behalf of its member, " : "",
                            ActionName(action), DenyReasonName(decision.reason)));
  }

  // A group the command puts a key or member into: not one holding organization-admin
  // (unless admin), and nothing beyond the caller's grants.
  std::optional<Denial> IntoGroup(std::string_view group, std::string_view what) const {
    if (admin_) return std::nullopt;
    const GroupState* g = state_.FindGroup(group);
    if (g == nullptr) return std::nullopt;  // Decide: group_not_found
    if (g->grants.admin) {
      return Deny(DenialCode::kAdminOnly,
                  fmt::format("only an organization-admin may {} group '{}', which holds "
                              "organization-admin",
                              what, group));
    }
    return GroupWithinCaller(group, what);
  }

  std::optional<Denial> GroupWithinCaller(std::string_view group, std::string_view what) const {
    if (admin_ || GroupWithin(state_, group, principal_)) return std::nullopt;
    return Deny(DenialCode::kExceedsCaller,
                fmt::format("the caller may not {} group '{}': it grants more than the caller has",
                            what, group));
  }

  std::optional<Denial> RulesWithin(const std::vector<RuleSpec>& specs,
                                    std::string_view what) const {
    if (admin_) return std::nullopt;
    auto rules = ValidateRules(specs);
    if (std::holds_alternative<Rejection>(rules)) return std::nullopt;  // Decide rejects it
    if (GrantsWithin(state_, std::get<std::vector<Rule>>(rules), principal_)) return std::nullopt;
    return Deny(DenialCode::kExceedsCaller,
                fmt::format("the caller may not {} with rules that grant more than it has", what));
  }

  std::optional<Denial> MemberGroupsWithin(std::string_view member_id,
                                           std::string_view verb = "take a member out of") const {
    const MemberState* member = state_.FindMember(member_id);
    if (member == nullptr) return std::nullopt;
    for (const std::string& group : member->groups) {
      if (auto d = GroupWithinCaller(group, verb)) return d;
    }
    return std::nullopt;
  }

  // Rotate, revoke, move: the action on this key, then least privilege on the key.
  std::optional<Denial> OnKey(const KeyId& id, Action action, std::string_view verb) const {
    const KeyState* key = state_.FindKey(id);
    if (key == nullptr) return std::nullopt;  // Decide: key_not_found
    const std::string_view creator = state_.CreatorOf(*key);
    if (auto d = Need(action, Resource::Key(creator))) {
      const std::string_view self =
          principal_.on_behalf_of.empty() ? principal_.id : principal_.on_behalf_of;
      if (Authorize(state_, principal_, action, Resource::Key(self)).allowed) {
        return Deny(DenialCode::kNotOwner,
                    fmt::format("the caller may {} only the keys it created", verb));
      }
      return d;
    }
    if (admin_) return std::nullopt;
    if (key->scim) {
      return Deny(DenialCode::kAdminOnly,
                  fmt::format("only an organization-admin may {} a key with 'scim'", verb));
    }
    if (const GroupState* g = state_.FindGroup(state_.GroupOf(*key));
        g != nullptr && g->grants.admin) {
      return Deny(DenialCode::kAdminOnly,
                  fmt::format("only an organization-admin may {} a key of group '{}', which "
                              "holds organization-admin",
                              verb, state_.GroupOf(*key)));
    }
    return GroupWithinCaller(state_.GroupOf(*key), fmt::format("{} a key of", verb));
  }

  const OrgState& state_;
  const Principal& principal_;
  const bool admin_;
};

}  // namespace

std::string_view DenialCodeName(DenialCode code) {
  switch (code) {
    case DenialCode::kNotGranted:
      return "not_granted";
    case DenialCode::kNotOwner:
      return "not_owner";
    case DenialCode::kExceedsCaller:
      return "exceeds_caller";
    case DenialCode::kAdminOnly:
      return "admin_only";
    case DenialCode::kNotForPrincipals:
      return "not_for_principals";
  }
  return "unknown";
}

std::optional<Denial> AuthorizeCommand(const OrgState& state, const Principal& principal,
                                       const Command& command) {
  return std::visit(Policy(state, principal), command);
}

std::optional<Principal> PrincipalOf(const OrgState& state, const CommandContext& context,
                                     Micros now) {
  switch (context.actor_kind) {
    case fb::ActorKind::Key: {
      std::string_view group;
      bool scim = false;
      if (auto id = ParseKeyId(context.actor_id)) {
        if (const KeyState* key = state.FindKey(*id); key != nullptr && key->UsableAt(now)) {
          group = state.GroupOf(*key);
          scim = key->scim;
        }
      }
      return Principal::Key(context.actor_id, group, scim).OnBehalfOf(context.on_behalf_of);
    }
    case fb::ActorKind::Member:
      return Principal::Member(context.actor_id);
    case fb::ActorKind::System:
    case fb::ActorKind::Scheduler:
      return std::nullopt;
    case fb::ActorKind::Unknown:
      break;
  }
  return Principal::Key({}, {}, false);  // unknown actor kind: denied everything
}

}  // namespace keytrail::domain
