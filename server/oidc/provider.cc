#include "server/oidc/provider.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "server/http_client.h"

namespace keytrail::server::oidc {
namespace {

using nlohmann::json;

constexpr auto kTimeout = std::chrono::seconds(10);
constexpr Micros kMinCache = 60'000'000;
constexpr Micros kDefaultCache = 3600'000'000;
constexpr Micros kMaxCache = 86'400'000'000;

std::string Base64(std::string_view bytes, bool url) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  if (url) {
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return out;
}

// "https://host:port/path?q" -> ("https://host:port", "/path?q").
std::pair<std::string, std::string> SplitUrl(std::string_view url) {
  const size_t scheme = url.find("://");
  const size_t path = scheme == std::string_view::npos ? url.find('/') : url.find('/', scheme + 3);
  if (path == std::string_view::npos) return {std::string(url), "/"};
  return {std::string(url.substr(0, path)), std::string(url.substr(path))};
}

// The max-age of a Cache-Control header, bounded; the default without one.
Micros CacheFor(const HttpReply& reply) {
  for (const auto& [name, value] : reply.headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower != "cache-control") continue;
    const size_t at = value.find("max-age=");
    if (value.find("no-store") != std::string::npos ||
        value.find("no-cache") != std::string::npos) {
      return kMinCache;
    }
    if (at == std::string::npos) break;
    Micros seconds = 0;
    for (size_t i = at + 8; i < value.size() && value[i] >= '0' && value[i] <= '9'; ++i) {
      seconds = std::min<Micros>(seconds * 10 + (value[i] - '0'), kMaxCache / 1'000'000);
    }
    return std::clamp(seconds * 1'000'000, kMinCache, kMaxCache);
  }
  return kDefaultCache;
}

std::string FormEncode(std::initializer_list<std::pair<std::string_view, std::string_view>> form) {
  std::string out;
  for (const auto& [name, value] : form) {
    if (!out.empty()) out += '&';
    out += UrlEncode(name);
    out += '=';
    out += UrlEncode(value);
  }
  return out;
}

}  // namespace

Status CheckProviderUrl(std::string_view url) {
  if (url.starts_with("https://")) return Status::Ok();
  if (url.starts_with("http://")) {
    std::string_view host = url.substr(7);
    host = host.substr(0, host.find('/'));
    if (host.starts_with("["))
      host = host.substr(0, host.find(']') + 1);
    else
      host = host.substr(0, host.find(':'));
    if (host == "127.0.0.1" || host == "localhost" || host == "[::1]") return Status::Ok();
  }
  return Status::InvalidArgument(
      fmt::format("'{}' is not an https:// URL (plain http:// only on loopback)", url));
}

Result<std::string> Provider::Fetch(const std::string& url, Cached& cache, bool refresh) {
  const Micros now = clock_.NowMicros();
  {
    std::lock_guard lock(mu_);
    if (!refresh && now < cache.until) return cache.body;
  }
  KT_RETURN_IF_ERROR(CheckProviderUrl(url));
  const auto [origin, target] = SplitUrl(url);
  auto client = HttpClient::Create(origin, kTimeout, "keytrail-sso");
  if (!client.ok()) return client.status();
  auto reply = client->Send("GET", target, "", {});
  if (!reply.ok()) return reply.status();
  if (reply->status != 200) {
    return Status::Unavailable(fmt::format("{} answered HTTP {}", url, reply->status));
  }
  std::lock_guard lock(mu_);
  cache.body = reply->body;
  cache.until = now + CacheFor(*reply);
  return cache.body;
}

Result<ProviderMetadata> Provider::Metadata() {
  std::string base = issuer_;
  while (base.ends_with('/')) base.pop_back();
  auto text = Fetch(base + "/.well-known/openid-configuration", metadata_, false);
  if (!text.ok()) return text.status();
  const json doc = json::parse(*text, nullptr, false);
  auto field = [&](const char* name) {
    return doc.is_object() && doc.contains(name) && doc[name].is_string()
               ? doc[name].get<std::string>()
               : std::string();
  };
  ProviderMetadata out{field("issuer"), field("authorization_endpoint"), field("token_endpoint"),
                       field("jwks_uri")};
  if (out.issuer != issuer_) {
    return Status::InvalidArgument(
        fmt::format("the discovery document names issuer '{}', not '{}'", out.issuer, issuer_));
  }
  for (const std::string* url : {&out.authorization_endpoint, &out.token_endpoint, &out.jwks_uri}) {
    KT_RETURN_IF_ERROR(CheckProviderUrl(*url));
  }
  if (doc.contains("token_endpoint_auth_methods_supported") &&
      doc["token_endpoint_auth_methods_supported"].is_array()) {
    const json& methods = doc["token_endpoint_auth_methods_supported"];
    out.client_secret_post_only =
        std::find(methods.begin(), methods.end(), "client_secret_basic") == methods.end() &&
        std::find(methods.begin(), methods.end(), "client_secret_post") != methods.end();
  }
  return out;
}

Result<std::string> Provider::Jwks(bool refresh) {
  auto metadata = Metadata();
  if (!metadata.ok()) return metadata.status();
  return Fetch(metadata->jwks_uri, jwks_, refresh);
}

Result<std::string> Provider::ExchangeCode(std::string_view code, std::string_view redirect_uri,
                                           std::string_view verifier, std::string_view client_id,
                                           std::string_view client_secret) {
  auto metadata = Metadata();
  if (!metadata.ok()) return metadata.status();
  const auto [origin, target] = SplitUrl(metadata->token_endpoint);
  auto client = HttpClient::Create(origin, kTimeout, "keytrail-sso");
  if (!client.ok()) return client.status();
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "application/x-www-form-urlencoded"}};
  std::string body;
  if (metadata->client_secret_post_only) {
    body = FormEncode({{"grant_type", "authorization_code"},
                       {"code", code},
                       {"redirect_uri", redirect_uri},
                       {"code_verifier", verifier},
                       {"client_id", client_id},
                       {"client_secret", client_secret}});
  } else {  // client_secret_basic (RFC 6749 2.3.1: each part form-encoded first)
    body = FormEncode({{"grant_type", "authorization_code"},
                       {"code", code},
                       {"redirect_uri", redirect_uri},
                       {"code_verifier", verifier}});
    headers.emplace_back(
        "Authorization",
        "Basic " + Base64(UrlEncode(client_id) + ":" + UrlEncode(client_secret), false));
  }
  auto reply = client->Send("POST", target, body, headers);
  if (!reply.ok()) return reply.status();
  const json answer = json::parse(reply->body, nullptr, false);
  if (reply->status != 200 || !answer.is_object() || !answer.contains("id_token") ||
      !answer["id_token"].is_string()) {
    const std::string error =
        answer.is_object() && answer.contains("error") && answer["error"].is_string()
            ? answer["error"].get<std::string>()
            : fmt::format("HTTP {}", reply->status);
    return Status::InvalidArgument(fmt::format("the provider refused the code: {}", error));
  }
  return answer["id_token"].get<std::string>();
}

Provider& Providers::For(const std::string& issuer) {
  std::lock_guard lock(mu_);
  auto& provider = providers_[issuer];
  if (!provider) provider = std::make_unique<Provider>(issuer, clock_);
  return *provider;
}

std::string CodeChallenge(std::string_view verifier) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size(), digest);
  return Base64(std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)), true);
}

std::string RandomToken(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    std::abort();  // no randomness: nothing here may go on
  }
  return Base64(raw, true);
}

}  // namespace keytrail::server::oidc
