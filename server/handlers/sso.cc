// Single sign-on for the console (OpenID Connect, authorization code flow with PKCE):
//
//   GET  /v1/sso/{org}            does the org sign in through an identity provider?
//   GET  /v1/sso/{org}/login      303 to the provider, with state, nonce and a PKCE challenge
//                                 in a short-lived cookie
//   GET  /v1/sso/callback         the provider sends the browser back: the code is
//                                 exchanged, the ID token checked (oidc/id_token.h), the
//                                 member found by the org's claim, a session started
//   GET|PUT|DELETE /v1/orgs/{org}/sso   the org's provider (admins)
//
// The client secret goes to the credentials stream (never the events, never an answer);
// the org's events say which provider, which claim names the member, and whether
// passwords still work.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/credential_store.h"
#include "keys/member_secrets.h"
#include "server/handlers/handlers.h"
#include "server/http_client.h"
#include "server/json_io.h"
#include "server/log.h"
#include "server/member_sessions.h"
#include "server/oidc/id_token.h"
#include "server/oidc/provider.h"
#include "server/oidc/sign_in_flow.h"
#include "server/problem.h"

namespace keytrail::server {
namespace {

using nlohmann::json;
using Kind = CommandOutcome::Kind;

std::string CallbackUrl(ApiContext& ctx, const RoutedRequest& request) {
  return ctx.PublicUrl(request.http) + "/v1/sso/callback";
}

// The set-up as the API shows it: never the secret, only whether one is set.
json ConfigJson(const std::string& callback_url, const domain::SsoConfig& sso) {
  if (!sso.enabled()) return json{{"issuer", nullptr}};
  return json{{"issuer", sso.issuer},
              {"client_id", sso.client_id},
              {"claim", sso.claim},
              {"jit_group", sso.jit_group.empty() ? json(nullptr) : json(sso.jit_group)},
              {"password_sign_in", sso.password_sign_in},
              {"callback_url", callback_url},
              {"client_secret_set", !sso.client_secret_id.empty()}};
}

// Back to the console, the flow cookie cleared: with `code` (not empty), to its sign-in
// page, which explains it (`why` goes to the log only).
HttpResponse BackToConsole(ApiContext& ctx, std::string_view code, std::string_view why = "") {
  if (!why.empty()) Log(LogLevel::kInfo, "sso sign-in refused", {{"code", code}, {"why", why}});
  HttpResponse response;
  response.status = 303;
  response.SetHeader("Location", code.empty() ? std::string("/console/")
                                              : fmt::format("/console/?sso_error={}", code));
  response.SetHeader("Set-Cookie",
                     oidc::ClearSignInFlowCookie(ctx.sessions.options().secure_cookie));
  return response;
}

// The member id the configured claim names; empty if the token lacks it (an email must
// be verified).
std::string MemberIdFrom(const oidc::IdTokenClaims& claims, std::string_view claim) {
  if (claim == "sub") return claims.subject;
  if (claim == "preferred_username") return claims.preferred_username;
  return claims.email_verified ? claims.email : std::string();
}

}  // namespace

Result<CommandOutcome> ConfigureSso(Engine& engine, CredentialStore& credentials,
                                    const domain::CommandContext& context, domain::SsoConfig sso,
                                    const Secret& client_secret) {
  const domain::SsoConfig current = engine.Groups(context.org)->sso;
  if (auto stored = credentials.Find(context.org, current.client_secret_id);
      stored && stored->hash == client_secret.reveal()) {
    sso.client_secret_id = current.client_secret_id;  // the same secret: no new record
  } else {
    sso.client_secret_id = RandomId(SystemRandom());
    KT_RETURN_IF_ERROR(credentials.Put({.id = sso.client_secret_id,
                                        .org = context.org,
                                        .kind = CredentialKind::kClientSecret,
                                        .hash = std::string(client_secret.reveal())}));
  }
  return engine.Execute(context, domain::SetSso{std::move(sso)});
}

// GET /v1/sso/{org}: public, for the sign-in page. An unknown org looks like one without.
HttpResponse SsoStatusHandler(ApiContext& ctx, const RoutedRequest& request) {
  const std::string org(request.Param("org"));
  const domain::SsoConfig sso = ctx.engine.Groups(org)->sso;
  return JsonResponse(
      200, json{{"sso", sso.enabled()},
                {"password_sign_in", !sso.enabled() || sso.password_sign_in},
                {"login_url",
                 sso.enabled() ? json(fmt::format("/v1/sso/{}/login", org)) : json(nullptr)}});
}

// GET /v1/sso/{org}/login: to the provider (its discovery is fetched off the io thread).
HttpResponse SsoLoginHandler(ApiContext& ctx, const RoutedRequest& request) {
  const std::string org(request.Param("org"));
  const domain::SsoConfig sso = ctx.engine.Groups(org)->sso;
  if (!sso.enabled()) return BackToConsole(ctx, "not_configured");
  return OffIoThread(ctx.blocking, [&ctx, org, sso, callback = CallbackUrl(ctx, request)] {
    auto metadata = ctx.providers.For(sso.issuer).Metadata();
    if (!metadata.ok()) {
      return BackToConsole(ctx, "provider_error", metadata.status().message());
    }
    const oidc::SignInFlow flow = oidc::NewSignInFlow(org, ctx.clock.NowMicros());
    const char separator =
        metadata->authorization_endpoint.find('?') == std::string::npos ? '?' : '&';
    HttpResponse response;
    response.status = 303;
    response.SetHeader(
        "Location",
        fmt::format("{}{}response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&"
                    "nonce={}&code_challenge={}&code_challenge_method=S256",
                    metadata->authorization_endpoint, separator, UrlEncode(sso.client_id),
                    UrlEncode(callback), UrlEncode("openid email profile"), flow.state, flow.nonce,
                    oidc::CodeChallenge(flow.verifier)));
    response.SetHeader("Set-Cookie",
                       oidc::SignInFlowCookie(flow, ctx.sessions.options().secure_cookie));
    response.SetHeader("Cache-Control", "no-store");
    return response;
  });
}

// GET /v1/sso/callback?code=&state= (or ?error=): the member's session, or back to the
// sign-in page with the reason.
HttpResponse SsoCallbackHandler(ApiContext& ctx, const RoutedRequest& request) {
  const Micros now = ctx.clock.NowMicros();
  auto flow = oidc::SignInFlowOf(request.http, now);
  const auto state = request.Query("state");
  // The flow cookie is single use (cleared by every answer), so a replayed callback
  // finds none.
  if (!flow || !state || *state != flow->state) {
    return BackToConsole(ctx, "invalid_state", "no sign-in in progress, or another one's state");
  }
  if (request.Query("error")) {
    return BackToConsole(ctx, "provider_error", std::string(*request.Query("error")));
  }
  const auto code = request.Query("code");
  if (!code || code->empty()) return BackToConsole(ctx, "provider_error", "no code");
  CredentialStore* credentials = ctx.sessions.credentials();
  if (credentials == nullptr) return BackToConsole(ctx, "not_configured", "no credentials stream");
  return OffIoThread(ctx.blocking, [&ctx, credentials, flow = *flow, code = std::string(*code),
                                    callback = CallbackUrl(ctx, request),
                                    correlation = request.request_id] {
    const domain::SsoConfig sso = ctx.engine.Groups(flow.org)->sso;
    if (!sso.enabled()) return BackToConsole(ctx, "not_configured");
    auto secret = credentials->Find(flow.org, sso.client_secret_id);
    if (!secret || secret->kind != CredentialKind::kClientSecret) {
      return BackToConsole(ctx, "not_configured", "the client secret is not on this node");
    }
    oidc::Provider& provider = ctx.providers.For(sso.issuer);
    auto token = provider.ExchangeCode(code, callback, flow.verifier, sso.client_id, secret->hash);
    if (!token.ok()) return BackToConsole(ctx, "provider_error", token.status().message());
    auto jwks = provider.Jwks(false);
    if (jwks.ok() && jwks->find(oidc::KeyIdOf(*token)) == std::string::npos) {
      jwks = provider.Jwks(true);  // a key it lacks: the provider rotated its keys
    }
    if (!jwks.ok()) return BackToConsole(ctx, "provider_error", jwks.status().message());
    const oidc::IdTokenExpectations want{sso.issuer, sso.client_id, flow.nonce};
    auto claims = oidc::VerifyIdToken(*token, *jwks, want, ctx.clock.NowMicros());
    if (!claims.ok()) return BackToConsole(ctx, "invalid_token", claims.status().message());
    const std::string member = MemberIdFrom(*claims, sso.claim);
    if (member.empty()) {
      return BackToConsole(ctx, "unknown_member",
                           fmt::format("the token has no usable {}", sso.claim));
    }
    const auto directory = ctx.engine.Groups(flow.org);
    const domain::MemberState* found = directory->FindMember(member);
    if (found == nullptr && !sso.jit_group.empty()) {  // just in time: into the org's group
      domain::CommandContext system{.org = flow.org,
                                    .actor_kind = fb::ActorKind::System,
                                    .actor_id = "sso",
                                    .correlation_id = correlation,
                                    .authorize = false};
      auto added = ctx.engine.Execute(system, domain::SetMemberGroups{member, {sso.jit_group}});
      if (!added.ok() || added->kind == Kind::kRejected) {
        return BackToConsole(ctx, "unknown_member", "the member could not be created");
      }
    } else if (found == nullptr) {
      return BackToConsole(ctx, "unknown_member", "no such member and no jit_group");
    } else if (!found->profile.active) {
      return BackToConsole(ctx, "member_inactive");
    }
    MemberToken session = IssueMemberToken(SystemRandom(), flow.org);
    const Micros expires_at = ctx.clock.NowMicros() + ctx.sessions.options().max_age;
    if (Status s = credentials->Put({.id = session.id,
                                     .org = flow.org,
                                     .member_id = member,
                                     .kind = CredentialKind::kSession,
                                     .hash = session.hash,
                                     .expires_at = expires_at});
        !s.ok()) {
      return BackToConsole(ctx, "provider_error", s.message());
    }
    domain::CommandContext proof{.org = flow.org,
                                 .actor_kind = fb::ActorKind::Member,
                                 .actor_id = member,
                                 .correlation_id = correlation,
                                 .authorize = false};  // the provider's token was the proof
    domain::StartSession start{member, session.id, expires_at, ""};
    start.sso_issuer = sso.issuer;
    auto outcome = ctx.engine.Execute(proof, std::move(start));
    if (!outcome.ok()) return BackToConsole(ctx, "provider_error", outcome.status().message());
    if (outcome->kind == Kind::kRejected) {
      return BackToConsole(ctx,
                           outcome->rejection->code == domain::RejectionCode::kMemberInactive
                               ? "member_inactive"
                               : "unknown_member",
                           outcome->rejection->message);
    }
    ctx.sessions.Touch(session.id);
    HttpResponse response = BackToConsole(ctx, "");  // clears the flow cookie
    response.headers.push_back({"Set-Cookie", ctx.sessions.SetCookie(session.text.reveal())});
    return response;
  });
}

// GET /v1/orgs/{org}/sso: the org's provider, without its secret (admins).
HttpResponse GetSsoHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.CallerInOrg(request, domain::Action::kMembersManage);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  return JsonResponse(200, ConfigJson(CallbackUrl(ctx, request),
                                      ctx.engine.Groups(std::get<Caller>(who).org)->sso));
}

// PUT /v1/orgs/{org}/sso {issuer, client_id, client_secret, claim?, jit_group?,
// password_sign_in?}: the provider is asked for its discovery document first (422 if it
// does not answer as that issuer); the secret goes to the credentials stream.
HttpResponse SetSsoHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.CallerInOrg(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  auto command_id = ctx.CommandId(caller, request);
  if (auto* refused = std::get_if<HttpResponse>(&command_id)) return std::move(*refused);
  BodyReader body(request.http.body, {"issuer", "client_id", "client_secret", "claim", "jit_group",
                                      "password_sign_in"});
  auto issuer = body.String("issuer", true);
  auto client_id = body.String("client_id", true);
  auto client_secret = body.String("client_secret", true);
  auto claim = body.String("claim", false);
  const json* jit = body.Member("jit_group", false);
  const json* passwords = body.Member("password_sign_in", false);
  if (!body.ok()) return body.problem();
  domain::SsoConfig sso;
  sso.issuer = *issuer;
  sso.client_id = *client_id;
  sso.claim = claim.value_or("email");
  if (jit != nullptr && !jit->is_null()) {
    if (!jit->is_string())
      return Problem(400, "invalid_request", "jit_group is a group id or null");
    sso.jit_group = jit->get<std::string>();
  }
  if (passwords != nullptr) {
    if (!passwords->is_boolean()) {
      return Problem(400, "invalid_request", "password_sign_in is true or false");
    }
    sso.password_sign_in = passwords->get<bool>();
  }
  if (Status url = oidc::CheckProviderUrl(sso.issuer); !url.ok()) {
    return Problem(422, "invalid_sso", url.message());
  }
  if (client_secret->empty() || client_secret->size() > 1024) {
    return Problem(422, "invalid_sso", "client_secret is 1-1024 characters");
  }
  CredentialStore* credentials = ctx.sessions.credentials();
  if (credentials == nullptr) {
    return Problem(503, "unavailable", "this server keeps no credentials stream");
  }
  domain::CommandContext context =
      ctx.CommandFor(caller, std::move(std::get<std::string>(command_id)), request);
  return OffIoThread(ctx.blocking, [&ctx, credentials, context = std::move(context),
                                    sso = std::move(sso), callback = CallbackUrl(ctx, request),
                                    secret = Secret(std::move(*client_secret))]() mutable {
    auto metadata = ctx.providers.For(sso.issuer).Metadata();
    if (!metadata.ok()) {
      return Problem(
          422, "invalid_sso",
          fmt::format("the issuer's discovery document: {}", metadata.status().message()));
    }
    auto outcome = ConfigureSso(ctx.engine, *credentials, context, std::move(sso), secret);
    if (!outcome.ok()) return StatusProblem(outcome.status());
    if (outcome->kind == Kind::kRejected) return RejectionProblem(*outcome->rejection);
    return JsonResponse(200, ConfigJson(callback, ctx.engine.Groups(context.org)->sso));
  });
}

// DELETE /v1/orgs/{org}/sso: members sign in with passwords again (admins).
HttpResponse DeleteSsoHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.CallerInOrg(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  auto command_id = ctx.CommandId(caller, request);
  if (auto* refused = std::get_if<HttpResponse>(&command_id)) return std::move(*refused);
  return ctx.Execute(ctx.CommandFor(caller, std::move(std::get<std::string>(command_id)), request),
                     domain::SetSso{}, [](Result<CommandOutcome>& outcome) {
                       if (!outcome.ok()) return StatusProblem(outcome.status());
                       if (outcome->kind == Kind::kRejected) {
                         return RejectionProblem(*outcome->rejection);
                       }
                       HttpResponse done;
                       done.status = 204;
                       return done;
                     });
}

}  // namespace keytrail::server
