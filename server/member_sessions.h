// MemberSessions: members signed in to the console, and what protects their sign-in.
//
// A session is the member token "<org>.<session id>.<secret>" (keys/member_secrets.h) in
// a cookie: `__Host-keytrail_session` (HttpOnly, SameSite=Strict, Path=/, Secure) or, for
// plain HTTP on loopback only, `keytrail_session` without Secure. A request carrying more
// than one session cookie is refused (a planted second cookie cannot pick the session).
// A session is valid while all of these hold:
//   - the org's events started it (MemberSignedIn) and did not end it (signed out, a new
//     password, the member removed, replaced by a newer one), and its absolute expiry has
//     not passed;
//   - the credentials stream holds the hash of its secret, and the cookie's matches;
//   - this node has not seen it idle longer than the idle timeout. The idle clock is each
//     node's own and starts at the first request a node sees (also after a restart); a
//     node that finds a session idle refuses it from then on, and asks the org's writer to
//     end it everywhere (MemberSignedOut, reason "idle"), which the writer does when the
//     request reaches it (always with one node).
// Every request that is not GET or HEAD must echo the session's CSRF token in
// X-CSRF-Token (derived from the secret, so every node computes the same).
//
// Sign-in attempts are counted per member and per client address (its IP, without the
// port) before the password is checked, so concurrent guesses count too; past
// kMaxFailures in kFailureWindow further attempts are refused (429) until the window
// passes. A successful sign-in forgets the member's count.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "base/clock.h"
#include "engine/credential_store.h"
#include "engine/engine.h"
#include "server/auth.h"
#include "server/http.h"

namespace keytrail::server {

inline constexpr std::string_view kSessionCookie = "keytrail_session";
inline constexpr std::string_view kSecureSessionCookie = "__Host-keytrail_session";

// How sessions behave (keytrail serve's --session-* flags).
struct SessionOptions {
  Micros idle_timeout = 30LL * 60 * 1'000'000;
  Micros max_age = 12LL * 3600 * 1'000'000;
  bool secure_cookie = true;  // false only for plain HTTP on loopback
};

// A new invitation: the token is shown once (in the link) and stored nowhere.
struct Invitation {
  Secret token;
  Micros expires_at = 0;
};

// Invites `member` (who must exist) to set its password: puts the hash of a new token
// on the credentials stream, then issues InviteMember in `context` (authorized as any
// command unless context.authorize is off). Blocks until both are durable: call it off
// io threads. A rejection (member_not_found, forbidden, ...) is returned as such.
Result<std::variant<Invitation, domain::Rejection>> IssueInvitation(
    Engine& engine, CredentialStore& credentials, const domain::CommandContext& context,
    const std::string& member, Micros now);

// The page a token of an invitation opens: "<base>/console/invite#<token>".
std::string InvitationUrl(std::string_view base, const Secret& token);

// The client's IP of a peer address "ip:port" or "[ip6]:port" (the port dropped).
std::string_view ClientAddress(std::string_view remote);

// The value of the cookie `name` or `secure_name` (its __Host- form); nullopt if absent,
// empty if the request carries it twice (then neither counts).
std::optional<std::string_view> CookieNamed(const HttpRequest& request, std::string_view name,
                                            std::string_view secure_name);

class MemberSessions {
 public:
  static constexpr int kMaxFailures = 5;
  static constexpr Micros kFailureWindow = 15LL * 60 * 1'000'000;
  static constexpr size_t kMaxTracked = 100'000;  // failure counters kept at most

  // Borrows engine, credentials (nullptr: the server has no credentials stream, so no
  // member can sign in) and clock.
  MemberSessions(Engine& engine, CredentialStore* credentials, const Clock& clock,
                 SessionOptions options)
      : engine_(engine), credentials_(credentials), clock_(clock), options_(options) {}

  // The session cookie of `request`: nullopt if it has none; an empty value if it has
  // more than one (which never signs in).
  static std::optional<std::string_view> CookieOf(const HttpRequest& request);

  // The member the session cookie of `request` signs in, or why not: 401
  // "unauthenticated" (no such live session, expired, idle too long), 403
  // "csrf_token_missing" / "csrf_token_invalid" for a state-changing request without the
  // session's CSRF token.
  std::variant<Caller, AuthFailure> Authenticate(const HttpRequest& request);

  // The CSRF token of the session whose secret hashes to `secret_hash`.
  static std::string CsrfToken(std::string_view secret_hash);

  // Sign-in throttling. BeginAttempt: nullopt if `member` of `org` may try from
  // `address` now, and the attempt is counted as failed until AttemptSucceeded says
  // otherwise; else the seconds to wait. An empty member or address is not counted.
  std::optional<int64_t> BeginAttempt(std::string_view org, std::string_view member,
                                      std::string_view address);
  void AttemptSucceeded(std::string_view org, std::string_view member, std::string_view address);

  // Starts the idle clock of a new session.
  void Touch(std::string_view session_id);
  // Forgets a session's idle clock (it ended).
  void Forget(std::string_view session_id);

  // The Set-Cookie value for a new session token, and the one that clears it.
  std::string SetCookie(std::string_view token) const;
  std::string ClearCookie() const;

  const SessionOptions& options() const { return options_; }
  CredentialStore* credentials() const { return credentials_; }

 private:
  struct Failures {
    int count = 0;
    Micros window_start = 0;
  };
  struct Use {
    Micros last = 0;     // last request with the session
    bool ended = false;  // found idle here: refused even before MemberSignedOut applies
  };
  std::optional<int64_t> Throttled(const std::string& key, Micros now);
  void Count(const std::string& key, Micros now);
  std::string_view CookieName() const {
    return options_.secure_cookie ? kSecureSessionCookie : kSessionCookie;
  }

  Engine& engine_;
  CredentialStore* credentials_;
  const Clock& clock_;
  const SessionOptions options_;
  std::mutex mu_;
  std::unordered_map<std::string, Use> last_seen_;      // by session id; pruned after max_age
  std::unordered_map<std::string, Failures> failures_;  // MemberKey, AddressKey
  Micros next_prune_ = 0;
};

}  // namespace keytrail::server
