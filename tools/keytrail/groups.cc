// keytrail groups create|list|get|set-rules|delete, keytrail members set|list|remove and
// keytrail authorize: groups with rules, members and the authorization question from the
// command line. Tables by default, the API's JSON with -o json.
//
// A rule is written ROLE or ROLE:ID[,ID...] (e.g. "namespace-admin:payments,search");
// --rule is repeatable.
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "server/http_client.h"
#include "tools/keytrail/client/api_call.h"
#include "tools/keytrail/client/output.h"
#include "tools/keytrail/commands.h"

namespace keytrail::cli {

using server::UrlEncode;
namespace {

using nlohmann::json;

json ParseRules(const std::vector<std::string>& rules) {
  json out = json::array();
  for (const std::string& text : rules) {
    const size_t colon = text.find(':');
    json rule = {{"role", text.substr(0, colon)}};
    if (colon != std::string::npos) {
      json resources = json::array();
      std::string rest = text.substr(colon + 1);
      size_t start = 0;
      while (start <= rest.size()) {
        const size_t comma = std::min(rest.find(',', start), rest.size());
        if (comma > start) resources.push_back(rest.substr(start, comma - start));
        start = comma + 1;
      }
      rule["resources"] = std::move(resources);
    }
    out.push_back(std::move(rule));
  }
  return out;
}

std::string RulesCell(const json& rules) {
  std::string out;
  for (const json& rule : rules) {
    if (!out.empty()) out += "; ";
    out += rule.value("role", "");
    if (rule.contains("resources")) out += ":" + Cell(rule["resources"]);
  }
  return out.empty() ? "-" : out;
}

struct GroupsOptions {
  ClientOptions client;
  std::string id;
  std::string name;
  std::string description;
  bool description_set = false;
  std::vector<std::string> rules;
  std::vector<std::string> groups;  // members set
  bool revoke_keys = false;         // members remove
  // authorize
  std::string key;
  std::string member;
  std::string action;
  std::string kind = "org";
  std::string resource_id;
  std::string ns;
  std::string as_of;  // RFC 3339: answer as things were then (from the audit trail)
};

std::string GroupPath(const GroupsOptions& o) {
  return OrgPath(o.client) + "/groups/" + UrlEncode(o.id);
}
std::string MemberPath(const GroupsOptions& o) {
  return OrgPath(o.client) + "/members/" + UrlEncode(o.id);
}

void PrintGroup(const ClientOptions& client, const json& group) {
  if (client.output == OutputFormat::kJson) return PrintJson(group);
  PrintFields({{"id", Cell(group["id"])},
               {"name", Cell(group["name"])},
               {"description", Cell(group["description"])},
               {"builtin", Cell(group["builtin"])},
               {"rules", RulesCell(group["rules"])},
               {"members", Cell(group["members"])}});
}

void PrintMember(const ClientOptions& client, const json& member) {
  if (client.output == OutputFormat::kJson) return PrintJson(member);
  PrintFields({{"id", Cell(member["id"])}, {"groups", Cell(member["groups"])}});
}

int CreateGroup(const GroupsOptions& o) {
  json body = {{"id", o.id}, {"rules", ParseRules(o.rules)}};
  if (!o.name.empty()) body["name"] = o.name;
  if (!o.description.empty()) body["description"] = o.description;
  ApiOutcome out = CallApi(o.client, "POST", OrgPath(o.client) + "/groups", body);
  if (out.ok()) PrintGroup(o.client, out.body);
  return out.exit_code;
}

int ListGroups(const GroupsOptions& o) {
  ApiOutcome out = CallApi(o.client, "GET", OrgPath(o.client) + "/groups");
  if (!out.ok()) return out.exit_code;
  if (o.client.output == OutputFormat::kJson) {
    PrintJson(out.body);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const json& g : out.body["groups"]) {
    rows.push_back({Cell(g["id"]), Cell(g["builtin"]), Cell(g["members"]), RulesCell(g["rules"])});
  }
  PrintTable({"id", "builtin", "members", "rules"}, rows);
  return kExitOk;
}

int GetGroup(const GroupsOptions& o) {
  ApiOutcome out = CallApi(o.client, "GET", GroupPath(o));
  if (out.ok()) PrintGroup(o.client, out.body);
  return out.exit_code;
}

int SetRules(const GroupsOptions& o) {
  json body = {{"rules", ParseRules(o.rules)}};
  if (o.description_set) body["description"] = o.description;
  ApiOutcome out = CallApi(o.client, "PUT", GroupPath(o), body);
  if (out.ok()) PrintGroup(o.client, out.body);
  return out.exit_code;
}

int DeleteGroup(const GroupsOptions& o) {
  ApiOutcome out = CallApi(o.client, "DELETE", GroupPath(o));
  if (out.ok() && o.client.output == OutputFormat::kTable) fmt::print("deleted {}\n", o.id);
  return out.exit_code;
}

int SetMember(const GroupsOptions& o) {
  ApiOutcome out = CallApi(o.client, "PUT", MemberPath(o), json{{"groups", o.groups}});
  if (out.ok()) PrintMember(o.client, out.body);
  return out.exit_code;
}

int ListMembers(const GroupsOptions& o) {
  ApiOutcome out = CallApi(o.client, "GET", OrgPath(o.client) + "/members");
  if (!out.ok()) return out.exit_code;
  if (o.client.output == OutputFormat::kJson) {
    PrintJson(out.body);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const json& m : out.body["members"]) rows.push_back({Cell(m["id"]), Cell(m["groups"])});
  PrintTable({"id", "groups"}, rows);
  return kExitOk;
}

int RemoveMember(const GroupsOptions& o) {
  ApiOutcome out =
      CallApi(o.client, "DELETE", MemberPath(o) + (o.revoke_keys ? "?revoke_keys=true" : ""));
  if (!out.ok()) return out.exit_code;
  if (o.client.output == OutputFormat::kJson) {
    if (o.revoke_keys) PrintJson(out.body);
  } else if (o.revoke_keys) {
    fmt::print("removed {}; revoked {} of its keys\n", o.id, Cell(out.body["revoked_keys"]));
  } else {
    fmt::print("removed {}\n", o.id);
  }
  return kExitOk;
}

// The link is shown once: the token in it sets the member's password.
int InviteMember(const GroupsOptions& o) {
  ApiOutcome out = CallApi(o.client, "POST", MemberPath(o) + "/invitations");
  if (!out.ok()) return out.exit_code;
  if (o.client.output == OutputFormat::kJson) {
    PrintJson(out.body);
  } else {
    fmt::print("invitation for member {} (valid until {}, once); it is shown only now:\n{}\n", o.id,
               Cell(out.body["expires_at"]), Cell(out.body["url"]));
  }
  return kExitOk;
}

// Exit 0 when allowed, 1 when denied (like a rejected request), so scripts can test it.
int Authorize(const GroupsOptions& o) {
  json resource = {{"kind", o.kind}};
  if (!o.resource_id.empty()) resource["id"] = o.resource_id;
  if (!o.ns.empty()) resource["namespace"] = o.ns;
  json body = {{"action", o.action}, {"resource", resource}};
  if (!o.key.empty()) body["key"] = o.key;
  if (!o.member.empty()) body["member"] = o.member;
  if (!o.as_of.empty()) body["as_of"] = o.as_of;
  ApiOutcome out = CallApi(o.client, "POST", "/v1/authorize", body);
  if (!out.ok()) return out.exit_code;
  if (o.client.output == OutputFormat::kJson) {
    PrintJson(out.body);
  } else {
    const json rule = out.body.value("rule", json());
    PrintFields({{"allowed", Cell(out.body["allowed"])},
                 {"group", Cell(out.body.value("group", json()))},
                 {"rule", rule.is_object() ? RulesCell(json::array({rule})) : "-"},
                 {"reason", Cell(out.body.value("reason", json()))},
                 {"as of", Cell(out.body.value("as_of", json("now")))}});
  }
  return out.body.value("allowed", false) ? kExitOk : kExitRejected;
}

// One subcommand and the options it fills (each its own: see keys.cc).
struct Subcommand {
  CLI::App* app;
  std::shared_ptr<GroupsOptions> o;
};

Subcommand Add(CLI::App& parent, int* rc, const char* name, const char* description,
               int (*run)(const GroupsOptions&), const char* id_name, bool changes) {
  auto o = std::make_shared<GroupsOptions>();
  CLI::App* command = parent.add_subcommand(name, description);
  AddClientOptions(*command, o->client, /*with_token=*/true, /*with_org=*/true, changes);
  if (id_name != nullptr) command->add_option(id_name, o->id, id_name)->required();
  command->callback([o, rc, run] { *rc = run(*o); });
  return {command, o};
}

}  // namespace

void AddGroups(CLI::App& app, int* rc) {
  CLI::App* groups = app.add_subcommand("groups", "create, list, inspect, change, delete groups");
  groups->require_subcommand(1);
  const char* kRuleHelp = "ROLE or ROLE:ID[,ID...]; repeatable (see docs/roles.md)";
  auto [create, c] =
      Add(*groups, rc, "create", "create a group with rules", CreateGroup, "id", true);
  create->add_option("--name", c->name, "display name (default: the id)");
  create->add_option("--description", c->description, "what the group is for");
  create->add_option("--rule", c->rules, kRuleHelp);
  Add(*groups, rc, "list", "list the org's groups and their rules", ListGroups, nullptr, false);
  Add(*groups, rc, "get", "show one group", GetGroup, "id", false);
  auto [set, s] = Add(*groups, rc, "set-rules",
                      "replace a group's rules (all of them; none = the group grants nothing)",
                      SetRules, "id", true);
  set->add_option("--rule", s->rules, kRuleHelp);
  set->add_option("--description", s->description, "a new description")
      ->each([o = s.get()](const std::string&) { o->description_set = true; });
  Add(*groups, rc, "delete", "delete a group without live keys or members", DeleteGroup, "id",
      true);

  CLI::App* members = app.add_subcommand("members", "set, list, remove, invite members");
  members->require_subcommand(1);
  auto [mset, m] =
      Add(*members, rc, "set", "set a member's groups (adds it if new)", SetMember, "member", true);
  mset->add_option("--group", m->groups, "a group of the member; repeatable")->required();
  Add(*members, rc, "list", "list the org's members", ListMembers, nullptr, false);
  auto [mremove, mr] = Add(*members, rc, "remove", "remove a member from all its groups",
                           RemoveMember, "member", true);
  mremove->add_flag("--revoke-keys", mr->revoke_keys,
                    "also revoke every live key the member created (admins only)");
  // Not idempotent on purpose (a retry could not show the link again): no Idempotency-Key.
  Add(*members, rc, "invite", "a one-time link (24 h) for the member to set its console password",
      InviteMember, "member", false);

  auto [authorize, a] = Add(app, rc, "authorize",
                            "may a key, a member or the caller do an action on a resource? "
                            "(exit 0 allowed, 1 denied)",
                            Authorize, nullptr, false);
  authorize->add_option("--key", a->key, "a key id of the org (default: the caller)");
  authorize->add_option("--member", a->member, "a member of the org");
  authorize->add_option("--action", a->action, "e.g. keys:create, graph:write")->required();
  authorize->add_option("--kind", a->kind, "org, namespace, graph, subgraph or key")
      ->capture_default_str();
  authorize->add_option("--id", a->resource_id, "the resource's id (key: its creator)");
  authorize->add_option("--namespace", a->ns, "the namespace of a graph or subgraph");
  authorize->add_option("--as-of", a->as_of,
                        "answer as things were at this RFC 3339 time (from the audit trail)");
}

}  // namespace keytrail::cli
