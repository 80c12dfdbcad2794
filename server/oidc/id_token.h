// ID tokens (OpenID Connect Core 1.0, section 3.1.3.7): the signature checked against the
// provider's JWKS with libcjose (the JOSE library Apache's mod_auth_openidc uses), then
// the claims: `iss` is the issuer, `aud` holds the client id (and `azp` names it when
// there are several audiences), `exp` is after now and `iat` not after it (60 s of clock
// skew either way), and `nonce` is the one the sign-in sent. Only asymmetric algorithms
// (RS*, PS*, ES*) are accepted: never `none`, never an HMAC.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace keytrail::server::oidc {

// What the token must say.
struct IdTokenExpectations {
  std::string issuer;
  std::string client_id;
  std::string nonce;
};

// The claims keytrail reads.
struct IdTokenClaims {
  std::string issuer;
  std::string subject;
  std::string email;
  bool email_verified = false;
  std::string preferred_username;
  Micros expires_at = 0;
};

// kInvalidArgument with a reason (for the log and the sign-in page, never the token) if
// the token is malformed, signed by no key of `jwks` (a JWK Set, RFC 7517), or its
// claims are not what `want` asks for at `now`.
Result<IdTokenClaims> VerifyIdToken(std::string_view token, std::string_view jwks,
                                    const IdTokenExpectations& want, Micros now);

// The `kid` in the token's protected header ("" if none or unreadable): a kid the JWKS
// does not hold means the provider rotated its keys, so the JWKS is fetched again.
std::string KeyIdOf(std::string_view token);

}  // namespace keytrail::server::oidc
