// keytrail audit: the org's audit trail (filters, table / json / ndjson / csv), and
// keytrail audit verify: recompute the hash chain. keytrail keys history lives in
// keys.cc.
#include <memory>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "server/http_client.h"
#include "tools/keytrail/client/api_call.h"
#include "tools/keytrail/client/output.h"
#include "tools/keytrail/commands.h"

namespace keytrail::cli {

using server::UrlEncode;
namespace {

using nlohmann::json;

struct AuditOptions {
  ClientOptions client;
  std::string key;
  std::string actor;
  std::string action;
  std::string from;
  std::string to;
  std::string format = "table";  // table, json, ndjson, csv
  size_t limit = 0;              // table / json: stop after this many (0 = all)
};

std::string Query(const AuditOptions& o) {
  std::string query;
  auto add = [&](const char* name, const std::string& value) {
    if (value.empty()) return;
    query += query.empty() ? "?" : "&";
    query += fmt::format("{}={}", name, UrlEncode(value));
  };
  add("key", o.key);
  add("actor", o.actor);
  add("action", o.action);
  add("from", o.from);
  add("to", o.to);
  return query;
}

// The actor as one cell: "key <id> (<name>)", "member alice", with "for <member>".
std::string ActorCell(const json& actor) {
  std::string out =
      fmt::format("{} {}", Cell(actor.value("kind", json())), Cell(actor.value("id", json())));
  if (actor.contains("key_name")) out += fmt::format(" ({})", Cell(actor["key_name"]));
  if (actor.contains("on_behalf_of")) out += fmt::format(" for {}", Cell(actor["on_behalf_of"]));
  return out;
}

int List(const AuditOptions& o) {
  const std::string path = OrgPath(o.client) + "/audit" + Query(o);
  if (o.format == "ndjson" || o.format == "csv") {
    ApiOutcome out =
        FetchText(o.client, path, o.format == "csv" ? "text/csv" : "application/x-ndjson");
    if (out.ok()) fmt::print("{}", out.body.get<std::string>());
    return out.exit_code;
  }
  json records = json::array();
  std::string token;
  do {
    std::string target = path + (path.find('?') == std::string::npos ? "?" : "&") +
                         "page_size=1000" + (token.empty() ? "" : "&page_token=" + token);
    ApiOutcome out = CallApi(o.client, "GET", target);
    if (!out.ok()) return out.exit_code;
    for (auto& record : out.body["records"]) {
      if (o.limit != 0 && records.size() == o.limit) break;
      records.push_back(std::move(record));
    }
    const json& next = out.body["next_page_token"];
    token = next.is_string() ? next.get<std::string>() : "";
  } while (!token.empty() && (o.limit == 0 || records.size() < o.limit));
  if (o.format == "json") {
    PrintJson(json{{"records", records}});
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const json& r : records) {
    const json target = r.value("target", json::object());
    rows.push_back({Cell(r.value("time", json())), Cell(r.value("action", json())),
                    ActorCell(r.value("actor", json::object())),
                    fmt::format("{} {}", Cell(target.value("type", json())),
                                Cell(target.value("id", json())))});
  }
  PrintTable({"time", "action", "actor", "target"}, rows);
  return kExitOk;
}

int Verify(const AuditOptions& o) {
  ApiOutcome out = CallApi(o.client, "GET", "/v1/audit/verify");
  if (!out.ok()) return out.exit_code;
  if (o.client.output == OutputFormat::kJson) {
    PrintJson(out.body);
  } else if (out.body.value("ok", false)) {
    fmt::print("audit chain intact: {} records verified\n", out.body.value("records", 0));
  } else {
    const json broken = out.body.value("first_broken", json::object());
    fmt::print("audit chain BROKEN at partition {} offset {}: {}\n",
               Cell(broken.value("partition", json())), Cell(broken.value("offset", json())),
               Cell(broken.value("problem", json())));
  }
  return out.body.value("ok", false) ? kExitOk : kExitRejected;
}

}  // namespace

void AddAudit(CLI::App& app, int* rc) {
  auto o = std::make_shared<AuditOptions>();
  CLI::App* audit = app.add_subcommand(
      "audit", "the org's audit trail (needs audit:read); 'audit verify' checks it");
  AddClientOptions(*audit, o->client, /*with_token=*/true, /*with_org=*/true);
  audit->add_option("--key", o->key, "only records of this key");
  audit->add_option("--actor", o->actor, "only records of this acting key or member");
  audit->add_option("--action", o->action, "only this action, e.g. api_key.revoked");
  audit->add_option("--from", o->from, "only records at or after this RFC 3339 time");
  audit->add_option("--to", o->to, "only records before this RFC 3339 time");
  audit->add_option("--format", o->format, "table, json, ndjson or csv (the last two stream)")
      ->check(CLI::IsMember({"table", "json", "ndjson", "csv"}))
      ->capture_default_str();
  audit->add_option("--limit", o->limit, "table and json: stop after this many records");
  audit->callback([o, rc, audit] {
    if (audit->get_subcommands().empty()) {
      AuditOptions options = *o;
      if (options.client.output == OutputFormat::kJson && options.format == "table") {
        options.format = "json";
      }
      *rc = List(options);
    }
  });

  auto v = std::make_shared<AuditOptions>();
  CLI::App* verify = audit->add_subcommand(
      "verify", "recompute every partition's hash chain (bootstrap-org admin); exit 1 if broken");
  AddClientOptions(*verify, v->client, /*with_token=*/true, /*with_org=*/false);
  verify->callback([v, rc] { *rc = Verify(*v); });
}

}  // namespace keytrail::cli
