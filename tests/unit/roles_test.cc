// The role catalogue against its documentation, and the permission matrix: every
// built-in role x every action x scoped and unscoped rules x resources of every kind,
// evaluated by Authorize and checked against the table in docs/roles.md.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tests/unit/domain_fixture.h"

#include "engine/domain/authorize.h"

namespace keytrail::domain {
namespace {

// One row of the docs table: the role's scope and, per action, "✓", "own" or "".
struct DocRow {
  std::string scope;
  std::map<std::string, std::string> cells;  // action name -> cell
};
struct DocTable {
  std::vector<std::string> actions;  // column order
  std::map<std::string, DocRow> roles;
};

std::string Trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  if (s.size() >= 2 && s.front() == '`' && s.back() == '`') s = s.substr(1, s.size() - 2);
  return s;
}

// The cells of a table row "| a | b |".
std::vector<std::string> Cells(std::string line) {
  line = Trim(line);
  if (line.ends_with('|')) line.pop_back();
  std::vector<std::string> cells;
  std::stringstream in(line.substr(1));  // after the leading '|'
  std::string cell;
  while (std::getline(in, cell, '|')) cells.push_back(Trim(cell));
  if (line.ends_with('|')) cells.push_back("");  // getline drops a last empty cell
  return cells;
}

// Parses the first table of docs/roles.md whose header starts "| role | scope |".
DocTable ParseDocs() {
  DocTable table;
  std::ifstream in(KEYTRAIL_ROLES_DOC);
  EXPECT_TRUE(in.good()) << KEYTRAIL_ROLES_DOC;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("| role | scope |")) continue;
    const std::vector<std::string> header = Cells(line);
    table.actions.assign(header.begin() + 2, header.end());
    std::getline(in, line);  // |---|---|...
    while (std::getline(in, line) && line.starts_with("|")) {
      const std::vector<std::string> cells = Cells(line);
      EXPECT_EQ(cells.size(), header.size()) << line;
      DocRow row;
      row.scope = cells.size() > 1 ? cells[1] : "";
      for (size_t i = 2; i < cells.size() && i < header.size(); ++i) {
        row.cells[header[i]] = cells[i];
      }
      table.roles[cells[0]] = row;
    }
    break;
  }
  return table;
}

TEST(RoleCatalogue, MatchesDocsRolesMd) {
  const DocTable docs = ParseDocs();
  // The columns are every action, in Action order.
  ASSERT_EQ(docs.actions.size(), kActionCount);
  for (size_t i = 0; i < kActionCount; ++i) {
    EXPECT_EQ(docs.actions[i], ActionName(static_cast<Action>(i)));
    EXPECT_EQ(ParseAction(docs.actions[i]), static_cast<Action>(i));
  }
  // The rows are every role.
  EXPECT_EQ(docs.roles.size(), kRoleCount);
  for (const RoleInfo& info : RoleCatalogue()) {
    auto row = docs.roles.find(std::string(info.name));
    ASSERT_NE(row, docs.roles.end()) << info.name << " is not in docs/roles.md";
    EXPECT_EQ(row->second.scope, ResourceKindName(info.scope)) << info.name;
    for (size_t i = 0; i < kActionCount; ++i) {
      const auto action = static_cast<Action>(i);
      const std::string expected = info.actions.Has(action)           ? "✓"
                                   : info.own_key_actions.Has(action) ? "own"
                                                                      : "";
      EXPECT_EQ(row->second.cells.at(std::string(ActionName(action))), expected)
          << info.name << " x " << ActionName(action);
    }
  }
}

TEST(RoleCatalogue, NamesParseBack) {
  ASSERT_EQ(RoleCatalogue().size(), kRoleCount);
  for (size_t i = 0; i < kRoleCount; ++i) {
    const RoleInfo& info = RoleCatalogue()[i];
    EXPECT_EQ(static_cast<size_t>(info.role), i);
    EXPECT_EQ(ParseRole(info.name), info.role);
    EXPECT_EQ(info.name.starts_with("organization-"), info.scope == ResourceKind::kOrg);
    EXPECT_FALSE(info.actions.Has(Action::kScim)) << "scim comes only from a key's permission";
  }
  EXPECT_EQ(ParseRole("organization-owner"), std::nullopt);
  EXPECT_EQ(ParseAction("keys:delete"), std::nullopt);
}

// --- The permission matrix ---

constexpr std::string_view kSelf = "self-key";

struct NamedResource {
  const char* name;
  Resource resource;
};

// Resources of every kind; "x" is the id every scoped rule of the matrix lists.
const std::vector<NamedResource>& MatrixResources() {
  static const std::vector<NamedResource> r = {
      {"org", Resource::Org()},
      {"namespace x", Resource::Namespace("x")},
      {"namespace y", Resource::Namespace("y")},
      {"graph g in x", Resource::Graph("x", "g")},
      {"graph x in y", Resource::Graph("y", "x")},
      {"graph g in y", Resource::Graph("y", "g")},
      {"subgraph s in x", Resource::Subgraph("x", "s")},
      {"subgraph x in y", Resource::Subgraph("y", "x")},
      {"subgraph s in y", Resource::Subgraph("y", "s")},
      {"own key", Resource::Key(kSelf)},
      {"another's key", Resource::Key("someone-else")},
  };
  return r;
}

// Which MatrixResources a rule reaches, by the resource model of docs/roles.md, written
// out by hand (not computed with the code under test).
std::set<std::string> Reach(const std::string& scope, bool scoped) {
  if (scope == "org") {
    std::set<std::string> all;
    for (const auto& r : MatrixResources()) all.insert(r.name);
    return all;
  }
  if (scope == "namespace") {
    if (scoped) return {"namespace x", "graph g in x", "subgraph s in x"};
    return {"namespace x",  "namespace y",     "graph g in x",    "graph x in y",
            "graph g in y", "subgraph s in x", "subgraph x in y", "subgraph s in y"};
  }
  if (scope == "graph") {
    if (scoped) return {"graph x in y"};
    return {"graph g in x", "graph x in y", "graph g in y"};
  }
  if (scope == "subgraph") {
    if (scoped) return {"subgraph x in y"};
    return {"subgraph s in x", "subgraph x in y", "subgraph s in y"};
  }
  ADD_FAILURE() << "unknown scope " << scope;
  return {};
}

class PermissionMatrix : public DomainTest {};

TEST_F(PermissionMatrix, EveryRoleTimesEveryActionTimesResourcesMatchesTheDocs) {
  const DocTable docs = ParseDocs();
  ASSERT_EQ(docs.roles.size(), kRoleCount);
  Given(CreateOrg{"Acme"});
  size_t checked = 0;
  for (const auto& [role, row] : docs.roles) {
    for (const bool scoped : {false, true}) {
      const bool scopable = row.scope != "org";
      const std::string group = (scoped ? "s-" : "u-") + role;
      const CreateGroup create{
          group,
          "",
          "",
          {RuleSpec{role, scoped ? std::vector<std::string>{"x"} : std::vector<std::string>{}}}};
      if (scoped && !scopable) {
        ThenRejected(When(create), RejectionCode::kRoleNotScopable);
        continue;
      }
      Given(create);
      const std::set<std::string> reach = Reach(row.scope, scoped);
      const Principal key = Principal::Key(kSelf, group);
      for (const std::string& action_name : docs.actions) {
        const Action action = *ParseAction(action_name);
        const std::string& cell = row.cells.at(action_name);
        for (const NamedResource& r : MatrixResources()) {
          const bool expected =
              reach.contains(r.name) &&
              (cell == "✓" || (cell == "own" && r.name == std::string("own key")));
          const AccessDecision d = Authorize(state_, key, action, r.resource);
          EXPECT_EQ(d.allowed, expected)
              << role << (scoped ? " [x]" : "") << " x " << action_name << " x " << r.name;
          if (d.allowed) {
            EXPECT_EQ(d.grant.group, group);
            ASSERT_NE(d.grant.rule, nullptr);
            EXPECT_EQ(RoleName(d.grant.rule->role), role);
          } else {
            EXPECT_EQ(d.reason, DenyReason::kNotGranted);
            EXPECT_EQ(d.grant.rule, nullptr);
          }
          ++checked;
        }
      }
    }
  }
  // 4 org roles x 1 + 8 scopable roles x 2 rule shapes, x every action x every resource.
  EXPECT_EQ(checked, (4 + 8 * 2) * kActionCount * MatrixResources().size());
}

// The same matrix for a member in the group: members and keys are one evaluation.
TEST_F(PermissionMatrix, MembersGetTheSameAnswersAsKeys) {
  Given(CreateOrg{"Acme"});
  for (const RoleInfo& info : RoleCatalogue()) {
    const std::string group = "g-" + std::string(info.name);
    Given(CreateGroup{group, "", "", {RuleSpec{std::string(info.name), {}}}});
    Given(SetMemberGroups{"m-" + std::string(info.name), {group}});
  }
  for (const RoleInfo& info : RoleCatalogue()) {
    const std::string group = "g-" + std::string(info.name);
    const std::string member = "m-" + std::string(info.name);
    for (size_t a = 0; a < kActionCount; ++a) {
      for (const NamedResource& r : MatrixResources()) {
        const Resource as_member = r.resource.kind == ResourceKind::kKey && r.resource.id == kSelf
                                       ? Resource::Key(member)
                                       : r.resource;
        const auto action = static_cast<Action>(a);
        EXPECT_EQ(Authorize(state_, Principal::Member(member), action, as_member).allowed,
                  Authorize(state_, Principal::Key(kSelf, group), action, r.resource).allowed)
            << info.name << " x " << ActionName(action) << " x " << r.name;
      }
    }
  }
}

}  // namespace
}  // namespace keytrail::domain
