#include "server/forward.h"

#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "keys/member_secrets.h"
#include "server/http_client.h"
#include "server/log.h"
#include "server/member_sessions.h"
#include "server/node_proof.h"
#include "server/oidc/sign_in_flow.h"
#include "server/problem.h"

namespace keytrail::server {
namespace {

constexpr std::string_view kForwardedBy = "keytrail-forwarded-by";
constexpr std::string_view kRetryAfterSeconds = "1";

// Requests that change state: everything but reads, verify, check and authorize questions.
bool IsCommand(std::string_view method, std::string_view route) {
  if (route == "/v1/sso/callback") return true;  // a GET that starts a session
  if (method == "GET" || method == "HEAD") return false;
  return route != "/v1/verify" && route != "/v1/keys/verify" && route != "/v1/authorize" &&
         !route.starts_with("/v1/check");
}

std::string StringMember(const HttpRequest& request, const char* name) {
  const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains(name) || !body[name].is_string()) return "";
  return body[name].get<std::string>();
}

// The org a command acts on: the {org} of its path, the "id" of a new org, the "org" of
// a sign-in, the org a member token names (an invitation's, the session's cookie), or for
// SCIM the org of the bearer key.
std::string OrgOf(const Engine& engine, const HttpRequest& request, std::string_view route,
                  std::string_view org) {
  if (!org.empty()) return std::string(org);
  if (route == "/v1/sso/callback") {  // the org whose sign-in this ends
    auto flow = oidc::SignInFlowOf(request, SystemClock::Instance().NowMicros());
    return flow ? flow->org : "";
  }
  if (route.starts_with("/scim/v2/")) {
    auto token = BearerToken(request);
    if (!token) return "";
    const VerifyResult key = engine.Verify(*token);  // the request's key: a use of it
    return key.valid ? std::string(key.org) : "";
  }
  if (route == "/v1/orgs") return StringMember(request, "id");
  if (route == "/v1/sessions") return StringMember(request, "org");
  std::optional<ParsedMemberToken> token;
  if (route == "/v1/invitations/accept") {
    token = ParseMemberToken(StringMember(request, "token"));
  } else if (route == "/v1/sessions/current") {
    token = ParseMemberToken(MemberSessions::CookieOf(request).value_or(""));
  }
  return token ? token->org : "";
}

HttpResponse Unavailable(std::string_view code, std::string detail) {
  HttpResponse response = Problem(503, code, detail);
  response.SetHeader("Retry-After", std::string(kRetryAfterSeconds));
  return response;
}

}  // namespace

bool IsForwarded(const ForwardOptions& options, const Engine& engine, const HttpRequest& request) {
  return engine.shares_log() && request.Header(kForwardedBy).has_value() &&
         options.proof != nullptr && options.proof->Verify(request);
}

bool NeedsForwarding(const Engine& engine, const HttpRequest& request, std::string_view route,
                     std::string_view org_param) {
  if (!IsCommand(request.method, route)) return false;
  const std::string org = OrgOf(engine, request, route, org_param);
  return !org.empty() && !engine.WriterOf(org).self;
}

std::optional<HttpResponse> ForwardToWriter(const Engine& engine, const ForwardOptions& options,
                                            const HttpRequest& request, std::string_view route,
                                            std::string_view org_param) {
  if (!IsCommand(request.method, route)) return std::nullopt;
  const std::string org = OrgOf(engine, request, route, org_param);
  if (org.empty()) return std::nullopt;  // the handler reports the bad request
  const Engine::Writer writer = engine.WriterOf(org);
  if (writer.self) return std::nullopt;
  if (writer.claim.advertise_url.empty() || writer.claim.node_id == options.node_id) {
    // No claim yet, or our own claim from before we let the partition go: a move is on.
    return Unavailable("no_writer", fmt::format("no node writes partition {} yet (the group is "
                                                "assigning it); retry",
                                                writer.partition));
  }
  if (request.Header(kForwardedBy)) {
    return Unavailable("writer_moved",
                       fmt::format("partition {} moved to node '{}' while the command was on its "
                                   "way; retry with the same Idempotency-Key",
                                   writer.partition, writer.claim.node_id));
  }
  auto client = HttpClient::Create(writer.claim.advertise_url, options.timeout, "keytrail-node");
  if (!client.ok()) {
    return Unavailable("writer_unreachable",
                       fmt::format("node '{}' advertises an unusable URL", writer.claim.node_id));
  }
  std::vector<std::pair<std::string, std::string>> headers = {
      {std::string(kForwardedBy), options.node_id}};
  if (options.proof != nullptr) {
    headers.emplace_back(
        std::string(kForwardedProofHeader),
        options.proof->Sign(options.node_id, request.method, request.target, request.body));
  }
  for (std::string_view name : {"authorization", "idempotency-key", "x-request-id", "accept",
                                "cookie", "x-csrf-token", "if-match"}) {
    if (auto value = request.Header(name)) headers.emplace_back(name, *value);
  }
  auto reply = client->Send(request.method, request.target, request.body, headers);
  if (!reply.ok()) {
    Log(LogLevel::kWarn, "forwarding failed",
        {{"node", writer.claim.node_id}, {"error", reply.status().ToString()}});
    return Unavailable("writer_unreachable",
                       fmt::format("node '{}', which writes partition {}, did not answer; retry",
                                   writer.claim.node_id, writer.partition));
  }
  HttpResponse response;
  response.status = reply->status;
  response.content_type = reply->content_type;
  response.body = std::move(reply->body);
  for (const auto& [name, value] : reply->headers) {
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "set-cookie") {
      response.headers.push_back({name, value});  // there may be several
    } else if (lower == "location" || lower == "retry-after" || lower == "www-authenticate") {
      response.SetHeader(name, value);
    }
  }
  response.SetHeader("Keytrail-Served-By", writer.claim.node_id);
  return response;
}

}  // namespace keytrail::server
