// POST /v1/orgs/{org}/keys/{id}/rotate, POST .../revoke, PUT .../group.
#include <fmt/format.h>

#include "server/handlers/handlers.h"
#include "server/json_io.h"
#include "server/problem.h"
#include "server/wire_format.h"

namespace keytrail::server {
namespace {

using nlohmann::json;
using Kind = CommandOutcome::Kind;

// What the three actions share: the caller in the path's org, its command id, and the
// key as it is now. The writer authorizes the command (CommandContext::authorize).
struct KeyActionStart {
  Caller caller;
  std::string command_id;
  model::KeyRecord key;
};

std::variant<KeyActionStart, HttpResponse> Begin(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.CallerInOrg(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  KeyActionStart start;
  start.caller = std::move(std::get<Caller>(who));
  auto command_id = ctx.CommandId(start.caller, request);
  if (auto* refused = std::get_if<HttpResponse>(&command_id)) return std::move(*refused);
  start.command_id = std::move(std::get<std::string>(command_id));
  auto loaded = ctx.LoadKey(start.caller, request.Param("id"));
  if (auto* missing = std::get_if<HttpResponse>(&loaded)) return std::move(*missing);
  start.key = std::move(std::get<model::KeyRecord>(loaded));
  return start;
}

// The answer to an applied or replayed command: the key as it is now (read on the io
// thread once the command is applied). A replay whose
// command id belonged to another kind of command is refused.
// The key as it is now, after a command on it.
HttpResponse CurrentKey(ApiContext& ctx, const Caller& caller, const KeyId& id) {
  auto loaded = ctx.LoadKey(caller, FormatKeyId(id));
  if (auto* missing = std::get_if<HttpResponse>(&loaded)) return std::move(*missing);
  return JsonResponse(200, KeyToJson(std::get<model::KeyRecord>(loaded), ctx.clock.NowMicros()));
}

HttpResponse AnswerWithKey(ApiContext& ctx, const Caller& caller, const KeyId& id,
                           const Result<CommandOutcome>& outcome, fb::Payload expected) {
  if (!outcome.ok()) return StatusProblem(outcome.status());
  if (outcome->kind == Kind::kRejected) return RejectionProblem(*outcome->rejection);
  if (outcome->kind == Kind::kReplayed &&
      (outcome->first_event != expected || outcome->aggregate_id != FormatKeyId(id))) {
    return Problem(422, "idempotency_key_reused",
                   "this Idempotency-Key was used for a different request");
  }
  return CurrentKey(ctx, caller, id);
}

// Revoke and suspend: a command on the key with an optional reason.
template <typename Command>
HttpResponse WithReason(ApiContext& ctx, const RoutedRequest& request, fb::Payload expected) {
  auto started = Begin(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&started)) return std::move(*refused);
  KeyActionStart& start = std::get<KeyActionStart>(started);
  BodyReader body(request.http.body, {"reason"}, /*empty_ok=*/true);
  auto reason = body.String("reason", false);
  if (!body.ok()) return body.problem();
  return ctx.Execute(ctx.CommandFor(start.caller, start.command_id, request),
                     Command{start.key.key_id, reason.value_or("")},
                     [&ctx, caller = start.caller, id = start.key.key_id, expected](auto& outcome) {
                       return AnswerWithKey(ctx, caller, id, outcome, expected);
                     });
}

}  // namespace

HttpResponse RotateKeyHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto started = Begin(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&started)) return std::move(*refused);
  KeyActionStart& start = std::get<KeyActionStart>(started);
  BodyReader body(request.http.body, {"grace", "expires"}, /*empty_ok=*/true);
  auto grace_text = body.String("grace", false);
  auto expires_text = body.String("expires", false);
  if (!body.ok()) return body.problem();
  auto grace = ParseDuration(grace_text.value_or("0s"));
  if (!grace || *grace > domain::kMaxRotationGrace) {
    return Problem(422, "invalid_grace", "grace must be a duration from \"0s\" to \"24h\"");
  }
  std::optional<domain::Expiration> renew;
  if (expires_text) {
    renew = domain::ParseExpiration(*expires_text);
    if (!renew) return InvalidExpiration();
  }
  const KeyId key_id = start.key.key_id;
  domain::CommandContext context = ctx.CommandFor(start.caller, start.command_id, request);
  return AfterCommand<IssuedKey>(
      [&ctx, context = std::move(context), key_id, grace = *grace,
       renew](Engine::IssuedCallback done) {
        ctx.engine.RotateKey(context, key_id, grace, renew, std::move(done));
      },
      [&ctx, caller = std::move(start.caller), before = std::move(start.key),
       key_id](Result<IssuedKey>& issued) {
        if (!issued.ok()) return StatusProblem(issued.status());
        const CommandOutcome& outcome = issued->outcome;
        if (outcome.kind == Kind::kRejected) return RejectionProblem(*outcome.rejection);
        if (outcome.kind == Kind::kReplayed && (outcome.first_event != fb::Payload::KeyRotated ||
                                                outcome.aggregate_id != FormatKeyId(key_id))) {
          return Problem(422, "idempotency_key_reused",
                         "this Idempotency-Key was used for a different request");
        }
        // An applied rotation of the key as read before it: that key with the rotation's
        // events applied. A replay, or a key changed in between: read back.
        auto after = outcome.kind == Kind::kApplied
                         ? Queries::KeyAfter(before, outcome.events)
                         : Result<std::optional<model::KeyRecord>>(std::nullopt);
        auto loaded = after.ok() && after->has_value()
                          ? std::variant<model::KeyRecord, HttpResponse>(std::move(**after))
                          : ctx.LoadKey(caller, FormatKeyId(key_id));
        if (auto* missing = std::get_if<HttpResponse>(&loaded)) return std::move(*missing);
        const model::KeyRecord& key = std::get<model::KeyRecord>(loaded);
        json out = {{"id", FormatKeyId(key.key_id)},
                    {"hint", key.hint},
                    {"previous_valid_until", TimeOrNull(key.previous_valid_until_us)},
                    {"expires_at", TimeOrNull(key.expires_at_us)}};
        if (outcome.kind == Kind::kApplied) {
          out["token"] = std::string(issued->token->reveal());  // shown this once
        } else {
          out["token"] = nullptr;
          out["secret_already_shown"] = true;
        }
        return JsonResponse(200, out);
      });
}

HttpResponse RevokeKeyHandler(ApiContext& ctx, const RoutedRequest& request) {
  return WithReason<domain::RevokeKey>(ctx, request, fb::Payload::KeyRevoked);
}

// {created_by?, group?, reason}: every live key matching both revoked in one command
// (admins only; the writer checks). 200 {revoked: n}; a replay, {revoked: null,
// replayed: true}.
HttpResponse RevokeKeysHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.CallerInOrg(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  auto command_id = ctx.CommandId(caller, request);
  if (auto* refused = std::get_if<HttpResponse>(&command_id)) return std::move(*refused);
  BodyReader body(request.http.body, {"created_by", "group", "reason"});
  domain::RevokeKeys command{body.String("created_by", false), body.String("group", false), ""};
  auto reason = body.String("reason", true);
  if (!body.ok()) return body.problem();
  command.reason = std::move(*reason);
  return ctx.Execute(ctx.CommandFor(caller, std::move(std::get<std::string>(command_id)), request),
                     std::move(command), [](Result<CommandOutcome>& outcome) {
                       if (!outcome.ok()) return StatusProblem(outcome.status());
                       if (outcome->kind == Kind::kRejected) {
                         return RejectionProblem(*outcome->rejection);
                       }
                       if (outcome->kind == Kind::kReplayed) {
                         return JsonResponse(200, json{{"revoked", nullptr}, {"replayed", true}});
                       }
                       return JsonResponse(200, json{{"revoked", outcome->offsets.size()}});
                     });
}

HttpResponse UpdateKeyHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto started = Begin(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&started)) return std::move(*refused);
  KeyActionStart& start = std::get<KeyActionStart>(started);
  BodyReader body(request.http.body, {"name", "expires", "description"});
  domain::UpdateKey update{start.key.key_id, body.String("name", false), std::nullopt,
                           body.String("description", false)};
  auto expires_text = body.String("expires", false);
  if (!body.ok()) return body.problem();
  if (!update.name && !expires_text && !update.description) {
    return Problem(400, "invalid_request", "give at least one of name, expires, description");
  }
  if (expires_text) {
    update.expires = domain::ParseExpiration(*expires_text);
    if (!update.expires) return InvalidExpiration();
  }
  return ctx.Execute(ctx.CommandFor(start.caller, start.command_id, request), std::move(update),
                     [&ctx, caller = start.caller, id = start.key.key_id](auto& outcome) {
                       if (outcome.ok() && outcome->kind != Kind::kRejected &&
                           outcome->first_event == fb::Payload::NONE) {
                         return CurrentKey(ctx, caller, id);  // nothing changed
                       }
                       return AnswerWithKey(ctx, caller, id, outcome, fb::Payload::KeyUpdated);
                     });
}

HttpResponse SuspendKeyHandler(ApiContext& ctx, const RoutedRequest& request) {
  return WithReason<domain::SuspendKey>(ctx, request, fb::Payload::KeySuspended);
}

HttpResponse ResumeKeyHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto started = Begin(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&started)) return std::move(*refused);
  KeyActionStart& start = std::get<KeyActionStart>(started);
  BodyReader body(request.http.body, {}, /*empty_ok=*/true);
  if (!body.ok()) return body.problem();
  return ctx.Execute(ctx.CommandFor(start.caller, start.command_id, request),
                     domain::ResumeKey{start.key.key_id},
                     [&ctx, caller = start.caller, id = start.key.key_id](auto& outcome) {
                       return AnswerWithKey(ctx, caller, id, outcome, fb::Payload::KeyResumed);
                     });
}

HttpResponse MoveKeyHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto started = Begin(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&started)) return std::move(*refused);
  KeyActionStart& start = std::get<KeyActionStart>(started);
  BodyReader body(request.http.body, {"group"});
  auto group = body.String("group", true);
  if (!body.ok()) return body.problem();
  return ctx.Execute(ctx.CommandFor(start.caller, start.command_id, request),
                     domain::ChangeKeyGroup{start.key.key_id, *group},
                     [&ctx, caller = start.caller, id = start.key.key_id](auto& outcome) {
                       return AnswerWithKey(ctx, caller, id, outcome, fb::Payload::KeyGroupChanged);
                     });
}

}  // namespace keytrail::server
