// SignInFlow: what a single sign-on hands from its start (GET /v1/sso/{org}/login) to its
// end (the provider's redirect to /v1/sso/callback): the org, the state, the nonce and
// the PKCE verifier, in one HttpOnly, SameSite=Lax cookie (the redirect back is a cross-
// site navigation), __Host- prefixed when the server is on HTTPS. Only this site reads it;
// the state in the provider's redirect must equal the one in the cookie, and every answer
// of the callback clears it, so a replayed callback finds none.
#pragma once

#include <optional>
#include <string>

#include "base/clock.h"
#include "server/http.h"

namespace keytrail::server::oidc {

inline constexpr Micros kSignInFlowLifetime = 10LL * 60 * 1'000'000;

struct SignInFlow {
  std::string org;
  std::string state;
  std::string nonce;
  std::string verifier;  // PKCE code verifier
  Micros expires_at = 0;
};

// A new flow for `org` (fresh random state, nonce and verifier), valid kSignInFlowLifetime.
SignInFlow NewSignInFlow(std::string org, Micros now);

// The Set-Cookie value that carries `flow`, and the one that clears it.
std::string SignInFlowCookie(const SignInFlow& flow, bool secure);
std::string ClearSignInFlowCookie(bool secure);

// The request's flow, unless absent, malformed, sent twice or expired at `now`.
std::optional<SignInFlow> SignInFlowOf(const HttpRequest& request, Micros now);

}  // namespace keytrail::server::oidc
