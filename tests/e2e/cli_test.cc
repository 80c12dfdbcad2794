// The keytrail client CLI (keys, orgs, verify) against the real `keytrail serve` over
// real HTTP: the README walkthrough through the CLI, output formats, the one-time token,
// exit codes 0/1/2/3 and the precedence of flags over environment variables.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/serve_process.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

namespace keytrail::testing {
namespace {

using nlohmann::json;
using Env = std::vector<std::pair<std::string, std::string>>;

// The last non-empty line of `text`.
std::string LastLine(const std::string& text) {
  size_t end = text.find_last_not_of('\n');
  if (end == std::string::npos) return "";
  size_t start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1,
                     end - (start == std::string::npos ? 0 : start + 1) + 1);
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServeProcess>(dir_.path() + "/data");
    ASSERT_TRUE(server_->started());
    ASSERT_EQ(server_->banner().size(), 4u);  // key, token, invitation, its link
    admin_ = server_->banner()[1];
  }

  // `keytrail args...` with KEYTRAIL_SERVER pointing at the server and, unless
  // overridden in `env`, the bootstrap admin key as KEYTRAIL_TOKEN.
  CommandResult Cli(std::vector<std::string> args, Env env = {},
                    const std::string& stdin_text = "") {
    args.insert(args.begin(), KEYTRAIL_BINARY);
    env.insert(env.begin(), {{"KEYTRAIL_SERVER", "http://" + server_->address()},
                             {"KEYTRAIL_TOKEN", admin_},
                             {"KEYTRAIL_ORG", "default"}});
    // Later entries win: drop defaults the test overrides.
    Env merged;
    for (auto it = env.rbegin(); it != env.rend(); ++it) {
      bool seen = false;
      for (const auto& [name, value] : merged) seen |= name == it->first;
      if (!seen) merged.push_back(*it);
    }
    return RunCommand(args, merged, stdin_text);
  }

  json CliJson(std::vector<std::string> args, Env env = {}) {
    args.push_back("-o");
    args.push_back("json");
    CommandResult r = Cli(std::move(args), std::move(env));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }

  TempDir dir_;
  std::unique_ptr<ServeProcess> server_;
  std::string admin_;
};

TEST_F(CliTest, WalksThroughTheKeyLifecycle) {
  // Create, as a table: the token is the last line of stdout, after a warning on stderr.
  CommandResult created =
      Cli({"keys", "create", "--name", "deploy bot", "--group", "developer", "--expires", "30d"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string token = LastLine(created.out);
  EXPECT_TRUE(token.starts_with("kt_")) << created.out;
  EXPECT_NE(created.err.find("only time the token is shown"), std::string::npos);
  EXPECT_EQ(created.err.find(token), std::string::npos) << "the token belongs on stdout only";
  EXPECT_NE(created.out.find("group:           developer"), std::string::npos) << created.out;

  json listed = CliJson({"keys", "list", "--group", "developer"});
  ASSERT_EQ(listed["keys"].size(), 1u) << listed.dump();
  const std::string id = listed["keys"][0]["id"];
  EXPECT_EQ(listed["keys"][0]["name"], "deploy bot");

  // Verify reads the key from stdin by default: exit 0 when valid.
  CommandResult valid = Cli({"verify"}, {{"KEYTRAIL_TOKEN", ""}}, token + "\n");
  EXPECT_EQ(valid.exit_code, 0) << valid.err;
  EXPECT_NE(valid.out.find("valid:       true"), std::string::npos) << valid.out;
  EXPECT_NE(valid.out.find(id), std::string::npos);

  // Rotate with a grace: both secrets verify.
  json rotated = CliJson({"keys", "rotate", id, "--grace", "1h"});
  const std::string new_token = rotated.value("token", "");
  ASSERT_TRUE(new_token.starts_with("kt_")) << rotated.dump();
  EXPECT_FALSE(rotated["previous_valid_until"].is_null());
  CommandResult old_secret = Cli({"verify", token});
  EXPECT_EQ(old_secret.exit_code, 0);
  EXPECT_NE(old_secret.out.find("secret:      previous"), std::string::npos) << old_secret.out;
  EXPECT_EQ(Cli({"verify", new_token}).exit_code, 0);

  // Move, then revoke: neither secret verifies (exit 1, reason shown).
  EXPECT_EQ(CliJson({"keys", "move", id, "--group", "apikey-manager"})["group"], "apikey-manager");
  CommandResult revoked = Cli({"keys", "revoke", id, "--reason", "pipeline retired"});
  EXPECT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_NE(revoked.out.find("revoked"), std::string::npos);
  for (const std::string& t : {token, new_token}) {
    CommandResult refused = Cli({"verify", "-o", "json", t});
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_EQ(json::parse(refused.out, nullptr, false)["reason"], "revoked") << refused.out;
  }

  // Get and the filtered table list.
  EXPECT_EQ(CliJson({"keys", "get", id})["status"], "revoked");
  CommandResult table = Cli({"keys", "list", "--status", "revoked"});
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_TRUE(table.out.starts_with("ID ")) << table.out;
  EXPECT_NE(table.out.find(id), std::string::npos);
  EXPECT_EQ(table.out.find("bootstrap-admin"), std::string::npos) << "not revoked";
}

TEST_F(CliTest, ListFollowsEveryPageUnlessLimited) {
  for (int i = 0; i < 5; ++i) {
    CommandResult r =
        Cli({"keys", "create", "--name", "key " + std::to_string(i), "--group", "viewer"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(CliJson({"keys", "list", "--page-size", "2"})["keys"].size(), 6u);
  EXPECT_EQ(CliJson({"keys", "list", "--page-size", "2", "--limit", "3"})["keys"].size(), 3u);
  EXPECT_EQ(
      CliJson({"keys", "list", "--expires-before", "2030-01-01T00:00:00+01:00"})["keys"].size(),
      0u);
}

TEST_F(CliTest, ComplianceFiltersFindStaleAndEverlastingKeys) {
  json stale = CliJson({"keys", "create", "--name", "stale bot", "--group", "viewer"});
  json fresh =
      CliJson({"keys", "create", "--name", "fresh bot", "--group", "viewer", "--expires", "30d"});
  const std::string fresh_id = fresh["id"];
  ASSERT_TRUE(CliJson({"keys", "rotate", fresh_id})["token"].is_string());
  const std::string rotated_at = CliJson({"keys", "get", fresh_id})["last_rotated_at"];

  auto ids = [](const json& listed) {
    std::vector<std::string> out;
    for (const json& k : listed["keys"]) out.push_back(k["id"]);
    return out;
  };
  // Issued before the rotation: the bootstrap key and stale, not fresh.
  const auto not_rotated = ids(CliJson({"keys", "list", "--not-rotated-since", rotated_at}));
  EXPECT_EQ(not_rotated.size(), 2u);
  EXPECT_NE(std::find(not_rotated.begin(), not_rotated.end(), stale["id"]), not_rotated.end());
  EXPECT_EQ(std::find(not_rotated.begin(), not_rotated.end(), fresh_id), not_rotated.end());
  // Never expiring: the bootstrap key and stale.
  const auto everlasting = ids(CliJson({"keys", "list", "--never-expires", "--group", "viewer"}));
  EXPECT_EQ(everlasting, std::vector<std::string>{stale["id"]});
  EXPECT_EQ(Cli({"keys", "list", "--not-rotated-since", "last week"}).exit_code, 1);
}

TEST_F(CliTest, OrgsCreateGivesAnIsolatedOrgWithItsOwnAdminKey) {
  json org = CliJson({"orgs", "create", "acme", "--name", "Acme"});
  ASSERT_EQ(org["id"], "acme") << org.dump();
  const std::string acme_admin = org["admin_key"].value("token", "");
  ASSERT_TRUE(acme_admin.starts_with("kt_"));

  const Env as_acme = {{"KEYTRAIL_TOKEN", acme_admin}, {"KEYTRAIL_ORG", "acme"}};
  CommandResult created =
      Cli({"keys", "create", "--name", "ci bot", "--group", "developer"}, as_acme);
  EXPECT_EQ(created.exit_code, 0) << created.err;
  // A key of acme sees nothing of the default org.
  const std::string default_admin_id = CliJson({"keys", "list"})["keys"][0]["id"];
  CommandResult foreign = Cli({"keys", "get", default_admin_id, "--org", "default"}, as_acme);
  EXPECT_EQ(foreign.exit_code, 1);
  EXPECT_NE(foreign.err.find("not_found"), std::string::npos) << foreign.err;
  // Only the bootstrap org's admin may create orgs.
  CommandResult refused = Cli({"orgs", "create", "globex"}, as_acme);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("forbidden"), std::string::npos) << refused.err;
}

TEST_F(CliTest, GroupsMembersAndAuthorize) {
  json group =
      CliJson({"groups", "create", "payments-ci", "--description", "CI for payments", "--rule",
               "namespace-admin:payments", "--rule", "subgraph-publisher:sg-ledger"});
  EXPECT_EQ(group["rules"].size(), 2u) << group;
  CommandResult listed = Cli({"groups", "list"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("namespace-admin:payments"), std::string::npos) << listed.out;
  json key = CliJson({"keys", "create", "--name", "ci bot", "--group", "payments-ci"});
  const std::string key_id = key["id"];

  // Allowed: exit 0; denied: exit 1 with the reason.
  CommandResult allowed = Cli({"authorize", "--key", key_id, "--action", "graph:write", "--kind",
                               "graph", "--id", "checkout", "--namespace", "payments"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_NE(allowed.out.find("namespace-admin"), std::string::npos) << allowed.out;
  ASSERT_EQ(Cli({"groups", "set-rules", "payments-ci", "--rule", "namespace-viewer"}).exit_code, 0);
  CommandResult denied = Cli({"authorize", "--key", key_id, "--action", "graph:write", "--kind",
                              "graph", "--id", "checkout", "--namespace", "payments"});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_NE(denied.out.find("not-granted"), std::string::npos) << denied.out;
  // As things were when the key was made (from the audit trail): allowed.
  CommandResult then =
      Cli({"authorize", "--key", key_id, "--action", "graph:write", "--kind", "graph", "--id",
           "checkout", "--namespace", "payments", "--as-of", key["created_at"]});
  EXPECT_EQ(then.exit_code, 0) << then.out << then.err;
  EXPECT_NE(then.out.find(key["created_at"].get<std::string>()), std::string::npos) << then.out;
  EXPECT_EQ(Cli({"authorize", "--action", "keys:read", "--as-of", "soon"}).exit_code, 1);

  json member = CliJson({"members", "set", "alice", "--group", "developer", "--group", "viewer"});
  EXPECT_EQ(member["groups"], json::array({"developer", "viewer"}));
  // alice and "admin", the first admin member the bootstrap invited.
  EXPECT_EQ(CliJson({"members", "list"})["members"].size(), 2u);
  CommandResult invited = Cli({"members", "invite", "alice"});
  EXPECT_EQ(invited.exit_code, 0) << invited.err;
  EXPECT_NE(invited.out.find("/console/invite#default."), std::string::npos) << invited.out;
  EXPECT_EQ(Cli({"members", "invite", "nobody"}).exit_code, 1);
  EXPECT_EQ(Cli({"authorize", "--member", "alice", "--action", "keys:create"}).exit_code, 0);
  EXPECT_EQ(Cli({"members", "remove", "alice"}).exit_code, 0);
  EXPECT_EQ(Cli({"authorize", "--member", "alice", "--action", "keys:create"}).exit_code, 1);

  // A group with a live key is not deleted (409: exit 1); an empty one is.
  CommandResult in_use = Cli({"groups", "delete", "payments-ci"});
  EXPECT_EQ(in_use.exit_code, 1);
  EXPECT_NE(in_use.err.find("group_in_use"), std::string::npos) << in_use.err;
  ASSERT_EQ(Cli({"keys", "revoke", key_id}).exit_code, 0);
  EXPECT_EQ(Cli({"groups", "delete", "payments-ci"}).exit_code, 0);
  EXPECT_EQ(Cli({"groups", "get", "payments-ci"}).exit_code, 1);
  // A developer key may not manage groups.
  json dev = CliJson({"keys", "create", "--name", "dev", "--group", "developer"});
  CommandResult refused = Cli({"groups", "create", "mine", "--rule", "organization-admin"},
                              {{"KEYTRAIL_TOKEN", dev["token"].get<std::string>()}});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("forbidden"), std::string::npos) << refused.err;
}

TEST_F(CliTest, AuditHistoryAndChainVerification) {
  json key = CliJson({"keys", "create", "--name", "audited bot", "--group", "developer"});
  const std::string id = key["id"];
  ASSERT_EQ(Cli({"keys", "revoke", id, "--reason", "leaked"}).exit_code, 0);

  CommandResult table = Cli({"audit", "--key", id});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("api_key.created"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("(bootstrap-admin)"), std::string::npos) << table.out;
  CommandResult csv = Cli({"audit", "--action", "api_key.revoked", "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_TRUE(csv.out.starts_with("time,org,action,"));
  EXPECT_NE(csv.out.find(R"("{""reason"":""leaked""}")"), std::string::npos) << csv.out;
  EXPECT_EQ(CliJson({"audit", "--limit", "3"})["records"].size(), 3u);

  json history = CliJson({"keys", "history", id});
  ASSERT_EQ(history["events"].size(), 2u) << history.dump();
  EXPECT_EQ(history["events"][1]["action"], "api_key.revoked");

  CommandResult verified = Cli({"audit", "verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified.err;
  EXPECT_NE(verified.out.find("audit chain intact"), std::string::npos) << verified.out;
  EXPECT_EQ(Cli({"audit", "--action", "api_key.frobbed"}).exit_code, 1);
}

TEST_F(CliTest, ExitCodesSayWhatWentWrong) {
  // 1: rejected or invalid, with the problem's code on stderr.
  ASSERT_EQ(Cli({"keys", "create", "--name", "dup", "--group", "developer"}).exit_code, 0);
  CommandResult taken = Cli({"keys", "create", "--name", "dup", "--group", "developer"});
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_NE(taken.err.find("keytrail: name_taken:"), std::string::npos) << taken.err;
  CommandResult past = Cli({"keys", "create", "--name", "old key", "--group", "developer",
                            "--expires", "2001-01-01T00:00:00Z"});
  EXPECT_EQ(past.exit_code, 1);
  CommandResult bad_token = Cli({"keys", "list"}, {{"KEYTRAIL_TOKEN", "kt_nope"}});
  EXPECT_EQ(bad_token.exit_code, 1);
  EXPECT_NE(bad_token.err.find("malformed"), std::string::npos) << bad_token.err;
  EXPECT_EQ(bad_token.err.find("kt_nope"), std::string::npos) << "credentials are not echoed";
  EXPECT_EQ(Cli({"verify", "kt_nope"}).exit_code, 1);

  // 2: usage.
  EXPECT_EQ(Cli({"keys", "create", "--name", "no group"}).exit_code, 2);  // --group missing
  EXPECT_EQ(Cli({"keys", "list", "--bogus"}).exit_code, 2);
  EXPECT_EQ(Cli({"keys", "list", "--status", "sleeping"}).exit_code, 2);
  EXPECT_EQ(Cli({"keys"}).exit_code, 2);
  EXPECT_EQ(Cli({"keys", "list", "--server", "127.0.0.1"}).exit_code, 2);  // no port
  EXPECT_EQ(Cli({"keys", "list", "--server", "ftp://127.0.0.1:1"}).exit_code, 2);
  // https:// is a server like any other (here, nobody listens).
  EXPECT_EQ(Cli({"keys", "list", "--server", "https://127.0.0.1:1"}).exit_code, 3);

  // 3: the server cannot be reached. An explicit --server beats KEYTRAIL_SERVER.
  CommandResult down = Cli({"keys", "list", "--server", "http://127.0.0.1:1"});
  EXPECT_EQ(down.exit_code, 3);
  EXPECT_NE(down.err.find("unreachable"), std::string::npos) << down.err;
  EXPECT_EQ(Cli({"keys", "list", "--server", "http://" + server_->address()},
                {{"KEYTRAIL_SERVER", "http://127.0.0.1:1"}})
                .exit_code,
            0);

  // The server stayed healthy through all of it.
  EXPECT_EQ(CliJson({"keys", "list"})["keys"].size(), 2u);
}

}  // namespace
}  // namespace keytrail::testing
