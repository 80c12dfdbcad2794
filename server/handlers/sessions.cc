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
  domain::CommandContext context = ctx.CommandFor(caller, {}, request);
  const std::string member(request.Param("member"));
  const std::string base = ctx.options.public_url.empty()
                               ? "http://" + std::string(request.http.Header("host").value_or(""))
                               : ctx.options.public_url;
  return OffIoThread(ctx.blocking, [&ctx, credentials, context, member, base] {
    auto invited = InviteMember(ctx.engine, *credentials, context, member, ctx.clock.NowMicros());
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
  BodyReader body(request.http.body, {"token", "password"});
  auto token_text = body.String("token", true);
  auto password = body.String("password", true);
  if (!body.ok()) return body.problem();
  CredentialStore* credentials = ctx.sessions.credentials();
  if (credentials == nullptr) return NoCredentials();
  if (password->size() < kMinPasswordLength || password->size() > kMaxPasswordLength) {
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
  if (!invitation || invitation->kind != CredentialKind::kInvitation ||
      !ConstantTimeEquals(invitation->hash, token->hash)) {
    return invalid();
  }
  return OffIoThread(ctx.blocking, [&ctx, credentials, invitation = std::move(*invitation),
                                    password = Secret(std::move(*password)), invalid,
                                    correlation = request.request_id] {
    auto hash = HashPassword(password.reveal());
    if (!hash.ok()) return StatusProblem(hash.status());
    const MemberToken credential_id = IssueMemberToken(SystemRandom(), invitation.org);
    if (Status s = credentials->Put({.id = credential_id.id,
                                     .org = invitation.org,
                                     .member_id = invitation.member_id,
                                     .kind = CredentialKind::kPassword,
                                     .hash = *hash});
        !s.ok()) {
      return StatusProblem(s);
    }
    domain::CommandContext context{.org = invitation.org,
                                   .actor_kind = fb::ActorKind::Member,
                                   .actor_id = invitation.member_id,
                                   .correlation_id = correlation,
                                   .authorize = false};  // the invitation's token is the proof
    auto outcome =
        ctx.engine.Execute(context, domain::AcceptInvitation{invitation.id, credential_id.id});
    if (!outcome.ok()) return StatusProblem(outcome.status());
    if (outcome->kind == Kind::kRejected) {
      if (outcome->rejection->code == domain::RejectionCode::kInvitationInvalid) return invalid();
      return RejectionProblem(*outcome->rejection);
    }
    return JsonResponse(200, json{{"org", invitation.org}, {"member", invitation.member_id}});
  });
}

HttpResponse SignInHandler(ApiContext& ctx, const RoutedRequest& request) {
  BodyReader body(request.http.body, {"org", "member", "password"});
  auto org = body.String("org", true);
  auto member = body.String("member", true);
  auto password = body.String("password", true);
  if (!body.ok()) return body.problem();
  CredentialStore* credentials = ctx.sessions.credentials();
  if (credentials == nullptr) return NoCredentials();
  if (auto wait = ctx.sessions.RetryAfter(*org, *member, request.http.remote)) {
    HttpResponse response =
        Problem(429, "too_many_attempts", "too many failed sign-ins; wait before trying again");
    response.SetHeader("Retry-After", std::to_string(*wait));
    return response;
  }
  request.principal = "member:" + *member;
  return OffIoThread(
      ctx.blocking, [&ctx, credentials, org = std::move(*org), member = std::move(*member),
                     password = Secret(std::move(*password)), address = request.http.remote,
                     correlation = request.request_id] {
        auto failed = [&] {
          ctx.sessions.RecordFailure(org, member, address);
          return Problem(401, "sign_in_failed", kSignInFailed);
        };
        const auto directory = ctx.engine.Groups(org);
        const domain::MemberState* found = directory->FindMember(member);
        std::optional<Credential> stored;
        if (found != nullptr && !found->password_credential.empty()) {
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
        domain::CommandContext context{.org = org,
                                       .actor_kind = fb::ActorKind::Member,
                                       .actor_id = member,
                                       .correlation_id = correlation,
                                       .authorize = false};  // the password is the proof
        auto outcome =
            ctx.engine.Execute(context, domain::StartSession{member, session.id, expires_at});
        if (!outcome.ok()) return StatusProblem(outcome.status());
        if (outcome->kind == Kind::kRejected) return failed();  // e.g. removed meanwhile
        ctx.sessions.RecordSuccess(org, member);
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
  const auto token = ParseMemberToken(MemberSessions::CookieOf(request.http).value_or(""));
  const auto directory = ctx.engine.Groups(caller.org);
  const auto [session, member] = directory->FindSession(caller.session_id, ctx.clock.NowMicros());
  if (!token || session == nullptr) return Problem(401, "unauthenticated", "the session has ended");
  return JsonResponse(
      200, SessionJson(ctx, caller, MemberSessions::CsrfToken(token->hash), session->expires_at));
}

HttpResponse SignOutHandler(ApiContext& ctx, const RoutedRequest& request) {
  auto who = SessionCaller(ctx, request);
  if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
  const Caller& caller = std::get<Caller>(who);
  domain::CommandContext context{.org = caller.org,
                                 .actor_kind = fb::ActorKind::Member,
                                 .actor_id = caller.member,
                                 .correlation_id = request.request_id,
                                 .authorize = false};  // the session is the proof
  return ctx.Execute(std::move(context),
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
