// keytrail orgs create ID --name NAME: a new org with its built-in groups and a first
// admin key, whose token is printed once. Needs an admin key of the bootstrap org.
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

struct OrgsOptions {
  ClientOptions client;
  std::string id;
  std::string name;
};

int CreateOrg(const OrgsOptions& o) {
  json body = {{"id", o.id}, {"name", o.name.empty() ? o.id : o.name}};
  ApiOutcome out = CallApi(o.client, "POST", "/v1/orgs", body);
  if (!out.ok()) return out.exit_code;
  if (o.client.output == OutputFormat::kJson) {
    PrintJson(out.body);
    return kExitOk;
  }
  json admin = out.body.value("admin_key", json::object());
  const json token = admin.value("token", json());
  admin.erase("token");
  PrintFields({{"org", Cell(out.body["id"])}, {"groups", Cell(out.body["groups"])}});
  fmt::print("\nadmin key:\n");
  PrintFields(KeyFields(admin));
  if (token.is_string()) PrintNewToken(token.get<std::string>());
  return kExitOk;
}

}  // namespace

void AddOrgs(CLI::App& app, int* rc) {
  auto o = std::make_shared<OrgsOptions>();
  CLI::App* orgs = app.add_subcommand("orgs", "manage organizations");
  orgs->require_subcommand(1);
  CLI::App* create =
      orgs->add_subcommand("create", "create an org; prints its first admin key's token once");
  AddClientOptions(*create, o->client, /*with_token=*/true, /*with_org=*/false,
                   /*with_idempotency=*/true);
  create->add_option("id", o->id, "org id: 1-64 of a-z, 0-9, '-', '_'")->required();
  create->add_option("--name", o->name, "display name (default: the id)");
  create->callback([o, rc] { *rc = CreateOrg(*o); });
}

}  // namespace keytrail::cli
