// The permission model's vocabulary: actions, the role catalogue, resources and rules.
//
// The catalogue (RoleCatalogue) is the one table in code that says what each built-in
// role grants; docs/roles.md is the same table for people, and a unit test keeps the two
// equal. Nothing else in keytrail may decide what a role means.
//
// Resource model (docs/roles.md explains it with examples):
//   - Resources are of one kind: the org itself, a namespace, a graph, a subgraph, or a
//     key. Ids are opaque to keytrail and matched exactly.
//   - An organization-* role is org-level: it covers every resource of the org and can
//     never be scoped.
//   - A namespace-* role covers namespaces and every graph and subgraph inside them
//     (Resource::namespace_id says which namespace a graph or subgraph is in).
//   - A graph-* role covers graphs only; a subgraph-* role covers subgraphs only.
//   - A rule without resources covers every resource its role covers; with resources,
//     only those (namespace ids for namespace-*, graph ids for graph-*, subgraph ids for
//     subgraph-*).
//   - Some key actions are granted on "own" keys only: keys whose creator is the
//     principal asking (Resource::Key(created_by)).
//
// Pure data and functions; no I/O. Everything here is safe to call from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/domain/rejection.h"

namespace keytrail::domain {

// What a principal may be allowed to do. Appended only: the order is the column order
// of docs/roles.md and the bit order of ActionSet.
enum class Action : uint8_t {
  kKeysCreate,
  kKeysRead,
  kKeysRotate,
  kKeysRevoke,
  kKeysMove,  // change a key's group
  kGroupsRead,
  kGroupsManage,
  kMembersRead,
  kMembersManage,
  kAuditRead,
  kGraphRead,  // read a namespace, graph or subgraph
  kGraphWrite,
  kSubgraphPublish,
  kSubgraphCheck,
  kScim,  // granted by no role: only by a key's "scim" permission
};
inline constexpr size_t kActionCount = 15;

// "keys:create", "graph:read", "scim", ...
std::string_view ActionName(Action action);
// The action named `name`; nullopt if there is none.
std::optional<Action> ParseAction(std::string_view name);

// A set of actions as a bitset: cheap to copy, compare and combine.
class ActionSet {
 public:
  constexpr ActionSet() = default;
  constexpr ActionSet(std::initializer_list<Action> actions) {
    for (Action a : actions) bits_ |= Bit(a);
  }
  static constexpr ActionSet All() { return FromBits((1u << kActionCount) - 1); }
  static constexpr ActionSet FromBits(uint32_t bits) {
    ActionSet s;
    s.bits_ = bits;
    return s;
  }

  constexpr bool Has(Action a) const { return (bits_ & Bit(a)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr uint32_t bits() const { return bits_; }
  constexpr bool IsSubsetOf(ActionSet other) const { return (bits_ & ~other.bits_) == 0; }

  constexpr ActionSet& operator|=(ActionSet o) {
    bits_ |= o.bits_;
    return *this;
  }
  friend constexpr ActionSet operator|(ActionSet a, ActionSet b) { return a |= b; }
  friend constexpr ActionSet operator&(ActionSet a, ActionSet b) {
    return FromBits(a.bits_ & b.bits_);
  }
  friend constexpr ActionSet operator-(ActionSet a, ActionSet b) {
    return FromBits(a.bits_ & ~b.bits_);
  }
  friend constexpr bool operator==(ActionSet, ActionSet) = default;

 private:
  static constexpr uint32_t Bit(Action a) { return 1u << static_cast<uint8_t>(a); }
  uint32_t bits_ = 0;
};

// The kinds of resource an action applies to.
enum class ResourceKind : uint8_t { kOrg, kNamespace, kGraph, kSubgraph, kKey };
inline constexpr size_t kResourceKindCount = 5;

// "org", "namespace", "graph", "subgraph", "key".
std::string_view ResourceKindName(ResourceKind kind);

// The built-in roles, in catalogue order (most powerful org role first). Appended only.
enum class Role : uint8_t {
  kOrganizationAdmin,
  kOrganizationDeveloper,
  kOrganizationApikeyManager,
  kOrganizationViewer,
  kNamespaceAdmin,
  kNamespaceViewer,
  kGraphAdmin,
  kGraphViewer,
  kSubgraphAdmin,
  kSubgraphPublisher,
  kSubgraphChecker,
  kSubgraphViewer,
};
inline constexpr size_t kRoleCount = 12;

// One row of the catalogue.
struct RoleInfo {
  Role role;
  std::string_view name;  // "organization-admin", ...
  // kOrg: an org-level role, which covers everything and cannot be scoped. Otherwise
  // the kind of resource its rules' resource ids name.
  ResourceKind scope;
  ActionSet actions;          // granted on every resource the rule covers
  ActionSet own_key_actions;  // granted only on keys the principal created
  std::string_view summary;   // one line for docs and help texts
};

// The catalogue, indexed by Role (RoleCatalogue()[int(role)].role == role).
std::span<const RoleInfo> RoleCatalogue();
const RoleInfo& InfoOf(Role role);
inline std::string_view RoleName(Role role) { return InfoOf(role).name; }
// The role named `name`; nullopt if there is none. Names are case-sensitive.
std::optional<Role> ParseRole(std::string_view name);

// A validated rule: a role, optionally scoped to resources. `resources` is sorted and
// free of duplicates; empty means every resource the role covers. An org-level role
// never has resources.
struct Rule {
  Role role = Role::kOrganizationViewer;
  std::vector<std::string> resources;

  bool scoped() const { return !resources.empty(); }
  friend bool operator==(const Rule&, const Rule&) = default;
};

// A rule as a caller writes it (HTTP body, CLI flag), before validation.
struct RuleSpec {
  std::string role;
  std::vector<std::string> resources;
  friend bool operator==(const RuleSpec&, const RuleSpec&) = default;
};

inline constexpr size_t kMaxResourcesPerRule = 100;
inline constexpr size_t kMaxResourceIdLength = 128;

// Validates a group's rules and returns them in canonical form: sorted by Role, each
// rule's resources sorted and deduplicated. An empty list is valid (the group grants
// nothing). Rejections, checked rule by rule in the given order:
//   unknown_role       the role is not in the catalogue
//   role_not_scopable  an organization-* role was given resources
//   invalid_resource   a resource id is not 1-128 visible ASCII characters (0x21-0x7e),
//                      or a rule lists more than kMaxResourcesPerRule ids
//   duplicate_role     the role already appeared in an earlier rule
std::variant<std::vector<Rule>, Rejection> ValidateRules(std::span<const RuleSpec> specs);

// The caller-side form of validated rules (role names), e.g. to show them.
std::vector<RuleSpec> ToSpecs(std::span<const Rule> rules);

// What an action is asked about. Ids are views: they must outlive the Resource (it is
// made for one Authorize call, so the hot path copies nothing).
struct Resource {
  ResourceKind kind = ResourceKind::kOrg;
  std::string_view id;            // the namespace / graph / subgraph id; kKey: its creator
  std::string_view namespace_id;  // the namespace holding it (= id for a namespace)

  // The org as a whole: org-level actions (keys:create, groups:manage, audit:read, ...).
  static constexpr Resource Org() { return {}; }
  static constexpr Resource Namespace(std::string_view ns) {
    return {ResourceKind::kNamespace, ns, ns};
  }
  static constexpr Resource Graph(std::string_view ns, std::string_view graph) {
    return {ResourceKind::kGraph, graph, ns};
  }
  static constexpr Resource Subgraph(std::string_view ns, std::string_view subgraph) {
    return {ResourceKind::kSubgraph, subgraph, ns};
  }
  // An existing key, known by its creator (KeyCreated.created_by), for key actions that
  // some roles grant on own keys only.
  static constexpr Resource Key(std::string_view created_by) {
    return {ResourceKind::kKey, created_by, {}};
  }
};

// Whether `rule` reaches `resource` (see the resource model above); says nothing about
// actions. No allocation.
bool Covers(const Rule& rule, const Resource& resource);

// What a set of rules grants, precomputed once per group so that Authorize can refuse
// most requests with one bit test and the least-privilege checks need no rule scans
// for unscoped grants.
struct Grants {
  // Actions granted on every resource of a kind (from org-level and unscoped rules).
  std::array<ActionSet, kResourceKindCount> everywhere{};
  ActionSet own_keys;  // key actions granted on own keys only (beyond everywhere[kKey])
  ActionSet any;       // every action granted on some resource
  bool admin = false;  // holds organization-admin

  static Grants Of(std::span<const Rule> rules);
  ActionSet On(ResourceKind kind) const { return everywhere[static_cast<size_t>(kind)]; }
};

// A group every org is created with (by CreateOrg). Built-in groups cannot be changed or
// deleted, so an org always has an "admin" group that holds organization-admin.
struct BuiltinGroup {
  std::string_view id;
  std::string_view description;
  Role role;  // its one rule, unscoped
};
std::span<const BuiltinGroup> BuiltinGroups();  // admin, developer, apikey-manager, viewer

}  // namespace keytrail::domain
