// POST /v1/verify (and its alias POST /v1/keys/verify): is this key valid now?
//
// Two ways in, one answer: VerifyHandler on the general path (any body BodyReader takes),
// and VerifyFast, which Api::HandleFast offers every HTTP/1.1 verify request first: it
// takes the request as the transport's views, reads the two body shapes clients send
// ({"key": "<token>"} or an empty body with "Authorization: Bearer"), and writes the
// whole response into the connection's buffer. Both render the answer with
// WriteVerifyAnswer, so they give the same bytes.
#include <array>

#include "server/handlers/handlers.h"
#include "server/json_io.h"
#include "server/problem.h"
#include "server/wire_format.h"

namespace keytrail::server {

using nlohmann::json;

namespace {

// Seconds since the log was last known reachable, if it is not now.
std::optional<int64_t> StaleSeconds(const ApiContext& ctx) {
  const events::LogReachability log = ctx.engine.log_reachability();
  if (log.reachable) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                          log.since)
      .count();
}

// Appends `text` as a JSON string, as nlohmann::json's dump (with invalid UTF-8 replaced)
// would write it.
void AppendJsonString(std::string_view text, std::string* out) {
  bool plain = true;
  for (char c : text) {
    if (c < 0x20 || c == '"' || c == '\\' || static_cast<unsigned char>(c) >= 0x80) {
      plain = false;
      break;
    }
  }
  if (!plain) {
    out->append(json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace));
    return;
  }
  out->push_back('"');
  out->append(text);
  out->push_back('"');
}

// A group's effective rules as JSON, rendered once per group directory snapshot and group
// on each thread: a verify of a valid key would otherwise build a JSON document.
std::string_view RulesJson(const std::shared_ptr<const domain::GroupDirectory>& directory,
                           std::string_view group) {
  struct Rendered {
    std::shared_ptr<const domain::GroupDirectory> directory;
    std::string group;
    std::string json;
  };
  thread_local std::array<Rendered, 8> cache;
  thread_local size_t next = 0;
  for (const Rendered& r : cache) {
    if (r.directory == directory && r.group == group) return r.json;
  }
  // Rendered whole before the slot changes: a throw leaves the slot as it was.
  Rendered fresh{directory, std::string(group),
                 RulesToJson(domain::EffectiveRules(*directory, group))
                     .dump(-1, ' ', false, json::error_handler_t::replace)};
  Rendered& r = cache[next++ % cache.size()];
  r = std::move(fresh);
  return r.json;
}

// Verifies `token` and appends the answer's JSON to *body (keys in the order nlohmann's
// objects sort them, as every other answer of the API). Returns the verdict, for the
// caller's attribution.
VerifyResult WriteVerifyAnswer(ApiContext& ctx, std::string_view token, std::string* body) {
  const VerifyResult result = ctx.engine.Verify(token);
  ctx.metrics.CountVerify(result.reason);
  if (!result.valid) {
    body->append(R"({"reason":)");
    AppendJsonString(ReasonCode(result.reason), body);
    body->append(R"(,"valid":false})");
    return result;
  }
  body->append(R"({"expires_at":)");
  if (result.expires_at_us == 0) {
    body->append("null");
  } else {
    body->push_back('"');
    AppendRfc3339(result.expires_at_us, body);
    body->push_back('"');
  }
  body->append(R"(,"group":)");
  AppendJsonString(result.group, body);
  body->append(R"(,"key_id":")");
  AppendKeyId(result.key_id, body);
  body->append(R"(","org":)");
  AppendJsonString(result.org, body);
  body->append(R"(,"permissions":[)");
  const char* comma = "";
  if (result.permissions & kPermissionScim) {
    body->append(R"("scim")");
    comma = ",";
  }
  if (result.permissions & kPermissionOnBehalfOf) {
    body->append(comma);
    body->append(R"("on-behalf-of")");
  }
  // The group's rules as published before the last rule change was acknowledged.
  body->append(R"(],"rules":)");
  body->append(RulesJson(ctx.engine.Groups(result.org), result.group));
  body->append(R"(,"secret":")");
  body->append(SecretName(result));
  body->append(R"(","valid":true})");
  return result;
}

}  // namespace

void MarkStale(const ApiContext& ctx, HttpResponse& response) {
  if (auto stale = StaleSeconds(ctx)) {
    response.SetHeader("X-Keytrail-Stale-Seconds", std::to_string(*stale));
  }
}

// The presented key is the credential: no caller key is needed. It comes from the body
// ({"key": "..."}) or, with an empty body, from "Authorization: Bearer". An invalid key
// is a 200 {valid: false, reason} answer, not an error, and says nothing about the key's
// org: the reasons are the verify index's (malformed, unknown, revoked, expired,
// no-group).
HttpResponse VerifyHandler(ApiContext& ctx, const RoutedRequest& request) {
  BodyReader body(request.http.body, {"key"}, /*empty_ok=*/true);
  auto key = body.String("key", false);
  if (!body.ok()) return body.problem();
  std::string token;
  if (key) {
    token = std::move(*key);
  } else if (auto bearer = BearerToken(request.http)) {
    token = std::string(*bearer);
  } else {
    return Problem(400, "invalid_request",
                   "send the key as {\"key\": \"...\"} or as 'Authorization: Bearer <key>'");
  }
  HttpResponse response;
  response.content_type = "application/json";
  const VerifyResult result = WriteVerifyAnswer(ctx, token, &response.body);
  if (result.reason != VerifyReason::kMalformed && result.reason != VerifyReason::kUnknown) {
    request.principal = FormatKeyId(result.key_id);  // attributable, never the secret
  }
  MarkStale(ctx, response);
  return response;
}

std::optional<VerifyResult> VerifyFast(ApiContext& ctx, const FastRequest& request,
                                       std::string* body) {
  std::optional<std::string_view> token;
  if (!request.body.empty()) {
    token = SimpleVerifyBodyKey(request.body);
  } else if (!request.authorization.empty()) {
    token = SimpleBearerToken(request.authorization);
  }
  if (!token) return std::nullopt;
  return WriteVerifyAnswer(ctx, *token, body);
}

std::optional<int64_t> VerifyStaleSeconds(const ApiContext& ctx) { return StaleSeconds(ctx); }

}  // namespace keytrail::server
