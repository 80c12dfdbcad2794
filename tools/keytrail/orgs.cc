// keytrail orgs create ID --name NAME: a new org with its built-in groups and a first
// admin key, whose token is printed once. Needs an admin key of the bootstrap org.
// keytrail orgs policy [--max-lifetime 366d] [--require-expiry]: shows the org's key
// policy, or with a flag replaces it (admins only).
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
  std::string max_lifetime;  // policy
  bool require_expiry = false;
  bool set = false;
};

int Policy(const OrgsOptions& o) {
  const std::string path = OrgPath(o.client) + "/policy";
  ApiOutcome out =
      o.set ? CallApi(o.client, "PUT", path,
                      json{{"max_lifetime",
                            o.max_lifetime.empty() ? json(nullptr) : json(o.max_lifetime)},
                           {"require_expiry", o.require_expiry}})
            : CallApi(o.client, "GET", path);
  if (!out.ok()) return out.exit_code;
  if (o.client.output == OutputFormat::kJson) {
    PrintJson(out.body);
  } else {
    PrintFields({{"max_lifetime", Cell(out.body["max_lifetime"], "none")},
                 {"require_expiry", Cell(out.body["require_expiry"])}});
  }
  return kExitOk;
}

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

  auto p = std::make_shared<OrgsOptions>();
  CLI::App* policy = orgs->add_subcommand(
      "policy", "show the org's key policy; with a flag, replace it (admins only)");
  AddClientOptions(*policy, p->client, /*with_token=*/true, /*with_org=*/true,
                   /*with_idempotency=*/true);
  policy
      ->add_option("--max-lifetime", p->max_lifetime,
                   "keys may live at most this long from creation or renewal, e.g. 366d")
      ->each([o = p.get()](const std::string&) { o->set = true; });
  policy->add_flag("--require-expiry", p->require_expiry, "every key must expire")
      ->each([o = p.get()](const std::string&) { o->set = true; });
  policy->add_flag("--clear", p->set, "no limit, expiry not required");
  policy->callback([p, rc] { *rc = Policy(*p); });
}

}  // namespace keytrail::cli
