// Several nodes on one log, in one process: engines with follow_log over one shared
// MemoryEventLog, each with views of its own. Every node is a replica; only the node that
// claimed a partition writes it; a writer that lost its partition while paused cannot
// change anything (fencing in the log). Waits are bounded polls of the condition.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "events/codec.h"
#include "tests/support/engine_fixture.h"

namespace keytrail {
namespace {

using Kind = CommandOutcome::Kind;
using testing::AsMember;
using testing::EngineWorld;
using testing::EngineWorldOptions;

constexpr int32_t kPartitions = 4;

// Polls `done` every millisecond for up to 10 s; true once it holds.
template <typename Fn>
bool Eventually(Fn done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

std::vector<int32_t> AllPartitions() {
  std::vector<int32_t> all;
  for (int32_t p = 0; p < kPartitions; ++p) all.push_back(p);
  return all;
}

class NodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"node-a", "node-b", "node-c"}) {
      EngineWorldOptions options;
      options.in_memory = true;
      options.partitions = kPartitions;
      options.shared_log = log_;
      options.engine.follow_log = true;
      options.engine.node_id = id;
      options.engine.advertise_url = std::string("http://") + id + ".test:8080";
      nodes_.push_back(std::make_unique<EngineWorld>(clock_, options));
      ASSERT_OK(nodes_.back()->Open());
    }
  }

  Engine& node(size_t i) { return nodes_[i]->engine(); }

  // Node `i` claims `partitions` and holds them.
  void Takes(size_t i, const std::vector<int32_t>& partitions) {
    node(i).Claim(partitions);
    for (int32_t p : partitions) {
      ASSERT_TRUE(Eventually([&] { return node(i).writer_health()[p].writing; }))
          << "node " << i << " never took partition " << p;
    }
  }

  // Waits until every node's views hold everything the log holds.
  void AllCaughtUp() {
    for (auto& world : nodes_) {
      ASSERT_TRUE(Eventually([&] { return world->engine().CheckReady(0).ok(); }));
    }
  }

  std::string Token(Engine& engine, const std::string& name) {
    auto key = engine.CreateKey(AsMember(), {.name = name, .group = "ci"});
    EXPECT_OK(key);
    if (!key.ok() || !key->token) return "";
    return std::string(key->token->reveal());
  }

  FakeClock clock_{testing::kTestNow};
  std::shared_ptr<testing::MemoryEventLog::Storage> log_ =
      std::make_shared<testing::MemoryEventLog::Storage>(kPartitions);
  std::vector<std::unique_ptr<EngineWorld>> nodes_;
};

TEST_F(NodesTest, AKeyCreatedOnTheWriterVerifiesOnEveryReplicaAndARevokeToo) {
  Takes(0, AllPartitions());
  ASSERT_OK(node(0).Execute(AsMember(), domain::CreateOrg{"acme"}));
  ASSERT_OK(node(0).Execute(AsMember(), domain::CreateGroup{"ci", "", ""}));
  auto key = node(0).CreateKey(AsMember(), {.name = "deploy-bot", .group = "ci"});
  ASSERT_OK(key);
  const std::string token(key->token->reveal());
  for (size_t i : {1, 2}) {
    EXPECT_TRUE(Eventually([&] { return node(i).Verify(token).valid; })) << "node " << i;
    // The group directory follows too: authorization on a replica sees the group.
    EXPECT_TRUE(node(i).Groups("acme")->GroupExists("ci"));
  }
  ASSERT_OK(node(0).Execute(AsMember(), domain::RevokeKey{*ParseKeyId(key->key_id), "leaked"}));
  for (size_t i : {1, 2}) {
    EXPECT_TRUE(Eventually([&] { return node(i).Verify(token).reason == VerifyReason::kRevoked; }))
        << "node " << i;
  }
  AllCaughtUp();
  for (size_t i : {1, 2}) {
    auto listed = node(i).queries().ListKeys("acme", {}, 10, "");
    ASSERT_OK(listed);
    ASSERT_EQ(listed->keys.size(), 1u);
    EXPECT_EQ(listed->keys[0].status, model::KeyStatus::kRevoked);
  }
}

// A key used only through a node that does not write its org: that node appends the use
// itself (the one event any node may write), so every replica, the writer's state and
// the unused-key policy see it.
TEST_F(NodesTest, AUseSeenByAReplicaReachesEveryNodeAndTheWritersState) {
  Takes(0, AllPartitions());
  ASSERT_OK(node(0).Execute(AsMember(), domain::CreateOrg{"acme"}));
  ASSERT_OK(node(0).Execute(AsMember(), domain::CreateGroup{"ci", "", ""}));
  const std::string token = Token(node(0), "used-elsewhere");
  constexpr Micros kDay = 24 * 3600 * 1'000'000LL;
  domain::CommandContext system{
      .org = "acme", .actor_kind = fb::ActorKind::System, .actor_id = "test", .authorize = false};
  ASSERT_OK(node(0).Execute(system, domain::SetKeyPolicy{.revoke_unused_after = kDay}));
  ASSERT_TRUE(Eventually([&] { return node(1).Verify(token).valid; }));
  clock_.Set(testing::kTestNow + kDay / 2);
  ASSERT_TRUE(node(1).Verify(token).valid);
  node(1).FlushKeyUse();  // node-b verified it; node-a never did
  for (size_t i : {0, 1, 2}) {
    EXPECT_TRUE(Eventually([&] {
      auto listed = node(i).queries().ListKeys("acme", {}, 10, "");
      return listed.ok() && listed->keys.size() == 1 && listed->keys[0].last_used_at_us > 0;
    })) << "node "
        << i;
  }
  // The writer folded it: the policy's day counts from the use, not the creation.
  AllCaughtUp();
  clock_.Set(testing::kTestNow + kDay + 1);
  node(0).WaitIdle();
  EXPECT_TRUE(node(0).Verify(token).valid);
  clock_.Set(testing::kTestNow + 2 * kDay);
  node(0).WaitIdle();
  EXPECT_TRUE(Eventually([&] { return node(2).Verify(token).reason == VerifyReason::kRevoked; }));
}

TEST_F(NodesTest, ANodeThatDoesNotWriteThePartitionRefusesCommandsAndNamesTheWriter) {
  Takes(0, AllPartitions());
  ASSERT_OK(node(0).Execute(AsMember(), domain::CreateOrg{"acme"}));
  AllCaughtUp();
  auto refused = node(1).Execute(AsMember(), domain::CreateGroup{"ci", "", ""});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("node-a"), std::string::npos);
  const Engine::Writer writer = node(1).WriterOf("acme");
  EXPECT_FALSE(writer.self);
  EXPECT_EQ(writer.claim.node_id, "node-a");
  EXPECT_EQ(writer.claim.advertise_url, "http://node-a.test:8080");
  EXPECT_TRUE(node(0).WriterOf("acme").self);
}

// node-a is paused in the middle of a create (its append has not reached the log); the
// partition moves to node-b, which claims it; node-a's append then lands after the claim.
// Its event is fenced: no node shows the key, node-a answers 503-style, and stops writing.
TEST_F(NodesTest, APausedWriterThatLostItsPartitionChangesNothing) {
  Takes(0, AllPartitions());
  ASSERT_OK(node(0).Execute(AsMember(), domain::CreateOrg{"acme"}));
  ASSERT_OK(node(0).Execute(AsMember(), domain::CreateGroup{"ci", "", ""}));
  const int32_t partition = node(0).WriterOf("acme").partition;

  nodes_[0]->log().PauseAppends();
  auto stale = std::async(std::launch::async, [&] {
    return node(0).CreateKey(AsMember(), {.name = "stale-bot", .group = "ci"});
  });
  ASSERT_TRUE(Eventually([&] { return nodes_[0]->log().paused_appends() == 1; }));
  node(0).Release({});  // node-a does not know yet: it is "paused"
  Takes(1, {partition});
  nodes_[0]->log().ResumeAppends();

  auto answer = stale.get();
  ASSERT_FALSE(answer.ok()) << "a fenced command was acknowledged";
  EXPECT_EQ(answer.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(answer.status().message().find("fenced"), std::string::npos);
  EXPECT_FALSE(node(0).WriterOf("acme").self);

  AllCaughtUp();
  for (size_t i : {0, 1, 2}) {
    auto listed = node(i).queries().ListKeys("acme", {}, 10, "");
    ASSERT_OK(listed);
    EXPECT_TRUE(listed->keys.empty()) << "node " << i << " shows the fenced key";
    auto fenced = node(i).queries().AuditPage("acme", {.action = "event.fenced"}, 10, "");
    ASSERT_OK(fenced);
    EXPECT_EQ(fenced->records.size(), 1u) << "node " << i;
    EXPECT_EQ(node(i).writer_health()[partition].claim.node_id, "node-b");
  }
  // The new writer decides on the log's truth: the name is free.
  auto again = node(1).CreateKey(AsMember(), {.name = "stale-bot", .group = "ci"});
  ASSERT_OK(again);
  EXPECT_EQ(again->outcome.kind, Kind::kApplied);
}

// node-a decides a create, is paused before its append; node-b claims the partition;
// node-a's append lands (fenced: an old epoch after node-b's claim) and node-a pauses
// again before reading it back; node-c claims after it. The latest claim now comes after
// node-a's event, yet that event was fenced: node-a must not acknowledge it (the check is
// per offset, not "which claim is the latest").
TEST_F(NodesTest, AnEventFencedBeforeALaterClaimIsNotAcknowledged) {
  Takes(0, AllPartitions());
  ASSERT_OK(node(0).Execute(AsMember(), domain::CreateOrg{"acme"}));
  ASSERT_OK(node(0).Execute(AsMember(), domain::CreateGroup{"ci", "", ""}));
  const int32_t partition = node(0).WriterOf("acme").partition;
  testing::MemoryEventLog log(log_);

  nodes_[0]->log().PauseAppends();
  auto stale = std::async(std::launch::async, [&] {
    return node(0).CreateKey(AsMember(), {.name = "fenced-bot", .group = "ci"});
  });
  ASSERT_TRUE(Eventually([&] { return nodes_[0]->log().paused_appends() == 1; }));
  Takes(1, {partition});
  const int64_t before = *log.EndOffset(partition);
  nodes_[0]->log().PauseAppends(/*after_writing=*/true);
  ASSERT_TRUE(Eventually([&] { return *log.EndOffset(partition) == before + 1; }));
  Takes(2, {partition});
  nodes_[0]->log().ResumeAppends();

  auto answer = stale.get();
  ASSERT_FALSE(answer.ok()) << "a fenced command was acknowledged";
  EXPECT_EQ(answer.status().code(), StatusCode::kUnavailable);
  AllCaughtUp();
  for (size_t i : {0, 1, 2}) {
    auto listed = node(i).queries().ListKeys("acme", {}, 10, "");
    ASSERT_OK(listed);
    EXPECT_TRUE(listed->keys.empty()) << "node " << i;
  }
  // node-a reads its state again from the log: the name is free for the writer.
  auto again = node(2).CreateKey(AsMember(), {.name = "fenced-bot", .group = "ci"});
  ASSERT_OK(again);
  EXPECT_EQ(again->outcome.kind, Kind::kApplied);
}

// A key's expiry fires on the partition's writer only: after a move, the new writer fires
// it, the old one does not, and there is exactly one KeyExpired.
TEST_F(NodesTest, KeysExpireOnceAcrossAnOwnershipMove) {
  Takes(0, AllPartitions());
  ASSERT_OK(node(0).Execute(AsMember(), domain::CreateOrg{"acme"}));
  ASSERT_OK(node(0).Execute(AsMember(), domain::CreateGroup{"ci", "", ""}));
  const Micros due = testing::kTestNow + testing::kTestHour;
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK(node(0).CreateKey(AsMember(), {.name = "expiring-" + std::to_string(i),
                                             .group = "ci",
                                             .expires = domain::Expiration::At(due)}));
  }
  const int32_t partition = node(0).WriterOf("acme").partition;
  node(0).Release({partition});
  Takes(1, {partition});
  AllCaughtUp();
  clock_.Set(due);
  for (size_t i : {0, 1, 2}) node(i).WaitIdle();
  ASSERT_TRUE(Eventually([&] { return node(1).scheduler_stats().expired == 20; }));
  for (size_t i : {0, 1, 2}) node(i).WaitIdle();
  AllCaughtUp();
  EXPECT_EQ(node(0).scheduler_stats().expired, 0u);
  EXPECT_EQ(node(2).scheduler_stats().expired, 0u);
  testing::MemoryEventLog log(log_);
  auto reader = log.OpenReader(partition, 0);
  ASSERT_OK(reader);
  auto records = (*reader)->Next(100000, std::chrono::milliseconds(0));
  ASSERT_OK(records);
  int expired = 0;
  for (const auto& r : *records) {
    auto e = events::Decode(r.value);
    ASSERT_OK(e);
    expired += (*e)->payload_type() == fb::Payload::KeyExpired;
  }
  EXPECT_EQ(expired, 20);
}

}  // namespace
}  // namespace keytrail
