// POST /v1/orgs/{org}/keys, GET /v1/orgs/{org}/keys, GET /v1/orgs/{org}/keys/{id}.
#include <algorithm>

#include <fmt/format.h>

#include "model/keys.h"
#include "server/handlers/handlers.h"
#include "server/json_io.h"
#include "server/problem.h"
#include "server/wire_format.h"

namespace keytrail::server {
namespace {

using nlohmann::json;
using Kind = CommandOutcome::Kind;

constexpr size_t kDefaultPageSize = 100;

}  // namespace

HttpResponse InvalidExpiration() {
  return Problem(422, "invalid_expiration",
                 "expires must be \"never\", \"30d\", \"6m\", \"1y\" or an RFC 3339 time");
}

HttpResponse CreateKeyHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.CallerInOrg(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);

  BodyReader body(request.http.body, {"name", "group", "expires", "permissions"});
  auto name = body.String("name", true);
  auto group = body.String("group", true);
  auto expires_text = body.String("expires", false);
  auto permissions = body.StringArray("permissions", false);
  if (!body.ok()) return body.problem();
  auto expires = domain::ParseExpiration(expires_text.value_or("never"));
  if (!expires) return InvalidExpiration();
  std::vector<std::string> granted = permissions.value_or(std::vector<std::string>{});
  auto command_id = ctx.CommandId(caller, request);
  if (auto* refused = std::get_if<HttpResponse>(&command_id)) return std::move(*refused);

  CreateKeyRequest create;
  create.name = std::move(*name);
  create.group = std::move(*group);
  create.expires = *expires;
  create.permissions = std::move(granted);
  auto held = std::make_shared<CreateKeyRequest>(std::move(create));
  return AfterCommand<IssuedKey>(
      [&ctx, held,
       context = ctx.CommandFor(caller, std::move(std::get<std::string>(command_id)), request)](
          Engine::IssuedCallback done) {
        ctx.engine.CreateKey(context, std::move(*held), std::move(done));
      },
      [&ctx, caller](Result<IssuedKey>& issued) {
        if (!issued.ok()) return StatusProblem(issued.status());
        const CommandOutcome& outcome = issued->outcome;
        if (outcome.kind == Kind::kRejected) return RejectionProblem(*outcome.rejection);
        if (outcome.kind == Kind::kReplayed && outcome.first_event != fb::Payload::KeyCreated) {
          return Problem(422, "idempotency_key_reused",
                         "this Idempotency-Key was used for a different request");
        }
        // An applied create's key is as its event made it; a replay's is read back.
        std::optional<model::KeyRecord> made;
        if (outcome.kind == Kind::kApplied && !outcome.events.empty()) {
          if (auto created = Queries::CreatedKey(outcome.events.front()); created.ok()) {
            made = std::move(*created);
          }
        }
        auto loaded = made ? std::variant<model::KeyRecord, HttpResponse>(std::move(*made))
                           : ctx.LoadKey(caller, issued->key_id);
        if (auto* missing = std::get_if<HttpResponse>(&loaded)) return std::move(*missing);
        json out = KeyToJson(std::get<model::KeyRecord>(loaded), ctx.clock.NowMicros());
        HttpResponse response;
        if (outcome.kind == Kind::kApplied) {
          out["token"] = std::string(issued->token->reveal());  // shown this once
          response = JsonResponse(201, out);
        } else {
          out["token"] = nullptr;
          out["secret_already_shown"] = true;
          response = JsonResponse(200, out);
        }
        response.SetHeader("Location",
                           fmt::format("/v1/orgs/{}/keys/{}", caller.org, issued->key_id));
        return response;
      });
}

namespace {

std::optional<model::KeyOrder::Field> ParseSortField(std::string_view name) {
  using Field = model::KeyOrder::Field;
  if (name == "name") return Field::kName;
  if (name == "created_at") return Field::kCreatedAt;
  if (name == "expires_at") return Field::kExpiresAt;
  if (name == "last_used_at") return Field::kLastUsedAt;
  return std::nullopt;
}

}  // namespace

HttpResponse ListKeysHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.CallerInOrg(request, domain::Action::kKeysRead);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);

  model::KeyFilter filter;
  model::KeyOrder order;
  size_t page_size = kDefaultPageSize;
  std::string page_token;
  std::vector<std::string_view> seen;
  for (const auto& [name, value] : request.query) {
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return Problem(400, "invalid_request", fmt::format("query parameter '{}' repeated", name));
    }
    seen.push_back(name);
    if (name == "group") {
      filter.group = value;
    } else if (name == "created_by") {
      filter.created_by = value;
    } else if (name == "status") {
      if (value == "active") {
        filter.status = model::KeyStatus::kActive;
      } else if (value == "revoked") {
        filter.status = model::KeyStatus::kRevoked;
      } else if (value == "expired") {
        filter.status = model::KeyStatus::kExpired;
      } else if (value == "suspended") {
        filter.status = model::KeyStatus::kSuspended;
      } else {
        return Problem(400, "invalid_request",
                       "status must be active, suspended, revoked or expired");
      }
    } else if (name == "expires_before") {
      auto t = ParseRfc3339Time(value);
      if (!t) return Problem(400, "invalid_request", "expires_before must be an RFC 3339 time");
      filter.expires_before_us = *t;
    } else if (name == "never_expires") {
      if (value != "true" && value != "false") {
        return Problem(400, "invalid_request", "never_expires must be true or false");
      }
      filter.never_expires = value == "true";
    } else if (name == "used_before") {
      auto t = ParseRfc3339Time(value);
      if (!t) return Problem(400, "invalid_request", "used_before must be an RFC 3339 time");
      filter.used_before_us = *t;
    } else if (name == "breaks_policy") {
      if (value != "true") return Problem(400, "invalid_request", "breaks_policy must be true");
      const domain::KeyPolicy policy = ctx.engine.Groups(caller.org)->policy;
      filter.breaks_policy =
          model::KeyFilter::PolicyBound{policy.max_lifetime, policy.require_expiry};
    } else if (name == "unused_since") {
      auto t = ParseRfc3339Time(value);
      if (!t) return Problem(400, "invalid_request", "unused_since must be an RFC 3339 time");
      filter.idle_before_us = *t;
    } else if (name == "q") {
      if (value.empty() || value.size() > 50) {
        return Problem(400, "invalid_request", "q must be 1-50 characters of a key name");
      }
      filter.name_contains = value;
    } else if (name == "sort") {
      auto field = ParseSortField(value);
      if (!field) {
        return Problem(400, "invalid_request",
                       "sort must be name, created_at, expires_at or last_used_at");
      }
      order.field = *field;
    } else if (name == "order") {
      if (value != "asc" && value != "desc") {
        return Problem(400, "invalid_request", "order must be asc or desc");
      }
      order.descending = value == "desc";
    } else if (name == "never_used") {
      if (value != "true" && value != "false") {
        return Problem(400, "invalid_request", "never_used must be true or false");
      }
      filter.never_used = value == "true";
    } else if (name == "not_rotated_since") {
      auto t = ParseRfc3339Time(value);
      if (!t) return Problem(400, "invalid_request", "not_rotated_since must be an RFC 3339 time");
      filter.not_rotated_since_us = *t;
    } else if (name == "page_size") {
      auto size = ParsePageSize(value, Queries::kMaxKeyPageSize);
      if (!size) {
        return Problem(400, "invalid_request",
                       fmt::format("page_size must be 1..{}", Queries::kMaxKeyPageSize));
      }
      page_size = *size;
    } else if (name == "page_token") {
      page_token = value;  // checked by the query, which knows the order it is for
    } else {
      return Problem(400, "invalid_request", fmt::format("unknown query parameter '{}'", name));
    }
  }

  const Micros now = ctx.clock.NowMicros();
  filter.now = now;
  auto list = [&ctx, org = caller.org, filter = std::move(filter), page_size,
               page_token = std::move(page_token), order, now] {
    auto page = ctx.engine.queries().ListKeys(org, filter, page_size, page_token, order);
    if (!page.ok()) {
      if (page.status().code() == StatusCode::kInvalidArgument) {
        return Problem(400, "invalid_request", page.status().message());
      }
      return StatusProblem(page.status());
    }
    json keys = json::array();
    for (const model::KeyRecord& key : page->keys) keys.push_back(KeyToJson(key, now));
    return JsonResponse(
        200, json{{"keys", std::move(keys)},
                  {"next_page_token",
                   page->next_page_token.empty() ? json(nullptr) : json(page->next_page_token)}});
  };
  // A sorted page examines every key of its index: not on an io thread.
  if (order.field != model::KeyOrder::Field::kId || order.descending) {
    return OffIoThread(ctx.blocking, std::move(list));
  }
  return list();
}

HttpResponse GetKeyHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.CallerInOrg(request, domain::Action::kKeysRead);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  for (const auto& [name, value] : request.query) {
    if (name != "as_of") {
      return Problem(400, "invalid_request", fmt::format("unknown query parameter '{}'", name));
    }
  }
  if (request.query.size() > 1) {
    return Problem(400, "invalid_request", "query parameter 'as_of' repeated");
  }
  if (!request.query.empty()) {
    return GetKeyAsOf(ctx, caller, request.Param("id"), request.query[0].second);
  }
  auto loaded = ctx.LoadKey(caller, request.Param("id"));
  if (auto* missing = std::get_if<HttpResponse>(&loaded)) return std::move(*missing);
  return JsonResponse(200, KeyToJson(std::get<model::KeyRecord>(loaded), ctx.clock.NowMicros()));
}

}  // namespace keytrail::server
