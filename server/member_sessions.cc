#include "server/member_sessions.h"

#include <fmt/format.h>

#include "keys/member_secrets.h"
#include "server/problem.h"

namespace keytrail::server {
namespace {

constexpr Micros kMicros = 1'000'000;

AuthFailure Unauthenticated(std::string_view why) {
  return AuthFailure{"session", Problem(401, "unauthenticated", why)};
}

bool ChangesState(std::string_view method) { return method != "GET" && method != "HEAD"; }

std::string MemberKey(std::string_view org, std::string_view member) {
  return fmt::format("m:{}/{}", org, member);
}
std::string AddressKey(std::string_view address) { return fmt::format("a:{}", address); }

}  // namespace

Result<std::variant<Invitation, domain::Rejection>> IssueInvitation(
    Engine& engine, CredentialStore& credentials, const domain::CommandContext& context,
    const std::string& member, Micros now) {
  MemberToken token = IssueMemberToken(SystemRandom(), context.org);
  const Micros expires_at = now + domain::kInvitationLifetime;
  KT_RETURN_IF_ERROR(credentials.Put({.id = token.id,
                                      .org = context.org,
                                      .member_id = member,
                                      .kind = CredentialKind::kInvitation,
                                      .hash = token.hash,
                                      .expires_at = expires_at}));
  auto outcome = engine.Execute(context, domain::InviteMember{member, token.id, expires_at});
  if (!outcome.ok()) return outcome.status();
  using Answer = std::variant<Invitation, domain::Rejection>;
  if (outcome->kind == CommandOutcome::Kind::kRejected) return Answer(*outcome->rejection);
  return Answer(Invitation{std::move(token.text), expires_at});
}

std::string InvitationUrl(std::string_view base, const Secret& token) {
  return fmt::format("{}/console/invite#{}", base, token.reveal());
}

std::string_view ClientAddress(std::string_view remote) {
  if (remote.starts_with('[')) {  // [v6]:port
    const size_t end = remote.find(']');
    return end == std::string_view::npos ? remote : remote.substr(1, end - 1);
  }
  const size_t colon = remote.rfind(':');
  return colon == std::string_view::npos ? remote : remote.substr(0, colon);
}

std::optional<std::string_view> MemberSessions::CookieOf(const HttpRequest& request) {
  return CookieNamed(request, kSessionCookie, kSecureSessionCookie);
}

std::optional<std::string_view> CookieNamed(const HttpRequest& request, std::string_view name,
                                            std::string_view secure_name) {
  std::optional<std::string_view> found;
  for (const HttpHeader& header : request.headers) {
    if (header.name != "cookie") continue;
    std::string_view rest = header.value;
    while (!rest.empty()) {
      const size_t end = rest.find(';');
      std::string_view pair = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view cookie = pair.substr(0, eq);
      if (cookie != name && cookie != secure_name) continue;
      if (found) return std::string_view();  // two of them: neither counts
      found = pair.substr(eq + 1);
    }
  }
  return found;
}

std::string MemberSessions::CsrfToken(std::string_view secret_hash) {
  return Sha256Hex(fmt::format("keytrail-csrf:{}", secret_hash)).substr(0, 32);
}

std::variant<Caller, AuthFailure> MemberSessions::Authenticate(const HttpRequest& request) {
  auto cookie = CookieOf(request);
  if (!cookie) return Unauthenticated("no session: sign in (POST /v1/sessions)");
  auto token = ParseMemberToken(*cookie);
  if (!token || credentials_ == nullptr) {
    return Unauthenticated("the session has ended: sign in again");
  }
  const Micros now = clock_.NowMicros();
  const auto directory = engine_.Groups(token->org);
  const std::string member_id(directory->FindSession(token->id, now).second);
  auto credential = credentials_->Find(token->org, token->id);
  if (member_id.empty() || !credential || credential->kind != CredentialKind::kSession ||
      credential->member_id != member_id || !ConstantTimeEquals(credential->hash, token->hash)) {
    return Unauthenticated("the session has ended: sign in again");
  }
  {
    std::lock_guard lock(mu_);
    auto [it, fresh] = last_seen_.try_emplace(token->id, Use{now, false});
    if (it->second.ended) return Unauthenticated("the session has ended: sign in again");
    if (!fresh && now - it->second.last > options_.idle_timeout) {
      it->second.ended = true;
      domain::CommandContext context{.org = token->org,
                                     .actor_kind = fb::ActorKind::System,
                                     .actor_id = "session-idle",
                                     .authorize = false};  // the system ends what it found idle
      engine_.Execute(context, domain::EndSession{member_id, token->id, "idle"},
                      [](Result<CommandOutcome>) {});  // ended here already; best effort there
      return Unauthenticated("the session was idle too long: sign in again");
    }
    it->second.last = now;
    if (now >= next_prune_) {  // forget sessions past their absolute expiry anyway
      next_prune_ = now + 60 * kMicros;
      std::erase_if(last_seen_,
                    [&](const auto& entry) { return now - entry.second.last > options_.max_age; });
    }
  }
  if (ChangesState(request.method)) {
    auto sent = request.Header("x-csrf-token");
    if (!sent) {
      return AuthFailure{"csrf", Problem(403, "csrf_token_missing",
                                         "a signed-in request that changes state must carry "
                                         "the session's X-CSRF-Token header")};
    }
    if (!ConstantTimeEquals(*sent, CsrfToken(token->hash))) {
      return AuthFailure{"csrf",
                         Problem(403, "csrf_token_invalid", "X-CSRF-Token is not this session's")};
    }
  }
  Caller caller;
  caller.org = token->org;
  caller.member = std::move(member_id);
  caller.session_id = token->id;
  caller.csrf_token = CsrfToken(token->hash);
  return caller;
}

std::optional<int64_t> MemberSessions::Throttled(const std::string& key, Micros now) {
  auto it = failures_.find(key);
  if (it == failures_.end()) return std::nullopt;
  if (now - it->second.window_start >= kFailureWindow) {
    failures_.erase(it);
    return std::nullopt;
  }
  if (it->second.count < kMaxFailures) return std::nullopt;
  return (it->second.window_start + kFailureWindow - now + kMicros - 1) / kMicros;
}

void MemberSessions::Count(const std::string& key, Micros now) {
  Failures& f = failures_[key];
  if (f.count == 0 || now - f.window_start >= kFailureWindow) f = {0, now};
  ++f.count;
}

std::optional<int64_t> MemberSessions::BeginAttempt(std::string_view org, std::string_view member,
                                                    std::string_view address) {
  const Micros now = clock_.NowMicros();
  const std::string by_member = member.empty() ? std::string() : MemberKey(org, member);
  const std::string by_address = address.empty() ? std::string() : AddressKey(address);
  std::lock_guard lock(mu_);
  std::optional<int64_t> wait;
  for (const std::string* key : {&by_member, &by_address}) {
    if (key->empty()) continue;
    if (auto w = Throttled(*key, now)) wait = std::max(wait.value_or(0), *w);
  }
  if (wait) return wait;
  if (failures_.size() >= kMaxTracked) {  // bound the table: drop what has expired, then
    std::erase_if(failures_,              // single attempts
                  [&](const auto& e) { return now - e.second.window_start >= kFailureWindow; });
    if (failures_.size() >= kMaxTracked) {
      std::erase_if(failures_, [](const auto& e) { return e.second.count <= 1; });
    }
  }
  if (!by_member.empty()) Count(by_member, now);
  if (!by_address.empty()) Count(by_address, now);
  return std::nullopt;
}

void MemberSessions::AttemptSucceeded(std::string_view org, std::string_view member,
                                      std::string_view address) {
  std::lock_guard lock(mu_);
  if (!member.empty()) failures_.erase(MemberKey(org, member));
  if (address.empty()) return;
  if (auto it = failures_.find(AddressKey(address));
      it != failures_.end() && it->second.count > 0) {
    --it->second.count;
  }
}

void MemberSessions::Touch(std::string_view session_id) {
  std::lock_guard lock(mu_);
  last_seen_[std::string(session_id)] = Use{clock_.NowMicros(), false};
}

void MemberSessions::Forget(std::string_view session_id) {
  std::lock_guard lock(mu_);
  last_seen_.erase(std::string(session_id));
}

std::string MemberSessions::SetCookie(std::string_view token) const {
  return fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}", CookieName(), token,
                     options_.max_age / kMicros, options_.secure_cookie ? "; Secure" : "");
}

std::string MemberSessions::ClearCookie() const {
  return fmt::format("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}", CookieName(),
                     options_.secure_cookie ? "; Secure" : "");
}

}  // namespace keytrail::server
