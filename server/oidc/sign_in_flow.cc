#include "server/oidc/sign_in_flow.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "server/http_client.h"
#include "server/member_sessions.h"
#include "server/oidc/provider.h"

namespace keytrail::server::oidc {
namespace {

constexpr std::string_view kCookie = "keytrail_sso";
constexpr std::string_view kSecureCookie = "__Host-keytrail_sso";

}  // namespace

SignInFlow NewSignInFlow(std::string org, Micros now) {
  return {std::move(org), RandomToken(24), RandomToken(24), RandomToken(48),
          now + kSignInFlowLifetime};
}

std::string SignInFlowCookie(const SignInFlow& flow, bool secure) {
  const nlohmann::json value = {{"o", flow.org},
                                {"s", flow.state},
                                {"n", flow.nonce},
                                {"v", flow.verifier},
                                {"e", flow.expires_at}};
  return fmt::format("{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
                     secure ? kSecureCookie : kCookie, UrlEncode(value.dump()),
                     kSignInFlowLifetime / 1'000'000, secure ? "; Secure" : "");
}

std::string ClearSignInFlowCookie(bool secure) {
  return fmt::format("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
                     secure ? kSecureCookie : kCookie, secure ? "; Secure" : "");
}

std::optional<SignInFlow> SignInFlowOf(const HttpRequest& request, Micros now) {
  auto text = CookieNamed(request, kCookie, kSecureCookie);
  if (!text || text->empty()) return std::nullopt;
  auto decoded = PercentDecode(*text);
  if (!decoded) return std::nullopt;
  const nlohmann::json value = nlohmann::json::parse(*decoded, nullptr, false);
  if (!value.is_object()) return std::nullopt;
  auto text_of = [&](const char* name) {
    return value.contains(name) && value[name].is_string() ? value[name].get<std::string>()
                                                           : std::string();
  };
  SignInFlow flow{
      text_of("o"), text_of("s"), text_of("n"), text_of("v"),
      value.contains("e") && value["e"].is_number_integer() ? value["e"].get<Micros>() : 0};
  if (flow.org.empty() || flow.state.empty() || flow.nonce.empty() || flow.verifier.empty() ||
      now >= flow.expires_at) {
    return std::nullopt;
  }
  return flow;
}

}  // namespace keytrail::server::oidc
