// Api: the end-to-end tests' client of a running keytrail serve: one caller's bearer key,
// JSON answers parsed.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/http_client.h"

namespace keytrail::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

// A client that sends one caller's bearer key and parses JSON answers.
class Api {
 public:
  Api(const std::string& address, std::string token) : http_(address), token_(std::move(token)) {}

  HttpClient::Response Raw(const std::string& method, const std::string& target,
                           const std::string& body = "", Headers headers = {}) {
    if (!token_.empty()) headers.emplace_back("Authorization", "Bearer " + token_);
    return http_.Send(method, target, body, headers);
  }
  // The status and the parsed body (null if it is not JSON).
  std::pair<int, nlohmann::json> Call(const std::string& method, const std::string& target,
                                      const std::string& body = "", Headers headers = {}) {
    auto r = Raw(method, target, body, std::move(headers));
    return {r.status, nlohmann::json::parse(r.body, nullptr, false)};
  }
  HttpClient& http() { return http_; }

 private:
  HttpClient http_;
  std::string token_;
};

inline std::string CodeOf(const nlohmann::json& body) {
  return body.is_object() && body.contains("code") && body["code"].is_string()
             ? body["code"].get<std::string>()
             : "";
}

}  // namespace keytrail::testing
