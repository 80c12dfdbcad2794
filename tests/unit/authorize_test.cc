// Authorize and the command policy: keys, members, on-behalf-of, deleted groups, rule
// changes, least privilege, and escalation attempts at the domain level.
#include <gtest/gtest.h>

#include "tests/unit/domain_fixture.h"

#include "engine/domain/authorize.h"
#include "engine/domain/command_policy.h"

namespace keytrail::domain {
namespace {

using Specs = std::vector<RuleSpec>;

class AuthorizeTest : public DomainTest {
 protected:
  // An org with its built-in groups, a key in each (ids 1-4, created by themselves so
  // that "own key" is easy to set up) and a member in each.
  void SetUp() override {
    Given(CreateOrg{"Acme"});
    uint8_t n = 1;
    for (const BuiltinGroup& g : BuiltinGroups()) {
      CreateKey c = NewKey(n, std::string(g.id) + " key", std::string(g.id));
      c.created_by = FormatKeyId(Id(n));
      Given(c);
      key_ids_.push_back(FormatKeyId(Id(n)));
      Given(SetMemberGroups{std::string(g.id) + "-member", {std::string(g.id)}});
      ++n;
    }
  }

  // The key principal of built-in group `group` (admin, developer, apikey-manager,
  // viewer), as PrincipalOf finds it.
  Principal KeyOf(std::string_view group) {
    for (size_t i = 0; i < BuiltinGroups().size(); ++i) {
      if (BuiltinGroups()[i].id == group) return Principal::Key(key_ids_[i], group);
    }
    ADD_FAILURE() << "no built-in group " << group;
    return {};
  }

  std::string DenialOf(const Principal& p, const Command& command) {
    auto denial = AuthorizeCommand(state_, p, command);
    return denial ? std::string(DenialCodeName(denial->code)) : std::string("allowed");
  }

  // A key created by `creator` in `group`, with id `n`.
  KeyId GivenKey(uint8_t n, std::string group, std::string creator = "alice",
                 std::vector<std::string> permissions = {}) {
    CreateKey c = NewKey(n, "key " + std::to_string(n), std::move(group));
    c.created_by = std::move(creator);
    c.permissions = std::move(permissions);
    Given(c);
    return Id(n);
  }

  std::vector<std::string> key_ids_;
};

// --- Authorize ---

TEST_F(AuthorizeTest, ReportsTheGroupAndRuleThatAllowed) {
  Given(CreateGroup{"ci", "", "", Specs{{"graph-viewer", {}}, {"subgraph-publisher", {"sg-1"}}}});
  const Principal key = Principal::Key("k", "ci");
  AccessDecision d =
      Authorize(state_, key, Action::kSubgraphPublish, Resource::Subgraph("ns", "sg-1"));
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.grant.group, "ci");
  ASSERT_NE(d.grant.rule, nullptr);
  EXPECT_EQ(d.grant.rule->role, Role::kSubgraphPublisher);
  EXPECT_EQ(d.grant.rule->resources, (std::vector<std::string>{"sg-1"}));
  d = Authorize(state_, key, Action::kSubgraphPublish, Resource::Subgraph("ns", "sg-2"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kNotGranted);
  d = Authorize(state_, key, Action::kGraphRead, Resource::Subgraph("ns", "sg-2"));
  EXPECT_FALSE(d.allowed);  // graph-* rules reach graphs only
  d = Authorize(state_, key, Action::kGraphRead, Resource::Graph("ns", "g"));
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.grant.rule->role, Role::kGraphViewer);
}

TEST_F(AuthorizeTest, AKeyWithoutALiveGroupIsDeniedEverything) {
  Given(CreateGroup{"ci", "", "", Specs{{"organization-admin", {}}}});
  Given(DeleteGroup{"ci"});
  for (const Principal& p : {Principal::Key("k", ""), Principal::Key("k", "ci", /*scim=*/true),
                             Principal::Key("k", "never-existed", true)}) {
    for (size_t a = 0; a < kActionCount; ++a) {
      const AccessDecision d = Authorize(state_, p, static_cast<Action>(a), Resource::Org());
      EXPECT_FALSE(d.allowed) << p.group << " " << ActionName(static_cast<Action>(a));
      EXPECT_EQ(d.reason, DenyReason::kNoGroup);
    }
  }
  EXPECT_FALSE(IsAdmin(state_, Principal::Key("k", "ci")));
  EXPECT_TRUE(EffectiveRules(state_, "ci").empty());
}

TEST_F(AuthorizeTest, AKeyInAGroupThatTheLogNeverCreatedHasNoGroup) {
  // A log that contradicts itself must not yield an admin: the key's group is unknown.
  fb::KeyCreatedT p;
  p.key_id = FormatKeyId(Id(9));
  p.name = "orphan";
  p.group_id = "ghost";
  NewEvent e{p.key_id, 1, {}};
  e.payload.Set(std::move(p));
  std::vector<NewEvent> events;
  events.push_back(std::move(e));
  Fold(std::move(events), kNow);
  CommandContext context{
      .org = "acme", .actor_kind = fb::ActorKind::Key, .actor_id = FormatKeyId(Id(9))};
  auto principal = PrincipalOf(state_, context, kNow);
  ASSERT_TRUE(principal);
  EXPECT_EQ(Authorize(state_, *principal, Action::kKeysRead, Resource::Org()).reason,
            DenyReason::kNoGroup);
}

TEST_F(AuthorizeTest, ARuleChangeAppliesToEveryKeyAndMemberOfTheGroupAtOnce) {
  Given(CreateGroup{"ci", "", "", Specs{{"graph-viewer", {}}}});
  Given(SetMemberGroups{"carol", {"ci"}});
  const Resource graph = Resource::Graph("ns", "g");
  EXPECT_FALSE(Authorize(state_, Principal::Key("k", "ci"), Action::kGraphWrite, graph).allowed);
  EXPECT_FALSE(Authorize(state_, Principal::Member("carol"), Action::kGraphWrite, graph).allowed);
  Given(ChangeGroupRules{"ci", Specs{{"graph-admin", {"g"}}}, std::nullopt});
  EXPECT_TRUE(Authorize(state_, Principal::Key("k", "ci"), Action::kGraphWrite, graph).allowed);
  EXPECT_TRUE(Authorize(state_, Principal::Member("carol"), Action::kGraphWrite, graph).allowed);
  Given(ChangeGroupRules{"ci", {}, std::nullopt});
  EXPECT_FALSE(Authorize(state_, Principal::Key("k", "ci"), Action::kGraphRead, graph).allowed);
}

TEST_F(AuthorizeTest, ACopyOfTheDirectoryAnswersLikeTheState) {
  Given(CreateGroup{"ci", "", "", Specs{{"graph-viewer", {}}}});
  const GroupDirectory snapshot = state_;  // what a read side would keep
  const Principal key = Principal::Key("k", "ci");
  const Resource graph = Resource::Graph("ns", "g");
  EXPECT_TRUE(Authorize(snapshot, key, Action::kGraphRead, graph).allowed);
  EXPECT_TRUE(Authorize(snapshot, KeyOf("developer").OnBehalfOf("viewer-member"), Action::kKeysRead,
                        Resource::Org())
                  .allowed);
  Given(ChangeGroupRules{"ci", {}, std::nullopt});
  EXPECT_FALSE(Authorize(state_, key, Action::kGraphRead, graph).allowed);
  EXPECT_TRUE(Authorize(snapshot, key, Action::kGraphRead, graph).allowed);  // until replaced
}

TEST_F(AuthorizeTest, AMemberHasTheUnionOfItsGroups) {
  Given(CreateGroup{"a-graphs", "", "", Specs{{"graph-viewer", {}}}});
  Given(CreateGroup{"b-subgraphs", "", "", Specs{{"subgraph-checker", {"sg"}}}});
  Given(SetMemberGroups{"carol", {"b-subgraphs", "a-graphs"}});
  const Principal carol = Principal::Member("carol");
  AccessDecision d = Authorize(state_, carol, Action::kGraphRead, Resource::Graph("n", "g"));
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.grant.group, "a-graphs");
  d = Authorize(state_, carol, Action::kSubgraphCheck, Resource::Subgraph("n", "sg"));
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.grant.group, "b-subgraphs");
  EXPECT_FALSE(Authorize(state_, carol, Action::kKeysRead, Resource::Org()).allowed);
  Given(RemoveMember{"carol"});
  d = Authorize(state_, carol, Action::kGraphRead, Resource::Graph("n", "g"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kNotAMember);
  EXPECT_EQ(
      Authorize(state_, Principal::Member("nobody"), Action::kKeysRead, Resource::Org()).reason,
      DenyReason::kNotAMember);
}

TEST_F(AuthorizeTest, OnBehalfOfIsTheIntersection) {
  const Principal admin_for_viewer = KeyOf("admin").OnBehalfOf("viewer-member");
  AccessDecision d = Authorize(state_, admin_for_viewer, Action::kKeysRead, Resource::Org());
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.grant.group, "admin");
  EXPECT_EQ(d.on_behalf_grant.group, "viewer");
  d = Authorize(state_, admin_for_viewer, Action::kKeysCreate, Resource::Org());
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(d.denied_on_behalf);
  EXPECT_EQ(d.reason, DenyReason::kNotGranted);
  // The member may more than the key: still only what the key may.
  const Principal viewer_for_admin = KeyOf("viewer").OnBehalfOf("admin-member");
  d = Authorize(state_, viewer_for_admin, Action::kKeysCreate, Resource::Org());
  EXPECT_FALSE(d.allowed);
  EXPECT_FALSE(d.denied_on_behalf);
  // A member that does not exist grants nothing.
  d = Authorize(state_, KeyOf("admin").OnBehalfOf("nobody"), Action::kKeysRead, Resource::Org());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, DenyReason::kNotAMember);
  EXPECT_TRUE(IsAdmin(state_, KeyOf("admin").OnBehalfOf("admin-member")));
  EXPECT_FALSE(IsAdmin(state_, admin_for_viewer));
}

TEST_F(AuthorizeTest, ScimComesOnlyFromTheKeysPermission) {
  const Principal plain = KeyOf("admin");
  Principal scim = plain;
  scim.scim = true;
  EXPECT_FALSE(Authorize(state_, plain, Action::kScim, Resource::Org()).allowed);
  AccessDecision d = Authorize(state_, scim, Action::kScim, Resource::Org());
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.grant.group, "admin");
  EXPECT_EQ(d.grant.rule, nullptr);
  EXPECT_FALSE(
      Authorize(state_, Principal::Member("admin-member"), Action::kScim, Resource::Org()).allowed);
  d = Authorize(state_, scim.OnBehalfOf("admin-member"), Action::kScim, Resource::Org());
  EXPECT_FALSE(d.allowed);  // members never hold scim
  EXPECT_TRUE(d.denied_on_behalf);
}

TEST_F(AuthorizeTest, OwnKeysAreThoseThePrincipalCreated) {
  const Principal dev = KeyOf("developer");
  EXPECT_TRUE(Authorize(state_, dev, Action::kKeysRotate, Resource::Key(dev.id)).allowed);
  EXPECT_FALSE(Authorize(state_, dev, Action::kKeysRotate, Resource::Key("alice")).allowed);
  EXPECT_FALSE(Authorize(state_, dev, Action::kKeysRotate, Resource::Key("")).allowed);
  EXPECT_FALSE(Authorize(state_, dev, Action::kKeysRotate, Resource::Org()).allowed);
  const Principal mgr = KeyOf("apikey-manager");
  EXPECT_TRUE(Authorize(state_, mgr, Action::kKeysRotate, Resource::Key("alice")).allowed);
}

// --- Least privilege: GrantsWithin ---

std::vector<Rule> Rules(Specs specs) { return std::get<std::vector<Rule>>(ValidateRules(specs)); }

TEST_F(AuthorizeTest, GrantsWithin) {
  const Principal dev = KeyOf("developer");
  const Principal mgr = KeyOf("apikey-manager");
  const Principal viewer = KeyOf("viewer");
  EXPECT_TRUE(GroupWithin(state_, "viewer", dev));
  EXPECT_TRUE(GroupWithin(state_, "developer", dev));  // own-key rights compare as such
  EXPECT_FALSE(GroupWithin(state_, "apikey-manager", dev));
  EXPECT_FALSE(GroupWithin(state_, "admin", dev));
  EXPECT_FALSE(GroupWithin(state_, "developer", mgr));  // graph:write
  EXPECT_TRUE(GroupWithin(state_, "viewer", mgr));
  EXPECT_FALSE(GroupWithin(state_, "viewer", viewer.OnBehalfOf("nobody")));
  EXPECT_TRUE(GroupWithin(state_, "no-such-group", viewer));  // grants nothing
  EXPECT_TRUE(GrantsWithin(state_, {}, Principal::Key("k", "")));
  EXPECT_FALSE(GrantsWithin(state_, Rules({{"graph-viewer", {"g"}}}), Principal::Key("k", "")));

  Given(CreateGroup{"ns-admin", "", "", Specs{{"namespace-admin", {}}}});
  Given(CreateGroup{"ns-x", "", "", Specs{{"namespace-admin", {"x"}}}});
  Given(CreateGroup{"leaf-viewers", "", "", Specs{{"graph-viewer", {}}, {"subgraph-viewer", {}}}});
  const Principal ns_admin = Principal::Key("k1", "ns-admin");
  const Principal ns_x = Principal::Key("k2", "ns-x");
  const Principal leaves = Principal::Key("k3", "leaf-viewers");
  EXPECT_TRUE(GrantsWithin(state_, Rules({{"namespace-admin", {"x", "y"}}}), ns_admin));
  EXPECT_TRUE(
      GrantsWithin(state_, Rules({{"graph-admin", {"g"}}, {"subgraph-publisher", {}}}), ns_admin));
  EXPECT_TRUE(GrantsWithin(state_, Rules({{"namespace-viewer", {"x"}}}), ns_x));
  EXPECT_FALSE(GrantsWithin(state_, Rules({{"namespace-viewer", {"y"}}}), ns_x));
  EXPECT_FALSE(GrantsWithin(state_, Rules({{"namespace-viewer", {}}}), ns_x));
  // Conservative: a rule for graph g does not say g is in namespace x.
  EXPECT_FALSE(GrantsWithin(state_, Rules({{"graph-viewer", {"g"}}}), ns_x));
  // Every graph and subgraph readable is not every namespace readable.
  EXPECT_FALSE(GrantsWithin(state_, Rules({{"namespace-viewer", {}}}), leaves));
  EXPECT_TRUE(GrantsWithin(state_, Rules({{"subgraph-viewer", {"s"}}}), leaves));
  EXPECT_FALSE(GrantsWithin(state_, Rules({{"subgraph-checker", {"s"}}}), leaves));
}

// --- Escalation attempts: AuthorizeCommand ---

TEST_F(AuthorizeTest, OnlyAdminsMintKeysInAnAdminGroupOrWithScim) {
  CreateKey c = NewKey(20, "escalate", "admin");
  EXPECT_EQ(DenialOf(KeyOf("developer"), c), "admin_only");
  EXPECT_EQ(DenialOf(KeyOf("apikey-manager"), c), "admin_only");
  EXPECT_EQ(DenialOf(Principal::Member("developer-member"), c), "admin_only");
  EXPECT_EQ(DenialOf(KeyOf("admin"), c), "allowed");
  // A custom group holding organization-admin is just as guarded.
  Given(CreateGroup{"root", "", "", Specs{{"organization-admin", {}}}});
  c.group = "root";
  EXPECT_EQ(DenialOf(KeyOf("apikey-manager"), c), "admin_only");
  // scim: admins only, in any group.
  c.group = "viewer";
  c.permissions = {"scim"};
  EXPECT_EQ(DenialOf(KeyOf("apikey-manager"), c), "admin_only");
  EXPECT_EQ(DenialOf(KeyOf("admin"), c), "allowed");
}

TEST_F(AuthorizeTest, NonAdminsMintKeysOnlyInGroupsWithinTheirOwnGrants) {
  auto in = [&](std::string group) { return NewKey(20, "new key", std::move(group)); };
  EXPECT_EQ(DenialOf(KeyOf("developer"), in("developer")), "allowed");
  EXPECT_EQ(DenialOf(KeyOf("developer"), in("viewer")), "allowed");
  EXPECT_EQ(DenialOf(KeyOf("developer"), in("apikey-manager")), "exceeds_caller");
  EXPECT_EQ(DenialOf(KeyOf("apikey-manager"), in("apikey-manager")), "allowed");
  EXPECT_EQ(DenialOf(KeyOf("apikey-manager"), in("developer")), "exceeds_caller");
  EXPECT_EQ(DenialOf(KeyOf("viewer"), in("viewer")), "not_granted");
  Given(CreateGroup{"publish-sg", "", "", Specs{{"subgraph-publisher", {"sg-1"}}}});
  EXPECT_EQ(DenialOf(KeyOf("developer"), in("publish-sg")), "allowed");
  EXPECT_EQ(DenialOf(KeyOf("apikey-manager"), in("publish-sg")), "exceeds_caller");
  // A group that does not exist is Decide's to reject.
  EXPECT_EQ(DenialOf(KeyOf("developer"), in("nope")), "allowed");
}

TEST_F(AuthorizeTest, MovingKeysIntoOrOutOfMorePowerfulGroupsIsRefused) {
  const KeyId viewer_key = GivenKey(20, "viewer");
  const KeyId admin_key = Id(1);
  const Principal mgr = KeyOf("apikey-manager");
  EXPECT_EQ(DenialOf(mgr, ChangeKeyGroup{viewer_key, "admin"}), "admin_only");
  EXPECT_EQ(DenialOf(mgr, ChangeKeyGroup{viewer_key, "developer"}), "exceeds_caller");
  EXPECT_EQ(DenialOf(mgr, ChangeKeyGroup{viewer_key, "apikey-manager"}), "allowed");
  EXPECT_EQ(DenialOf(mgr, ChangeKeyGroup{admin_key, "viewer"}), "admin_only");
  EXPECT_EQ(DenialOf(KeyOf("developer"), ChangeKeyGroup{viewer_key, "viewer"}), "not_granted");
  EXPECT_EQ(DenialOf(KeyOf("admin"), ChangeKeyGroup{viewer_key, "admin"}), "allowed");
  const KeyId scim_key = GivenKey(21, "viewer", "alice", {"scim"});
  EXPECT_EQ(DenialOf(mgr, ChangeKeyGroup{scim_key, "apikey-manager"}), "admin_only");
}

TEST_F(AuthorizeTest, RotateAndRevoke) {
  const Principal dev = KeyOf("developer");
  const Principal mgr = KeyOf("apikey-manager");
  const KeyId devs_own = GivenKey(20, "developer", std::string(dev.id));
  const KeyId someone_elses = GivenKey(21, "developer", "alice");
  const KeyId viewer_key = GivenKey(22, "viewer", "alice");
  const KeyId scim_key = GivenKey(23, "viewer", "alice", {"scim"});
  EXPECT_EQ(DenialOf(dev, RotateKey{devs_own, Hash(1), "", 0}), "allowed");
  EXPECT_EQ(DenialOf(dev, RevokeKey{devs_own, ""}), "allowed");
  EXPECT_EQ(DenialOf(dev, RotateKey{someone_elses, Hash(1), "", 0}), "not_owner");
  EXPECT_EQ(DenialOf(dev, RevokeKey{viewer_key, ""}), "not_owner");
  EXPECT_EQ(DenialOf(mgr, RotateKey{viewer_key, Hash(1), "", 0}), "allowed");
  EXPECT_EQ(DenialOf(mgr, RevokeKey{viewer_key, ""}), "allowed");
  // Rotating hands over the new secret: never a key that grants more than the caller.
  EXPECT_EQ(DenialOf(mgr, RotateKey{someone_elses, Hash(1), "", 0}), "exceeds_caller");
  EXPECT_EQ(DenialOf(mgr, RotateKey{Id(1), Hash(1), "", 0}), "admin_only");
  EXPECT_EQ(DenialOf(mgr, RevokeKey{Id(1), ""}), "admin_only");
  EXPECT_EQ(DenialOf(mgr, RotateKey{scim_key, Hash(1), "", 0}), "admin_only");
  EXPECT_EQ(DenialOf(KeyOf("viewer"), RevokeKey{viewer_key, ""}), "not_granted");
  EXPECT_EQ(DenialOf(KeyOf("admin"), RotateKey{scim_key, Hash(1), "", 0}), "allowed");
  EXPECT_EQ(DenialOf(KeyOf("admin"), RevokeKey{Id(1), ""}), "allowed");
  // Unknown keys are Decide's to answer (key_not_found).
  EXPECT_EQ(DenialOf(KeyOf("viewer"), RevokeKey{Id(99), ""}), "allowed");
}

TEST_F(AuthorizeTest, OffboardingAndThePolicysSchedulerCommands) {
  const Principal mgr = KeyOf("apikey-manager");
  EXPECT_EQ(DenialOf(mgr, RevokeKeys{"alice", {}, "left"}), "admin_only");
  EXPECT_EQ(DenialOf(KeyOf("admin"), RevokeKeys{"alice", {}, "left"}), "allowed");
  EXPECT_EQ(DenialOf(KeyOf("admin"), RemoveMember{"developer-member", true}), "allowed");
  EXPECT_EQ(DenialOf(KeyOf("admin"), RevokeUnusedKey{Id(1)}), "not_for_principals");
  EXPECT_EQ(DenialOf(KeyOf("admin"), NoteExpiringSoon{Id(1)}), "not_for_principals");
}

TEST_F(AuthorizeTest, OnlyAScimKeyProvisionsAndNeverIntoAnAdminGroup) {
  const Principal scim = Principal::Key("scim-key", "viewer", /*scim=*/true);
  EXPECT_EQ(DenialOf(scim, ProvisionMember{"bjensen", {}}), "allowed");
  EXPECT_EQ(DenialOf(KeyOf("admin"), ProvisionMember{"bjensen", {}}), "not_granted");
  EXPECT_EQ(DenialOf(scim, DeprovisionMember{"developer-member"}), "allowed");
  EXPECT_EQ(DenialOf(scim.OnBehalfOf("developer-member"), DeprovisionMember{"x"}), "not_granted");
  EXPECT_EQ(DenialOf(scim, ProvisionGroup{.group_id = "developer", .add = {"m"}}), "allowed");
  EXPECT_EQ(DenialOf(scim, ProvisionGroup{.group_id = "admin", .add = {"m"}}), "admin_only");
  EXPECT_EQ(DenialOf(scim, ProvisionGroup{.group_id = "admin", .remove = {"m"}}), "allowed");
  EXPECT_EQ(DenialOf(scim, DeprovisionGroup{"developer"}), "allowed");
  EXPECT_EQ(DenialOf(KeyOf("developer"), DeprovisionGroup{"developer"}), "not_granted");
}

TEST_F(AuthorizeTest, OnBehalfOfCannotExceedTheMember) {
  const Principal admin_for_dev = KeyOf("admin").OnBehalfOf("developer-member");
  EXPECT_EQ(DenialOf(admin_for_dev, NewKey(20, "new key", "admin")), "admin_only");
  EXPECT_EQ(DenialOf(admin_for_dev, NewKey(20, "new key", "apikey-manager")), "exceeds_caller");
  EXPECT_EQ(DenialOf(admin_for_dev, NewKey(20, "new key", "developer")), "allowed");
  EXPECT_EQ(DenialOf(admin_for_dev, CreateGroup{"g", "", "", {}}), "not_granted");
  EXPECT_EQ(DenialOf(KeyOf("admin").OnBehalfOf("viewer-member"), NewKey(20, "new key", "viewer")),
            "not_granted");
  // The member's own keys: created on its behalf, created_by is the member.
  const KeyId members_key = GivenKey(21, "developer", "developer-member");
  EXPECT_EQ(DenialOf(admin_for_dev, RotateKey{members_key, Hash(1), "", 0}), "allowed");
  EXPECT_EQ(DenialOf(admin_for_dev, RotateKey{Id(1), Hash(1), "", 0}), "not_owner");
}

TEST_F(AuthorizeTest, GroupsAndMembersAreManagedByAdmins) {
  const Specs admin_rules = {{"organization-admin", {}}};
  for (const char* group : {"developer", "apikey-manager", "viewer"}) {
    const Principal p = KeyOf(group);
    EXPECT_EQ(DenialOf(p, CreateGroup{"mine", "", "", admin_rules}), "not_granted") << group;
    EXPECT_EQ(DenialOf(p, SetMemberGroups{std::string(group) + "-member", {"admin"}}),
              "not_granted")
        << group;
    EXPECT_EQ(DenialOf(p, RemoveMember{"admin-member"}), "not_granted") << group;
  }
  Given(CreateGroup{"ci", "", "", {}});
  const Principal admin = KeyOf("admin");
  EXPECT_EQ(DenialOf(admin, CreateGroup{"mine", "", "", admin_rules}), "allowed");
  EXPECT_EQ(DenialOf(admin, ChangeGroupRules{"ci", admin_rules, std::nullopt}), "allowed");
  EXPECT_EQ(DenialOf(admin, DeleteGroup{"ci"}), "allowed");
  EXPECT_EQ(DenialOf(admin, SetMemberGroups{"carol", {"admin"}}), "allowed");
  EXPECT_EQ(DenialOf(Principal::Member("admin-member"), RemoveMember{"viewer-member"}), "allowed");
}

TEST_F(AuthorizeTest, OrgCreationAndExpiryAreNotForPrincipals) {
  EXPECT_EQ(DenialOf(KeyOf("admin"), CreateOrg{"other"}), "not_for_principals");
  EXPECT_EQ(DenialOf(KeyOf("admin"), ExpireKey{Id(1)}), "not_for_principals");
}

TEST_F(AuthorizeTest, PrincipalOf) {
  CommandContext system{.org = "acme", .actor_kind = fb::ActorKind::System, .actor_id = "boot"};
  EXPECT_FALSE(PrincipalOf(state_, system, kNow).has_value());
  CommandContext scheduler{.org = "acme", .actor_kind = fb::ActorKind::Scheduler};
  EXPECT_FALSE(PrincipalOf(state_, scheduler, kNow).has_value());

  const KeyId scim_key = GivenKey(20, "developer", "alice", {"scim"});
  CommandContext by_key{.org = "acme",
                        .actor_kind = fb::ActorKind::Key,
                        .actor_id = FormatKeyId(scim_key),
                        .on_behalf_of = "viewer-member"};
  auto p = PrincipalOf(state_, by_key, kNow);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, Principal::Kind::kKey);
  EXPECT_EQ(p->group, "developer");
  EXPECT_TRUE(p->scim);
  EXPECT_EQ(p->on_behalf_of, "viewer-member");
  Given(RevokeKey{scim_key, ""});
  p = PrincipalOf(state_, by_key, kNow);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->group.empty());  // a revoked key acts for no group
  EXPECT_EQ(DenialOf(*p, NewKey(30, "new key", "viewer")), "not_granted");

  CommandContext by_member{
      .org = "acme", .actor_kind = fb::ActorKind::Member, .actor_id = "admin-member"};
  p = PrincipalOf(state_, by_member, kNow);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, Principal::Kind::kMember);
  EXPECT_TRUE(IsAdmin(state_, *p));
}

}  // namespace
}  // namespace keytrail::domain
