// The writer under injected faults (tests/support/fault_injection.h): a log that takes
// only a prefix of an append (as Kafka may), and a view commit that fails. In both, the
// log is the truth: the writer re-reads its state from it, answers nothing it cannot
// stand behind, and a retry with the same command id learns the outcome.
#include <gtest/gtest.h>

#include "tests/support/engine_fixture.h"

namespace keytrail {
namespace {

using Kind = CommandOutcome::Kind;
using domain::RejectionCode;
using testing::AsMember;

class WriterFaultTest : public testing::EngineFixture {
 protected:
  testing::EngineWorldOptions WorldOptions() const override { return {.in_memory = true}; }

  Result<CommandOutcome> CreateKeyIn(const std::string& group, const std::string& name) {
    auto issued = engine().CreateKey(AsMember(), {.name = name, .group = group});
    if (!issued.ok()) return issued.status();
    return issued->outcome;
  }
};

// CreateOrg writes OrgCreated and the four built-in GroupCreated in one append. The log
// keeps OrgCreated and "admin" only: the command is not acknowledged, and the writer's
// state (which already held all five) is rebuilt from the log before the next command.
TEST_F(WriterFaultTest, PartialAppendIsNotAcknowledgedAndTheStateIsReadBackFromTheLog) {
  log().FailAppend(1, /*keep_prefix=*/2);
  auto org = engine().Execute(AsMember("alice", "acme", "org-1"), domain::CreateOrg{"acme"});
  ASSERT_FALSE(org.ok());
  EXPECT_EQ(org.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(log().failures(), 1);
  EXPECT_EQ(*log().EndOffset(log().PartitionFor("acme")), 2);

  // The state is what the log holds: the org and "admin", not "developer".
  auto in_developer = CreateKeyIn("developer", "ci-bot");
  ASSERT_OK(in_developer);
  EXPECT_EQ(in_developer->kind, Kind::kRejected);
  EXPECT_EQ(in_developer->rejection->code, RejectionCode::kGroupNotFound);
  auto in_admin = CreateKeyIn("admin", "ops-bot");
  ASSERT_OK(in_admin);
  EXPECT_EQ(in_admin->kind, Kind::kApplied);

  // A retry of the command learns that its first event is in the log.
  auto retried = engine().Execute(AsMember("alice", "acme", "org-1"), domain::CreateOrg{"acme"});
  ASSERT_OK(retried);
  EXPECT_EQ(retried->kind, Kind::kReplayed);
  EXPECT_EQ(retried->first_event, fb::Payload::OrgCreated);

  // A restart folds the same log into the same state.
  Restart();
  auto again = CreateKeyIn("developer", "ci-bot");
  ASSERT_OK(again);
  EXPECT_EQ(again->rejection->code, RejectionCode::kGroupNotFound);
  auto listed = engine().queries().ListKeys("acme", {}, 10, "");
  ASSERT_OK(listed);
  ASSERT_EQ(listed->keys.size(), 1u);
  EXPECT_EQ(listed->keys[0].name, "ops-bot");
}

// An append that fails whole: nothing is in the log, the answer says so, and the same
// command goes through afterwards.
TEST_F(WriterFaultTest, FailedAppendWritesNothingAndTheCommandCanBeRetried) {
  GivenOrg("acme", {"ci"});
  const int64_t end = *log().EndOffset(log().PartitionFor("acme"));
  log().FailAppend();
  auto failed =
      engine().CreateKey(AsMember("alice", "acme", "key-1"), {.name = "deploy-bot", .group = "ci"});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(*log().EndOffset(log().PartitionFor("acme")), end);

  auto retried =
      engine().CreateKey(AsMember("alice", "acme", "key-1"), {.name = "deploy-bot", .group = "ci"});
  ASSERT_OK(retried);
  EXPECT_EQ(retried->outcome.kind, Kind::kApplied);
  ASSERT_TRUE(retried->token.has_value());
  EXPECT_TRUE(engine().Verify(retried->token->reveal()).valid);
}

// The views' commit fails after the append: the command is durable but not acknowledged
// (read-your-writes cannot be promised); the next command catches the views up, and a
// retry with the same command id is answered as replayed, not applied twice.
TEST_F(WriterFaultTest, FailedViewCommitIsNotAcknowledgedAndTheViewsCatchUp) {
  GivenOrg("acme", {"ci"});
  views().FailCommit();
  auto first =
      engine().CreateKey(AsMember("alice", "acme", "key-1"), {.name = "deploy-bot", .group = "ci"});
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(views().failures(), 1);

  auto retried =
      engine().CreateKey(AsMember("alice", "acme", "key-1"), {.name = "deploy-bot", .group = "ci"});
  ASSERT_OK(retried);
  EXPECT_EQ(retried->outcome.kind, Kind::kReplayed);
  EXPECT_FALSE(retried->token.has_value());  // the secret is never shown twice
  auto listed = engine().queries().ListKeys("acme", {}, 10, "");
  ASSERT_OK(listed);
  ASSERT_EQ(listed->keys.size(), 1u);
  EXPECT_EQ(listed->keys[0].name, "deploy-bot");
}

// The log is known to be unreachable (its breaker is open, as KafkaEventLog's when every
// broker is down): commands are refused at once without touching the log, verify goes
// on from memory, readiness says why; when the log answers again, commands go through.
TEST_F(WriterFaultTest, AnUnreachableLogRefusesCommandsAtOnceAndVerifyGoesOn) {
  GivenOrg("acme", {"ci"});
  auto key = engine().CreateKey(AsMember("alice", "acme"), {.name = "deploy-bot", .group = "ci"});
  ASSERT_OK(key);
  const std::string token(key->token->reveal());
  const int appends = log().appends();

  log().SetReachable(false, "every broker is down");
  auto refused =
      engine().CreateKey(AsMember("alice", "acme"), {.name = "other-bot", .group = "ci"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("every broker is down"), std::string::npos)
      << refused.status().ToString();
  EXPECT_EQ(log().appends(), appends) << "a refused command must not wait for the log";
  EXPECT_TRUE(engine().Verify(token).valid);
  const Status ready = engine().CheckReady(1000);
  EXPECT_EQ(ready.code(), StatusCode::kUnavailable);
  EXPECT_FALSE(engine().log_reachability().reachable);

  log().SetReachable(true);
  auto accepted =
      engine().CreateKey(AsMember("alice", "acme"), {.name = "other-bot", .group = "ci"});
  ASSERT_OK(accepted);
  EXPECT_EQ(accepted->outcome.kind, Kind::kApplied);
  EXPECT_OK(engine().CheckReady(1000));
}

}  // namespace
}  // namespace keytrail
