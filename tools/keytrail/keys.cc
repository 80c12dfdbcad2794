// keytrail keys create|list|get|rotate|revoke|move: the key API from the command line.
// Tables by default, the API's JSON with -o json. A new token goes to stdout once, after
// a warning on stderr.
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/chrono.h>
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

struct KeysOptions {
  ClientOptions client;
  std::string id;
  // create
  std::string name;
  std::string group;
  std::string expires = "never";
  std::vector<std::string> permissions;
  // list
  std::string status;
  std::string created_by;
  std::string expires_before;
  bool never_expires = false;
  std::string not_rotated_since;
  std::string used_before;
  bool never_used = false;
  bool breaks_policy = false;
  std::string unused_for;       // "<n>d": keys idle that long (unused_since = now - n days)
  std::string expiring_within;  // "<n>d": live keys expiring within that (expires_before)
  std::string search;           // q: name contains, any case
  std::string sort;
  std::string order;
  std::string as_of;  // get: the key as it was then
  // report-leak
  std::vector<std::string> tokens;
  std::string source;
  std::string url;
  size_t page_size = 100;
  size_t limit = 0;  // 0 = every page
  // rotate, revoke, update
  std::string grace = "0s";
  std::string reason;
  std::string renew;  // rotate --expires, update --expires
  std::string new_name;
  std::string description;
  bool description_set = false;
};

std::string KeyPath(const KeysOptions& o) { return OrgPath(o.client) + "/keys/" + UrlEncode(o.id); }

// "<n>d" (n >= 1) as days; nullopt otherwise.
std::optional<int64_t> Days(std::string_view text) {
  if (text.size() < 2 || text.size() > 6 || text.back() != 'd') return std::nullopt;
  int64_t days = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    days = days * 10 + (c - '0');
  }
  return days >= 1 ? std::optional(days) : std::nullopt;
}

// Now plus `days` (negative: before now), as RFC 3339 UTC to the second.
std::string DaysFromNow(int64_t days) {
  const auto t = std::chrono::system_clock::now() + std::chrono::hours(24 * days);
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", std::chrono::floor<std::chrono::seconds>(t));
}

// A key the API returned, as the chosen format wants it.
void PrintKey(const ClientOptions& client, const json& key) {
  if (client.output == OutputFormat::kJson) {
    PrintJson(key);
  } else {
    PrintFields(KeyFields(key));
  }
}

// Prints the answer of create or rotate; the token, if any, last.
void PrintIssued(const ClientOptions& client, const json& body) {
  if (client.output == OutputFormat::kJson) {
    PrintJson(body);
    return;
  }
  json shown = body;
  shown.erase("token");
  if (shown.contains("name")) {
    PrintFields(KeyFields(shown));
  } else {
    PrintFields({{"id", Cell(body["id"])},
                 {"hint", Cell(body.value("hint", json()))},
                 {"previous_valid_until", Cell(body.value("previous_valid_until", json()))}});
  }
  if (body.value("token", json()).is_string()) {
    PrintNewToken(body["token"].get<std::string>());
  } else if (body.value("secret_already_shown", false)) {
    fmt::print(stderr,
               "keytrail: this request was already applied; its token was shown then and "
               "cannot be shown again\n");
  }
}

int Create(const KeysOptions& o) {
  json body = {{"name", o.name}, {"group", o.group}, {"expires", o.expires}};
  if (!o.permissions.empty()) body["permissions"] = o.permissions;
  ApiOutcome out = CallApi(o.client, "POST", OrgPath(o.client) + "/keys", body);
  if (out.ok()) PrintIssued(o.client, out.body);
  return out.exit_code;
}

int List(const KeysOptions& o) {
  std::string query = fmt::format("?page_size={}", o.page_size);
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) query += fmt::format("&{}={}", name, UrlEncode(value));
  };
  add("group", o.group);
  add("status", o.status);
  add("created_by", o.created_by);
  add("expires_before", o.expires_before);
  add("not_rotated_since", o.not_rotated_since);
  if (o.never_expires) add("never_expires", "true");
  add("used_before", o.used_before);
  if (o.never_used) add("never_used", "true");
  if (o.breaks_policy) add("breaks_policy", "true");
  for (const auto& [flag, text, param, sign] :
       {std::tuple{"--unused-for", &o.unused_for, "unused_since", -1},
        std::tuple{"--expiring-within", &o.expiring_within, "expires_before", 1}}) {
    if (text->empty()) continue;
    auto days = Days(*text);
    if (!days) {
      fmt::print(stderr, "error: {} takes days, e.g. 90d\n", flag);
      return kExitUsage;
    }
    add(param, DaysFromNow(sign * *days));
  }
  if (!o.expiring_within.empty() && o.status.empty()) add("status", "active");
  add("q", o.search);
  add("sort", o.sort);
  add("order", o.order);
  json keys = json::array();
  std::string page_token;
  do {
    std::string target = OrgPath(o.client) + "/keys" + query;
    if (!page_token.empty()) target += "&page_token=" + UrlEncode(page_token);
    ApiOutcome out = CallApi(o.client, "GET", target);
    if (!out.ok()) return out.exit_code;
    for (auto& key : out.body["keys"]) {
      if (o.limit != 0 && keys.size() == o.limit) break;
      keys.push_back(std::move(key));
    }
    const json& next = out.body["next_page_token"];
    page_token = next.is_string() ? next.get<std::string>() : "";
  } while (!page_token.empty() && (o.limit == 0 || keys.size() < o.limit));

  if (o.client.output == OutputFormat::kJson) {
    PrintJson(json{{"keys", keys}});
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const json& key : keys) {
    rows.push_back({Cell(key["id"]), Cell(key["name"]), Cell(key["group"]), Cell(key["status"]),
                    Cell(key["expires_at"], "never"), Cell(key["last_used_at"], "never"),
                    Cell(key["created_by"]), Cell(key["hint"])});
  }
  PrintTable({"id", "name", "group", "status", "expires_at", "last_used_at", "created_by", "hint"},
             rows);
  return kExitOk;
}

int Get(const KeysOptions& o) {
  ApiOutcome out = CallApi(o.client, "GET",
                           KeyPath(o) + (o.as_of.empty() ? "" : "?as_of=" + UrlEncode(o.as_of)));
  if (out.ok()) PrintKey(o.client, out.body);
  return out.exit_code;
}

int History(const KeysOptions& o) {
  ApiOutcome out = CallApi(o.client, "GET", KeyPath(o) + "/history");
  if (!out.ok()) return out.exit_code;
  if (o.client.output == OutputFormat::kJson) {
    PrintJson(out.body);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const json& e : out.body["events"]) {
    const json actor = e.value("actor", json::object());
    rows.push_back(
        {Cell(e.value("time", json())), Cell(e.value("action", json())),
         fmt::format("{} {}", Cell(actor.value("kind", json())), Cell(actor.value("id", json()))),
         e.value("details", json::object()).dump()});
  }
  PrintTable({"time", "action", "actor", "details"}, rows);
  return kExitOk;
}

int Rotate(const KeysOptions& o) {
  json body = {{"grace", o.grace}};
  if (!o.renew.empty()) body["expires"] = o.renew;
  ApiOutcome out = CallApi(o.client, "POST", KeyPath(o) + "/rotate", body);
  if (out.ok()) PrintIssued(o.client, out.body);
  return out.exit_code;
}

int Update(const KeysOptions& o) {
  json body = json::object();
  if (!o.new_name.empty()) body["name"] = o.new_name;
  if (!o.renew.empty()) body["expires"] = o.renew;
  if (o.description_set) body["description"] = o.description;
  ApiOutcome out = CallApi(o.client, "PATCH", KeyPath(o), body);
  if (out.ok()) PrintKey(o.client, out.body);
  return out.exit_code;
}

int Revoke(const KeysOptions& o) {
  json body = json::object();
  if (!o.reason.empty()) body["reason"] = o.reason;
  ApiOutcome out = CallApi(o.client, "POST", KeyPath(o) + "/revoke", body);
  if (out.ok()) PrintKey(o.client, out.body);
  return out.exit_code;
}

// A leak report: no credential; the answer is the same whatever the tokens were.
int ReportLeak(const KeysOptions& o) {
  std::vector<std::string> tokens = o.tokens;
  if (tokens == std::vector<std::string>{"-"}) {  // one per line on stdin: not in `ps`
    tokens.clear();
    for (std::string line; std::getline(std::cin, line);) {
      if (!line.empty()) tokens.push_back(line);
    }
  }
  json body = {{"tokens", tokens}};
  if (!o.source.empty()) body["source"] = o.source;
  if (!o.url.empty()) body["url"] = o.url;
  ApiOutcome out = CallApi(o.client, "POST", "/v1/leaks", body);
  if (!out.ok()) return out.exit_code;
  if (o.client.output == OutputFormat::kJson) {
    PrintJson(out.body);
  } else {
    fmt::print("reported {} tokens; every one of a live key is revoked\n",
               Cell(out.body["received"]));
  }
  return kExitOk;
}

// Offboarding: every live key of a creator and/or group, in one command.
int RevokeAll(const KeysOptions& o) {
  if (o.created_by.empty() && o.group.empty()) {
    fmt::print(stderr, "error: name the keys: --created-by, --group, or both\n");
    return kExitUsage;
  }
  json body = {{"reason", o.reason}};
  if (!o.created_by.empty()) body["created_by"] = o.created_by;
  if (!o.group.empty()) body["group"] = o.group;
  ApiOutcome out = CallApi(o.client, "POST", OrgPath(o.client) + "/keys:revoke", body);
  if (!out.ok()) return out.exit_code;
  if (o.client.output == OutputFormat::kJson) {
    PrintJson(out.body);
  } else {
    fmt::print("revoked {} keys\n", Cell(out.body["revoked"], "(a replay: already done)"));
  }
  return kExitOk;
}

int Suspend(const KeysOptions& o) {
  json body = json::object();
  if (!o.reason.empty()) body["reason"] = o.reason;
  ApiOutcome out = CallApi(o.client, "POST", KeyPath(o) + "/suspend", body);
  if (out.ok()) PrintKey(o.client, out.body);
  return out.exit_code;
}

int Resume(const KeysOptions& o) {
  ApiOutcome out = CallApi(o.client, "POST", KeyPath(o) + "/resume", json::object());
  if (out.ok()) PrintKey(o.client, out.body);
  return out.exit_code;
}

int Move(const KeysOptions& o) {
  ApiOutcome out = CallApi(o.client, "PUT", KeyPath(o) + "/group", json{{"group", o.group}});
  if (out.ok()) PrintKey(o.client, out.body);
  return out.exit_code;
}

// One `keys` subcommand and the options it fills. Every subcommand has its own options:
// CLI11 fills environment defaults into the options of subcommands that were not
// given, so shared storage would let KEYTRAIL_SERVER override an explicit --server.
struct Subcommand {
  CLI::App* app;
  std::shared_ptr<KeysOptions> o;
};

Subcommand Add(CLI::App& keys, int* rc, const char* name, const char* description,
               int (*run)(const KeysOptions&), bool takes_id, bool posts) {
  auto o = std::make_shared<KeysOptions>();
  CLI::App* command = keys.add_subcommand(name, description);
  AddClientOptions(*command, o->client, /*with_token=*/true, /*with_org=*/true, posts);
  if (takes_id) command->add_option("id", o->id, "key id")->required();
  command->callback([o, rc, run] { *rc = run(*o); });
  return {command, o};
}

}  // namespace

void AddKeys(CLI::App& app, int* rc) {
  CLI::App* keys = app.add_subcommand("keys", "create, list, inspect, rotate, revoke, move keys");
  keys->require_subcommand(1);

  auto [create, c] = Add(*keys, rc, "create", "create a key; prints its token once", Create,
                         /*takes_id=*/false, /*posts=*/true);
  create->add_option("--name", c->name, "display name, unique among the org's live keys")
      ->required();
  create->add_option("--group", c->group, "group the key belongs to (its rules apply)")->required();
  create->add_option("--expires", c->expires, "never, 30d, 6m, 1y or an RFC 3339 time")
      ->capture_default_str();
  create->add_option("--permission", c->permissions,
                     "extra permission (scim, on-behalf-of; admins only); repeatable");

  auto [list, l] = Add(*keys, rc, "list", "list the org's keys (every page)", List,
                       /*takes_id=*/false, /*posts=*/false);
  list->add_option("--group", l->group, "only keys of this group");
  list->add_option("--status", l->status, "active, suspended, revoked or expired")
      ->check(CLI::IsMember({"active", "suspended", "revoked", "expired"}));
  list->add_option("--created-by", l->created_by, "only keys created by this key or member");
  list->add_option("--expires-before", l->expires_before,
                   "only keys expiring before this RFC 3339 time");
  list->add_flag("--never-expires", l->never_expires, "only keys without an expiry");
  list->add_option("--not-rotated-since", l->not_rotated_since,
                   "only keys whose secret was issued (created or last rotated) before this "
                   "RFC 3339 time");
  list->add_option("--used-before", l->used_before,
                   "only keys not used since this RFC 3339 time (never-used keys included)");
  list->add_flag("--never-used", l->never_used, "only keys no verification has found valid");
  list->add_flag("--breaks-policy", l->breaks_policy,
                 "only keys whose expiry breaks the org's key policy (orgs policy)");
  list->add_option("--unused-for", l->unused_for,
                   "only keys neither created nor used in this many days, e.g. 90d");
  list->add_option("--expiring-within", l->expiring_within,
                   "only active keys expiring within this many days, e.g. 7d");
  list->add_option("--search", l->search, "only keys whose name contains this (any case)");
  list->add_option("--sort", l->sort, "order by name, created_at, expires_at or last_used_at")
      ->check(CLI::IsMember({"name", "created_at", "expires_at", "last_used_at"}));
  list->add_option("--order", l->order, "asc (default) or desc")
      ->check(CLI::IsMember({"asc", "desc"}));
  list->add_option("--page-size", l->page_size, "keys per request")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  list->add_option("--limit", l->limit, "stop after this many keys (0 = all)");

  auto [get, g] = Add(*keys, rc, "get", "show one key", Get, /*takes_id=*/true, /*posts=*/false);
  get->add_option("--as-of", g->as_of,
                  "show the key (and its group's rules, with -o json) as it was at this RFC 3339 "
                  "time");
  Add(*keys, rc, "history", "every event of a key, oldest first", History, /*takes_id=*/true,
      /*posts=*/false);

  auto [rotate, r] = Add(*keys, rc, "rotate", "issue a new secret; prints it once", Rotate,
                         /*takes_id=*/true, /*posts=*/true);
  rotate->add_option("--grace", r->grace, "how long the old secret keeps working, 0s..24h")
      ->capture_default_str();
  rotate->add_option("--expires", r->renew,
                     "renew in the same step: never, 30d, 6m, 1y or an RFC 3339 time");
  auto [update, u] = Add(*keys, rc, "update", "rename a key, renew it (a new expiry), describe it",
                         Update, /*takes_id=*/true, /*posts=*/true);
  update->add_option("--name", u->new_name, "the new name");
  update->add_option("--expires", u->renew, "never, 30d, 6m, 1y or an RFC 3339 time");
  update->add_option("--description", u->description, "what the key is for")
      ->each([o = u.get()](const std::string&) { o->description_set = true; });

  auto [revoke, v] = Add(*keys, rc, "revoke", "revoke a key at once", Revoke,
                         /*takes_id=*/true, /*posts=*/true);
  revoke->add_option("--reason", v->reason, "recorded in the revocation event");
  auto [revoke_all, va] =
      Add(*keys, rc, "revoke-all",
          "offboarding: revoke every live key a member (or key) created and/or of a group "
          "(admins only)",
          RevokeAll, /*takes_id=*/false, /*posts=*/true);
  revoke_all->add_option("--created-by", va->created_by, "the keys this member or key created");
  revoke_all->add_option("--group", va->group, "the keys of this group");
  revoke_all->add_option("--reason", va->reason, "recorded in each revocation event")->required();
  auto [suspend, sp] =
      Add(*keys, rc, "suspend", "stop a key from verifying until it is resumed (reason: suspended)",
          Suspend, /*takes_id=*/true, /*posts=*/true);
  suspend->add_option("--reason", sp->reason, "recorded in the suspension event");
  Add(*keys, rc, "resume", "let a suspended key verify again", Resume, /*takes_id=*/true,
      /*posts=*/true);

  auto leak = std::make_shared<KeysOptions>();
  CLI::App* report =
      keys->add_subcommand("report-leak",
                           "report tokens found where they should not be: live keys among them are "
                           "revoked at once (no key needed)");
  AddClientOptions(*report, leak->client, /*with_token=*/false, /*with_org=*/false,
                   /*with_idempotency=*/false);
  report
      ->add_option("token", leak->tokens,
                   "a leaked token (up to 100), or - to read them from stdin")
      ->required();
  report->add_option("--source", leak->source, "who found it, e.g. a scanner's name");
  report->add_option("--url", leak->url, "where it was found");
  report->callback([leak, rc] { *rc = ReportLeak(*leak); });

  auto [move, m] = Add(*keys, rc, "move", "move a key to another group", Move,
                       /*takes_id=*/true, /*posts=*/false);
  move->add_option("--group", m->group, "the new group")->required();
}

}  // namespace keytrail::cli
