// POST /v1/verify (and its alias POST /v1/keys/verify): is this key valid now?
#include "server/handlers/handlers.h"
#include "server/json_io.h"
#include "server/problem.h"

namespace keytrail::server {

using nlohmann::json;

void MarkStale(const ApiContext& ctx, HttpResponse& response) {
  const events::LogReachability log = ctx.engine.log_reachability();
  if (log.reachable) return;
  const auto stale = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - log.since);
  response.SetHeader("X-Keytrail-Stale-Seconds", std::to_string(stale.count()));
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
  const VerifyResult result = ctx.engine.Verify(token);
  ctx.metrics.CountVerify(result.reason);
  HttpResponse response;
  if (!result.valid) {
    response = JsonResponse(200, json{{"valid", false}, {"reason", ReasonCode(result.reason)}});
  } else {
    json permissions = json::array();
    if (result.permissions & kPermissionScim) permissions.push_back("scim");
    if (result.permissions & kPermissionOnBehalfOf) permissions.push_back("on-behalf-of");
    // The group's rules as published before the last rule change was acknowledged.
    const auto directory = ctx.engine.Groups(result.org);
    json rules = RulesToJson(domain::EffectiveRules(*directory, result.group));
    response = JsonResponse(200, json{{"valid", true},
                                      {"key_id", FormatKeyId(result.key_id)},
                                      {"org", std::string(result.org)},
                                      {"group", std::string(result.group)},
                                      {"permissions", permissions},
                                      {"rules", std::move(rules)},
                                      {"expires_at", TimeOrNull(result.expires_at_us)},
                                      {"secret", SecretName(result)}});
  }
  if (result.reason != VerifyReason::kMalformed && result.reason != VerifyReason::kUnknown) {
    request.principal = FormatKeyId(result.key_id);  // attributable, never the secret
  }
  MarkStale(ctx, response);
  return response;
}

}  // namespace keytrail::server
