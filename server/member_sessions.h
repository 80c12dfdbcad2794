// MemberSessions: members signed in to the console, and what protects their sign-in.
//
// A session is the member token "<org>.<session id>.<secret>" (keys/member_secrets.h) in
// the cookie `keytrail_session` (HttpOnly, SameSite=Strict, Path=/, Secure unless the
// server is plain HTTP on loopback). It is valid while all of these hold:
//   - the org's events started it (MemberSignedIn) and did not end it (signed out, the
//     member removed), and its absolute expiry has not passed;
//   - the credentials stream holds the hash of its secret, and the cookie's matches;
//   - it was used within the idle timeout (tracked in this node's memory: a node that
//     has not seen the session yet starts its idle clock at the first request). A
//     session found idle is ended for good: here at once, and everywhere through the
//     writer (MemberSignedOut, reason "idle").
// Every request that is not GET or HEAD must echo the session's CSRF token in
// X-CSRF-Token (derived from the secret, so every node computes the same).
//
// Failed sign-ins are counted per member and per client address; past kMaxFailures in
// kFailureWindow further attempts are refused (429) until the window passes.
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
Result<std::variant<Invitation, domain::Rejection>> InviteMember(
    Engine& engine, CredentialStore& credentials, const domain::CommandContext& context,
    const std::string& member, Micros now);

// The page a token of an invitation opens: "<base>/console/invite#<token>".
std::string InvitationUrl(std::string_view base, const Secret& token);

class MemberSessions {
 public:
  static constexpr int kMaxFailures = 5;
  static constexpr Micros kFailureWindow = 15LL * 60 * 1'000'000;

  // Borrows engine, credentials (nullptr: the server has no credentials stream, so no
  // member can sign in) and clock.
  MemberSessions(Engine& engine, CredentialStore* credentials, const Clock& clock,
                 SessionOptions options)
      : engine_(engine), credentials_(credentials), clock_(clock), options_(options) {}

  // Whether the request carries a session cookie at all.
  static std::optional<std::string_view> CookieOf(const HttpRequest& request);

  // The member the session cookie of `request` signs in, or why not: 401
  // "unauthenticated" (no such live session, expired, idle too long), 403
  // "csrf_token_missing" / "csrf_token_invalid" for a state-changing request without the
  // session's CSRF token.
  std::variant<Caller, AuthFailure> Authenticate(const HttpRequest& request);

  // The CSRF token of the session whose secret hashes to `secret_hash`.
  static std::string CsrfToken(std::string_view secret_hash);

  // Sign-in throttling: nullopt if `member` of `org` may try from `address` now, else
  // the seconds to wait. RecordFailure counts a failed attempt; RecordSuccess forgets the
  // member's failures.
  std::optional<int64_t> RetryAfter(std::string_view org, std::string_view member,
                                    std::string_view address);
  void RecordFailure(std::string_view org, std::string_view member, std::string_view address);
  void RecordSuccess(std::string_view org, std::string_view member);

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
  std::optional<int64_t> Throttled(const std::string& key, Micros now);
  void Count(const std::string& key, Micros now);

  Engine& engine_;
  CredentialStore* credentials_;
  const Clock& clock_;
  const SessionOptions options_;
  std::mutex mu_;
  struct Use {
    Micros last = 0;     // last request with the session
    bool ended = false;  // found idle here: refused even before MemberSignedOut applies
  };
  std::unordered_map<std::string, Use> last_seen_;      // by session id; pruned after max_age
  std::unordered_map<std::string, Failures> failures_;  // "m:org/member", "a:address"
  Micros next_prune_ = 0;
};

}  // namespace keytrail::server
