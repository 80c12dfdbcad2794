#include "server/oidc/id_token.h"

#include <cjose/cjose.h>

#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace keytrail::server::oidc {
namespace {

using nlohmann::json;

constexpr Micros kSkew = 60'000'000;

struct JwsRelease {
  void operator()(cjose_jws_t* jws) const { cjose_jws_release(jws); }
};
struct JwkRelease {
  void operator()(cjose_jwk_t* jwk) const { cjose_jwk_release(jwk); }
};
using Jws = std::unique_ptr<cjose_jws_t, JwsRelease>;
using Jwk = std::unique_ptr<cjose_jwk_t, JwkRelease>;

Status Refuse(std::string_view why) {
  return Status::InvalidArgument(fmt::format("the ID token is not valid: {}", why));
}

bool AsymmetricAlgorithm(std::string_view alg) {
  for (std::string_view ok :
       {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}) {
    if (alg == ok) return true;
  }
  return false;
}

std::string HeaderField(cjose_jws_t* jws, const char* name) {
  cjose_err err;
  cjose_header_t* header = cjose_jws_get_protected(jws);
  if (header == nullptr) return "";
  const char* value = cjose_header_get(header, name, &err);
  return value ? std::string(value) : std::string();
}

Jws Import(std::string_view token) {
  cjose_err err;
  return Jws(cjose_jws_import(token.data(), token.size(), &err));
}

// Seconds since the epoch as a JSON number; nullopt if absent or not a number.
std::optional<Micros> Seconds(const json& claims, const char* name) {
  if (!claims.contains(name) || !claims[name].is_number()) return std::nullopt;
  return static_cast<Micros>(claims[name].get<double>() * 1e6);
}

std::string String(const json& claims, const char* name) {
  return claims.contains(name) && claims[name].is_string() ? claims[name].get<std::string>()
                                                           : std::string();
}

}  // namespace

std::string KeyIdOf(std::string_view token) {
  Jws jws = Import(token);
  return jws ? HeaderField(jws.get(), "kid") : std::string();
}

Result<IdTokenClaims> VerifyIdToken(std::string_view token, std::string_view jwks,
                                    const IdTokenExpectations& want, Micros now) {
  if (token.empty() || token.size() > 16 * 1024) return Refuse("missing or too long");
  Jws jws = Import(token);
  if (!jws) return Refuse("not a compact JWS");
  const std::string alg = HeaderField(jws.get(), "alg");
  if (!AsymmetricAlgorithm(alg)) {
    return Refuse(fmt::format("algorithm '{}' is not accepted", alg));
  }
  const std::string kid = HeaderField(jws.get(), "kid");
  const json set = json::parse(jwks, nullptr, false);
  if (!set.is_object() || !set.contains("keys") || !set["keys"].is_array()) {
    return Refuse("the provider's JWKS is not a JWK Set");
  }
  bool verified = false;
  for (const json& key : set["keys"]) {
    if (!key.is_object()) continue;
    if (!kid.empty() && key.value("kid", "") != kid) continue;
    if (key.value("use", "sig") != "sig") continue;
    if (key.contains("alg") && key["alg"] != alg) continue;
    const std::string text = key.dump();
    cjose_err err;
    Jwk jwk(cjose_jwk_import(text.data(), text.size(), &err));
    if (!jwk) continue;
    if (cjose_jws_verify(jws.get(), jwk.get(), &err)) {
      verified = true;
      break;
    }
  }
  if (!verified) return Refuse("no key of the provider signed it");

  uint8_t* payload = nullptr;
  size_t payload_size = 0;
  cjose_err err;
  if (!cjose_jws_get_plaintext(jws.get(), &payload, &payload_size, &err)) {
    return Refuse("no payload");
  }
  const json claims = json::parse(
      std::string_view(reinterpret_cast<const char*>(payload), payload_size), nullptr, false);
  if (!claims.is_object()) return Refuse("its claims are not a JSON object");

  IdTokenClaims out;
  out.issuer = String(claims, "iss");
  if (out.issuer != want.issuer) return Refuse(fmt::format("issued by '{}'", out.issuer));
  bool audience = false;
  size_t audiences = 0;
  if (claims.contains("aud") && claims["aud"].is_string()) {
    audiences = 1;
    audience = claims["aud"] == want.client_id;
  } else if (claims.contains("aud") && claims["aud"].is_array()) {
    for (const json& a : claims["aud"]) {
      ++audiences;
      audience |= a == want.client_id;
    }
  }
  if (!audience) return Refuse("not issued for this client (aud)");
  if (audiences > 1 && String(claims, "azp") != want.client_id) {
    return Refuse("several audiences and azp is not this client");
  }
  const auto exp = Seconds(claims, "exp");
  const auto iat = Seconds(claims, "iat");
  if (!exp || *exp + kSkew <= now) return Refuse("expired");
  if (!iat || *iat - kSkew > now) return Refuse("issued in the future");
  if (want.nonce.empty() || String(claims, "nonce") != want.nonce) return Refuse("wrong nonce");
  out.subject = String(claims, "sub");
  if (out.subject.empty()) return Refuse("no subject");
  out.email = String(claims, "email");
  out.email_verified =
      claims.contains("email_verified") &&
      ((claims["email_verified"].is_boolean() && claims["email_verified"].get<bool>()) ||
       claims["email_verified"] == "true");
  out.preferred_username = String(claims, "preferred_username");
  out.expires_at = *exp;
  return out;
}

}  // namespace keytrail::server::oidc
