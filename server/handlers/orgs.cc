// POST /v1/orgs: a new org with its built-in groups and a first admin key.
#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "server/bootstrap.h"
#include "server/handlers/handlers.h"
#include "server/json_io.h"
#include "server/problem.h"

namespace keytrail::server {
namespace {

using nlohmann::json;
using Kind = CommandOutcome::Kind;

// Org ids: 1-64 characters of [a-z0-9-_], like group ids (they appear in paths).
bool ValidOrgId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

// A command id for a CreateOrg sent without Idempotency-Key: unique, so a second POST
// for the same id is refused with org_exists.
std::string FreshCommandId() {
  uint8_t bytes[16];
  SystemRandom().Fill(bytes);
  std::string out = "org:";
  for (uint8_t b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

}  // namespace

HttpResponse CreateOrgHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto authenticated = ctx.Authenticated(request);
  if (auto* refused = std::get_if<HttpResponse>(&authenticated)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(authenticated);
  if (caller.org != ctx.options.bootstrap_org || !IsOrgAdmin(ctx.engine, caller)) {
    return Problem(
        403, "forbidden",
        fmt::format("only an admin key of org '{}' may create orgs", ctx.options.bootstrap_org));
  }
  BodyReader body(request.http.body, {"id", "name"});
  auto id = body.String("id", true);
  auto name = body.String("name", true);
  if (!body.ok()) return body.problem();
  if (!ValidOrgId(*id)) {
    return Problem(422, "invalid_org_id", "org id must be 1-64 characters of a-z, 0-9, '-', '_'");
  }
  auto command_id = ctx.CommandId(caller, request);
  if (auto* refused = std::get_if<HttpResponse>(&command_id)) return std::move(*refused);
  std::string org_command_id = std::move(std::get<std::string>(command_id));
  std::string hash = org_command_id.empty() ? std::string() : RequestHash(request);
  if (org_command_id.empty()) org_command_id = FreshCommandId();

  domain::CommandContext context{.org = *id,
                                 .actor_kind = caller.actor_kind(),
                                 .actor_id = caller.actor_id(),
                                 .command_hash = std::move(hash),
                                 .correlation_id = request.request_id,
                                 // authorized above: an admin of the bootstrap org; the
                                 // new org has no principals of its own yet
                                 .authorize = false};
  // Several appends in a row, one after the other: on the blocking lane.
  return OffIoThread(ctx.blocking, [&ctx, context, org_command_id = std::move(org_command_id),
                                    name = std::move(*name), id = *id]() mutable {
    auto setup = SetUpOrg(ctx.engine, context, std::move(org_command_id), std::move(name));
    if (!setup.ok()) return StatusProblem(setup.status());
    if (setup->rejection) return RejectionProblem(*setup->rejection);

    const IssuedKey& admin = setup->admin_key;
    auto key_id = ParseKeyId(admin.key_id);
    auto record = key_id ? ctx.engine.queries().GetKey(id, *key_id)
                         : Result<std::optional<model::KeyRecord>>(std::nullopt);
    if (!record.ok()) return StatusProblem(record.status());
    if (!record->has_value()) {
      return StatusProblem(Status::Internal("the new org's admin key is not in the key view"));
    }
    json key = KeyToJson(**record, ctx.clock.NowMicros());
    const bool created_now = admin.outcome.kind == Kind::kApplied;
    if (created_now) {
      key["token"] = std::string(admin.token->reveal());  // shown this once
    } else {
      key["token"] = nullptr;
      key["secret_already_shown"] = true;
    }
    json groups = json::array();
    for (std::string_view group : kBuiltInGroups) groups.push_back(std::string(group));
    HttpResponse response = JsonResponse(created_now ? 201 : 200,
                                         json{{"id", id}, {"groups", groups}, {"admin_key", key}});
    response.SetHeader("Location", fmt::format("/v1/orgs/{}/keys", id));
    return response;
  });
}

namespace {

// "<n>d", or null for 0 (off / no limit).
nlohmann::json DaysJson(Micros duration) {
  if (duration == 0) return nullptr;
  return fmt::format("{}d", duration / domain::kMicrosPerDay);
}

// The policy as the API shows it: durations as "<n>d" (null = no limit / off).
nlohmann::json PolicyJson(const domain::KeyPolicy& policy) {
  return nlohmann::json{{"max_lifetime", DaysJson(policy.max_lifetime)},
                        {"require_expiry", policy.require_expiry},
                        {"revoke_unused_after", DaysJson(policy.revoke_unused_after)},
                        {"expiring_soon", DaysJson(policy.expiring_soon)}};
}

// "<n>d" with 1 <= n <= 36600; nullopt otherwise.
std::optional<Micros> ParseDays(std::string_view text) {
  if (text.size() < 2 || text.size() > 6 || text.back() != 'd') return std::nullopt;
  Micros days = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    days = days * 10 + (c - '0');
  }
  if (days < 1 || days > 36600) return std::nullopt;
  return days * domain::kMicrosPerDay;
}

// A policy duration member: absent or null = 0, else "<n>d"; nullopt if malformed.
std::optional<Micros> PolicyDays(const nlohmann::json* member) {
  if (member == nullptr || member->is_null()) return 0;
  if (!member->is_string()) return std::nullopt;
  return ParseDays(member->get<std::string>());
}

}  // namespace

// GET /v1/orgs/{org}/policy: the org's key policy, for any caller of the org.
HttpResponse GetPolicyHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.CallerInOrg(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  return JsonResponse(200, PolicyJson(ctx.engine.Groups(std::get<Caller>(who).org)->policy));
}

// PUT /v1/orgs/{org}/policy {max_lifetime?, require_expiry?, revoke_unused_after?,
// expiring_soon?}: the whole policy; durations are "<n>d" (an absent or null member: no
// limit / off). Admins only (the writer checks); keys created, renewed or updated
// afterwards must keep to it, and the scheduler applies the last two to every live key.
HttpResponse SetPolicyHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.CallerInOrg(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  BodyReader body(request.http.body,
                  {"max_lifetime", "require_expiry", "revoke_unused_after", "expiring_soon"},
                  /*empty_ok=*/true);
  const nlohmann::json* lifetime = body.Member("max_lifetime", false);
  const nlohmann::json* required = body.Member("require_expiry", false);
  const nlohmann::json* unused = body.Member("revoke_unused_after", false);
  const nlohmann::json* soon = body.Member("expiring_soon", false);
  if (!body.ok()) return body.problem();
  domain::SetKeyPolicy policy;
  const std::pair<const nlohmann::json*, Micros*> durations[] = {
      {lifetime, &policy.max_lifetime},
      {unused, &policy.revoke_unused_after},
      {soon, &policy.expiring_soon}};
  for (const auto& [member, out] : durations) {
    auto parsed = PolicyDays(member);
    if (!parsed) {
      return Problem(400, "invalid_request",
                     "max_lifetime, revoke_unused_after and expiring_soon are \"<n>d\" (1 to "
                     "36600 days) or null");
    }
    *out = *parsed;
  }
  if (required != nullptr) {
    if (!required->is_boolean()) {
      return Problem(400, "invalid_request", "require_expiry is true or false");
    }
    policy.require_expiry = required->get<bool>();
  }
  auto command_id = ctx.CommandId(caller, request);
  if (auto* refused = std::get_if<HttpResponse>(&command_id)) return std::move(*refused);
  return ctx.Execute(ctx.CommandFor(caller, std::move(std::get<std::string>(command_id)), request),
                     policy, [&ctx, org = caller.org](Result<CommandOutcome>& outcome) {
                       if (!outcome.ok()) return StatusProblem(outcome.status());
                       if (outcome->kind == CommandOutcome::Kind::kRejected) {
                         return RejectionProblem(*outcome->rejection);
                       }
                       return JsonResponse(200, PolicyJson(ctx.engine.Groups(org)->policy));
                     });
}

}  // namespace keytrail::server
