#include "engine/domain/roles.h"

#include <algorithm>

#include <fmt/format.h>

namespace keytrail::domain {
namespace {

using A = Action;
using K = ResourceKind;

constexpr std::array<std::string_view, kActionCount> kActionNames = {
    "keys:create", "keys:read",     "keys:rotate",      "keys:revoke",    "keys:move",
    "groups:read", "groups:manage", "members:read",     "members:manage", "audit:read",
    "graph:read",  "graph:write",   "subgraph:publish", "subgraph:check", "scim",
};

constexpr ActionSet kGraphAdmin = {A::kGraphRead, A::kGraphWrite, A::kSubgraphPublish,
                                   A::kSubgraphCheck};
constexpr ActionSet kOrgRead = {A::kKeysRead, A::kGroupsRead, A::kMembersRead, A::kGraphRead};
constexpr ActionSet kKeysAll = {A::kKeysCreate, A::kKeysRead, A::kKeysRotate, A::kKeysRevoke,
                                A::kKeysMove};

// THE catalogue. docs/roles.md must say the same (tests/unit/roles_test.cc checks it).
// scim is granted by no role: only a key's own "scim" permission grants it.
constexpr std::array<RoleInfo, kRoleCount> kCatalogue = {{
    {Role::kOrganizationAdmin,
     "organization-admin",
     K::kOrg,
     ActionSet::All() - ActionSet{A::kScim},
     {},
     "everything in the org"},
    {Role::kOrganizationDeveloper,
     "organization-developer",
     K::kOrg,
     kOrgRead | kGraphAdmin | ActionSet{A::kKeysCreate},
     {A::kKeysRotate, A::kKeysRevoke},
     "works on graphs; creates keys, rotates and revokes the keys it created"},
    {Role::kOrganizationApikeyManager,
     "organization-apikey-manager",
     K::kOrg,
     kOrgRead | kKeysAll,
     {},
     "manages every API key of the org; reads the rest"},
    {Role::kOrganizationViewer,
     "organization-viewer",
     K::kOrg,
     kOrgRead,
     {},
     "reads keys, groups, members and graphs"},
    {Role::kNamespaceAdmin,
     "namespace-admin",
     K::kNamespace,
     kGraphAdmin,
     {},
     "administers namespaces and every graph and subgraph in them"},
    {Role::kNamespaceViewer,
     "namespace-viewer",
     K::kNamespace,
     {A::kGraphRead},
     {},
     "reads namespaces and every graph and subgraph in them"},
    {Role::kGraphAdmin,
     "graph-admin",
     K::kGraph,
     {A::kGraphRead, A::kGraphWrite},
     {},
     "administers graphs"},
    {Role::kGraphViewer, "graph-viewer", K::kGraph, {A::kGraphRead}, {}, "reads graphs"},
    {Role::kSubgraphAdmin,
     "subgraph-admin",
     K::kSubgraph,
     kGraphAdmin,
     {},
     "administers subgraphs: change, publish, check"},
    {Role::kSubgraphPublisher,
     "subgraph-publisher",
     K::kSubgraph,
     {A::kGraphRead, A::kSubgraphPublish},
     {},
     "publishes subgraphs"},
    {Role::kSubgraphChecker,
     "subgraph-checker",
     K::kSubgraph,
     {A::kGraphRead, A::kSubgraphCheck},
     {},
     "runs checks against subgraphs"},
    {Role::kSubgraphViewer,
     "subgraph-viewer",
     K::kSubgraph,
     {A::kGraphRead},
     {},
     "reads subgraphs"},
}};
static_assert(
    [] {
      for (size_t i = 0; i < kCatalogue.size(); ++i) {
        if (static_cast<size_t>(kCatalogue[i].role) != i) return false;
        if (kCatalogue[i].actions.Has(A::kScim)) return false;
      }
      return true;
    }(),
    "the catalogue is indexed by Role, and no role grants scim");

constexpr std::array<BuiltinGroup, 4> kBuiltinGroups = {{
    {"admin", "built in: organization-admin", Role::kOrganizationAdmin},
    {"developer", "built in: organization-developer", Role::kOrganizationDeveloper},
    {"apikey-manager", "built in: organization-apikey-manager", Role::kOrganizationApikeyManager},
    {"viewer", "built in: organization-viewer", Role::kOrganizationViewer},
}};

bool ValidResourceId(std::string_view id) {
  if (id.empty() || id.size() > kMaxResourceIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

Rejection Reject(RejectionCode code, std::string message) { return {code, std::move(message)}; }

}  // namespace

std::string_view ActionName(Action action) {
  const auto i = static_cast<size_t>(action);
  return i < kActionNames.size() ? kActionNames[i] : std::string_view("unknown");
}

std::optional<Action> ParseAction(std::string_view name) {
  for (size_t i = 0; i < kActionNames.size(); ++i) {
    if (kActionNames[i] == name) return static_cast<Action>(i);
  }
  return std::nullopt;
}

std::string_view ResourceKindName(ResourceKind kind) {
  switch (kind) {
    case K::kOrg:
      return "org";
    case K::kNamespace:
      return "namespace";
    case K::kGraph:
      return "graph";
    case K::kSubgraph:
      return "subgraph";
    case K::kKey:
      return "key";
  }
  return "unknown";
}

std::span<const RoleInfo> RoleCatalogue() { return kCatalogue; }

const RoleInfo& InfoOf(Role role) { return kCatalogue[static_cast<size_t>(role)]; }

std::optional<Role> ParseRole(std::string_view name) {
  for (const RoleInfo& info : kCatalogue) {
    if (info.name == name) return info.role;
  }
  return std::nullopt;
}

std::variant<std::vector<Rule>, Rejection> ValidateRules(std::span<const RuleSpec> specs) {
  std::vector<Rule> rules;
  rules.reserve(specs.size());
  std::array<bool, kRoleCount> seen{};
  for (const RuleSpec& spec : specs) {
    const std::optional<Role> role = ParseRole(spec.role);
    if (!role) {
      return Reject(RejectionCode::kUnknownRole, fmt::format("unknown role '{}'", spec.role));
    }
    const RoleInfo& info = InfoOf(*role);
    if (info.scope == K::kOrg && !spec.resources.empty()) {
      return Reject(
          RejectionCode::kRoleNotScopable,
          fmt::format("role '{}' is org-wide and cannot be scoped to resources", info.name));
    }
    if (spec.resources.size() > kMaxResourcesPerRule) {
      return Reject(RejectionCode::kInvalidResource,
                    fmt::format("a rule may list at most {} resources", kMaxResourcesPerRule));
    }
    for (const std::string& id : spec.resources) {
      if (!ValidResourceId(id)) {
        return Reject(RejectionCode::kInvalidResource,
                      fmt::format("resource ids of role '{}' must be 1-{} visible ASCII characters",
                                  info.name, kMaxResourceIdLength));
      }
    }
    if (seen[static_cast<size_t>(*role)]) {
      return Reject(RejectionCode::kDuplicateRole,
                    fmt::format("role '{}' appears twice; a group has one rule per role "
                                "(list all its resources in that rule)",
                                info.name));
    }
    seen[static_cast<size_t>(*role)] = true;
    Rule rule{*role, spec.resources};
    std::sort(rule.resources.begin(), rule.resources.end());
    rule.resources.erase(std::unique(rule.resources.begin(), rule.resources.end()),
                         rule.resources.end());
    rules.push_back(std::move(rule));
  }
  std::sort(rules.begin(), rules.end(),
            [](const Rule& a, const Rule& b) { return a.role < b.role; });
  return rules;
}

std::vector<RuleSpec> ToSpecs(std::span<const Rule> rules) {
  std::vector<RuleSpec> specs;
  specs.reserve(rules.size());
  for (const Rule& rule : rules)
    specs.push_back({std::string(RoleName(rule.role)), rule.resources});
  return specs;
}

bool Covers(const Rule& rule, const Resource& resource) {
  const ResourceKind scope = InfoOf(rule.role).scope;
  std::string_view id;  // what the rule's resource ids are compared with
  switch (scope) {
    case K::kOrg:
      return true;
    case K::kNamespace:
      if (resource.kind != K::kNamespace && resource.kind != K::kGraph &&
          resource.kind != K::kSubgraph) {
        return false;
      }
      id = resource.namespace_id;
      break;
    case K::kGraph:
    case K::kSubgraph:
      if (resource.kind != scope) return false;
      id = resource.id;
      break;
    case K::kKey:
      return false;  // no role is scoped to keys
  }
  if (!rule.scoped()) return true;
  if (id.empty()) return false;
  return std::binary_search(rule.resources.begin(), rule.resources.end(), id,
                            [](std::string_view a, std::string_view b) { return a < b; });
}

Grants Grants::Of(std::span<const Rule> rules) {
  Grants g;
  for (const Rule& rule : rules) {
    const RoleInfo& info = InfoOf(rule.role);
    g.any |= info.actions | info.own_key_actions;
    g.admin |= rule.role == Role::kOrganizationAdmin;
    if (info.scope == K::kOrg) {
      for (ActionSet& on_kind : g.everywhere) on_kind |= info.actions;
      g.own_keys |= info.own_key_actions;
    } else if (!rule.scoped()) {
      g.everywhere[static_cast<size_t>(info.scope)] |= info.actions;
      if (info.scope == K::kNamespace) {  // every graph and subgraph is in some namespace
        g.everywhere[static_cast<size_t>(K::kGraph)] |= info.actions;
        g.everywhere[static_cast<size_t>(K::kSubgraph)] |= info.actions;
      }
    }
  }
  g.own_keys = g.own_keys - g.On(K::kKey);
  return g;
}

std::span<const BuiltinGroup> BuiltinGroups() { return kBuiltinGroups; }

}  // namespace keytrail::domain
