#include "tools/keytrail/client/api_call.h"

#include <cstdio>
#include <map>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "server/http_client.h"
#include "tools/keytrail/commands.h"

namespace keytrail::cli {

using server::HttpClient;
using server::HttpReply;
using server::UrlEncode;
namespace {

void PrintError(std::string_view code, std::string_view detail) {
  fmt::print(stderr, "keytrail: {}: {}\n", code, detail);
}

// The exit code of a non-2xx answer, after printing its problem.
int ReportFailure(const HttpReply& reply) {
  const int exit_code = reply.status >= 500 ? kExitUnavailable : kExitRejected;
  const auto problem = nlohmann::json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (problem.is_object() && problem.contains("code") && problem["code"].is_string()) {
    PrintError(problem["code"].get<std::string>(), problem.value("detail", std::string()));
  } else {
    PrintError(fmt::format("http_{}", reply.status), "the server answered without a problem body");
  }
  return exit_code;
}

}  // namespace

void AddClientOptions(CLI::App& command, ClientOptions& options, bool with_token, bool with_org,
                      bool with_idempotency) {
  command.add_option("--server", options.server, "keytrail server, http://HOST:PORT")
      ->envname("KEYTRAIL_SERVER")
      ->capture_default_str();
  if (with_token) {
    command.add_option("--token", options.token, "API key to act with (Bearer)")
        ->envname("KEYTRAIL_TOKEN");
  }
  if (with_org) {
    command.add_option("--org", options.org, "organization id")
        ->envname("KEYTRAIL_ORG")
        ->capture_default_str();
  }
  if (with_idempotency) {
    command.add_option("--idempotency-key", options.idempotency_key,
                       "retry-safe request id: a repeat with the same id is answered, not "
                       "applied twice");
  }
  const std::map<std::string, OutputFormat> formats = {{"table", OutputFormat::kTable},
                                                       {"json", OutputFormat::kJson}};
  command.add_option("-o,--output", options.output, "output format: table or json")
      ->transform(CLI::CheckedTransformer(formats, CLI::ignore_case));
}

namespace {

// One exchange: the 2xx reply, or the exit code after printing why there is none.
std::variant<HttpReply, int> Exchange(const ClientOptions& options, const std::string& method,
                                      const std::string& target, const std::string& body,
                                      const std::string& accept) {
  auto client = HttpClient::Create(options.server);
  if (!client.ok()) {
    PrintError("usage", client.status().message());
    return kExitUsage;
  }
  std::vector<std::pair<std::string, std::string>> headers = {{"Accept", accept}};
  if (!options.token.empty()) headers.emplace_back("Authorization", "Bearer " + options.token);
  if (method != "GET" && !options.idempotency_key.empty()) {
    headers.emplace_back("Idempotency-Key", options.idempotency_key);
  }
  auto reply = client->Send(method, target, body, headers);
  if (!reply.ok()) {
    PrintError("unreachable", reply.status().message());
    return kExitUnavailable;
  }
  if (reply->status < 200 || reply->status >= 300) return ReportFailure(*reply);
  return std::move(reply).value();
}

}  // namespace

ApiOutcome FetchText(const ClientOptions& options, const std::string& target,
                     const std::string& accept) {
  auto exchanged = Exchange(options, "GET", target, "", accept);
  if (auto* code = std::get_if<int>(&exchanged)) return {*code, nullptr};
  return {kExitOk, std::move(std::get<HttpReply>(exchanged).body)};
}

ApiOutcome CallApi(const ClientOptions& options, const std::string& method,
                   const std::string& target, const nlohmann::json& body) {
  auto exchanged = Exchange(options, method, target, body.is_null() ? std::string() : body.dump(),
                            "application/json");
  if (auto* code = std::get_if<int>(&exchanged)) return {*code, nullptr};
  HttpReply* reply = &std::get<HttpReply>(exchanged);
  if (reply->status == 204) return {kExitOk, nullptr};  // done, nothing to show
  auto parsed = nlohmann::json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    PrintError("bad_response", "the server's answer is not JSON");
    return {kExitUnavailable, nullptr};
  }
  return {kExitOk, std::move(parsed)};
}

std::string OrgPath(const ClientOptions& options) { return "/v1/orgs/" + UrlEncode(options.org); }

}  // namespace keytrail::cli
