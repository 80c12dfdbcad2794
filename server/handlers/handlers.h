// The API's handlers, one file per resource, and what they share (ApiContext).
// Server-internal: api.cc wires them to routes.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "base/clock.h"
#include "engine/engine.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/deferred.h"
#include "server/metrics.h"
#include "server/node_proof.h"
#include "server/oidc/provider.h"
#include "server/rate_limiter.h"
#include "server/readiness.h"
#include "server/router.h"

namespace keytrail::server {

// What every handler gets. Thread-safe (the engine and metrics are; the rest is
// read-only or atomic).
struct ApiContext {
  Engine& engine;
  const Clock& clock;
  Metrics metrics;
  ApiOptions options;
  std::atomic<bool> ready{false};
  // The URL invitation links start with: ApiOptions::public_url, else the one Api::
  // SetPublicUrl gave (the bound address), else http:// and the request's Host.
  std::string PublicUrl(const HttpRequest& request) const;
  mutable std::mutex public_url_mu;
  std::string public_url;  // guarded by public_url_mu
  // Members' sessions, sign-in throttling.
  MemberSessions sessions;
  // Proves what this node forwards, checks what others forwarded (several nodes only).
  std::unique_ptr<NodeProof> node_proof;
  // OpenID providers of the orgs' single sign-on (discovery and keys cached).
  oidc::Providers providers{clock};
  // Leak reports: 30 a minute per client address.
  RateLimiter leak_reports{30, 60 * domain::kMicrosPerSecond, 100'000};
  // /readyz's answer, refreshed every second off the io threads (started by SetReady).
  ReadinessProbe readiness{[this] { return engine.CheckReady(options.max_projector_lag); },
                           std::chrono::seconds(1)};
  // Where requests that must block go (OffIoThread): org set-up, forwarding, invitations.
  // Declared last, so destroyed first: their queued jobs still see everything above.
  BlockingLane blocking{4, 1024};
  // Password hashing (sign-in, accepting an invitation: ~0.1 s and 64 MiB each): a lane
  // of its own, so that guesses cannot hold up forwarding and org set-up.
  BlockingLane hashing{2, 64};

  ApiContext(Engine& e, const Clock& c, ApiOptions o)
      : engine(e),
        clock(c),
        options(std::move(o)),
        public_url(options.public_url),
        sessions(e, options.credentials, c, options.sessions) {}

  // Authenticates the bearer key, or else a member's session cookie (counting
  // failures): the caller, or the 401 (403 for a missing CSRF token) to send.
  std::variant<Caller, HttpResponse> Authenticated(const RoutedRequest& request);

  // Authenticates the bearer key (counting failures) and requires the caller's org to be
  // the path's {org}: any other org is 404 org_not_found, exactly as for an org that
  // does not exist, so a caller learns nothing about other orgs.
  std::variant<Caller, HttpResponse> CallerInOrg(const RoutedRequest& request);
  // CallerInOrg, then 403 unless the caller may do `action` org-wide.
  std::variant<Caller, HttpResponse> CallerInOrg(const RoutedRequest& request,
                                                 domain::Action action);

  // The command id for a command of `caller`: "<caller key id>:<Idempotency-Key>", so
  // two callers' keys never collide; empty without the header. An Idempotency-Key that
  // is not 1..128 visible ASCII characters -> 400 invalid_request. Every command asks
  // for one, so this is also where a caller signed with a rotated key's previous secret
  // is refused: 403 previous_secret (it may read and verify, not manage keys).
  std::variant<std::string, HttpResponse> CommandId(const Caller& caller,
                                                    const RoutedRequest& request);

  // The key {id} of the caller's org; 404 key_not_found if the id is malformed or the
  // org has no such key.
  std::variant<model::KeyRecord, HttpResponse> LoadKey(const Caller& caller, std::string_view id);

  // The context of a command of `caller` in its org.
  domain::CommandContext CommandFor(const Caller& caller, std::string command_id,
                                    const RoutedRequest& request) const;

  // AfterCommand for Engine::Execute: `answer` builds the response from the outcome.
  HttpResponse Execute(domain::CommandContext context, domain::Command command,
                       std::function<HttpResponse(Result<CommandOutcome>&)> answer);
};

// The fingerprint of a command's request (method, path, body as JSON values), recorded
// with its Idempotency-Key: the key sent again with a different request is refused.
std::string RequestHash(const RoutedRequest& request);

// groups.cc
HttpResponse ListGroupsHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse GetGroupHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse CreateGroupHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ChangeGroupHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse DeleteGroupHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ListMembersHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse GetMemberHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse SetMemberHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse RemoveMemberHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse AuthorizeHandler(ApiContext& ctx, const RoutedRequest& request);
// keys.cc
// 422 invalid_expiration: `expires` is none of never, 30d, 6m, 1y, an RFC 3339 time.
HttpResponse InvalidExpiration();
HttpResponse CreateKeyHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ListKeysHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse GetKeyHandler(ApiContext& ctx, const RoutedRequest& request);
// key_actions.cc
HttpResponse RotateKeyHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse RevokeKeyHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse UpdateKeyHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse SuspendKeyHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ResumeKeyHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse MoveKeyHandler(ApiContext& ctx, const RoutedRequest& request);
// POST /v1/orgs/{org}/keys:revoke: offboarding, many keys in one command.
HttpResponse RevokeKeysHandler(ApiContext& ctx, const RoutedRequest& request);
// scim.cc: SCIM 2.0 under /scim/v2 (RFC 7643, 7644), for keys holding `scim`
HttpResponse ScimListUsersHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimGetUserHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimCreateUserHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimReplaceUserHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimPatchUserHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimDeleteUserHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimListGroupsHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimGetGroupHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimCreateGroupHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimReplaceGroupHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimPatchGroupHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimDeleteGroupHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimServiceProviderConfigHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimResourceTypesHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ScimSchemasHandler(ApiContext& ctx, const RoutedRequest& request);
// sso.cc: single sign-on for the console (OpenID Connect)
HttpResponse SsoStatusHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse SsoLoginHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse SsoCallbackHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse GetSsoHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse SetSsoHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse DeleteSsoHandler(ApiContext& ctx, const RoutedRequest& request);
// Sets the org's single sign-on with `client_secret` (a new credentials record unless the
// org's current one holds the same secret). For the handler and `serve --oidc-*`.
Result<CommandOutcome> ConfigureSso(Engine& engine, CredentialStore& credentials,
                                    const domain::CommandContext& context, domain::SsoConfig sso,
                                    const Secret& client_secret);
// leaks.cc: POST /v1/leaks
HttpResponse ReportLeaksHandler(ApiContext& ctx, const RoutedRequest& request);
// orgs.cc
HttpResponse CreateOrgHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse GetPolicyHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse SetPolicyHandler(ApiContext& ctx, const RoutedRequest& request);
// While the event log is unreachable, verify answers from views that may miss the latest
// revocations: X-Keytrail-Stale-Seconds says for how long (seconds since the log stopped
// answering). Nothing when the log answers (one atomic load).
void MarkStale(const ApiContext& ctx, HttpResponse& response);

// sessions.cc: members sign in
HttpResponse InviteMemberHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse AcceptInvitationHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse SignInHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse CurrentSessionHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse SignOutHandler(ApiContext& ctx, const RoutedRequest& request);
// console.cc: the embedded console (GET /console, /console/, /console/{path...})
HttpResponse ConsoleHandler(ApiContext& ctx, const RoutedRequest& request);

// verify.cc
HttpResponse VerifyHandler(ApiContext& ctx, const RoutedRequest& request);
// Verify on the fast path (Api::HandleFast): for a body {"key": "<token>"} or an empty
// body with "Authorization: Bearer <token>", verifies and appends the answer's JSON (the
// bytes VerifyHandler gives) to *body and returns the verdict; for any other request,
// nullopt, having done nothing.
std::optional<VerifyResult> VerifyFast(ApiContext& ctx, const FastRequest& request,
                                       std::string* body);
// Seconds the views have been stale for (the log unreachable), if they are.
std::optional<int64_t> VerifyStaleSeconds(const ApiContext& ctx);
// check.cc: /v1/check (the question in the query or headers) and /v1/check/{path...}
// (Envoy's path_prefix: the question in the headers only)
HttpResponse CheckHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse CheckPrefixedHandler(ApiContext& ctx, const RoutedRequest& request);
// ops.cc
HttpResponse HealthzHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse ReadyzHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse MetricsHandler(ApiContext& ctx, const RoutedRequest& request);

// audit.cc
// GET /v1/orgs/{org}/keys/{id}?as_of=T: the key and its group's rules as they were at T
// (Queries::KeyAsOf / DirectoryAsOf: the org's events up to T, folded); 404 key_not_found
// if the key did not exist then.
HttpResponse GetKeyAsOf(ApiContext& ctx, const Caller& caller, std::string_view id,
                        std::string_view as_of);
HttpResponse ListAuditHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse KeyHistoryHandler(ApiContext& ctx, const RoutedRequest& request);
HttpResponse VerifyAuditHandler(ApiContext& ctx, const RoutedRequest& request);

}  // namespace keytrail::server
