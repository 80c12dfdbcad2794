// What every client subcommand (keys, orgs, verify) shares: the --server, --token and
// -o options, one API call with uniform error handling, and the exit-code contract of
// tools/keytrail/commands.h. CLI-internal: included by tools/keytrail/*.cc only.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace CLI {
class App;
}

namespace keytrail::cli {

enum class OutputFormat { kTable, kJson };

struct ClientOptions {
  std::string server = "http://127.0.0.1:8080";  // --server / KEYTRAIL_SERVER
  std::string token;                             // --token / KEYTRAIL_TOKEN
  std::string org = "default";                   // --org / KEYTRAIL_ORG
  OutputFormat output = OutputFormat::kTable;    // -o table|json
  std::string idempotency_key;                   // --idempotency-key (POSTs)
};

// Adds --server, -o and, when `with_token`, --token; when `with_org`, --org; when
// `with_idempotency`, --idempotency-key. Environment variables fill what the command
// line leaves out.
void AddClientOptions(CLI::App& command, ClientOptions& options, bool with_token, bool with_org,
                      bool with_idempotency = false);

// The outcome of one call: the parsed JSON body on a 2xx answer, else the exit code
// (kExitRejected for 4xx, kExitUnavailable when the server cannot be reached or
// answers 5xx) after the error was printed on stderr as "keytrail: <code>: <detail>".
struct ApiOutcome {
  int exit_code = 0;
  nlohmann::json body;
  bool ok() const { return exit_code == 0; }
};

// Sends `method target` with `body` (a JSON object, or null for none) and the bearer
// token if one is set.
ApiOutcome CallApi(const ClientOptions& options, const std::string& method,
                   const std::string& target, const nlohmann::json& body = nullptr);

// GET `target` asking for `accept` (e.g. "text/csv"), returning the body as text in
// `body` (a JSON string) on success; errors as for CallApi.
ApiOutcome FetchText(const ClientOptions& options, const std::string& target,
                     const std::string& accept);

// "/v1/orgs/<org>" with the org percent-encoded.
std::string OrgPath(const ClientOptions& options);

}  // namespace keytrail::cli
