// Provider: one OpenID provider as the console's single sign-on sees it: its discovery
// document and signing keys (fetched over HTTPS, or plain HTTP on loopback, and cached
// for their Cache-Control max-age: at least a minute, at most a day, an hour if none),
// and the token endpoint that turns an authorization code into an ID token.
//
// Providers caches one Provider per issuer. Both are thread-safe; fetches block (call
// them off the io threads).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/status.h"

namespace keytrail::server::oidc {

// The parts of the discovery document keytrail uses (OpenID Connect Discovery 1.0).
struct ProviderMetadata {
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
  bool client_secret_post_only = false;  // token endpoint takes no client_secret_basic
};

// A URL keytrail may fetch from a provider: https://, or http:// to a loopback host.
// kInvalidArgument (saying why) otherwise.
Status CheckProviderUrl(std::string_view url);

class Provider {
 public:
  Provider(std::string issuer, const Clock& clock) : issuer_(std::move(issuer)), clock_(clock) {}

  // The discovery document; kUnavailable if it cannot be fetched, kInvalidArgument if it
  // is malformed or names another issuer.
  Result<ProviderMetadata> Metadata();
  // The JWK Set (JSON text); `refresh` fetches it now (a token named a key it lacks).
  Result<std::string> Jwks(bool refresh);
  // Exchanges an authorization code (with its PKCE verifier) for the token response's
  // id_token. kInvalidArgument if the provider refuses the code.
  Result<std::string> ExchangeCode(std::string_view code, std::string_view redirect_uri,
                                   std::string_view verifier, std::string_view client_id,
                                   std::string_view client_secret);

 private:
  struct Cached {
    std::string body;
    Micros until = 0;
  };
  Result<std::string> Fetch(const std::string& url, Cached& cache, bool refresh);

  const std::string issuer_;
  const Clock& clock_;
  std::mutex mu_;
  Cached metadata_;  // guarded by mu_
  Cached jwks_;      // guarded by mu_
};

class Providers {
 public:
  explicit Providers(const Clock& clock) : clock_(clock) {}
  Provider& For(const std::string& issuer);

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Provider>> providers_;  // guarded by mu_
};

// PKCE (RFC 7636): base64url(SHA-256(verifier)), the S256 challenge.
std::string CodeChallenge(std::string_view verifier);
// `bytes` random bytes as base64url without padding (state, nonce, verifier).
std::string RandomToken(size_t bytes);

}  // namespace keytrail::server::oidc
