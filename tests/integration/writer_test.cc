// The single-writer command path, on both logs: decide, append, apply, answer.
#include "engine/writer.h"

#include <gtest/gtest.h>

#include "tests/support/test_time.h"

#include <thread>

#include "events/kafka_event_log.h"
#include "events/kafka_mock_cluster.h"
#include "events/local_event_log.h"
#include "projections/history_projection.h"
#include "projections/projector.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

namespace keytrail {
namespace {

using domain::CommandContext;
using Kind = CommandOutcome::Kind;

constexpr Micros kNow = testing::kTestNow;

KeyId Id(uint32_t n) {
  KeyId id;
  for (int i = 0; i < 4; ++i) id.bytes[i] = static_cast<uint8_t>(n >> (8 * i));
  return id;
}

domain::CreateKey NewKey(uint32_t n, std::string name) {
  domain::CreateKey c;
  c.key_id = Id(n);
  c.name = std::move(name);
  c.group = "ci";
  c.secret_hash.fill(static_cast<uint8_t>(n));
  c.created_by = "alice";
  return c;
}

CommandContext Context(std::string command_id = "") {
  return CommandContext{.org = "acme",
                        .actor_kind = fb::ActorKind::Member,
                        .actor_id = "alice",
                        .command_id = std::move(command_id),
                        .authorize = false};
}

// A log plus everything a writer of acme's partition needs; reopenable.
class WriterTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "kafka") {
      auto cluster = events::KafkaMockCluster::Start(3, "keytrail.events", 4);
      ASSERT_OK(cluster);
      cluster_ = std::move(cluster).value();
    }
    Open();
  }
  void TearDown() override { Close(); }

  void Open() {
    if (cluster_) {
      auto log = events::KafkaEventLog::Open({.brokers = cluster_->bootstrap_servers()});
      ASSERT_OK(log);
      log_ = std::move(log).value();
    } else {
      auto log = events::LocalEventLog::Open({.path = dir_.path() + "/log", .partitions = 4});
      ASSERT_OK(log);
      log_ = std::move(log).value();
    }
    auto store = projections::OpenRocksViewStore(dir_.path() + "/views");
    ASSERT_OK(store);
    store_ = std::move(store).value();
    projector_ = std::make_unique<projections::Projector>(
        *log_, *store_, std::vector<projections::Projection*>{&history_});
    writer_ = std::make_unique<PartitionWriter>(log_->PartitionFor("acme"), *log_, *projector_,
                                                clock_, ids_, PartitionWriter::Options{});
    ASSERT_OK(writer_->Start());
  }

  void Close() {
    writer_.reset();
    projector_.reset();
    store_.reset();
    log_.reset();
  }

  CommandOutcome Run(domain::Command command, std::string command_id = "") {
    auto result = writer_->Submit(Context(std::move(command_id)), std::move(command)).get();
    EXPECT_OK(result);
    return result.ok() ? std::move(result).value() : CommandOutcome{};
  }

  void GivenOrgAndGroup() {
    ASSERT_EQ(Run(domain::CreateOrg{"Acme"}).kind, Kind::kApplied);
    ASSERT_EQ(Run(domain::CreateGroup{"ci", "CI", ""}).kind, Kind::kApplied);
  }

  int64_t End() { return *log_->EndOffset(log_->PartitionFor("acme")); }

  testing::TempDir dir_;
  FakeClock clock_{kNow};
  events::EventIdGenerator ids_{clock_, 1};
  std::unique_ptr<events::KafkaMockCluster> cluster_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<projections::ViewStore> store_;
  projections::HistoryProjection history_;
  std::unique_ptr<projections::Projector> projector_;
  std::unique_ptr<PartitionWriter> writer_;
};

TEST_P(WriterTest, AppliedCommandsAreDurableAndAlreadyInTheViews) {
  GivenOrgAndGroup();
  const int64_t end = End();  // CreateOrg wrote the org and its built-in groups
  CommandOutcome created = Run(NewKey(1, "deploy"));
  ASSERT_EQ(created.kind, Kind::kApplied);
  EXPECT_EQ(created.aggregate_id, FormatKeyId(Id(1)));
  EXPECT_EQ(created.first_event, fb::Payload::KeyCreated);
  ASSERT_EQ(created.offsets.size(), 1u);
  EXPECT_EQ(created.offsets[0], end);
  // Read-your-writes: the view has it the moment the command is answered.
  auto history = projections::HistoryProjection::Read(*store_, "acme", FormatKeyId(Id(1)));
  ASSERT_OK(history);
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ((*history)[0].offset, end);
  EXPECT_EQ((*history)[0].type, fb::Payload::KeyCreated);
}

TEST_P(WriterTest, RejectionsWriteNothing) {
  GivenOrgAndGroup();
  const int64_t before = End();
  CommandOutcome rejected = Run(NewKey(1, "no"));
  ASSERT_EQ(rejected.kind, Kind::kRejected);
  EXPECT_EQ(rejected.rejection->code, domain::RejectionCode::kInvalidName);
  EXPECT_EQ(Run(domain::RevokeKey{Id(9), ""}).rejection->code, domain::RejectionCode::kKeyNotFound);
  EXPECT_EQ(End(), before);
}

TEST_P(WriterTest, RetriedCommandIdIsAnsweredNotReapplied) {
  GivenOrgAndGroup();
  ASSERT_EQ(Run(NewKey(1, "deploy"), "req-1").kind, Kind::kApplied);
  const int64_t before = End();
  // The retry carries a new key id and secret (minted per attempt): still the first outcome.
  CommandOutcome retried = Run(NewKey(2, "deploy"), "req-1");
  EXPECT_EQ(retried.kind, Kind::kReplayed);
  EXPECT_EQ(retried.aggregate_id, FormatKeyId(Id(1)));
  EXPECT_EQ(retried.first_event, fb::Payload::KeyCreated);
  EXPECT_TRUE(retried.offsets.empty());
  EXPECT_EQ(End(), before);
  ASSERT_EQ(Run(domain::RevokeKey{Id(1), "x"}, "req-2").kind, Kind::kApplied);
  EXPECT_EQ(Run(domain::RevokeKey{Id(1), "x"}, "req-2").kind, Kind::kReplayed);
  EXPECT_EQ(Run(domain::RevokeKey{Id(1), "x"}, "req-3").rejection->code,
            domain::RejectionCode::kAlreadyRevoked);
}

TEST_P(WriterTest, SameCommandIdTwiceInOneBatchAppliesOnce) {
  GivenOrgAndGroup();
  std::vector<std::future<Result<CommandOutcome>>> futures;
  for (int i = 0; i < 8; ++i)
    futures.push_back(writer_->Submit(Context("dup"), NewKey(10 + i, "same")));
  int applied = 0, replayed = 0;
  for (auto& f : futures) {
    auto r = f.get();
    ASSERT_OK(r);
    applied += r->kind == Kind::kApplied;
    replayed += r->kind == Kind::kReplayed;
  }
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(replayed, 7);
}

TEST_P(WriterTest, RestartRebuildsStateFromTheLog) {
  GivenOrgAndGroup();
  ASSERT_EQ(Run(NewKey(1, "deploy"), "req-1").kind, Kind::kApplied);
  Close();
  Open();
  EXPECT_EQ(Run(NewKey(2, "deploy")).rejection->code, domain::RejectionCode::kNameTaken);
  EXPECT_EQ(Run(NewKey(3, "other"), "req-1").kind, Kind::kReplayed);
  EXPECT_EQ(Run(domain::RevokeKey{Id(1), ""}).kind, Kind::kApplied);
  EXPECT_EQ(Run(NewKey(4, "deploy")).kind, Kind::kApplied);
}

TEST_P(WriterTest, ConcurrentCommandsShareAppendsAndAllLand) {
  GivenOrgAndGroup();
  const int64_t before = End();
  constexpr int kThreads = 16, kPerThread = 10;
  std::vector<std::thread> threads;
  std::atomic<int> applied{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const uint32_t n = 100 + t * kPerThread + i;
        auto r = writer_->Submit(Context(), NewKey(n, "key-" + std::to_string(n))).get();
        if (r.ok() && r->kind == Kind::kApplied) ++applied;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(applied.load(), kThreads * kPerThread);
  EXPECT_EQ(End() - before, kThreads * kPerThread);
}

INSTANTIATE_TEST_SUITE_P(Logs, WriterTest, ::testing::Values("local", "kafka"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace keytrail
