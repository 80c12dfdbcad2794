// Groups, rules and members: Given(events) / When(command) / Then(events or rejection),
// and how Evolve folds them (rules, counts of keys and members).
#include <gtest/gtest.h>
#include "tests/support/status_matchers.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/unit/domain_fixture.h"

namespace keytrail::domain {
namespace {

using Specs = std::vector<RuleSpec>;

std::vector<std::string> RolesOf(const std::vector<std::unique_ptr<fb::RuleT>>& rules) {
  std::vector<std::string> roles;
  for (const auto& r : rules) roles.push_back(r->role);
  return roles;
}

class GroupsTest : public DomainTest {
 protected:
  void GivenOrg() { Given(CreateOrg{"Acme"}); }
};

// --- CreateOrg: the built-in groups ---

TEST_F(GroupsTest, CreateOrgCreatesTheBuiltInGroupsWithTheirRules) {
  const auto& events = ThenEvents(When(CreateOrg{"Acme"}));
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].payload.type, fb::Payload::OrgCreated);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"admin", "organization-admin"},
      {"developer", "organization-developer"},
      {"apikey-manager", "organization-apikey-manager"},
      {"viewer", "organization-viewer"}};
  for (size_t i = 0; i < expected.size(); ++i) {
    const NewEvent& e = events[i + 1];
    ASSERT_EQ(e.payload.type, fb::Payload::GroupCreated);
    const fb::GroupCreatedT& g = *e.payload.AsGroupCreated();
    EXPECT_EQ(e.aggregate_id, expected[i].first);
    EXPECT_EQ(e.aggregate_version, 1u);
    EXPECT_EQ(g.group_id, expected[i].first);
    EXPECT_TRUE(g.builtin);
    EXPECT_EQ(RolesOf(g.rules), (std::vector<std::string>{expected[i].second}));
    EXPECT_TRUE(g.rules[0]->resources.empty());
  }
  GivenOrg();
  const GroupState& admin = GroupOf("admin");
  EXPECT_TRUE(admin.builtin);
  EXPECT_TRUE(admin.grants.admin);
  ASSERT_EQ(admin.rules.size(), 1u);
  EXPECT_EQ(admin.rules[0].role, Role::kOrganizationAdmin);
}

TEST_F(GroupsTest, BuiltInGroupsCannotBeChangedOrDeleted) {
  GivenOrg();
  ThenRejected(When(ChangeGroupRules{"admin", {}, {}}), RejectionCode::kGroupBuiltin);
  ThenRejected(When(DeleteGroup{"viewer"}), RejectionCode::kGroupBuiltin);
  ThenRejected(When(CreateGroup{"admin", "", "", {}}), RejectionCode::kGroupExists);
}

// --- CreateGroup with rules ---

TEST_F(GroupsTest, CreateGroupWritesCanonicalRules) {
  GivenOrg();
  const auto& e = ThenOne<fb::GroupCreatedT>(When(CreateGroup{
      "ci", "CI", "keys for CI",
      Specs{{"subgraph-publisher", {"sg-2", "sg-1", "sg-2"}}, {"organization-viewer", {}}}}));
  EXPECT_EQ(e.group_id, "ci");
  EXPECT_EQ(e.name, "CI");
  EXPECT_EQ(e.description, "keys for CI");
  EXPECT_FALSE(e.builtin);
  ASSERT_EQ(e.rules.size(), 2u);  // catalogue order; resources sorted and unique
  EXPECT_EQ(e.rules[0]->role, "organization-viewer");
  EXPECT_TRUE(e.rules[0]->resources.empty());
  EXPECT_EQ(e.rules[1]->role, "subgraph-publisher");
  EXPECT_EQ(e.rules[1]->resources, (std::vector<std::string>{"sg-1", "sg-2"}));
}

TEST_F(GroupsTest, CreateGroupRejectsInvalidRules) {
  GivenOrg();
  ThenRejected(When(CreateGroup{"ci", "", "", Specs{{"root", {}}}}), RejectionCode::kUnknownRole);
  ThenRejected(When(CreateGroup{"ci", "", "", Specs{{"Organization-Admin", {}}}}),
               RejectionCode::kUnknownRole);
  ThenRejected(When(CreateGroup{"ci", "", "", Specs{{"organization-developer", {"ns"}}}}),
               RejectionCode::kRoleNotScopable);
  ThenRejected(
      When(CreateGroup{"ci", "", "", Specs{{"graph-admin", {"a"}}, {"graph-admin", {"b"}}}}),
      RejectionCode::kDuplicateRole);
  ThenRejected(When(CreateGroup{"ci", "", "", Specs{{"graph-admin", {""}}}}),
               RejectionCode::kInvalidResource);
  ThenRejected(When(CreateGroup{"ci", "", "", Specs{{"graph-admin", {"has space"}}}}),
               RejectionCode::kInvalidResource);
  ThenRejected(When(CreateGroup{"ci", "", "", Specs{{"graph-admin", {std::string(129, 'g')}}}}),
               RejectionCode::kInvalidResource);
  ThenRejected(When(CreateGroup{"ci", "", std::string(1001, 'd'), {}}),
               RejectionCode::kInvalidDescription);
  ThenRejected(When(CreateGroup{"ci", std::string(201, 'n'), "", {}}), RejectionCode::kInvalidName);
  // No rules is valid: the group grants nothing.
  ThenOne<fb::GroupCreatedT>(When(CreateGroup{"ci", "", "", {}}));
}

TEST(ValidateRules, CodesAndLimits) {
  auto code = [](Specs specs) {
    auto r = ValidateRules(specs);
    return std::holds_alternative<Rejection>(r)
               ? std::string(RejectionCodeName(std::get<Rejection>(r).code))
               : std::string("ok");
  };
  EXPECT_EQ(code({}), "ok");
  for (const RoleInfo& info : RoleCatalogue()) {
    EXPECT_EQ(code({{std::string(info.name), {}}}), "ok") << info.name;
    EXPECT_EQ(code({{std::string(info.name), {"r1"}}}),
              info.scope == ResourceKind::kOrg ? "role_not_scopable" : "ok")
        << info.name;
  }
  EXPECT_EQ(code({{"graph-admin", std::vector<std::string>(100, "g")}}), "ok");  // deduplicated
  std::vector<std::string> many;
  for (int i = 0; i < 101; ++i) many.push_back("g" + std::to_string(i));
  EXPECT_EQ(code({{"graph-admin", many}}), "invalid_resource");
  EXPECT_EQ(code({{"graph-admin", {"tab\there"}}}), "invalid_resource");
  EXPECT_EQ(code({{"graph-admin", {"ünï"}}}), "invalid_resource");
  EXPECT_EQ(code({{"graph-admin", {std::string(128, 'g')}}}), "ok");
  // The first problem in the given order wins.
  EXPECT_EQ(code({{"nope", {}}, {"graph-admin", {""}}}), "unknown_role");
  EXPECT_EQ(code({{"graph-admin", {}}, {"graph-admin", {}}}), "duplicate_role");
}

TEST(ValidateRules, RoundTripsThroughSpecs) {
  const Specs specs = {{"subgraph-viewer", {"b", "a"}}, {"organization-admin", {}}};
  auto rules = ValidateRules(specs);
  ASSERT_TRUE(std::holds_alternative<std::vector<Rule>>(rules));
  EXPECT_EQ(ToSpecs(std::get<std::vector<Rule>>(rules)),
            (Specs{{"organization-admin", {}}, {"subgraph-viewer", {"a", "b"}}}));
}

// --- ChangeGroupRules ---

TEST_F(GroupsTest, ChangeGroupRulesReplacesAllRules) {
  GivenOrg();
  Given(CreateGroup{"ci", "", "old", Specs{{"graph-viewer", {}}}});
  const auto& e = ThenOne<fb::GroupRulesChangedT>(
      When(ChangeGroupRules{"ci", Specs{{"subgraph-checker", {"sg-1"}}}, std::nullopt}));
  EXPECT_EQ(e.group_id, "ci");
  EXPECT_EQ(RolesOf(e.rules), (std::vector<std::string>{"subgraph-checker"}));
  EXPECT_EQ(e.description, "old");  // the whole description after the change
  Given(ChangeGroupRules{"ci", Specs{{"subgraph-checker", {"sg-1"}}}, "new"});
  const GroupState& g = GroupOf("ci");
  EXPECT_EQ(g.version, 2u);
  EXPECT_EQ(g.description, "new");
  ASSERT_EQ(g.rules.size(), 1u);
  EXPECT_EQ(g.rules[0], (Rule{Role::kSubgraphChecker, {"sg-1"}}));
  EXPECT_FALSE(g.grants.any.Has(Action::kGraphWrite));
  // The same rules and description again: nothing to do.
  ThenNoEvents(When(ChangeGroupRules{"ci", Specs{{"subgraph-checker", {"sg-1"}}}, "new"}));
  // Clearing every rule is allowed: the group then grants nothing.
  Given(ChangeGroupRules{"ci", {}, std::nullopt});
  EXPECT_TRUE(GroupOf("ci").rules.empty());
  EXPECT_TRUE(GroupOf("ci").grants.any.empty());
}

TEST_F(GroupsTest, ChangeGroupRulesRejections) {
  ThenRejected(When(ChangeGroupRules{"ci", {}, {}}), RejectionCode::kOrgNotFound);
  GivenOrg();
  ThenRejected(When(ChangeGroupRules{"ci", {}, {}}), RejectionCode::kGroupNotFound);
  Given(CreateGroup{"ci", "", "", {}});
  ThenRejected(When(ChangeGroupRules{"ci", Specs{{"organization-viewer", {"x"}}}, {}}),
               RejectionCode::kRoleNotScopable);
  ThenRejected(When(ChangeGroupRules{"ci", {}, std::string(1001, 'd')}),
               RejectionCode::kInvalidDescription);
  Given(DeleteGroup{"ci"});
  ThenRejected(When(ChangeGroupRules{"ci", {}, {}}), RejectionCode::kGroupNotFound);
}

// --- DeleteGroup ---

TEST_F(GroupsTest, DeleteGroupIsRefusedWhileItHasKeysOrMembers) {
  GivenOrg();
  Given(CreateGroup{"ci", "", "", Specs{{"organization-viewer", {}}}});
  Given(CreateGroup{"ops", "", "", {}});
  Given(NewKey(1, "deploy"));
  Given(SetMemberGroups{"carol", {"ci", "ops"}});
  EXPECT_EQ(GroupOf("ci").live_keys, 1u);
  EXPECT_EQ(GroupOf("ci").members, 1u);
  ThenRejected(When(DeleteGroup{"ci"}), RejectionCode::kGroupInUse);
  Given(ChangeKeyGroup{Id(1), "ops"});
  EXPECT_EQ(GroupOf("ci").live_keys, 0u);
  EXPECT_EQ(GroupOf("ops").live_keys, 1u);
  ThenRejected(When(DeleteGroup{"ci"}), RejectionCode::kGroupInUse);  // carol
  Given(SetMemberGroups{"carol", {"ops"}});
  EXPECT_EQ(GroupOf("ci").members, 0u);
  const auto& e = ThenOne<fb::GroupDeletedT>(When(DeleteGroup{"ci"}));
  EXPECT_EQ(e.group_id, "ci");
  Given(DeleteGroup{"ci"});
  EXPECT_TRUE(GroupOf("ci").deleted);
  EXPECT_TRUE(GroupOf("ci").rules.empty());
  ThenRejected(When(DeleteGroup{"ci"}), RejectionCode::kGroupNotFound);
  ThenRejected(When(NewKey(2, "another", "ci")), RejectionCode::kGroupNotFound);
}

TEST_F(GroupsTest, RevokedAndExpiredKeysDoNotHoldAGroup) {
  GivenOrg();
  Given(CreateGroup{"ci", "", "", {}});
  Given(NewKey(1, "revoked"));
  CreateKey expiring = NewKey(2, "expiring");
  expiring.expires = Expiration::At(kNow + kHour);
  Given(expiring);
  EXPECT_EQ(GroupOf("ci").live_keys, 2u);
  Given(RevokeKey{Id(1), ""});
  // Past its expiry but not yet expired by the scheduler: it still counts.
  ThenRejected(When(DeleteGroup{"ci"}, kNow + kHour), RejectionCode::kGroupInUse);
  Given(ExpireKey{Id(2)}, kNow + kHour);
  EXPECT_EQ(GroupOf("ci").live_keys, 0u);
  ThenOne<fb::GroupDeletedT>(When(DeleteGroup{"ci"}, kNow + kHour));
}

TEST_F(GroupsTest, ARecreatedGroupContinuesItsVersionAndStartsWithItsNewRules) {
  GivenOrg();
  Given(CreateGroup{"ci", "", "", Specs{{"organization-admin", {}}}});
  Given(DeleteGroup{"ci"});
  auto decision = When(CreateGroup{"ci", "", "", Specs{{"graph-viewer", {}}}});
  const auto& events = ThenEvents(std::move(decision));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].aggregate_version, 3u);
  Given(CreateGroup{"ci", "", "", Specs{{"graph-viewer", {}}}});
  EXPECT_FALSE(GroupOf("ci").deleted);
  EXPECT_FALSE(GroupOf("ci").grants.admin);
}

// --- Members ---

TEST_F(GroupsTest, SetMemberGroups) {
  GivenOrg();
  const auto& e = ThenOne<fb::MemberGroupsChangedT>(
      When(SetMemberGroups{"carol", {"viewer", "developer", "viewer"}}));
  EXPECT_EQ(e.member_id, "carol");
  EXPECT_EQ(e.groups, (std::vector<std::string>{"developer", "viewer"}));
  Given(SetMemberGroups{"carol", {"viewer", "developer"}});
  ASSERT_NE(state_.FindMember("carol"), nullptr);
  EXPECT_EQ(state_.FindMember("carol")->version, 1u);
  EXPECT_EQ(GroupOf("viewer").members, 1u);
  ThenNoEvents(When(SetMemberGroups{"carol", {"developer", "viewer"}}));
  auto decision = When(SetMemberGroups{"carol", {"admin"}});
  EXPECT_EQ(ThenEvents(std::move(decision))[0].aggregate_version, 2u);
  Given(SetMemberGroups{"carol", {"admin"}});
  EXPECT_EQ(GroupOf("viewer").members, 0u);
  EXPECT_EQ(GroupOf("admin").members, 1u);
}

TEST_F(GroupsTest, SetMemberGroupsRejections) {
  ThenRejected(When(SetMemberGroups{"carol", {"viewer"}}), RejectionCode::kOrgNotFound);
  GivenOrg();
  ThenRejected(When(SetMemberGroups{"", {"viewer"}}), RejectionCode::kInvalidMemberId);
  ThenRejected(When(SetMemberGroups{"car ol", {"viewer"}}), RejectionCode::kInvalidMemberId);
  ThenRejected(When(SetMemberGroups{std::string(129, 'm'), {"viewer"}}),
               RejectionCode::kInvalidMemberId);
  ThenRejected(When(SetMemberGroups{"carol", {}}), RejectionCode::kInvalidMemberGroups);
  ThenRejected(When(SetMemberGroups{"carol", std::vector<std::string>(65, "viewer")}),
               RejectionCode::kInvalidMemberGroups);
  ThenRejected(When(SetMemberGroups{"carol", {"viewer", "nope"}}), RejectionCode::kGroupNotFound);
  ThenOne<fb::MemberGroupsChangedT>(When(SetMemberGroups{"carol@example.com", {"viewer"}}));
}

TEST_F(GroupsTest, RemoveMember) {
  GivenOrg();
  ThenRejected(When(RemoveMember{"carol"}), RejectionCode::kMemberNotFound);
  ThenRejected(When(RemoveMember{""}), RejectionCode::kInvalidMemberId);
  Given(SetMemberGroups{"carol", {"developer"}});
  const auto& e = ThenOne<fb::MemberGroupsChangedT>(When(RemoveMember{"carol"}));
  EXPECT_EQ(e.member_id, "carol");
  EXPECT_TRUE(e.groups.empty());
  Given(RemoveMember{"carol"});
  EXPECT_EQ(state_.FindMember("carol"), nullptr);
  EXPECT_EQ(GroupOf("developer").members, 0u);
  ThenRejected(When(RemoveMember{"carol"}), RejectionCode::kMemberNotFound);
  // Added again later: its version continues.
  auto decision = When(SetMemberGroups{"carol", {"viewer"}});
  EXPECT_EQ(ThenEvents(std::move(decision))[0].aggregate_version, 3u);
}

// --- Evolve: what the log may hold ---

// Decide writes only valid rules; a log written by a newer version may hold more. What
// this version cannot understand grants nothing.
TEST_F(GroupsTest, EvolveDropsRulesItCannotUnderstand) {
  GivenOrg();
  fb::GroupCreatedT p;
  p.group_id = "future";
  auto rule = [](std::string role, std::vector<std::string> resources) {
    auto r = std::make_unique<fb::RuleT>();
    r->role = std::move(role);
    r->resources = std::move(resources);
    return r;
  };
  p.rules.push_back(rule("organization-superuser", {}));           // unknown role
  p.rules.push_back(rule("organization-admin", {"ns-1"}));         // scoped org role
  p.rules.push_back(rule("graph-admin", {""}));                    // only empty ids
  p.rules.push_back(rule("graph-viewer", {"g-2", "g-1", "g-1"}));  // kept, canonical
  p.rules.push_back(rule("graph-viewer", {}));                     // repeated role
  NewEvent e{"future", 1, {}};
  e.payload.Set(std::move(p));
  std::vector<NewEvent> events;
  events.push_back(std::move(e));
  Fold(std::move(events), kNow);
  const GroupState& g = GroupOf("future");
  ASSERT_EQ(g.rules.size(), 1u);
  EXPECT_EQ(g.rules[0], (Rule{Role::kGraphViewer, {"g-1", "g-2"}}));
  EXPECT_FALSE(g.grants.admin);
  EXPECT_TRUE(g.grants.On(ResourceKind::kGraph).empty());  // scoped only
}

TEST_F(GroupsTest, EvolveRefusesChangesToGroupsThatDoNotExist) {
  GivenOrg();
  for (fb::Payload type : {fb::Payload::GroupRulesChanged, fb::Payload::GroupDeleted}) {
    fb::EnvelopeT e;
    e.id = std::make_unique<fb::EventId>(1, 2);
    e.org = "acme";
    e.aggregate_id = "ghost";
    if (type == fb::Payload::GroupRulesChanged) {
      fb::GroupRulesChangedT p;
      p.group_id = "ghost";
      e.payload.Set(std::move(p));
    } else {
      fb::GroupDeletedT p;
      p.group_id = "ghost";
      e.payload.Set(std::move(p));
    }
    const std::string bytes = events::Encode(e);
    auto decoded = events::Decode(bytes);
    ASSERT_OK(decoded);
    EXPECT_EQ(Evolve(state_, **decoded).code(), StatusCode::kCorruption);
  }
}

// The golden fixtures of the group events fold into the state they describe.
TEST_F(GroupsTest, GoldenGroupEventsFold) {
  for (const char* kind :
       {"GroupCreated", "GroupRulesChanged", "MemberGroupsChanged", "GroupDeleted"}) {
    std::ifstream in(std::string(KEYTRAIL_GOLDEN_DIR) + "/" + kind + ".ktev", std::ios::binary);
    std::stringstream read;
    read << in.rdbuf();
    const std::string bytes = read.str();  // the decoded envelope points into it
    auto decoded = events::Decode(bytes);
    ASSERT_OK(decoded) << kind;
    ASSERT_OK(Evolve(state_, **decoded)) << kind;
    if (std::string_view(kind) == "GroupCreated") {
      const GroupState& g = GroupOf("ci");
      EXPECT_TRUE(g.builtin);
      EXPECT_EQ(g.name, "CI pipelines");
      ASSERT_EQ(g.rules.size(), 2u);
      EXPECT_EQ(g.rules[0], (Rule{Role::kOrganizationViewer, {}}));
      EXPECT_EQ(g.rules[1], (Rule{Role::kGraphAdmin, {"graph-a", "graph-b"}}));
    } else if (std::string_view(kind) == "GroupRulesChanged") {
      const GroupState& g = GroupOf("ci");
      ASSERT_EQ(g.rules.size(), 1u);
      EXPECT_EQ(g.rules[0], (Rule{Role::kSubgraphPublisher, {"sg-1"}}));
      EXPECT_EQ(g.description, "publish only");
    }
  }
  EXPECT_TRUE(GroupOf("ci").deleted);
  ASSERT_NE(state_.FindMember("carol"), nullptr);
  EXPECT_EQ(state_.FindMember("carol")->groups, (std::vector<std::string>{"developer", "viewer"}));
}

}  // namespace
}  // namespace keytrail::domain
