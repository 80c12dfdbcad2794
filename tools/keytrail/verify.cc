// keytrail verify [KEY|-]: asks the server whether a key is valid, as a gateway would.
// The key is the credential; no --token is needed. Reads the key from stdin when it is
// "-" or omitted, so it need not appear in the process list. Exit 0 if valid, 1 if not.
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "tools/keytrail/client/api_call.h"
#include "tools/keytrail/client/output.h"
#include "tools/keytrail/commands.h"

namespace keytrail::cli {
namespace {

using nlohmann::json;

struct VerifyOptions {
  ClientOptions client;
  std::string key = "-";
};

int Verify(VerifyOptions& o) {
  if (o.key == "-") {
    std::getline(std::cin, o.key);
    while (!o.key.empty() && (o.key.back() == '\r' || o.key.back() == ' ')) o.key.pop_back();
  }
  ApiOutcome out = CallApi(o.client, "POST", "/v1/verify", json{{"key", o.key}});
  std::fill(o.key.begin(), o.key.end(), '\0');
  if (!out.ok()) return out.exit_code;
  const bool valid = out.body.value("valid", false);
  if (o.client.output == OutputFormat::kJson) {
    PrintJson(out.body);
  } else if (valid) {
    PrintFields({{"valid", "true"},
                 {"key_id", Cell(out.body["key_id"])},
                 {"org", Cell(out.body["org"])},
                 {"group", Cell(out.body["group"])},
                 {"permissions", Cell(out.body["permissions"])},
                 {"expires_at", Cell(out.body["expires_at"], "never")},
                 {"secret", Cell(out.body.value("secret", json()))}});
  } else {
    PrintFields({{"valid", "false"}, {"reason", Cell(out.body.value("reason", json()))}});
  }
  return valid ? kExitOk : kExitRejected;
}

}  // namespace

void AddVerify(CLI::App& app, int* rc) {
  auto o = std::make_shared<VerifyOptions>();
  CLI::App* verify =
      app.add_subcommand("verify", "check a key as a gateway would (exit 0 if valid)");
  AddClientOptions(*verify, o->client, /*with_token=*/false, /*with_org=*/false);
  verify->add_option("key", o->key, "the key, or - to read it from stdin")->capture_default_str();
  verify->callback([o, rc] { *rc = Verify(*o); });
}

}  // namespace keytrail::cli
