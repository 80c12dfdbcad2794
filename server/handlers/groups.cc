// Groups and members: GET/POST /v1/orgs/{org}/groups, GET/PUT/DELETE .../groups/{group},
// GET /v1/orgs/{org}/members, GET/PUT/DELETE .../members/{member}; and POST /v1/authorize.
//
// Reads come from the writer's published group directory (Engine::Groups), which holds
// every acknowledged change. Commands are authorized by the writer (least privilege,
// command_policy.h); reads need groups:read / members:read.
#include <fmt/format.h>

#include "engine/domain/authorize.h"
#include "server/handlers/handlers.h"
#include "server/handlers/point_in_time.h"
#include "server/json_io.h"
#include "server/problem.h"
#include "server/wire_format.h"

namespace keytrail::server {
namespace {

using nlohmann::json;
using Kind = CommandOutcome::Kind;

json GroupToJson(const domain::GroupState& group) {
  return json{{"id", group.id},
              {"name", group.name},
              {"description", group.description},
              {"builtin", group.builtin},
              {"rules", RulesToJson(group.rules)},
              {"members", group.members}};
}

json MemberToJson(std::string_view id, const domain::MemberState& member) {
  json out = {{"id", std::string(id)},
              {"groups", member.groups},
              {"active", member.profile.active},
              {"provisioned", member.provisioned}};
  if (member.provisioned) {
    out["profile"] = {{"display_name", member.profile.display_name},
                      {"emails", member.profile.emails},
                      {"external_id", member.profile.external_id}};
  }
  return out;
}

// The body's "rules": [{role, resources?}]; nullopt (and a recorded error) if malformed.
std::optional<std::vector<domain::RuleSpec>> ReadRules(BodyReader& body, bool required) {
  const json* rules = body.Member("rules", required);
  if (rules == nullptr) return std::nullopt;
  if (!rules->is_array()) {
    body.Fail("'rules' must be an array of {role, resources}");
    return std::nullopt;
  }
  std::vector<domain::RuleSpec> out;
  for (const json& rule : *rules) {
    domain::RuleSpec spec;
    bool ok = rule.is_object() && rule.contains("role") && rule["role"].is_string();
    if (ok) {
      for (const auto& [name, value] : rule.items()) {
        if (name == "role") continue;
        if (name != "resources" || !value.is_array()) {
          ok = false;
          break;
        }
        for (const json& id : value) ok = ok && id.is_string();
      }
    }
    if (!ok) {
      body.Fail("each rule is {\"role\": string, \"resources\": [string]} (resources optional)");
      return std::nullopt;
    }
    spec.role = rule["role"].get<std::string>();
    if (rule.contains("resources")) spec.resources = rule["resources"];
    out.push_back(std::move(spec));
  }
  return out;
}

// The answer to a group or member command: a rejection or failure as a problem, or
// nullopt when applied (or replayed from the same kind of command).
std::optional<HttpResponse> Refusal(const Result<CommandOutcome>& outcome, fb::Payload expected) {
  if (!outcome.ok()) return StatusProblem(outcome.status());
  if (outcome->kind == Kind::kRejected) return RejectionProblem(*outcome->rejection);
  if (outcome->kind == Kind::kReplayed && outcome->first_event != expected) {
    return Problem(422, "idempotency_key_reused",
                   "this Idempotency-Key was used for a different request");
  }
  return std::nullopt;
}

HttpResponse NoContent() {
  HttpResponse response;
  response.status = 204;
  return response;
}

// The caller in the path's org with its command id, for commands.
struct Start {
  Caller caller;
  std::string command_id;
};

std::variant<Start, HttpResponse> Begin(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.CallerInOrg(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  Start start{std::move(std::get<Caller>(who)), {}};
  auto command_id = ctx.CommandId(start.caller, request);
  if (auto* refused = std::get_if<HttpResponse>(&command_id)) return std::move(*refused);
  start.command_id = std::move(std::get<std::string>(command_id));
  return start;
}

// The caller in the path's org, allowed `action` on the org.
std::variant<Caller, HttpResponse> Reader(ApiContext& ctx, const RoutedRequest& request,
                                          domain::Action action) {
  auto who = ctx.CallerInOrg(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  if (auto denied = Authorize(ctx.engine, std::get<Caller>(who), action, domain::Resource::Org())) {
    return std::move(*denied);
  }
  return std::move(std::get<Caller>(who));
}

HttpResponse GroupAnswer(ApiContext& ctx, const std::string& org, std::string_view id, int status) {
  const auto directory = ctx.engine.Groups(org);
  const domain::GroupState* group = directory->FindGroup(id);
  if (group == nullptr) return Problem(404, "group_not_found", fmt::format("no group '{}'", id));
  return JsonResponse(status, GroupToJson(*group));
}

}  // namespace

HttpResponse ListGroupsHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = Reader(ctx, request, domain::Action::kGroupsRead);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const auto directory = ctx.engine.Groups(std::get<Caller>(who).org);
  json groups = json::array();
  for (const auto& [id, group] : directory->groups) {
    if (!group.deleted) groups.push_back(GroupToJson(group));
  }
  return JsonResponse(200, json{{"groups", std::move(groups)}});
}

HttpResponse GetGroupHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = Reader(ctx, request, domain::Action::kGroupsRead);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  return GroupAnswer(ctx, std::get<Caller>(who).org, request.Param("group"), 200);
}

HttpResponse CreateGroupHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto started = Begin(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&started)) return std::move(*refused);
  Start& start = std::get<Start>(started);
  BodyReader body(request.http.body, {"id", "name", "description", "rules"});
  auto id = body.String("id", true);
  auto name = body.String("name", false);
  auto description = body.String("description", false);
  auto rules = ReadRules(body, false);
  if (!body.ok()) return body.problem();
  domain::CreateGroup command{*id, name.value_or(""), description.value_or(""),
                              rules.value_or(std::vector<domain::RuleSpec>{})};
  return ctx.Execute(ctx.CommandFor(start.caller, start.command_id, request), std::move(command),
                     [&ctx, org = start.caller.org, id = *id](Result<CommandOutcome>& outcome) {
                       if (auto refused = Refusal(outcome, fb::Payload::GroupCreated))
                         return std::move(*refused);
                       HttpResponse response =
                           GroupAnswer(ctx, org, id, outcome->kind == Kind::kApplied ? 201 : 200);
                       response.SetHeader("Location",
                                          fmt::format("/v1/orgs/{}/groups/{}", org, id));
                       return response;
                     });
}

HttpResponse ChangeGroupHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto started = Begin(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&started)) return std::move(*refused);
  Start& start = std::get<Start>(started);
  BodyReader body(request.http.body, {"rules", "description"});
  auto rules = ReadRules(body, true);
  auto description = body.String("description", false);
  if (!body.ok()) return body.problem();
  const std::string id(request.Param("group"));
  return ctx.Execute(ctx.CommandFor(start.caller, start.command_id, request),
                     domain::ChangeGroupRules{id, std::move(*rules), description},
                     [&ctx, org = start.caller.org, id](Result<CommandOutcome>& outcome) {
                       if (auto refused = Refusal(outcome, fb::Payload::GroupRulesChanged)) {
                         return std::move(*refused);
                       }
                       return GroupAnswer(ctx, org, id, 200);
                     });
}

HttpResponse DeleteGroupHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto started = Begin(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&started)) return std::move(*refused);
  Start& start = std::get<Start>(started);
  return ctx.Execute(ctx.CommandFor(start.caller, start.command_id, request),
                     domain::DeleteGroup{std::string(request.Param("group"))},
                     [](Result<CommandOutcome>& outcome) {
                       return Refusal(outcome, fb::Payload::GroupDeleted).value_or(NoContent());
                     });
}

HttpResponse ListMembersHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = Reader(ctx, request, domain::Action::kMembersRead);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const auto directory = ctx.engine.Groups(std::get<Caller>(who).org);
  json members = json::array();
  for (const auto& [id, member] : directory->members) {
    if (member.Exists()) members.push_back(MemberToJson(id, member));
  }
  return JsonResponse(200, json{{"members", std::move(members)}});
}

HttpResponse GetMemberHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = Reader(ctx, request, domain::Action::kMembersRead);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const auto directory = ctx.engine.Groups(std::get<Caller>(who).org);
  const std::string_view id = request.Param("member");
  const domain::MemberState* member = directory->FindMember(id);
  if (member == nullptr) {
    return Problem(404, "member_not_found", fmt::format("no member '{}'", id));
  }
  return JsonResponse(200, MemberToJson(id, *member));
}

HttpResponse SetMemberHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto started = Begin(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&started)) return std::move(*refused);
  Start& start = std::get<Start>(started);
  BodyReader body(request.http.body, {"groups"});
  auto groups = body.StringArray("groups", true);
  if (!body.ok()) return body.problem();
  const std::string id(request.Param("member"));
  return ctx.Execute(ctx.CommandFor(start.caller, start.command_id, request),
                     domain::SetMemberGroups{id, std::move(*groups)},
                     [&ctx, org = start.caller.org, id](Result<CommandOutcome>& outcome) {
                       if (auto refused = Refusal(outcome, fb::Payload::MemberGroupsChanged)) {
                         if (outcome.ok() && outcome->kind == Kind::kReplayed &&
                             outcome->first_event == fb::Payload::NONE) {
                           // A retried no-op: nothing to compare, answer as now.
                         } else {
                           return std::move(*refused);
                         }
                       }
                       const auto directory = ctx.engine.Groups(org);
                       const domain::MemberState* member = directory->FindMember(id);
                       if (member == nullptr) {
                         return Problem(404, "member_not_found", fmt::format("no member '{}'", id));
                       }
                       return JsonResponse(200, MemberToJson(id, *member));
                     });
}

// ?revoke_keys=true (admins only): the member's live keys are revoked with it, and the
// answer is 200 {revoked_keys: n} instead of 204.
HttpResponse RemoveMemberHandler(ApiContext& ctx, const RoutedRequest& request) {
  const auto revoke = request.Query("revoke_keys");
  if (revoke && *revoke != "true" && *revoke != "false") {
    return Problem(400, "invalid_request", "revoke_keys must be true or false");
  }
  const bool revoke_keys = revoke == "true";
  auto started = Begin(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&started)) return std::move(*refused);
  Start& start = std::get<Start>(started);
  return ctx.Execute(ctx.CommandFor(start.caller, start.command_id, request),
                     domain::RemoveMember{std::string(request.Param("member")), revoke_keys},
                     [revoke_keys](Result<CommandOutcome>& outcome) {
                       if (auto refused = Refusal(outcome, fb::Payload::MemberGroupsChanged))
                         return *refused;
                       if (!revoke_keys) return NoContent();
                       const size_t revoked =
                           outcome->offsets.empty() ? 0 : outcome->offsets.size() - 1;
                       return JsonResponse(200, nlohmann::json{{"revoked_keys", revoked}});
                     });
}

namespace {

// Key `id` as a principal at `at`: its group while it is active then (a revoked or expired
// key is denied everything), and its scim permission.
domain::Principal KeyPrincipal(const model::KeyRecord& key, std::string_view id, Micros at) {
  const bool active = DisplayStatus(key, at) == "active";
  const bool scim =
      std::find(key.permissions.begin(), key.permissions.end(), "scim") != key.permissions.end();
  return domain::Principal::Key(id, active ? std::string_view(key.group_id) : "", scim);
}

// The answer to an authorize question.
json AuthorizeAnswer(const domain::AccessDecision& d) {
  json rule = nullptr;
  if (d.allowed && d.grant.rule != nullptr) rule = RulesToJson({d.grant.rule, 1})[0];
  return json{{"allowed", d.allowed},
              {"group", d.allowed ? json(std::string(d.grant.group)) : json(nullptr)},
              {"rule", rule},
              {"reason", d.allowed ? json(nullptr) : json(domain::DenyReasonName(d.reason))}};
}

// The authorize question as of `at`: the key (or member) and the org's groups and members
// as the org's events up to then fold them (Queries::KeyAsOf, DirectoryAsOf), evaluated
// by the same domain::Authorize. A key that did not exist yet is 404 key_not_found.
HttpResponse AuthorizeAsOf(ApiContext& ctx, const Caller& caller,
                           const std::optional<std::string>& key_id,
                           const std::optional<std::string>& member, domain::Action action,
                           const domain::Resource& resource, Micros at) {
  auto directory = ctx.engine.queries().DirectoryAsOf(caller.org, at);
  if (!directory.ok()) return StatusProblem(directory.status());
  const std::string& id = key_id ? *key_id : caller.key_id;
  std::optional<model::KeyRecord> key;
  domain::Principal principal;
  if (member || (!key_id && caller.is_member())) {
    principal = domain::Principal::Member(member ? *member : caller.member);
  } else {
    auto then = ctx.engine.queries().KeyAsOf(caller.org, id, at);
    if (!then.ok()) return StatusProblem(then.status());
    if (!then->has_value()) {
      return Problem(
          404, "key_not_found",
          fmt::format("no key '{}' in org '{}' at {}", id, caller.org, FormatRfc3339(at)));
    }
    key = std::move(**then);
    principal = KeyPrincipal(*key, id, at);
    if (!key_id && !caller.on_behalf_of.empty()) {
      principal = principal.OnBehalfOf(caller.on_behalf_of);
    }
  }
  json answer = AuthorizeAnswer(domain::Authorize(*directory, principal, action, resource));
  answer["as_of"] = FormatRfc3339(at);
  return JsonResponse(200, answer);
}

}  // namespace

// POST /v1/authorize {key | member, action, resource: {kind, id?, namespace?}, as_of?}:
// may this key (id, of the caller's org) or member do the action on the resource, now or
// at the RFC 3339 time as_of? Without key and member, the caller itself. Asking about
// another key needs keys:read, about a member members:read (the caller's rights now).
HttpResponse AuthorizeHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.Authenticated(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  BodyReader body(request.http.body, {"key", "member", "action", "resource", "as_of"});
  auto key_id = body.String("key", false);
  auto member = body.String("member", false);
  auto action_name = body.String("action", true);
  auto as_of = body.String("as_of", false);
  const json* resource_json = body.Member("resource", true);
  std::string kind, id, ns;
  if (resource_json != nullptr) {
    bool ok = resource_json->is_object();
    if (ok) {
      for (const auto& [name, value] : resource_json->items()) {
        if ((name != "kind" && name != "id" && name != "namespace") || !value.is_string()) {
          ok = false;
        }
      }
    }
    if (!ok || !resource_json->contains("kind")) {
      body.Fail("'resource' is {\"kind\": string, \"id\": string, \"namespace\": string}");
    } else {
      kind = (*resource_json)["kind"];
      id = resource_json->value("id", "");
      ns = resource_json->value("namespace", "");
    }
  }
  if (!body.ok()) return body.problem();
  if (key_id && member) {
    return Problem(400, "invalid_request", "ask about a key or a member, not both");
  }
  auto action = domain::ParseAction(*action_name);
  if (!action) {
    return Problem(422, "invalid_action", fmt::format("no action '{}'", *action_name));
  }
  domain::Resource resource;
  if (kind == "org") {
    resource = domain::Resource::Org();
  } else if (kind == "namespace") {
    resource = domain::Resource::Namespace(id);
  } else if (kind == "graph") {
    resource = domain::Resource::Graph(ns, id);
  } else if (kind == "subgraph") {
    resource = domain::Resource::Subgraph(ns, id);
  } else if (kind == "key") {
    resource = domain::Resource::Key(id);
  } else {
    return Problem(422, "invalid_resource",
                   "resource kind must be org, namespace, graph, subgraph or key");
  }
  if (kind != "org" && id.empty()) {
    return Problem(422, "invalid_resource", "the resource needs an id");
  }
  if (key_id || member) {
    const domain::Action needed = key_id ? domain::Action::kKeysRead : domain::Action::kMembersRead;
    if (auto denied = Authorize(ctx.engine, caller, needed, domain::Resource::Org())) {
      return std::move(*denied);
    }
  }
  if (as_of) {
    // A past answer folds the org's history of groups and members: an audit question.
    if (auto denied =
            Authorize(ctx.engine, caller, domain::Action::kAuditRead, domain::Resource::Org())) {
      return std::move(*denied);
    }
    auto at = ParseAsOf(*as_of, ctx.clock.NowMicros());
    if (auto* bad = std::get_if<HttpResponse>(&at)) return std::move(*bad);
    return AuthorizeAsOf(ctx, caller, key_id, member, *action, resource, std::get<Micros>(at));
  }

  domain::Principal principal = PrincipalOf(caller);
  model::KeyRecord key;
  if (key_id) {
    auto loaded = ctx.LoadKey(caller, *key_id);
    if (auto* missing = std::get_if<HttpResponse>(&loaded)) return std::move(*missing);
    key = std::move(std::get<model::KeyRecord>(loaded));
    principal = KeyPrincipal(key, *key_id, ctx.clock.NowMicros());
  } else if (member) {
    principal = domain::Principal::Member(*member);
  }
  const Authorization answer = ctx.engine.Authorize(caller.org, principal, *action, resource);
  return JsonResponse(200, AuthorizeAnswer(answer.decision));
}

}  // namespace keytrail::server
