// keytrail orgs create ID --name NAME: a new org with its built-in groups and a first
// admin key, whose token is printed once. Needs an admin key of the bootstrap org.
// keytrail orgs policy [--max-lifetime 366d] [--require-expiry] [--revoke-unused-after
// 90d] [--expiring-soon 7d]: shows the org's key policy, or with a flag changes what the
// flags name and keeps the rest (admins only); "none" turns a rule off, --clear all.
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
  // policy: the durations to set ("none" = off), empty = unchanged
  std::string max_lifetime;
  std::string revoke_unused_after;
  std::string expiring_soon;
  bool require_expiry = false;
  bool no_require_expiry = false;
  bool set = false;
  bool clear = false;
};

int Policy(const OrgsOptions& o) {
  const std::string path = OrgPath(o.client) + "/policy";
  ApiOutcome out = CallApi(o.client, "GET", path);
  if (!out.ok()) return out.exit_code;
  if (o.set || o.clear) {
    json policy = o.clear ? json::object() : out.body;
    for (const auto& [name, value] : {std::pair{"max_lifetime", &o.max_lifetime},
                                      std::pair{"revoke_unused_after", &o.revoke_unused_after},
                                      std::pair{"expiring_soon", &o.expiring_soon}}) {
      if (!value->empty()) policy[name] = *value == "none" ? json(nullptr) : json(*value);
    }
    if (o.require_expiry) policy["require_expiry"] = true;
    if (o.no_require_expiry) policy["require_expiry"] = false;
    out = CallApi(o.client, "PUT", path, policy);
    if (!out.ok()) return out.exit_code;
  }
  if (o.client.output == OutputFormat::kJson) {
    PrintJson(out.body);
  } else {
    PrintFields({{"max_lifetime", Cell(out.body["max_lifetime"], "none")},
                 {"require_expiry", Cell(out.body["require_expiry"])},
                 {"revoke_unused_after", Cell(out.body["revoke_unused_after"], "none")},
                 {"expiring_soon", Cell(out.body["expiring_soon"], "none")}});
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
  auto mark_set = [o = p.get()](const std::string&) { o->set = true; };
  policy
      ->add_option("--max-lifetime", p->max_lifetime,
                   "keys may live at most this long from creation or renewal, e.g. 366d (none: "
                   "no limit)")
      ->each(mark_set);
  policy->add_flag("--require-expiry", p->require_expiry, "every key must expire")->each(mark_set);
  policy->add_flag("--no-require-expiry", p->no_require_expiry, "keys need not expire")
      ->each(mark_set);
  policy
      ->add_option("--revoke-unused-after", p->revoke_unused_after,
                   "the scheduler revokes keys neither created nor used for this long, e.g. 90d "
                   "(none: off)")
      ->each(mark_set);
  policy
      ->add_option("--expiring-soon", p->expiring_soon,
                   "a KeyExpiringSoon event this long before a key expires, e.g. 7d (none: off)")
      ->each(mark_set);
  policy->add_flag("--clear", p->clear, "no rules at all (then the flags given, if any)");
  policy->callback([p, rc] { *rc = Policy(*p); });
}

}  // namespace keytrail::cli
