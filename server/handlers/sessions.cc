// Members sign in (DESIGN.md, "Console and members"; server/member_sessions.h):
//   POST   /v1/orgs/{org}/members/{member}/invitations  a one-time link to set a password
//   POST   /v1/invitations/accept                       {token, password}
//   POST   /v1/sessions                                 {org, member, password}: sign in
//   GET    /v1/sessions/current                         who is signed in, what they may do
//   DELETE /v1/sessions/current                         sign out
//
// Every step that hashes (Argon2id) or appends to the credentials stream runs on the
// blocking lane; the facts go through the org's writer like every command. A secret
// (token, password, session) is never logged and appears in no error.
#include <fmt/format.h>

#include "engine/domain/command_policy.h"
#include "keys/member_secrets.h"
#include "server/handlers/handlers.h"
#include "server/json_io.h"
#include "server/problem.h"
#include "server/wire_format.h"

namespace keytrail::server {
namespace {

using nlohmann::json;
using Kind = CommandOutcome::Kind;

constexpr std::string_view kSignInFailed =
    "the organization, member or password is not right (or the member has no password yet)";

HttpResponse NoCredentials() {
  return StatusProblem(Status::Unavailable(
      "this server has no credentials stream, so members cannot sign in (see docs/console.md)"));
}

// The actions the session answer reports, org-wide or on the member's own keys.
constexpr domain::Action kReported[] = {
    domain::Action::kKeysCreate,   domain::Action::kKeysRead,    domain::Action::kKeysRotate,
    domain::Action::kKeysRevoke,   domain::Action::kKeysMove,    domain::Action::kGroupsRead,
    domain::Action::kGroupsManage, domain::Action::kMembersRead, domain::Action::kMembersManage,
    domain::Action::kAuditRead};

// What the console shows a signed-in member: its groups, what it may do, the groups it
// may create keys in, by the same rules the writer applies (AuthorizeCommand).
json SessionJson(ApiContext& ctx, const Caller& caller, std::string_view csrf, Micros expires_at) {
  const auto directory = ctx.engine.Groups(caller.org);
  const domain::Principal principal = domain::Principal::Member(caller.member);
  json groups = json::array();
  if (const domain::MemberState* m = directory->FindMember(caller.member)) {
    for (const std::string& g : m->groups) groups.push_back(g);
  }
  json allowed = json::object();
  for (domain::Action action : kReported) {
    const bool org_wide = domain::Authorize(*directory, principal, action, {}).allowed;
    const bool own =
        domain::Authorize(*directory, principal, action, domain::Resource::Key(caller.member))
            .allowed;
    allowed[std::string(domain::ActionName(action))] = org_wide || own;
  }
  domain::OrgState state;  // the policy reads only the groups and members
  static_cast<domain::GroupDirectory&>(state) = *directory;
  json mint = json::array();
  for (const auto& [id, group] : directory->groups) {
    if (group.deleted) continue;
    domain::CreateKey probe;
    probe.group = id;
    if (!domain::AuthorizeCommand(state, principal, probe)) mint.push_back(id);
  }
  const bool admin = domain::IsAdmin(*directory, principal);
  return json{{"org", caller.org},
              {"member", caller.member},
              {"groups", std::move(groups)},
              {"admin", admin},
              {"may_create_keys", !mint.empty()},
              {"mint_groups", std::move(mint)},
              {"may_grant_scim", admin},
              {"allowed", std::move(allowed)},
              {"csrf_token", csrf},
              {"expires_at", FormatRfc3339(expires_at)},
              {"idle_timeout_seconds", ctx.sessions.options().idle_timeout / 1'000'000}};
}

// The caller signed in with a session, or 401.
std::variant<Caller, HttpResponse> SessionCaller(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.Authenticated(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  if (!std::get<Caller>(who).is_member()) {
    return Problem(401, "unauthenticated", "no session: this request was signed with an API key");
  }
  return who;
}

// Sign-in and accepting an invitation take no cookie, so neither SameSite nor a CSRF token
// guards them: they take JSON only (a cross-site form cannot send it without a CORS
// preflight keytrail never answers), and a browser's Origin, when sent, must be this
// server's (no signing a victim's browser in to an attacker's account).
std::optional<HttpResponse> RefuseCrossSite(const RoutedRequest& request) {
  const std::string_view type = request.http.Header("content-type").value_or("");
  if (!type.starts_with("application/json")) {
    return Problem(415, "unsupported_media_type",
                   "send the body as Content-Type: application/json");
  }
  if (auto origin = request.http.Header("origin")) {
    const std::string_view host = request.http.Header("host").value_or("");
    const size_t scheme = origin->find("://");
    if (host.empty() || scheme == std::string_view::npos || origin->substr(scheme + 3) != host) {
      return Problem(403, "cross_origin", "sign-in is accepted from this server's own pages only");
    }
  }
  return std::nullopt;
}

// The context of a sign-in command acted by `member` itself: not authorized as a
// principal, as the token, password or session is the proof.
domain::CommandContext MemberProof(std::string org, std::string member, std::string correlation) {
  return domain::CommandContext{.org = std::move(org),
                                .actor_kind = fb::ActorKind::Member,
                                .actor_id = std::move(member),
                                .correlation_id = std::move(correlation),
                                .authorize = false};
}

}  // namespace

HttpResponse InviteMemberHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = ctx.CallerInOrg(request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  CredentialStore* credentials = ctx.sessions.credentials();
  if (credentials == nullptr) return NoCredentials();
  auto command_id = ctx.CommandId(caller, request);
  if (auto* refused = std::get_if<HttpResponse>(&command_id)) return std::move(*refused);
  if (!std::get<std::string>(command_id).empty()) {
    // A replay could not show the token again (it is not kept), so it could only fail.
    return Problem(400, "invalid_request",
                   "invitations take no Idempotency-Key: each one is a new link, shown once");
  }
  const std::string member(request.Param("member"));
  // Checked before anything is written to the credentials stream (the writer checks
  // again when it decides): who may not invite leaves no trace there.
  {
    const auto directory = ctx.engine.Groups(caller.org);
    if (directory->FindMember(member) == nullptr) {
      return Problem(404, "member_not_found",
                     fmt::format("no member '{}' (give it groups first)", member));
    }
    domain::OrgState state;  // the policy reads only the groups and members
    static_cast<domain::GroupDirectory&>(state) = *directory;
    if (auto denial = domain::AuthorizeCommand(state, PrincipalOf(caller),
                                               domain::InviteMember{member, {}, 0})) {
      return Problem(403, "forbidden",
                     fmt::format("{}: {}", domain::DenialCodeName(denial->code), denial->message));
    }
  }
  domain::CommandContext context = ctx.CommandFor(caller, {}, request);
  const std::string base = ctx.PublicUrl(request.http);
  return OffIoThread(ctx.blocking, [&ctx, credentials, context, member, base] {
    auto invited =
        IssueInvitation(ctx.engine, *credentials, context, member, ctx.clock.NowMicros());
    if (!invited.ok()) return StatusProblem(invited.status());
    if (auto* rejection = std::get_if<domain::Rejection>(&*invited)) {
      return RejectionProblem(*rejection);
    }
    const Invitation& invitation = std::get<Invitation>(*invited);
    return JsonResponse(201, json{{"url", InvitationUrl(base, invitation.token)},
                                  {"token", std::string(invitation.token.reveal())},  // once
                                  {"member", member},
                                  {"expires_at", FormatRfc3339(invitation.expires_at)}});
  });
}

HttpResponse AcceptInvitationHandler(ApiContext& ctx, const RoutedRequest& request) {
  if (auto refused = RefuseCrossSite(request)) return std::move(*refused);
  BodyReader body(request.http.body, {"token", "password"});
  auto token_text = body.String("token", true);
  auto password = body.String("password", true);
  if (!body.ok()) return body.problem();
  CredentialStore* credentials = ctx.sessions.credentials();
  if (credentials == nullptr) return NoCredentials();
  if (!AcceptablePasswordLength(*password)) {
    return Problem(
        422, "weak_password",
        fmt::format("a password has {}-{} characters", kMinPasswordLength, kMaxPasswordLength));
  }
  auto invalid = [] {
    return Problem(410, "invitation_invalid",
                   "the invitation is not valid: unknown, used or expired; ask for a new one");
  };
  auto token = ParseMemberToken(*token_text);
  if (!token) return invalid();
  auto invitation = credentials->Find(token->org, token->id);
  // Still pending in the org's events (not used, voided or expired): checked before the
  // password is hashed, so a used link costs nothing.
  if (!invitation || invitation->kind != CredentialKind::kInvitation ||
      !ConstantTimeEquals(invitation->hash, token->hash) ||
      ctx.engine.Groups(token->org)->FindInvitation(token->id, ctx.clock.NowMicros()) == nullptr) {
    return invalid();
  }
  return OffIoThread(ctx.hashing, [&ctx, credentials, invitation = std::move(*invitation),
                                   password = Secret(std::move(*password)), invalid,
                                   correlation = request.request_id] {
    auto hash = HashPassword(password.reveal());
    if (!hash.ok()) return StatusProblem(hash.status());
    const std::string credential_id = RandomId(SystemRandom());
    if (Status s = credentials->Put({.id = credential_id,
                                     .org = invitation.org,
                                     .member_id = invitation.member_id,
                                     .kind = CredentialKind::kPassword,
                                     .hash = *hash});
        !s.ok()) {
      return StatusProblem(s);
    }
    auto outcome =
        ctx.engine.Execute(MemberProof(invitation.org, invitation.member_id, correlation),
                           domain::AcceptInvitation{invitation.id, credential_id});
    if (!outcome.ok()) return StatusProblem(outcome.status());
    if (outcome->kind == Kind::kRejected) {
      if (outcome->rejection->code == domain::RejectionCode::kInvitationInvalid) return invalid();
      return RejectionProblem(*outcome->rejection);
    }
    return JsonResponse(200, json{{"org", invitation.org}, {"member", invitation.member_id}});
  });
}

HttpResponse SignInHandler(ApiContext& ctx, const RoutedRequest& request) {
  if (auto refused = RefuseCrossSite(request)) return std::move(*refused);
  BodyReader body(request.http.body, {"org", "member", "password"});
  auto org = body.String("org", true);
  auto member = body.String("member", true);
  auto password = body.String("password", true);
  if (!body.ok()) return body.problem();
  CredentialStore* credentials = ctx.sessions.credentials();
  if (credentials == nullptr) return NoCredentials();
  if (org->empty() || org->size() > 64 || member->empty() ||
      member->size() > domain::kMaxMemberIdLength) {
    return Problem(401, "sign_in_failed", kSignInFailed);  // no such org or member
  }
  // A sign-in another node forwarded was counted by address there (ForwardedSignIn).
  const std::string address = IsForwarded(ctx.options.forward, ctx.engine, request.http)
                                  ? std::string()
                                  : std::string(ClientAddress(request.http.remote));
  if (auto wait = ctx.sessions.BeginAttempt(*org, *member, address)) {
    HttpResponse response =
        Problem(429, "too_many_attempts", "too many failed sign-ins; wait before trying again");
    response.SetHeader("Retry-After", std::to_string(*wait));
    return response;
  }
  return OffIoThread(
      ctx.hashing,
      [&ctx, credentials, org = std::move(*org), member = std::move(*member),
       password = Secret(std::move(*password)), address, correlation = request.request_id] {
        auto failed = [] { return Problem(401, "sign_in_failed", kSignInFailed); };
        const auto directory = ctx.engine.Groups(org);
        const domain::MemberState* found = directory->FindMember(member);
        std::optional<Credential> stored;
        // A deactivated member (SCIM active: false) is answered as one with no password.
        if (found != nullptr && found->profile.active && !found->password_credential.empty()) {
          stored = credentials->Find(org, found->password_credential);
        }
        if (!stored || stored->kind != CredentialKind::kPassword) {
          // The same work as a wrong password, so the answer's time says nothing.
          static const std::string dummy = [] {
            auto hash = HashPassword("keytrail-no-such-member");
            return hash.ok() ? *hash : std::string();
          }();
          (void)VerifyPassword(password.reveal(), dummy);
          return failed();
        }
        if (!VerifyPassword(password.reveal(), stored->hash)) return failed();

        MemberToken session = IssueMemberToken(SystemRandom(), org);
        const Micros expires_at = ctx.clock.NowMicros() + ctx.sessions.options().max_age;
        if (Status s = credentials->Put({.id = session.id,
                                         .org = org,
                                         .member_id = member,
                                         .kind = CredentialKind::kSession,
                                         .hash = session.hash,
                                         .expires_at = expires_at});
            !s.ok()) {
          return StatusProblem(s);
        }
        auto outcome =
            ctx.engine.Execute(MemberProof(org, member, correlation),
                               domain::StartSession{member, session.id, expires_at, stored->id});
        if (!outcome.ok()) return StatusProblem(outcome.status());
        if (outcome->kind == Kind::kRejected) return failed();  // e.g. removed meanwhile
        ctx.sessions.AttemptSucceeded(org, member, address);
        ctx.sessions.Touch(session.id);
        Caller caller;
        caller.org = org;
        caller.member = member;
        caller.session_id = session.id;
        HttpResponse response = JsonResponse(
            201, SessionJson(ctx, caller, MemberSessions::CsrfToken(session.hash), expires_at));
        response.SetHeader("Set-Cookie", ctx.sessions.SetCookie(session.text.reveal()));
        return response;
      });
}

HttpResponse CurrentSessionHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = SessionCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  const auto directory = ctx.engine.Groups(caller.org);
  const auto [session, member] = directory->FindSession(caller.session_id, ctx.clock.NowMicros());
  if (session == nullptr) return Problem(401, "unauthenticated", "the session has ended");
  return JsonResponse(200, SessionJson(ctx, caller, caller.csrf_token, session->expires_at));
}

HttpResponse SignOutHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = SessionCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  return ctx.Execute(MemberProof(caller.org, caller.member, request.request_id),
                     domain::EndSession{caller.member, caller.session_id, "signed-out"},
                     [&ctx, session_id = caller.session_id](Result<CommandOutcome>& outcome) {
                       if (!outcome.ok()) return StatusProblem(outcome.status());
                       // Ended meanwhile (another tab): signed out all the same.
                       ctx.sessions.Forget(session_id);
                       HttpResponse response;
                       response.status = 204;
                       response.SetHeader("Set-Cookie", ctx.sessions.ClearCookie());
                       return response;
                     });
}

}  // namespace keytrail::server
