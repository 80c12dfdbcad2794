#include "projections/projector.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "events/local_event_log.h"
#include "projections/history_projection.h"
#include "projections/view_compare.h"
#include "tests/support/counting_projection.h"
#include "tests/support/fault_injection.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_events.h"

namespace keytrail::projections {
namespace {

using testing::CountingProjection;
using testing::EncodedKeyCreated;
using testing::EncodedKeyRevoked;
using testing::TempDir;

// Fails the Nth Commit (1-based) with an I/O error; passes everything else through.
class ProjectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = events::LocalEventLog::Open({.path = dir_.path() + "/log", .partitions = 4});
    ASSERT_OK(log);
    log_ = std::move(log).value();
  }

  std::unique_ptr<ViewStore> OpenStore(const std::string& name) {
    auto store = OpenRocksViewStore(dir_.path() + "/" + name);
    EXPECT_OK(store);
    return std::move(store).value();
  }

  void AppendKeys(const std::string& org, int first, int n) {
    std::vector<std::string> batch;
    for (int i = first; i < first + n; ++i) {
      batch.push_back(EncodedKeyCreated(org, "k" + std::to_string(i), i));
    }
    ASSERT_OK(log_->Append(org, batch));
  }

  // A clean rebuild from offset 0 into a fresh store.
  std::string Rebuild(const std::string& name) {
    auto store = OpenStore(name);
    HistoryProjection history;
    CountingProjection counting;
    Projector projector(*log_, *store, {&history, &counting});
    EXPECT_OK(projector.CatchUpAll());
    return DumpViews(*store);
  }

  uint64_t Count(ViewStore& store, const std::string& org) {
    auto v = store.Get("count/" + org);
    return v.ok() && v->has_value() ? GetBigEndian64(**v) : 0;
  }

  TempDir dir_;
  std::unique_ptr<events::LocalEventLog> log_;
};

TEST_F(ProjectorTest, AppliesEventsAndStoresCheckpointWithRows) {
  AppendKeys("acme", 0, 10);
  std::vector<std::string> revoke = {EncodedKeyRevoked("acme", "k3", 10)};
  ASSERT_OK(log_->Append("acme", revoke));
  auto store = OpenStore("views");
  HistoryProjection history;
  CountingProjection counting;
  Projector projector(*log_, *store, {&history, &counting}, {.max_batch_records = 4});
  ASSERT_OK(projector.CatchUpAll());

  const int32_t p = log_->PartitionFor("acme");
  EXPECT_EQ(*projector.Checkpoint(p), 11);
  EXPECT_EQ(*ReadCheckpoint(*store, p), 11);
  EXPECT_EQ(Count(*store, "acme"), 11u);
  auto k3 = HistoryProjection::Read(*store, "acme", "k3");
  ASSERT_OK(k3);
  ASSERT_EQ(k3->size(), 2u);
  EXPECT_EQ((*k3)[0].type, fb::Payload::KeyCreated);
  EXPECT_EQ((*k3)[0].offset, 3);
  EXPECT_EQ((*k3)[1].type, fb::Payload::KeyRevoked);
  EXPECT_EQ((*k3)[1].offset, 10);
  EXPECT_TRUE(HistoryProjection::Read(*store, "acme", "nope")->empty());
}

TEST_F(ProjectorTest, RestartResumesAtCheckpointWithoutReapplying) {
  AppendKeys("acme", 0, 5);
  auto store = OpenStore("views");
  HistoryProjection history;
  CountingProjection counting;
  {
    Projector projector(*log_, *store, {&history, &counting});
    ASSERT_OK(projector.CatchUpAll());
  }
  AppendKeys("acme", 5, 3);
  {
    Projector projector(*log_, *store, {&history, &counting});
    EXPECT_EQ(*projector.Checkpoint(log_->PartitionFor("acme")), 5);
    ASSERT_OK(projector.CatchUpAll());
  }
  EXPECT_EQ(Count(*store, "acme"), 8u);
  EXPECT_EQ(DumpViews(*store), Rebuild("fresh"));
}

TEST_F(ProjectorTest, PoisonRecordHaltsAtItsOffsetAndIsNeverSkipped) {
  AppendKeys("acme", 0, 3);
  std::string poison = EncodedKeyCreated("acme", "k3", 3);
  poison[poison.size() / 2] ^= 0x5a;
  poison[poison.size() / 2 + 1] ^= 0x5a;
  poison.resize(poison.size() - 3);  // truncated: the size prefix no longer matches
  std::vector<std::string> bad = {poison};
  ASSERT_OK(log_->Append("acme", bad));
  AppendKeys("acme", 4, 2);

  auto store = OpenStore("views");
  HistoryProjection history;
  CountingProjection counting;
  const int32_t p = log_->PartitionFor("acme");
  Projector projector(*log_, *store, {&history, &counting}, {.max_batch_records = 2});
  Status s = projector.CatchUp(p);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find(fmt::format("partition {} offset 3", p)), std::string::npos)
      << s.message();
  EXPECT_EQ(*ReadCheckpoint(*store, p), 2) << "the batch holding the poison must not commit";
  // Stays halted: asking again neither skips nor applies anything.
  auto again = projector.Step(p, std::chrono::milliseconds(10));
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(*ReadCheckpoint(*store, p), 2);
  // A new projector halts at the same place.
  Projector restarted(*log_, *store, {&history, &counting}, {.max_batch_records = 1});
  EXPECT_FALSE(restarted.CatchUp(p).ok());
  EXPECT_EQ(*ReadCheckpoint(*store, p), 3);
  EXPECT_EQ(Count(*store, "acme"), 3u);
}

TEST_F(ProjectorTest, FailedCommitLeavesViewsEqualToACleanRebuild) {
  for (int org = 0; org < 6; ++org) AppendKeys("org-" + std::to_string(org), 0, 40);
  for (int fail_on : {1, 2, 5, 9}) {
    auto real = OpenStore("views-" + std::to_string(fail_on));
    testing::FaultyViewStore failing(*real);
    failing.FailCommit(fail_on);
    HistoryProjection history;
    CountingProjection counting;
    {
      Projector projector(*log_, failing, {&history, &counting}, {.max_batch_records = 7});
      Status s = projector.CatchUpAll();
      ASSERT_FALSE(s.ok());
      EXPECT_EQ(s.code(), StatusCode::kIoError);
    }
    Projector resumed(*log_, *real, {&history, &counting}, {.max_batch_records = 7});
    ASSERT_OK(resumed.CatchUpAll());
    EXPECT_EQ(DumpViews(*real), Rebuild("fresh-" + std::to_string(fail_on)))
        << "fault on commit " << fail_on;
  }
}

// A failed commit is the store's fault, not the records': the same projector starts over
// from the stored checkpoint on its next call and ends equal to a clean rebuild.
TEST_F(ProjectorTest, SameProjectorRetriesAfterAFailedCommit) {
  for (int org = 0; org < 6; ++org) AppendKeys("org-" + std::to_string(org), 0, 40);
  auto real = OpenStore("views");
  testing::FaultyViewStore failing(*real);
  HistoryProjection history;
  CountingProjection counting;
  Projector projector(*log_, failing, {&history, &counting}, {.max_batch_records = 7});
  failing.FailCommit(3);
  EXPECT_EQ(projector.CatchUpAll().code(), StatusCode::kIoError);
  ASSERT_OK(projector.CatchUpAll());
  EXPECT_EQ(failing.failures(), 1);
  EXPECT_EQ(DumpViews(*real), Rebuild("fresh"));
}

TEST_F(ProjectorTest, RejectsBadPartition) {
  auto store = OpenStore("views");
  HistoryProjection history;
  Projector projector(*log_, *store, {&history});
  EXPECT_EQ(projector.Step(99, std::chrono::milliseconds(0)).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace keytrail::projections
