// GET|POST /v1/check and <any method> /v1/check/{path...}: the gateway question "may the
// request carrying this key pass?", for nginx auth_request and Envoy ext_authz. Answers
// carry no body (docs/gateways.md):
//   204  valid (and, when an action was asked, allowed): X-Keytrail-Key-Id, -Org, -Group,
//        -Secret ("current" | "previous") and, with an action, -Rule (the role that allowed)
//   401  no key, or one that does not verify: X-Keytrail-Reason (missing, malformed,
//        unknown, revoked, expired, no-group) and WWW-Authenticate (RFC 6750)
//   403  valid but not allowed: X-Keytrail-Reason (not-granted, no-group)
//   400  the gateway asked a malformed question (unknown action, bad resource, conflicting
//        values): X-Keytrail-Reason; nginx turns it into a 500, so a misconfiguration
//        fails closed
#include <fmt/format.h>

#include "server/handlers/handlers.h"

namespace keytrail::server {
namespace {

constexpr std::string_view kActionHeader = "x-keytrail-action";
constexpr std::string_view kResourceHeader = "x-keytrail-resource";

HttpResponse Answer(int status, std::string_view reason) {
  HttpResponse response;
  response.status = status;
  if (!reason.empty()) response.SetHeader("X-Keytrail-Reason", std::string(reason));
  return response;
}

// The one value of a question field, from the query (when `query` is set) and the
// header: absent, or the same value everywhere it appears. Two different values are a
// conflict, so a client cannot add a weaker action to the gateway's question.
struct FieldValue {
  std::optional<std::string_view> value;
  bool conflict = false;
};
FieldValue QuestionField(const RoutedRequest& request, bool query, std::string_view query_name,
                         std::string_view header_name) {
  FieldValue field;
  auto take = [&](std::string_view value) {
    if (field.value && *field.value != value) field.conflict = true;
    field.value = value;
  };
  if (query) {
    for (const auto& [name, value] : request.query) {
      if (name == query_name) take(value);
    }
  }
  for (const HttpHeader& header : request.http.headers) {
    if (header.name == header_name) take(header.value);
  }
  return field;
}

// "org", "namespace:NS", "graph:NS/ID" or "graph:ID", "subgraph:NS/ID" or "subgraph:ID".
// The views point into `text`.
std::optional<domain::Resource> ParseResource(std::string_view text) {
  if (text == "org") return domain::Resource::Org();
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) return std::nullopt;
  const std::string_view kind = text.substr(0, colon);
  const std::string_view rest = text.substr(colon + 1);
  if (kind == "namespace") {
    if (rest.find('/') != std::string_view::npos) return std::nullopt;
    return domain::Resource::Namespace(rest);
  }
  if (kind != "graph" && kind != "subgraph") return std::nullopt;
  std::string_view ns, id = rest;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    ns = rest.substr(0, slash);
    id = rest.substr(slash + 1);
    if (ns.empty() || id.empty() || id.find('/') != std::string_view::npos) return std::nullopt;
  }
  return kind == "graph" ? domain::Resource::Graph(ns, id) : domain::Resource::Subgraph(ns, id);
}

// The presented key: "Authorization: Bearer <key>", else "X-API-Key: <key>".
std::optional<std::string_view> PresentedKey(const HttpRequest& request) {
  if (auto bearer = BearerToken(request)) return bearer;
  auto key = request.Header("x-api-key");
  if (key && !key->empty()) return key;
  return std::nullopt;
}

// The check; the question (action, resource) comes from the headers and, when
// `query_asks`, from the query too.
HttpResponse Check(ApiContext& ctx, const RoutedRequest& request, bool query_asks) {
  const FieldValue action_field = QuestionField(request, query_asks, "action", kActionHeader);
  const FieldValue resource_field = QuestionField(request, query_asks, "resource", kResourceHeader);
  auto bad_question = [&](std::string_view reason) {
    ctx.metrics.CountCheck("invalid", reason);
    return Answer(400, reason);
  };
  if (action_field.conflict || resource_field.conflict) return bad_question("conflicting-question");
  std::optional<domain::Action> action;
  std::optional<domain::Resource> resource;
  if (action_field.value) {
    action = domain::ParseAction(*action_field.value);
    if (!action) return bad_question("invalid-action");
  }
  if (resource_field.value) {
    if (!action) return bad_question("resource-without-action");
    resource = ParseResource(*resource_field.value);
    if (!resource) return bad_question("invalid-resource");
  }

  const auto token = PresentedKey(request.http);
  if (!token) {
    ctx.metrics.CountCheck("unauthenticated", "missing");
    HttpResponse response = Answer(401, "missing");
    // RFC 6750 3.1: a request without credentials gets no error code.
    response.SetHeader("WWW-Authenticate", "Bearer realm=\"keytrail\"");
    return response;
  }
  const VerifyResult result = ctx.engine.Verify(*token);
  const std::string key_id = FormatKeyId(result.key_id);
  if (result.reason != VerifyReason::kMalformed && result.reason != VerifyReason::kUnknown) {
    request.principal = key_id;  // attributable, never the secret
  }
  if (!result.valid) {
    const std::string_view reason = ReasonCode(result.reason);
    ctx.metrics.CountCheck("unauthenticated", reason);
    HttpResponse response = Answer(401, reason);
    response.SetHeader("WWW-Authenticate", "Bearer realm=\"keytrail\", error=\"invalid_token\"");
    return response;
  }

  HttpResponse response = Answer(204, "");
  if (action) {
    const auto principal =
        domain::Principal::Key(key_id, result.group, (result.permissions & kPermissionScim) != 0);
    const Authorization answer = ctx.engine.Authorize(result.org, principal, *action,
                                                      resource.value_or(domain::Resource::Org()));
    if (!answer.decision.allowed) {
      const std::string_view reason = domain::DenyReasonName(answer.decision.reason);
      ctx.metrics.CountCheck("denied", reason);
      response = Answer(403, reason);
    } else {
      const domain::Rule* rule = answer.decision.grant.rule;
      response.SetHeader("X-Keytrail-Rule",
                         std::string(rule != nullptr ? domain::RoleName(rule->role) : "scim"));
    }
  }
  if (response.status == 204) ctx.metrics.CountCheck("allowed", "");
  // Identity also on a 403, so the gateway can log who was refused.
  response.SetHeader("X-Keytrail-Key-Id", key_id);
  response.SetHeader("X-Keytrail-Org", std::string(result.org));
  response.SetHeader("X-Keytrail-Group", std::string(result.group));
  response.SetHeader("X-Keytrail-Secret", std::string(SecretName(result)));
  MarkStale(ctx, response);
  return response;
}

}  // namespace

HttpResponse CheckHandler(ApiContext& ctx, const RoutedRequest& request) {
  return Check(ctx, request, /*query_asks=*/true);
}

HttpResponse CheckPrefixedHandler(ApiContext& ctx, const RoutedRequest& request) {
  // Behind Envoy's path_prefix the path and query are the protected request's, not a
  // question: only the headers ask.
  return Check(ctx, request, /*query_asks=*/false);
}

}  // namespace keytrail::server
