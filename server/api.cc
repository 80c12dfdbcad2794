#include "server/api.h"

#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "model/keys.h"
#include "server/handlers/handlers.h"
#include "server/log.h"
#include "server/problem.h"

namespace keytrail::server {
namespace {

bool VisibleAscii(std::string_view text, size_t max) {
  if (text.empty() || text.size() > max) return false;
  for (char c : text) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// Appends the client's X-Request-Id (`given`) if it is a sane one, else a new
// "<prefix>-<n>" unique in this process's life (a random prefix, so restarts do not
// repeat ids).
void AppendRequestId(std::string_view given, std::string* out) {
  if (VisibleAscii(given, 128)) {
    out->append(given);
    return;
  }
  static const std::string prefix = [] {
    uint8_t bytes[6];
    SystemRandom().Fill(bytes);
    std::string hex;
    for (uint8_t b : bytes) hex += fmt::format("{:02x}", b);
    return hex;
  }();
  static std::atomic<uint64_t> next{1};
  out->append(prefix);
  out->push_back('-');
  const fmt::format_int n(next.fetch_add(1, std::memory_order_relaxed));
  out->append(n.data(), n.size());
}

std::string RequestId(const HttpRequest& request) {
  std::string id;
  AppendRequestId(request.Header("x-request-id").value_or(""), &id);
  return id;
}

// Routes whose requests are logged at debug level only: probes, scrapes, verify and check, the
// hot path, where a log line per request cost ~10% of the server's CPU (docs/benchmarks.md);
// verify outcomes are counted by reason in /metrics instead.
bool IsQuiet(std::string_view route) {
  return route == "/healthz" || route == "/readyz" || route == "/metrics" ||
         route == "/v1/verify" || route == "/v1/keys/verify" || route.starts_with("/v1/check");
}

}  // namespace

std::variant<Caller, HttpResponse> ApiContext::Authenticated(const RoutedRequest& request) {
  auto authenticated =
      !request.http.Header("authorization") && MemberSessions::CookieOf(request.http).has_value()
          ? sessions.Authenticate(request.http)
          : Authenticate(engine, request.http);
  if (auto* failure = std::get_if<AuthFailure>(&authenticated)) {
    metrics.CountAuthFailure(failure->reason);
    return std::move(failure->response);
  }
  Caller& caller = std::get<Caller>(authenticated);
  request.principal = caller.is_member() ? "member:" + caller.member : caller.key_id;
  return std::move(caller);
}

std::variant<Caller, HttpResponse> ApiContext::CallerInOrg(const RoutedRequest& request) {
  auto authenticated = Authenticated(request);
  if (auto* refused = std::get_if<HttpResponse>(&authenticated)) return std::move(*refused);
  Caller& caller = std::get<Caller>(authenticated);
  if (caller.org != request.Param("org")) {
    return Problem(404, "org_not_found", fmt::format("no org '{}'", request.Param("org")));
  }
  return std::move(caller);
}

std::variant<Caller, HttpResponse> ApiContext::CallerInOrg(const RoutedRequest& request,
                                                           domain::Action action) {
  auto who = CallerInOrg(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  if (auto denied = Authorize(engine, std::get<Caller>(who), action, domain::Resource::Org())) {
    return std::move(*denied);
  }
  return who;
}

std::variant<std::string, HttpResponse> ApiContext::CommandId(const Caller& caller,
                                                              const RoutedRequest& request) {
  if (caller.previous_secret) {
    return Problem(403, "previous_secret",
                   "this key was rotated: its previous secret still verifies during the grace, "
                   "but commands need the current secret");
  }
  auto key = request.http.Header("idempotency-key");
  if (!key) return std::string();
  if (!VisibleAscii(*key, 128)) {
    return Problem(400, "invalid_request",
                   "Idempotency-Key must be 1-128 visible ASCII characters");
  }
  // Member ids and key ids are different namespaces: a member's command ids say so.
  return (caller.is_member() ? "member/" + caller.member : caller.key_id) + ":" + std::string(*key);
}

std::variant<model::KeyRecord, HttpResponse> ApiContext::LoadKey(const Caller& caller,
                                                                 std::string_view id) {
  auto not_found = [&] {
    return Problem(404, "key_not_found", fmt::format("no key '{}' in org '{}'", id, caller.org));
  };
  auto key_id = ParseKeyId(id);
  if (!key_id) return not_found();
  auto record = engine.queries().GetKey(caller.org, *key_id);
  if (!record.ok()) return StatusProblem(record.status());
  if (!record->has_value()) return not_found();
  return std::move(**record);
}

std::string RequestHash(const RoutedRequest& request) {
  // The body as JSON values, not bytes: a retry that re-serializes the same body (other
  // spacing or key order) is the same request.
  const nlohmann::json body = nlohmann::json::parse(request.http.body, nullptr, false);
  const std::string canonical = body.is_discarded() ? request.http.body : body.dump();
  std::string path = request.http.target.substr(0, request.http.target.find('?'));
  return Sha256Hex(request.http.method + "\n" + path + "\n" + canonical);
}

domain::CommandContext ApiContext::CommandFor(const Caller& caller, std::string command_id,
                                              const RoutedRequest& request) const {
  std::string hash = command_id.empty() ? std::string() : RequestHash(request);
  return domain::CommandContext{.org = caller.org,
                                .actor_kind = caller.actor_kind(),
                                .actor_id = caller.actor_id(),
                                .on_behalf_of = caller.on_behalf_of,
                                .command_id = std::move(command_id),
                                .command_hash = std::move(hash),
                                .correlation_id = request.request_id};
}

HttpResponse ApiContext::Execute(domain::CommandContext context, domain::Command command,
                                 std::function<HttpResponse(Result<CommandOutcome>&)> answer) {
  // std::function needs copyable state: the command travels in a shared_ptr.
  auto held = std::make_shared<std::pair<domain::CommandContext, domain::Command>>(
      std::move(context), std::move(command));
  return AfterCommand<CommandOutcome>(
      [this, held](CommandCallback done) {
        engine.Execute(held->first, std::move(held->second), std::move(done));
      },
      std::move(answer));
}

Api::Api(Engine& engine, const Clock& clock, ApiOptions options)
    : context_(std::make_unique<ApiContext>(engine, clock, std::move(options))) {
  ApiContext& ctx = *context_;
  if (ctx.options.credentials != nullptr && engine.shares_log()) {
    auto proof = NodeProof::Open(*ctx.options.credentials, clock);
    if (proof.ok()) {
      ctx.node_proof = std::move(proof).value();
      ctx.options.forward.proof = ctx.node_proof.get();
    } else {
      Log(LogLevel::kWarn, "no cluster secret: requests other nodes forward are taken as clients'",
          {{"error", proof.status().ToString()}});
    }
  }
  auto add = [&](std::string method, std::string pattern,
                 HttpResponse (*handler)(ApiContext&, const RoutedRequest&)) {
    router_.Add(std::move(method), std::move(pattern),
                [&ctx, handler](const RoutedRequest& request) { return handler(ctx, request); });
  };
  add("GET", "/healthz", HealthzHandler);
  add("GET", "/readyz", ReadyzHandler);
  add("GET", "/metrics", MetricsHandler);
  add("POST", "/v1/verify", VerifyHandler);
  add("POST", "/v1/keys/verify", VerifyHandler);  // the name DESIGN.md uses
  add("GET", "/v1/check", CheckHandler);
  add("POST", "/v1/check", CheckHandler);
  add(std::string(kAnyMethod), "/v1/check/{path...}", CheckPrefixedHandler);
  add("POST", "/v1/orgs", CreateOrgHandler);
  add("GET", "/v1/orgs/{org}/policy", GetPolicyHandler);
  add("PUT", "/v1/orgs/{org}/policy", SetPolicyHandler);
  add("POST", "/v1/orgs/{org}/keys", CreateKeyHandler);
  add("POST", "/v1/orgs/{org}/keys:revoke", RevokeKeysHandler);
  add("POST", "/v1/leaks", ReportLeaksHandler);
  add("GET", "/v1/orgs/{org}/sso", GetSsoHandler);
  add("PUT", "/v1/orgs/{org}/sso", SetSsoHandler);
  add("DELETE", "/v1/orgs/{org}/sso", DeleteSsoHandler);
  add("GET", "/v1/sso/callback", SsoCallbackHandler);
  add("GET", "/v1/sso/{org}", SsoStatusHandler);
  add("GET", "/v1/sso/{org}/login", SsoLoginHandler);
  add("GET", "/scim/v2/Users", ScimListUsersHandler);
  add("POST", "/scim/v2/Users", ScimCreateUserHandler);
  add("GET", "/scim/v2/Users/{id}", ScimGetUserHandler);
  add("PUT", "/scim/v2/Users/{id}", ScimReplaceUserHandler);
  add("PATCH", "/scim/v2/Users/{id}", ScimPatchUserHandler);
  add("DELETE", "/scim/v2/Users/{id}", ScimDeleteUserHandler);
  add("GET", "/scim/v2/Groups", ScimListGroupsHandler);
  add("POST", "/scim/v2/Groups", ScimCreateGroupHandler);
  add("GET", "/scim/v2/Groups/{id}", ScimGetGroupHandler);
  add("PUT", "/scim/v2/Groups/{id}", ScimReplaceGroupHandler);
  add("PATCH", "/scim/v2/Groups/{id}", ScimPatchGroupHandler);
  add("DELETE", "/scim/v2/Groups/{id}", ScimDeleteGroupHandler);
  add("GET", "/scim/v2/ServiceProviderConfig", ScimServiceProviderConfigHandler);
  add("GET", "/scim/v2/ResourceTypes", ScimResourceTypesHandler);
  add("GET", "/scim/v2/Schemas", ScimSchemasHandler);
  add("GET", "/v1/orgs/{org}/keys", ListKeysHandler);
  add("GET", "/v1/orgs/{org}/keys/{id}", GetKeyHandler);
  add("PATCH", "/v1/orgs/{org}/keys/{id}", UpdateKeyHandler);
  add("POST", "/v1/orgs/{org}/keys/{id}/rotate", RotateKeyHandler);
  add("POST", "/v1/orgs/{org}/keys/{id}/revoke", RevokeKeyHandler);
  add("POST", "/v1/orgs/{org}/keys/{id}/suspend", SuspendKeyHandler);
  add("POST", "/v1/orgs/{org}/keys/{id}/resume", ResumeKeyHandler);
  add("PUT", "/v1/orgs/{org}/keys/{id}/group", MoveKeyHandler);
  add("GET", "/v1/orgs/{org}/keys/{id}/history", KeyHistoryHandler);
  add("GET", "/v1/orgs/{org}/audit", ListAuditHandler);
  add("GET", "/v1/orgs/{org}/groups", ListGroupsHandler);
  add("POST", "/v1/orgs/{org}/groups", CreateGroupHandler);
  add("GET", "/v1/orgs/{org}/groups/{group}", GetGroupHandler);
  add("PUT", "/v1/orgs/{org}/groups/{group}", ChangeGroupHandler);
  add("DELETE", "/v1/orgs/{org}/groups/{group}", DeleteGroupHandler);
  add("GET", "/v1/orgs/{org}/members", ListMembersHandler);
  add("GET", "/v1/orgs/{org}/members/{member}", GetMemberHandler);
  add("PUT", "/v1/orgs/{org}/members/{member}", SetMemberHandler);
  add("DELETE", "/v1/orgs/{org}/members/{member}", RemoveMemberHandler);
  add("POST", "/v1/orgs/{org}/members/{member}/invitations", InviteMemberHandler);
  add("POST", "/v1/invitations/accept", AcceptInvitationHandler);
  add("POST", "/v1/sessions", SignInHandler);
  add("GET", "/v1/sessions/current", CurrentSessionHandler);
  add("DELETE", "/v1/sessions/current", SignOutHandler);
  add("GET", "/console", ConsoleHandler);
  add("GET", "/console/", ConsoleHandler);
  add("GET", "/console/{path...}", ConsoleHandler);
  add("POST", "/v1/authorize", AuthorizeHandler);
  add("GET", "/v1/audit/verify", VerifyAuditHandler);
}

Api::~Api() = default;

void Api::SetPublicUrl(std::string url) {
  std::lock_guard lock(context_->public_url_mu);
  if (context_->options.public_url.empty()) context_->public_url = std::move(url);
}

Result<CommandOutcome> Api::ConfigureSso(const std::string& org, domain::SsoConfig sso,
                                         const Secret& client_secret) {
  CredentialStore* credentials = context_->sessions.credentials();
  if (credentials == nullptr) {
    return Status::FailedPrecondition("single sign-on needs the credentials stream");
  }
  domain::CommandContext system{.org = org,
                                .actor_kind = fb::ActorKind::System,
                                .actor_id = "serve",
                                .authorize = false};  // the operator's flags
  return server::ConfigureSso(context_->engine, *credentials, system, std::move(sso),
                              client_secret);
}

void Api::Stop() {
  context_->readiness.Stop();  // its thread reads the engine, which goes next
  context_->hashing.Stop();
  context_->blocking.Stop();
}

std::string ApiContext::PublicUrl(const HttpRequest& request) const {
  std::lock_guard lock(public_url_mu);
  if (!public_url.empty()) return public_url;
  return "http://" + std::string(request.Header("host").value_or("localhost"));
}

void Api::SetReady(bool ready) {
  if (ready) context_->readiness.Start();
  context_->ready.store(ready, std::memory_order_release);
}

Metrics& Api::metrics() { return context_->metrics; }

HttpResponse Api::TransportError(int status, std::string_view code, std::string_view detail) {
  return Problem(status, code, detail);
}

HttpResponse Api::Handle(const HttpRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  std::string request_id = RequestId(request);
  std::string_view route = "unmatched";
  std::string principal = "-";
  HttpResponse response;
  auto split = SplitTarget(request.target);
  if (!split) {
    response = Problem(400, "invalid_request", "malformed percent-encoding in the query");
  } else {
    Router::Match match = router_.Find(request.method, split->path);
    switch (match.kind) {
      case Router::Match::Kind::kNoRoute:
        response = Problem(404, "not_found", "no such resource");
        break;
      case Router::Match::Kind::kWrongMethod: {
        std::string allow;
        for (const std::string& m : match.allowed) allow += (allow.empty() ? "" : ", ") + m;
        response =
            Problem(405, "method_not_allowed",
                    fmt::format("{} is not allowed here; allowed: {}", request.method, allow));
        response.SetHeader("Allow", allow);
        break;
      }
      case Router::Match::Kind::kFound: {
        route = match.route->pattern;
        RoutedRequest routed{request, std::move(match.params), std::move(split->query), request_id};
        if (NeedsForwarding(context_->engine, request, route, routed.Param("org"))) {
          // A sign-in is counted by its client's address here, where the address is
          // known (the writer sees this node's), and by its member there.
          const bool sign_in = route == "/v1/sessions";
          const std::string address(ClientAddress(request.remote));
          if (sign_in) {
            if (auto wait = context_->sessions.BeginAttempt({}, {}, address)) {
              response = Problem(429, "too_many_attempts",
                                 "too many failed sign-ins; wait before trying again");
              response.SetHeader("Retry-After", std::to_string(*wait));
              Finish({request.method, route, std::move(request_id), "-", request.remote, start},
                     response);
              return response;
            }
          }
          // Another node writes this org: the one-hop forward waits on the network, so
          // it runs on the blocking lane. The request is copied: it outlives this call.
          response = OffIoThread(context_->blocking, [this, request, route, sign_in, address,
                                                      org = std::string(routed.Param("org"))] {
            auto forwarded =
                ForwardToWriter(context_->engine, context_->options.forward, request, route, org);
            if (forwarded && sign_in && forwarded->status == 201) {
              context_->sessions.AttemptSucceeded({}, {}, address);
            }
            if (forwarded) return std::move(*forwarded);
            // This node took the partition over meanwhile: the client retries here.
            return StatusProblem(Status::Unavailable("the partition's writer moved; retry"));
          });
        } else {
          response = match.route->handler(routed);
        }
        if (!routed.principal.empty()) principal = std::move(routed.principal);
        break;
      }
    }
  }
  RequestRecord record{.method = request.method,
                       .route = route,
                       .request_id = std::move(request_id),
                       .principal = std::move(principal),
                       .remote = request.remote,
                       .start = start};
  if (response.later) {
    // Finish (headers, metrics, access log) once the real response exists.
    response.later = [this, inner = std::move(response.later),
                      record = std::move(record)](Responder responder) {
      inner(Responder{
          .post = responder.post,
          .respond = [this, respond = responder.respond, record](HttpResponse final_response) {
            Finish(record, final_response);
            respond(std::move(final_response));
          }});
    };
    return response;
  }
  Finish(record, response);
  return response;
}

bool Api::HandleFast(const FastRequest& request, std::string* out) {
  if (request.method != "POST" ||
      (request.target != "/v1/verify" && request.target != "/v1/keys/verify")) {
    return false;
  }
  const auto start = std::chrono::steady_clock::now();
  thread_local std::string body;  // reused: no allocation once grown
  body.clear();
  const std::optional<VerifyResult> result = VerifyFast(*context_, request, &body);
  if (!result) return false;
  // The headers the general path writes, in its order: the transport's Server and
  // Content-Type, the handler's, Finish's, then Connection and Content-Length.
  auto text = std::back_inserter(*out);
  out->append("HTTP/1.1 200 OK\r\nServer: keytrail\r\nContent-Type: application/json\r\n");
  if (auto stale = VerifyStaleSeconds(*context_)) {
    fmt::format_to(text, "X-Keytrail-Stale-Seconds: {}\r\n", *stale);
  }
  out->append("X-Request-Id: ");
  const size_t id_at = out->size();
  AppendRequestId(request.request_id, out);
  const size_t id_end = out->size();
  // Appended piece by piece: fmt::format_to through a string's back_inserter was a
  // tenth of this function's time.
  out->append("\r\nCache-Control: no-store\r\n");
  if (!request.keep_alive) out->append("Connection: close\r\n");
  out->append("Content-Length: ");
  const fmt::format_int length(body.size());
  out->append(length.data(), length.size());
  out->append("\r\n\r\n");
  out->append(body);

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  context_->metrics.CountRequest("POST", request.target, 200, seconds);
  if (LogEnabled(LogLevel::kDebug)) {  // verify answers are logged at debug level only
    const bool attributable =
        result->reason != VerifyReason::kMalformed && result->reason != VerifyReason::kUnknown;
    Log(LogLevel::kDebug, "request",
        {{"method", "POST"},
         {"route", request.target},
         {"status", 200},
         {"ms", seconds * 1000},
         {"key_id", attributable ? FormatKeyId(result->key_id) : "-"},
         {"request_id", out->substr(id_at, id_end - id_at)},
         {"remote", request.remote}});
  }
  return true;
}

HttpResponse Api::HandleAndWait(const HttpRequest& request) {
  HttpResponse response = Handle(request);
  if (!response.later) return response;
  std::promise<HttpResponse> answered;
  auto answer = answered.get_future();
  // post runs on a thread of its own, as the transport's io thread would.
  std::vector<std::thread> posted;
  std::mutex posted_mu;
  response.later(
      Responder{.post =
                    [&posted, &posted_mu](std::function<void()> fn) {
                      std::lock_guard lock(posted_mu);
                      posted.emplace_back(std::move(fn));
                    },
                .respond = [&answered](HttpResponse r) { answered.set_value(std::move(r)); }});
  HttpResponse out = answer.get();
  std::lock_guard lock(posted_mu);
  for (std::thread& t : posted) t.join();
  return out;
}

void Api::Finish(const RequestRecord& record, HttpResponse& response) {
  response.SetHeader("X-Request-Id", record.request_id);
  response.SetHeader("Cache-Control", "no-store");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - record.start).count();
  context_->metrics.CountRequest(record.method, record.route, response.status, seconds);
  const LogLevel level =
      IsQuiet(record.route) && response.status < 400 ? LogLevel::kDebug : LogLevel::kInfo;
  if (LogEnabled(level)) {  // the fields cost more than the check
    Log(level, "request",
        {{"method", record.method},
         {"route", record.route},
         {"status", response.status},
         {"ms", seconds * 1000},
         {"key_id", record.principal},
         {"request_id", record.request_id},
         {"remote", record.remote}});
  }
}

}  // namespace keytrail::server
