// The operator tools of the real `keytrail` binary (docs/operations.md) on a data
// directory a real `keytrail serve` wrote: log dump and its filters, rebuild (swap and
// historical copy), check (tampered rows, a broken chain), projector skip (a poison
// record, a healthy one).
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/hex.h"
#include "events/local_event_log.h"
#include "keys/key_material.h"
#include "projections/audit_projection.h"
#include "projections/key_view.h"
#include "projections/projector.h"
#include "tests/e2e/serve_process.h"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_events.h"

namespace keytrail::testing {
namespace {

using nlohmann::json;
using Env = std::vector<std::pair<std::string, std::string>>;

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(json::parse(text.substr(start, end - start), nullptr, false));
    start = end + 1;
  }
  return lines;
}

// RFC 3339 with microseconds, UTC.
std::string FormatMicrosForTest(int64_t us) {
  const std::time_t seconds = static_cast<std::time_t>(us / 1'000'000);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06}Z", fmt::gmtime(seconds), us % 1'000'000);
}

class OpsToolsTest : public ::testing::Test {
 protected:
  // A server run that bootstraps, creates three keys, rotates and revokes the second,
  // then stops.
  void SetUp() override {
    data_ = dir_.path() + "/data";
    ServeProcess server(data_);
    ASSERT_TRUE(server.started());
    ASSERT_EQ(server.banner().size(), 4u);  // key, token, invitation, its link
    admin_ = server.banner()[1];
    const Env env = ClientEnv(server);
    for (int i = 0; i < 3; ++i) {
      CommandResult created =
          RunCommand({KEYTRAIL_BINARY, "keys", "create", "--name", "bot " + std::to_string(i),
                      "--group", "developer", "-o", "json"},
                     env);
      ASSERT_EQ(created.exit_code, 0) << created.err;
      keys_.push_back(json::parse(created.out)["id"]);
    }
    ASSERT_EQ(RunCommand({KEYTRAIL_BINARY, "keys", "rotate", keys_[1]}, env).exit_code, 0);
    ASSERT_EQ(RunCommand({KEYTRAIL_BINARY, "keys", "revoke", keys_[1], "--reason", "leaked"}, env)
                  .exit_code,
              0);
    ASSERT_EQ(Exited(server.Stop()), 0);
    partition_ = events::PartitionForKey("default", 8);
  }

  Env ClientEnv(const ServeProcess& server) const {
    return {{"KEYTRAIL_SERVER", "http://" + server.address()},
            {"KEYTRAIL_TOKEN", admin_},
            {"KEYTRAIL_ORG", "default"}};
  }

  // `keytrail args... --data-dir <data>`.
  CommandResult Tool(std::vector<std::string> args) {
    args.insert(args.begin(), KEYTRAIL_BINARY);
    args.push_back("--data-dir");
    args.push_back(data_);
    return RunCommand(args);
  }

  // Appends encoded events to the default org's partition (the server must be stopped).
  // Returns the offset of the first.
  int64_t AppendToLog(const std::vector<std::string>& records) {
    auto log = events::LocalEventLog::Open({.path = data_ + "/log"});
    EXPECT_OK(log);
    auto offsets = (*log)->Append("default", records);
    EXPECT_OK(offsets);
    return offsets.ok() ? (*offsets)[0] : -1;
  }

  std::unique_ptr<projections::ViewStore> OpenViews(const std::string& path) {
    auto views = projections::OpenRocksViewStore(path);
    EXPECT_OK(views);
    return views.ok() ? std::move(views).value() : nullptr;
  }

  static model::KeyStatus StatusIn(projections::ViewStore& views, const std::string& id) {
    auto key = projections::KeyViewProjection::GetKey(views, "default", *ParseKeyId(id));
    EXPECT_TRUE(key.ok() && key->has_value());
    return key.ok() && key->has_value() ? (*key)->status : model::KeyStatus::kExpired;
  }

  TempDir dir_;
  std::string data_;
  std::string admin_;
  std::vector<std::string> keys_;
  int32_t partition_ = 0;
};

TEST_F(OpsToolsTest, LogDumpFiltersStreamsNoSecretsAndReportsBadRecords) {
  CommandResult all = Tool({"log", "dump"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const std::vector<json> events = JsonLines(all.out);
  ASSERT_GE(events.size(), 7u);
  for (const json& e : events) {
    ASSERT_TRUE(e.is_object());
    EXPECT_EQ(e["partition"], partition_);
    EXPECT_EQ(e["org"], "default");
    EXPECT_TRUE(e["occurred_at"].get<std::string>().ends_with("Z"));
    EXPECT_EQ(e["occurred_at"].get<std::string>().size(), 27u) << "RFC 3339 with microseconds";
  }
  EXPECT_EQ(all.out.find("secret_hash"), std::string::npos);
  EXPECT_EQ(all.out.find(admin_), std::string::npos);

  auto count = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"log", "dump"});
    CommandResult r = Tool(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return JsonLines(r.out);
  };
  const auto created = count({"--type", "KeyCreated"});
  EXPECT_EQ(created.size(), 4u);  // the bootstrap admin key and three
  EXPECT_EQ(created[0]["ce_type"], "io.keytrail.key.created.v1");
  EXPECT_TRUE(created[0]["payload"].contains("hint"));
  EXPECT_EQ(count({"--type", "io.keytrail.key.revoked.v1"}).size(), 1u);
  EXPECT_EQ(count({"--type", "KeyRotated", "--type", "KeyRevoked"}).size(), 2u);
  const auto history = count({"--key", keys_[1]});
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0]["type"], "KeyCreated");
  EXPECT_EQ(history[2]["type"], "KeyRevoked");
  EXPECT_EQ(history[2]["payload"]["reason"], "leaked");
  EXPECT_LT(history[0]["offset"], history[2]["offset"]);
  EXPECT_EQ(count({"--org", "default"}).size(), events.size());
  EXPECT_EQ(count({"--org", "nobody"}).size(), 0u);
  const auto window =
      count({"--partition", std::to_string(partition_), "--from-offset", "1", "--to-offset", "3"});
  ASSERT_EQ(window.size(), 2u);
  EXPECT_EQ(window[0]["offset"], 1);
  EXPECT_EQ(window[1]["offset"], 2);
  EXPECT_EQ(Tool({"log", "dump", "--type", "KeyFrobbed"}).exit_code, 2);

  // A bad record is a line with "error"; the dump goes on past it.
  const int64_t bad = AppendToLog({"not an event at all", EncodeGroupCreated("default", 1, "g")});
  CommandResult tail = Tool({"log", "dump", "--from-offset", std::to_string(bad)});
  ASSERT_EQ(tail.exit_code, 0) << tail.err;
  const auto lines = JsonLines(tail.out);
  ASSERT_EQ(lines.size(), 2u) << tail.out;
  EXPECT_EQ(lines[0]["offset"], bad);
  EXPECT_TRUE(lines[0]["error"].is_string()) << lines[0].dump();
  EXPECT_EQ(lines[1]["type"], "GroupCreated");
  EXPECT_NE(tail.err.find("1 undecodable"), std::string::npos) << tail.err;
}

TEST_F(OpsToolsTest, RebuildSwapsInViewsThatCheckEqualAndTheServerServes) {
  auto before = OpenViews(data_ + "/views");
  const auto checkpoint = projections::ReadCheckpoint(*before, partition_);
  before.reset();

  CommandResult rebuilt = Tool({"rebuild"});
  ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.err;
  EXPECT_NE(rebuilt.out.find(fmt::format("rebuilt the views from {} events", *checkpoint)),
            std::string::npos)
      << rebuilt.out;
  EXPECT_NE(rebuilt.err.find("100%"), std::string::npos) << "progress on stderr";
  EXPECT_TRUE(std::filesystem::exists(data_ + "/views.previous"));
  EXPECT_FALSE(std::filesystem::exists(data_ + "/views.rebuild"));

  CommandResult checked = Tool({"check"});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_NE(checked.out.find("views equal a rebuild"), std::string::npos) << checked.out;

  // The server starts on the rebuilt views and sees everything.
  ServeProcess server(data_);
  ASSERT_TRUE(server.started());
  CommandResult listed =
      RunCommand({KEYTRAIL_BINARY, "keys", "list", "-o", "json"}, ClientEnv(server));
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(json::parse(listed.out)["keys"].size(), 4u);
  // While it runs, rebuild and skip refuse (the views are locked); dump and check work.
  CommandResult busy = Tool({"rebuild"});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_NE(busy.err.find("keytrail serve running"), std::string::npos) << busy.err;
  CommandResult busy_skip =
      Tool({"projector", "skip", "--partition", "0", "--offset", "0", "--reason", "x"});
  EXPECT_EQ(busy_skip.exit_code, 1);
  EXPECT_NE(busy_skip.err.find("in use"), std::string::npos) << busy_skip.err;
  EXPECT_EQ(Tool({"log", "dump", "--type", "KeyRevoked"}).exit_code, 0);
  EXPECT_EQ(Tool({"check"}).exit_code, 0);
  EXPECT_EQ(Exited(server.Stop()), 0);
}

TEST_F(OpsToolsTest, RebuildUntilBuildsAHistoricalCopyAndSwapsNothing) {
  CommandResult revoke = Tool({"log", "dump", "--type", "KeyRevoked"});
  const json revoked = JsonLines(revoke.out).at(0);
  const int64_t offset = revoked["offset"];

  // By offset: everything before the revocation.
  const std::string by_offset = dir_.path() + "/before-revoke";
  CommandResult copy = Tool({"rebuild", "--until", std::to_string(offset), "--out", by_offset});
  ASSERT_EQ(copy.exit_code, 0) << copy.err;
  EXPECT_NE(copy.out.find(fmt::format("{}:{}", partition_, offset)), std::string::npos) << copy.out;
  {
    auto views = OpenViews(by_offset);
    EXPECT_EQ(*projections::ReadCheckpoint(*views, partition_), offset);
    EXPECT_EQ(StatusIn(*views, keys_[1]), model::KeyStatus::kActive);
  }
  // By time: before the revocation's instant, and just after it.
  const std::string before = dir_.path() + "/before-time", after = dir_.path() + "/after-time";
  ASSERT_EQ(Tool({"rebuild", "--until", revoked["occurred_at"], "--out", before}).exit_code, 0);
  const std::string later = FormatMicrosForTest(revoked["occurred_at_us"].get<int64_t>() + 1);
  ASSERT_EQ(Tool({"rebuild", "--until", later, "--out", after}).exit_code, 0);
  EXPECT_EQ(StatusIn(*OpenViews(before), keys_[1]), model::KeyStatus::kActive);
  EXPECT_EQ(StatusIn(*OpenViews(after), keys_[1]), model::KeyStatus::kRevoked);

  // The live views were not touched.
  EXPECT_FALSE(std::filesystem::exists(data_ + "/views.previous"));
  EXPECT_EQ(StatusIn(*OpenViews(data_ + "/views"), keys_[1]), model::KeyStatus::kRevoked);

  EXPECT_EQ(Tool({"rebuild", "--until", "5"}).exit_code, 2) << "needs --out";
  EXPECT_EQ(Tool({"rebuild", "--until", "yesterday", "--out", dir_.path() + "/x"}).exit_code, 2);
  EXPECT_EQ(Tool({"rebuild", "--until", "3", "--out", by_offset}).exit_code, 1) << "not empty";
}

TEST_F(OpsToolsTest, CheckFindsATamperedRowARemovedRowAndABrokenChain) {
  ASSERT_EQ(Tool({"check"}).exit_code, 0);
  std::string record_key, record;
  {
    auto views = OpenViews(data_ + "/views");
    // Remove one row of the key view's group index.
    std::string group_row;
    ASSERT_OK(views->Scan("kgrp/", "kgrp0", [&](std::string_view key, std::string_view) {
      group_row = key;
      return false;
    }));
    ASSERT_FALSE(group_row.empty());
    auto batch = views->NewBatch();
    batch->Delete(group_row);
    ASSERT_OK(views->Commit(*batch));
    views.reset();
    CommandResult removed = Tool({"check"});
    EXPECT_EQ(removed.exit_code, 1);
    EXPECT_NE(removed.out.find(fmt::format("row {} is only in the rebuild", HexEncode(group_row))),
              std::string::npos)
        << removed.out;
    EXPECT_NE(removed.out.find("audit chain intact"), std::string::npos) << removed.out;
    views = OpenViews(data_ + "/views");
    batch = views->NewBatch();
    batch->Put(group_row, "");
    ASSERT_OK(views->Commit(*batch));
  }
  ASSERT_EQ(Tool({"check"}).exit_code, 0) << "restored";
  {
    // Rewrite the revocation's audit record: reason "leaked" becomes "expired".
    CommandResult revoke = Tool({"log", "dump", "--type", "KeyRevoked"});
    const int64_t offset = JsonLines(revoke.out).at(0)["offset"];
    auto views = OpenViews(data_ + "/views");
    record_key = projections::AuditProjection::RecordKey({partition_, offset});
    record = **views->Get(record_key);
    std::string forged = record;
    forged.replace(forged.find("leaked"), 6, "forgd!");
    auto batch = views->NewBatch();
    batch->Put(record_key, forged);
    ASSERT_OK(views->Commit(*batch));
  }
  CommandResult tampered = Tool({"check"});
  EXPECT_EQ(tampered.exit_code, 1);
  EXPECT_NE(tampered.out.find(fmt::format("row {} has different values", HexEncode(record_key))),
            std::string::npos)
      << tampered.out;
  EXPECT_NE(tampered.out.find("audit chain BROKEN"), std::string::npos) << tampered.out;
  EXPECT_EQ(tampered.out.find("forgd!"), std::string::npos) << "keys only, never values";
  EXPECT_EQ(tampered.out.find("leaked"), std::string::npos);
}

TEST_F(OpsToolsTest, ProjectorSkipMovesPastAPoisonRecordAndLeavesAnAuditRecord) {
  const int64_t poison = AppendToLog(
      {"\x07garbage from a misconfigured producer", EncodeGroupCreated("default", 1, "after")});

  // Fail-stop: the server does not start, check says where it halts.
  {
    ServeProcess halted(data_);
    EXPECT_FALSE(halted.started());
  }
  CommandResult found = Tool({"check"});
  EXPECT_EQ(found.exit_code, 1);
  EXPECT_NE(found.out.find(fmt::format("the server would halt: poison record at partition {} "
                                       "offset {}",
                                       partition_, poison)),
            std::string::npos)
      << found.out;

  const std::string p = std::to_string(partition_);
  CommandResult wrong = Tool({"projector", "skip", "--partition", p, "--offset",
                              std::to_string(poison + 1), "--reason", "oops"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find(fmt::format("stands at offset {}", poison)), std::string::npos)
      << wrong.err;
  EXPECT_EQ(
      Tool({"projector", "skip", "--partition", p, "--offset", std::to_string(poison)}).exit_code,
      2)
      << "--reason is required";

  CommandResult skipped = Tool({"projector", "skip", "--partition", p, "--offset",
                                std::to_string(poison), "--reason", "bad producer, ticket 42"});
  ASSERT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_NE(skipped.out.find("projector.skipped"), std::string::npos) << skipped.out;
  EXPECT_EQ(Tool({"check"}).exit_code, 0);

  // The server starts, applies what follows, and the trail shows the skip.
  ServeProcess server(data_);
  ASSERT_TRUE(server.started());
  const Env env = ClientEnv(server);
  CommandResult audit =
      RunCommand({KEYTRAIL_BINARY, "audit", "--action", "projector.skipped", "-o", "json"}, env);
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  const json records = json::parse(audit.out)["records"];
  ASSERT_EQ(records.size(), 1u) << audit.out;
  EXPECT_EQ(records[0]["actor"]["kind"], "operator");
  EXPECT_EQ(records[0]["target"]["id"], fmt::format("{}/{}", partition_, poison));
  EXPECT_EQ(records[0]["details"]["reason"], "bad producer, ticket 42");
  CommandResult groups =
      RunCommand({KEYTRAIL_BINARY, "audit", "--action", "group.created", "-o", "json"}, env);
  EXPECT_NE(groups.out.find("\"after\""), std::string::npos) << groups.out;
  EXPECT_EQ(RunCommand({KEYTRAIL_BINARY, "audit", "verify"}, env).exit_code, 0);
  EXPECT_EQ(Exited(server.Stop()), 0);

  // A rebuild honours the skip.
  EXPECT_EQ(Tool({"rebuild"}).exit_code, 0);
  EXPECT_EQ(Tool({"check"}).exit_code, 0);
}

TEST_F(OpsToolsTest, ProjectorSkipRefusesAHealthyRecord) {
  const int64_t healthy = AppendToLog({EncodeGroupCreated("default", 1, "fine")});
  CommandResult refused = Tool({"projector", "skip", "--partition", std::to_string(partition_),
                                "--offset", std::to_string(healthy), "--reason", "just because"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("applies cleanly"), std::string::npos) << refused.err;
  auto views = OpenViews(data_ + "/views");
  EXPECT_FALSE(views->Get(projections::SkipKey(partition_, healthy))->has_value());
  EXPECT_EQ(*projections::ReadCheckpoint(*views, partition_), healthy);
}

// In Kafka mode the log is the topic and the views are still local: the same tools take
// --kafka-brokers.
TEST(OpsToolsKafkaTest, DumpCheckAndRebuildReadTheTopic) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  ChildProcess kafka({KEYTRAIL_BINARY, "dev-kafka", "--partitions", "4"});
  ASSERT_TRUE(kafka.started());
  std::string brokers;
  ASSERT_TRUE(kafka.ReadLine(&brokers));
  {
    ServeProcess server(data, {"--kafka-brokers", brokers});
    ASSERT_TRUE(server.started());
    ASSERT_EQ(server.banner().size(), 4u);
    const Env env = {{"KEYTRAIL_SERVER", "http://" + server.address()},
                     {"KEYTRAIL_TOKEN", server.banner()[1]}};
    ASSERT_EQ(
        RunCommand(
            {KEYTRAIL_BINARY, "keys", "create", "--name", "kafka bot", "--group", "developer"}, env)
            .exit_code,
        0);
    ASSERT_EQ(Exited(server.Stop()), 0);
  }
  auto tool = [&](std::vector<std::string> args) {
    args.insert(args.begin(), KEYTRAIL_BINARY);
    args.insert(args.end(), {"--data-dir", data, "--kafka-brokers", brokers});
    return RunCommand(args);
  };
  CommandResult dump = tool({"log", "dump", "--type", "KeyCreated"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  const std::vector<json> created = JsonLines(dump.out);
  ASSERT_EQ(created.size(), 2u) << dump.out;
  EXPECT_EQ(created[1]["payload"]["name"], "kafka bot");
  EXPECT_EQ(created[1]["partition"], events::PartitionForKey("default", 4));
  CommandResult checked = tool({"check"});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  CommandResult rebuilt = tool({"rebuild"});
  EXPECT_EQ(rebuilt.exit_code, 0) << rebuilt.err;
  EXPECT_EQ(tool({"check"}).exit_code, 0);
}

}  // namespace
}  // namespace keytrail::testing
