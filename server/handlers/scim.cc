// SCIM 2.0 (RFC 7643, 7644) under /scim/v2: an identity provider provisions the members
// and groups of the org of its key, which must hold the `scim` permission.
//
// A SCIM User is a member (userName = id = the member id); a SCIM Group is the group of
// the same id. Every change is a command through the org's writer (ProvisionMember,
// DeprovisionMember, ProvisionGroup, DeprovisionGroup), authorized there against the key
// (AuthorizeCommand), so the audit trail names the SCIM key as the actor. Reads come from
// the org's group directory, which holds members' profiles.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "server/handlers/handlers.h"
#include "server/json_io.h"
#include "server/problem.h"
#include "server/scim/filter.h"
#include "server/scim/resources.h"

namespace keytrail::server {
namespace {

using nlohmann::json;
using Kind = CommandOutcome::Kind;
using scim::kGroupSchema;
using scim::kUserSchema;
using scim::Lower;

constexpr std::string_view kListSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
constexpr std::string_view kErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error";
constexpr std::string_view kPatchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
constexpr size_t kMaxPageCount = 200;

HttpResponse ScimJson(int status, const json& body) {
  HttpResponse response = JsonResponse(status, body);
  response.content_type = "application/scim+json";
  return response;
}

// RFC 7644 section 3.12: status as a string, scimType where one applies.
HttpResponse ScimError(int status, std::string_view scim_type, std::string_view detail) {
  json body = {{"schemas", {kErrorSchema}}, {"status", std::to_string(status)}, {"detail", detail}};
  if (!scim_type.empty()) body["scimType"] = scim_type;
  return ScimJson(status, body);
}

// A problem+json refusal (authentication, the writer) in SCIM's error format.
HttpResponse AsScimError(const HttpResponse& problem) {
  const json body = json::parse(problem.body, nullptr, false);
  const std::string detail =
      body.is_object() && body.contains("detail") && body["detail"].is_string()
          ? body["detail"].get<std::string>()
          : std::string("request refused");
  HttpResponse out = ScimError(problem.status, "", detail);
  for (const HttpHeader& header : problem.headers) {
    if (header.name == "Retry-After" || header.name == "WWW-Authenticate") {
      out.SetHeader(header.name, header.value);
    }
  }
  return out;
}

// A rejection of a SCIM command, with the scimType that fits it.
HttpResponse ScimRejection(const domain::Rejection& rejection) {
  using C = domain::RejectionCode;
  switch (rejection.code) {
    case C::kMemberExists:
    case C::kGroupExists:
      return ScimError(409, "uniqueness", rejection.message);
    case C::kMemberNotFound:
    case C::kGroupNotFound:
      return ScimError(404, "", rejection.message);
    case C::kForbidden:
    case C::kNotProvisioned:
      return ScimError(403, "", rejection.message);
    case C::kStaleVersion:
      return ScimError(412, "", rejection.message);
    case C::kGroupBuiltin:
      return ScimError(400, "mutability", rejection.message);
    case C::kGroupInUse:
      return ScimError(409, "", rejection.message);
    default:
      return ScimError(400, "invalidValue", rejection.message);
  }
}

HttpResponse ScimOutcome(Result<CommandOutcome>& outcome) {
  if (!outcome.ok()) return AsScimError(StatusProblem(outcome.status()));
  return ScimRejection(*outcome->rejection);
}

// --- who may call --------------------------------------------------------------------

// The SCIM caller: a key of the org holding `scim`; anything else is refused in SCIM's
// format (no key: 401; a session or another key: 403).
std::variant<Caller, HttpResponse> ScimCaller(ApiContext& ctx, const RoutedRequest& request) {
  if (!BearerToken(request.http)) {
    HttpResponse refused =
        ScimError(401, "", "a SCIM request needs a key with the scim permission");
    refused.SetHeader("WWW-Authenticate", "Bearer realm=\"keytrail\"");
    return refused;
  }
  auto who = ctx.Authenticated(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return AsScimError(*refused);
  Caller& caller = std::get<Caller>(who);
  if (caller.is_member() || !caller.scim) {
    return ScimError(403, "", "only a key with the scim permission may call the SCIM API");
  }
  return std::move(caller);
}

std::string BaseUrl(ApiContext& ctx, const RoutedRequest& request) {
  return ctx.PublicUrl(request.http) + "/scim/v2";
}

// --- Users -----------------------------------------------------------------------------

// A resource-mapping refusal as SCIM's error (400 with its scimType).
HttpResponse ScimFault(const scim::Fault& fault) {
  return ScimError(400, fault.scim_type, fault.detail);
}

std::variant<json, HttpResponse> ParseBody(const RoutedRequest& request) {
  json body = json::parse(request.http.body, nullptr, false);
  if (!body.is_object()) return ScimError(400, "invalidSyntax", "the body must be a JSON object");
  return body;
}

// If-Match against the resource's version (RFC 7644 3.14): 412 if it does not match.
std::optional<HttpResponse> CheckIfMatch(const RoutedRequest& request, const std::string& version) {
  auto wanted = request.http.Header("if-match");
  if (!wanted || *wanted == "*" || *wanted == version) return std::nullopt;
  return ScimError(412, "", "the resource changed since the version in If-Match");
}

// What every request on one existing user or group starts with: the SCIM caller, the
// resource's id, the org's directory it was read from, and the resource itself, its
// If-Match checked.
template <typename Resource>
struct Target {
  Caller caller;
  std::string id;
  std::shared_ptr<const domain::GroupDirectory> directory;
  const Resource* resource = nullptr;
};

std::variant<Target<domain::MemberState>, HttpResponse> UserTarget(ApiContext& ctx,
                                                                   const RoutedRequest& request) {
  auto who = ScimCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  Target<domain::MemberState> t{std::move(std::get<Caller>(who)), std::string(request.Param("id"))};
  t.directory = ctx.engine.Groups(t.caller.org);
  t.resource = t.directory->FindMember(t.id);
  if (t.resource == nullptr) return ScimError(404, "", fmt::format("no user '{}'", t.id));
  if (auto stale = CheckIfMatch(request, scim::UserVersion(*t.resource))) return std::move(*stale);
  return t;
}

std::variant<Target<domain::GroupState>, HttpResponse> GroupTarget(ApiContext& ctx,
                                                                   const RoutedRequest& request) {
  auto who = ScimCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  Target<domain::GroupState> t{std::move(std::get<Caller>(who)), std::string(request.Param("id"))};
  t.directory = ctx.engine.Groups(t.caller.org);
  t.resource = t.directory->FindGroup(t.id);
  if (t.resource == nullptr) return ScimError(404, "", fmt::format("no group '{}'", t.id));
  const std::string version = scim::GroupVersion(*t.resource, scim::MembersOf(*t.directory, t.id));
  if (auto stale = CheckIfMatch(request, version)) return std::move(*stale);
  return t;
}

// The "Operations" of a PATCH body (RFC 7644 3.5.2), or a 400.
std::variant<const json*, HttpResponse> OperationsOf(const json& body) {
  for (const auto& [key, value] : body.items()) {
    if (Lower(key) == "operations" && value.is_array() && !value.empty()) return &value;
  }
  return ScimError(
      400, "invalidSyntax",
      fmt::format("a PATCH is {{\"schemas\": [\"{}\"], \"Operations\": [...]}}", kPatchSchema));
}

HttpResponse Deleted() {
  HttpResponse done;
  done.status = 204;
  return done;
}

// With an If-Match (that matched the snapshot): the member's version then, which the
// writer checks again, so a change in between is 412 too, not lost.
std::optional<uint64_t> IfMatchVersion(const RoutedRequest& request,
                                       const domain::MemberState& member) {
  auto wanted = request.http.Header("if-match");
  if (!wanted || *wanted == "*") return std::nullopt;
  return member.version;
}

// Submits `command` for `caller`; the answer is `done` once it is applied, or the SCIM
// form of a refusal.
HttpResponse Submit(ApiContext& ctx, const RoutedRequest& request, const Caller& caller,
                    domain::Command command, std::function<HttpResponse()> done) {
  auto command_id = ctx.CommandId(caller, request);
  if (auto* refused = std::get_if<HttpResponse>(&command_id)) return AsScimError(*refused);
  return ctx.Execute(ctx.CommandFor(caller, std::move(std::get<std::string>(command_id)), request),
                     std::move(command), [done = std::move(done)](Result<CommandOutcome>& outcome) {
                       if (!outcome.ok() || outcome->kind == Kind::kRejected) {
                         return ScimOutcome(outcome);
                       }
                       return done();
                     });
}

// The user as it is now (after a command), with `status`.
std::function<HttpResponse()> AnswerUser(ApiContext& ctx, const RoutedRequest& request,
                                         std::string org, std::string id, int status) {
  return [&ctx, base = BaseUrl(ctx, request), org = std::move(org), id = std::move(id), status] {
    auto directory = ctx.engine.Groups(org);
    const domain::MemberState* member = directory->FindMember(id);
    if (member == nullptr) return ScimError(404, "", fmt::format("no user '{}'", id));
    HttpResponse response = ScimJson(status, scim::UserJson(base, *directory, id, *member));
    response.SetHeader("ETag", scim::UserVersion(*member));
    if (status == 201) response.SetHeader("Location", fmt::format("{}/Users/{}", base, id));
    return response;
  };
}

// --- Groups ----------------------------------------------------------------------------

std::function<HttpResponse()> AnswerGroup(ApiContext& ctx, const RoutedRequest& request,
                                          std::string org, std::string id, int status) {
  return [&ctx, base = BaseUrl(ctx, request), org = std::move(org), id = std::move(id), status] {
    auto directory = ctx.engine.Groups(org);
    const domain::GroupState* group = directory->FindGroup(id);
    if (group == nullptr) return ScimError(404, "", fmt::format("no group '{}'", id));
    json body = scim::GroupJson(base, *directory, *group, true);
    HttpResponse response = ScimJson(status, body);
    response.SetHeader("ETag", body["meta"]["version"].get<std::string>());
    if (status == 201) response.SetHeader("Location", fmt::format("{}/Groups/{}", base, id));
    return response;
  };
}

// startIndex (1-based) and count of a list query; a 400 if malformed.
std::variant<std::pair<size_t, size_t>, HttpResponse> Paging(const RoutedRequest& request) {
  size_t start = 1, count = 100;
  for (const auto& [name, value, out, max] :
       {std::tuple{"startIndex", request.Query("startIndex"), &start, size_t{1'000'000'000}},
        std::tuple{"count", request.Query("count"), &count, kMaxPageCount}}) {
    if (!value) continue;
    size_t n = 0;
    if (value->empty() || value->size() > 10 ||
        !std::all_of(value->begin(), value->end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return ScimError(400, "invalidValue", fmt::format("{} must be a whole number", name));
    }
    for (char c : *value) n = n * 10 + static_cast<size_t>(c - '0');
    *out = std::min(n, max);
  }
  return std::pair{std::max<size_t>(start, 1), count};
}

std::variant<std::optional<scim::Filter>, HttpResponse> FilterOf(const RoutedRequest& request) {
  auto text = request.Query("filter");
  if (!text) return std::optional<scim::Filter>();
  auto parsed = scim::Filter::Parse(*text);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    return ScimError(400, "invalidFilter", *error);
  }
  return std::optional<scim::Filter>(std::get<scim::Filter>(std::move(parsed)));
}

// The page [start, start + count) of `total` matches, each rendered by render(i): only
// the page is rendered.
HttpResponse ListResponse(size_t total, size_t start, size_t count,
                          const std::function<json(size_t)>& render) {
  json resources = json::array();
  for (size_t i = start - 1; i < total && resources.size() < count; ++i) {
    resources.push_back(render(i));
  }
  return ScimJson(200, json{{"schemas", {kListSchema}},
                            {"totalResults", total},
                            {"startIndex", start},
                            {"itemsPerPage", resources.size()},
                            {"Resources", std::move(resources)}});
}

HttpResponse ListResponse(std::vector<json> all, size_t start, size_t count) {
  return ListResponse(all.size(), start, count, [&](size_t i) { return std::move(all[i]); });
}

}  // namespace

// GET /scim/v2/Users[?filter=&startIndex=&count=]
HttpResponse ScimListUsersHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ScimCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  auto paging = Paging(request);
  if (auto* refused = std::get_if<HttpResponse>(&paging)) return std::move(*refused);
  auto filter = FilterOf(request);
  if (auto* refused = std::get_if<HttpResponse>(&filter)) return std::move(*refused);
  const auto& wanted = std::get<std::optional<scim::Filter>>(filter);
  auto directory = ctx.engine.Groups(std::get<Caller>(who).org);
  const std::string base = BaseUrl(ctx, request);
  std::vector<std::pair<const std::string*, const domain::MemberState*>> matching;
  for (const auto& [id, member] : directory->members) {
    if (!member.Exists()) continue;
    if (wanted && !wanted->Matches([&](std::string_view path) {
          return scim::UserAttribute(id, member, path);
        })) {
      continue;
    }
    matching.emplace_back(&id, &member);
  }
  const auto [start, count] = std::get<std::pair<size_t, size_t>>(paging);
  return ListResponse(matching.size(), start, count, [&](size_t i) {
    return scim::UserJson(base, *directory, *matching[i].first, *matching[i].second);
  });
}

// GET /scim/v2/Users/{id}
HttpResponse ScimGetUserHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ScimCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  return AnswerUser(ctx, request, std::get<Caller>(who).org, std::string(request.Param("id")),
                    200)();
}

// POST /scim/v2/Users: a new member with its profile (no groups yet); 409 uniqueness if
// the userName is a member already.
HttpResponse ScimCreateUserHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ScimCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  auto body = ParseBody(request);
  if (auto* refused = std::get_if<HttpResponse>(&body)) return std::move(*refused);
  const json& user = std::get<json>(body);
  std::string id;
  for (const auto& [key, value] : user.items()) {
    if (Lower(key) == "username" && value.is_string()) id = value.get<std::string>();
  }
  if (id.empty()) return ScimError(400, "invalidValue", "userName is required");
  auto profile = scim::ProfileFromBody(user, id);
  if (auto* fault = std::get_if<scim::Fault>(&profile)) return ScimFault(*fault);
  return Submit(ctx, request, caller,
                domain::ProvisionMember{id, std::get<domain::MemberProfile>(profile), true},
                AnswerUser(ctx, request, caller.org, id, 201));
}

// PUT /scim/v2/Users/{id}: replaces the profile (attributes left out are cleared).
HttpResponse ScimReplaceUserHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto target = UserTarget(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&target)) return std::move(*refused);
  const auto& [caller, id, directory, member] = std::get<Target<domain::MemberState>>(target);
  auto body = ParseBody(request);
  if (auto* refused = std::get_if<HttpResponse>(&body)) return std::move(*refused);
  auto profile = scim::ProfileFromBody(std::get<json>(body), id);
  if (auto* fault = std::get_if<scim::Fault>(&profile)) return ScimFault(*fault);
  domain::ProvisionMember command{id, std::get<domain::MemberProfile>(profile), false};
  command.expected_version = IfMatchVersion(request, *member);
  return Submit(ctx, request, caller, std::move(command),
                AnswerUser(ctx, request, caller.org, id, 200));
}

// PATCH /scim/v2/Users/{id}: add / replace / remove operations on the profile.
HttpResponse ScimPatchUserHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto target = UserTarget(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&target)) return std::move(*refused);
  const auto& [caller, id, directory, found] = std::get<Target<domain::MemberState>>(target);
  const domain::MemberState& member = *found;
  auto body = ParseBody(request);
  if (auto* refused = std::get_if<HttpResponse>(&body)) return std::move(*refused);
  auto operations_of = OperationsOf(std::get<json>(body));
  if (auto* refused = std::get_if<HttpResponse>(&operations_of)) return std::move(*refused);
  const json* operations = std::get<const json*>(operations_of);
  domain::MemberProfile profile = member.profile;
  for (const json& operation : *operations) {
    if (!operation.is_object() || !operation.contains("op") || !operation["op"].is_string()) {
      return ScimError(400, "invalidSyntax", "each operation has an \"op\"");
    }
    const std::string op = Lower(operation["op"].get<std::string>());
    const std::string path = operation.contains("path") && operation["path"].is_string()
                                 ? Lower(operation["path"].get<std::string>())
                                 : std::string();
    const json value = operation.contains("value") ? operation["value"] : json();
    if (op != "add" && op != "replace" && op != "remove") {
      return ScimError(400, "invalidSyntax", fmt::format("unknown op '{}'", op));
    }
    if (!path.empty() && !scim::KnownUserPath(path)) {
      return ScimError(400, "invalidPath", fmt::format("no attribute '{}' here", path));
    }
    if (op == "remove") {
      if (path.empty()) return ScimError(400, "noTarget", "remove needs a path");
      if (path == "active" || path == "username") {
        return ScimError(400, "mutability", fmt::format("'{}' cannot be removed", path));
      }
      if (path == "name") {
        profile.given_name.clear();
        profile.family_name.clear();
        continue;
      }
      if (path.starts_with("emails[")) {  // every address is of type "work" here
        profile.emails.clear();
        continue;
      }
      const json empty = path == "emails" ? json::array() : json();
      if (auto error = scim::SetUserAttribute(profile, path, empty, id)) {
        return ScimError(400, "invalidValue", *error);
      }
      continue;
    }
    // One attribute: "add" appends to the multi-valued emails, anything else sets it.
    auto apply = [&](const std::string& attribute,
                     const json& given) -> std::optional<HttpResponse> {
      json merged = given;
      if (op == "add" && attribute == "emails" && given.is_array()) {
        merged = scim::EmailsJson(profile);
        for (const json& email : given) {
          if (std::find_if(merged.begin(), merged.end(), [&](const json& e) {
                return email.is_object() && e["value"] == email.value("value", json());
              }) == merged.end()) {
            merged.push_back(email);
          }
        }
      }
      if (auto error = scim::SetUserAttribute(profile, attribute, merged, id)) {
        return ScimError(400, attribute == "username" ? "mutability" : "invalidValue", *error);
      }
      return std::nullopt;
    };
    if (path.empty()) {  // the value holds the attributes
      if (!value.is_object()) {
        return ScimError(400, "invalidValue", "without a path, the value is an object");
      }
      for (const auto& [key, sub] : value.items()) {
        const std::string sub_path = Lower(key);
        if (sub_path == "schemas" || sub_path == "id" || sub_path == "meta") continue;
        if (auto refused = apply(sub_path, sub)) return std::move(*refused);
      }
      continue;
    }
    if (auto refused = apply(path, value)) return std::move(*refused);
  }
  domain::ProvisionMember command{id, std::move(profile), false};
  command.expected_version = IfMatchVersion(request, member);
  return Submit(ctx, request, caller, std::move(command),
                AnswerUser(ctx, request, caller.org, id, 200));
}

// DELETE /scim/v2/Users/{id}: the member leaves every group and its profile goes.
HttpResponse ScimDeleteUserHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto target = UserTarget(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&target)) return std::move(*refused);
  const auto& t = std::get<Target<domain::MemberState>>(target);
  return Submit(ctx, request, t.caller, domain::DeprovisionMember{t.id}, Deleted);
}

// GET /scim/v2/Groups[?filter=&startIndex=&count=&excludedAttributes=members]
HttpResponse ScimListGroupsHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ScimCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  auto paging = Paging(request);
  if (auto* refused = std::get_if<HttpResponse>(&paging)) return std::move(*refused);
  auto filter = FilterOf(request);
  if (auto* refused = std::get_if<HttpResponse>(&filter)) return std::move(*refused);
  const auto& wanted = std::get<std::optional<scim::Filter>>(filter);
  const bool with_members = Lower(request.Query("excludedAttributes").value_or("")) != "members";
  auto directory = ctx.engine.Groups(std::get<Caller>(who).org);
  const std::string base = BaseUrl(ctx, request);
  std::vector<const domain::GroupState*> matching;
  for (const auto& [id, group] : directory->groups) {
    if (group.deleted) continue;
    if (wanted && !wanted->Matches([&](std::string_view path) -> scim::AttributeValues {
          if (path == "id") return {{id}, true};
          if (path == "displayname") return {{group.name}, false};
          if (path == "members" || path == "members.value") {
            return {scim::MembersOf(*directory, id), true};
          }
          return {};
        })) {
      continue;
    }
    matching.push_back(&group);
  }
  const auto [start, count] = std::get<std::pair<size_t, size_t>>(paging);
  return ListResponse(matching.size(), start, count, [&](size_t i) {
    return scim::GroupJson(base, *directory, *matching[i], with_members);
  });
}

HttpResponse ScimGetGroupHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ScimCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  return AnswerGroup(ctx, request, std::get<Caller>(who).org, std::string(request.Param("id")),
                     200)();
}

// POST /scim/v2/Groups {displayName, members?}: a group with no rules (it grants nothing
// until an admin gives it rules), its id made from the displayName.
HttpResponse ScimCreateGroupHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ScimCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  auto body = ParseBody(request);
  if (auto* refused = std::get_if<HttpResponse>(&body)) return std::move(*refused);
  const json& group = std::get<json>(body);
  domain::ProvisionGroup command;
  command.create = true;
  for (const auto& [key, value] : group.items()) {
    const std::string name = Lower(key);
    if (name == "displayname" && value.is_string()) command.display_name = value.get<std::string>();
    if (name == "members") {
      auto ids = scim::MemberIds(value);
      if (auto* fault = std::get_if<scim::Fault>(&ids)) return ScimFault(*fault);
      command.members = std::get<std::vector<std::string>>(std::move(ids));
    }
  }
  command.group_id = scim::GroupIdFor(command.display_name);
  if (command.group_id.empty()) {
    return ScimError(400, "invalidValue", "displayName needs a letter or digit");
  }
  const std::string id = command.group_id;
  return Submit(ctx, request, caller, std::move(command),
                AnswerGroup(ctx, request, caller.org, id, 201));
}

// PUT /scim/v2/Groups/{id} {displayName, members}: the members become exactly these.
HttpResponse ScimReplaceGroupHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto target = GroupTarget(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&target)) return std::move(*refused);
  const auto& [caller, id, directory, existing] = std::get<Target<domain::GroupState>>(target);
  auto body = ParseBody(request);
  if (auto* refused = std::get_if<HttpResponse>(&body)) return std::move(*refused);
  domain::ProvisionGroup command;
  command.group_id = id;
  command.members = std::vector<std::string>{};
  for (const auto& [key, value] : std::get<json>(body).items()) {
    const std::string name = Lower(key);
    if (name == "displayname" && value.is_string() && value.get<std::string>() != existing->name) {
      return ScimError(400, "mutability", "a group's displayName cannot change through SCIM");
    }
    if (name == "members") {
      auto ids = scim::MemberIds(value);
      if (auto* fault = std::get_if<scim::Fault>(&ids)) return ScimFault(*fault);
      command.members = std::get<std::vector<std::string>>(std::move(ids));
    }
  }
  return Submit(ctx, request, caller, std::move(command),
                AnswerGroup(ctx, request, caller.org, id, 200));
}

// PATCH /scim/v2/Groups/{id}: members added, removed (path `members[value eq "id"]` too)
// or replaced.
HttpResponse ScimPatchGroupHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto target = GroupTarget(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&target)) return std::move(*refused);
  const auto& [caller, id, directory, existing] = std::get<Target<domain::GroupState>>(target);
  auto body = ParseBody(request);
  if (auto* refused = std::get_if<HttpResponse>(&body)) return std::move(*refused);
  auto operations_of = OperationsOf(std::get<json>(body));
  if (auto* refused = std::get_if<HttpResponse>(&operations_of)) return std::move(*refused);
  const json* operations = std::get<const json*>(operations_of);
  domain::ProvisionGroup command;
  command.group_id = id;
  std::set<std::string> members;
  for (const std::string& m : scim::MembersOf(*directory, id)) members.insert(m);
  const std::set<std::string> before = members;
  for (const json& operation : *operations) {
    if (!operation.is_object() || !operation.contains("op") || !operation["op"].is_string()) {
      return ScimError(400, "invalidSyntax", "each operation has an \"op\"");
    }
    const std::string op = Lower(operation["op"].get<std::string>());
    std::string path = operation.contains("path") && operation["path"].is_string()
                           ? operation["path"].get<std::string>()
                           : std::string();
    json value = operation.contains("value") ? operation["value"] : json();
    if (path.empty() && value.is_object()) {  // {"op": "add", "value": {"members": [...]}}
      for (const auto& [key, sub] : value.items()) {
        if (Lower(key) == "members") {
          path = "members";
          value = sub;
        } else if (Lower(key) == "displayname" && sub != json(existing->name)) {
          return ScimError(400, "mutability", "a group's displayName cannot change through SCIM");
        }
      }
      if (path.empty()) continue;
    }
    const std::string lower = Lower(path);
    if (lower == "displayname") {
      if (value != json(existing->name)) {
        return ScimError(400, "mutability", "a group's displayName cannot change through SCIM");
      }
      continue;
    }
    if (op == "remove" && lower.starts_with("members[")) {
      // members[value eq "id"]: one member, by the filter in the brackets.
      const size_t open = path.find('['), close = path.rfind(']');
      auto filter = scim::Filter::Parse(path.substr(open + 1, close - open - 1));
      if (close == std::string::npos || std::holds_alternative<std::string>(filter)) {
        return ScimError(400, "invalidPath", fmt::format("cannot read the path '{}'", path));
      }
      std::erase_if(members, [&](const std::string& m) {
        return std::get<scim::Filter>(filter).Matches([&](std::string_view attr) {
          return scim::AttributeValues{
              attr == "value" ? std::vector<std::string>{m} : std::vector<std::string>{}, true};
        });
      });
      continue;
    }
    if (lower != "members") {
      return ScimError(400, "invalidPath", fmt::format("cannot change '{}' of a group", path));
    }
    if (op == "remove" && value.is_null()) {
      members.clear();
      continue;
    }
    auto ids = scim::MemberIds(value);
    if (auto* fault = std::get_if<scim::Fault>(&ids)) return ScimFault(*fault);
    const auto& list = std::get<std::vector<std::string>>(ids);
    if (op == "replace") members.clear();
    if (op == "add" || op == "replace") {
      members.insert(list.begin(), list.end());
    } else if (op == "remove") {
      for (const std::string& m : list) members.erase(m);
    } else {
      return ScimError(400, "invalidSyntax", fmt::format("unknown op '{}'", op));
    }
  }
  std::set_difference(members.begin(), members.end(), before.begin(), before.end(),
                      std::back_inserter(command.add));
  std::set_difference(before.begin(), before.end(), members.begin(), members.end(),
                      std::back_inserter(command.remove));
  return Submit(ctx, request, caller, std::move(command),
                AnswerGroup(ctx, request, caller.org, id, 200));
}

// DELETE /scim/v2/Groups/{id}: its members leave it and it is deleted; not built-in
// groups, nor a group that still has live keys (409).
HttpResponse ScimDeleteGroupHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto target = GroupTarget(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&target)) return std::move(*refused);
  const auto& t = std::get<Target<domain::GroupState>>(target);
  return Submit(ctx, request, t.caller, domain::DeprovisionGroup{t.id}, Deleted);
}

// --- discovery -------------------------------------------------------------------------

HttpResponse ScimServiceProviderConfigHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ScimCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  return ScimJson(
      200,
      json{{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"}},
           {"documentationUri", "https://github.com/keytrail/keytrail/blob/main/docs/identity.md"},
           {"patch", {{"supported", true}}},
           {"bulk", {{"supported", false}, {"maxOperations", 0}, {"maxPayloadSize", 0}}},
           {"filter", {{"supported", true}, {"maxResults", kMaxPageCount}}},
           {"changePassword", {{"supported", false}}},
           {"sort", {{"supported", false}}},
           {"etag", {{"supported", true}}},
           {"authenticationSchemes",
            {{{"type", "oauthbearertoken"},
              {"name", "keytrail key"},
              {"description", "a keytrail key holding the scim permission, as a bearer token"},
              {"primary", true}}}},
           {"meta",
            {{"resourceType", "ServiceProviderConfig"},
             {"location", BaseUrl(ctx, request) + "/ServiceProviderConfig"}}}});
}

HttpResponse ScimResourceTypesHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ScimCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const std::string base = BaseUrl(ctx, request);
  std::vector<json> types;
  for (const auto& [name, endpoint, schema] :
       {std::tuple{"User", "/Users", kUserSchema}, std::tuple{"Group", "/Groups", kGroupSchema}}) {
    types.push_back({{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:ResourceType"}},
                     {"id", name},
                     {"name", name},
                     {"endpoint", endpoint},
                     {"schema", schema},
                     {"meta",
                      {{"resourceType", "ResourceType"},
                       {"location", fmt::format("{}/ResourceTypes/{}", base, name)}}}});
  }
  return ListResponse(std::move(types), 1, kMaxPageCount);
}

HttpResponse ScimSchemasHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ScimCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  auto attribute = [](std::string name, std::string type, bool required, std::string mutability,
                      std::string uniqueness = "none", bool multi = false, bool exact = false) {
    return json{{"name", name},          {"type", type},
                {"multiValued", multi},  {"required", required},
                {"caseExact", exact},    {"mutability", mutability},
                {"returned", "default"}, {"uniqueness", uniqueness}};
  };
  json name = attribute("name", "complex", false, "readWrite");
  name["subAttributes"] = {attribute("givenName", "string", false, "readWrite"),
                           attribute("familyName", "string", false, "readWrite"),
                           attribute("formatted", "string", false, "readOnly")};
  json emails = attribute("emails", "complex", false, "readWrite", "none", true);
  emails["subAttributes"] = {attribute("value", "string", false, "readWrite"),
                             attribute("type", "string", false, "readOnly"),
                             attribute("primary", "boolean", false, "readWrite")};
  json members = attribute("members", "complex", false, "readWrite", "none", true);
  members["subAttributes"] = {attribute("value", "string", false, "immutable", "none", false, true),
                              attribute("display", "string", false, "readOnly")};
  std::vector<json> schemas = {
      {{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:Schema"}},
       {"id", kUserSchema},
       {"name", "User"},
       {"description", "A keytrail member: userName is the member id"},
       {"attributes",
        {attribute("userName", "string", true, "immutable", "server"),
         attribute("externalId", "string", false, "readWrite", "none", false, true), name,
         attribute("displayName", "string", false, "readWrite"), emails,
         attribute("active", "boolean", false, "readWrite"),
         attribute("groups", "complex", false, "readOnly", "none", true)}}},
      {{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:Schema"}},
       {"id", kGroupSchema},
       {"name", "Group"},
       {"description", "A keytrail group of the same id; one created by SCIM has no rules"},
       {"attributes", {attribute("displayName", "string", true, "immutable", "server"), members}}}};
  return ListResponse(std::move(schemas), 1, kMaxPageCount);
}

}  // namespace keytrail::server
