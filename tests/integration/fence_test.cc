// Fencing through the projector: a stale writer's events after a newer claim change no
// view, leave an "event.fenced" audit record, and every replay (fresh, or resumed from
// any checkpoint) ends with the same rows.
#include <gtest/gtest.h>

#include "events/event_log.h"
#include "projections/audit_projection.h"
#include "projections/key_view.h"
#include "projections/projector.h"
#include "projections/view_compare.h"
#include "projections/view_set.h"
#include "tests/support/memory_event_log.h"
#include "tests/support/memory_view_store.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_events.h"

namespace keytrail {
namespace {

using projections::AuditProjection;
using projections::KeyViewProjection;
using projections::Projector;
using projections::ViewSet;
using testing::MemoryEventLog;
using testing::MemoryViewStore;

KeyId Id(uint8_t n) {
  KeyId id;
  id.bytes.fill(n);
  return id;
}

std::string KeyCreated(uint64_t seq, uint8_t n, int64_t epoch) {
  return testing::WithWriterEpoch(
      testing::EncodeKeyCreated("acme", seq,
                                {.key_id = FormatKeyId(Id(n)), .name = "key-" + std::to_string(n)}),
      epoch);
}

class FenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    partition_ = log_.PartitionFor("acme");
    // node-a claims epoch 1 and creates key 1; node-b claims epoch 2 and creates key 3;
    // node-a, paused across the move, appends key 2 with its old epoch afterwards.
    Append(testing::EncodeWriterClaimed(partition_, log_.PartitionCount(), 1, 1, "node-a"));
    Append(testing::WithWriterEpoch(testing::EncodeGroupCreated("acme", 2, "developer"), 1));
    Append(KeyCreated(3, 1, 1));
    Append(testing::EncodeWriterClaimed(partition_, log_.PartitionCount(), 4, 2, "node-b"));
    Append(KeyCreated(5, 2, 1));  // fenced
    Append(KeyCreated(6, 3, 2));
  }

  void Append(const std::string& event) {
    auto decoded = events::Decode(event);
    ASSERT_OK(decoded);
    const std::string key = (*decoded)->org()->str();
    ASSERT_OK(log_.Append(key, std::span<const std::string>(&event, 1)));
  }

  // Projects the whole log into `store`, `run` records per commit, with a new projector
  // after every commit when `restart` (a process that resumes from its checkpoint).
  void Project(MemoryViewStore& store, size_t run, bool restart) {
    ViewSet views;
    auto projector = std::make_unique<Projector>(log_, store, views.projections(),
                                                 Projector::Options{.max_batch_records = run});
    const int64_t end = *log_.EndOffset(partition_);
    while (*projector->Checkpoint(partition_) < end) {
      ASSERT_OK(projector->Step(partition_, std::chrono::milliseconds(100)));
      if (restart) {
        projector = std::make_unique<Projector>(log_, store, views.projections(),
                                                Projector::Options{.max_batch_records = run});
      }
    }
    ASSERT_OK(projector->CatchUpAll());
  }

  MemoryEventLog log_{4};
  int32_t partition_ = 0;
};

TEST_F(FenceTest, StaleWritersEventsChangeNoViewAndAreRecorded) {
  MemoryViewStore store;
  ViewSet views;
  Projector projector(log_, store, views.projections());
  ASSERT_OK(projector.CatchUpAll());

  EXPECT_TRUE(KeyViewProjection::GetKey(store, "acme", Id(1))->has_value());
  EXPECT_FALSE(KeyViewProjection::GetKey(store, "acme", Id(2))->has_value());
  EXPECT_TRUE(KeyViewProjection::GetKey(store, "acme", Id(3))->has_value());
  EXPECT_EQ(*projector.FencedEvents(partition_), 1u);

  auto claim = projections::ReadClaim(store, partition_);
  ASSERT_OK(claim);
  EXPECT_EQ(claim->epoch, 2);
  EXPECT_EQ(claim->node_id, "node-b");
  EXPECT_EQ(claim->offset, 3);
  EXPECT_EQ(*claim, *projector.Claim(partition_));

  auto fenced = AuditProjection::Query(store, "acme", {.action = "event.fenced"}, 10, "");
  ASSERT_OK(fenced);
  ASSERT_EQ(fenced->records.size(), 1u);
  EXPECT_EQ(fenced->records[0].offset, 4);
  EXPECT_EQ(fenced->records[0].target.id, fmt::format("{}/4", partition_));
  EXPECT_NE(fenced->records[0].details.find("\"current_node\":\"node-b\""), std::string::npos);
  // The stale key is in no key index of the trail either.
  auto history = AuditProjection::Query(store, "acme", {.key = FormatKeyId(Id(2))}, 10, "");
  ASSERT_OK(history);
  EXPECT_TRUE(history->records.empty());
  auto claims =
      AuditProjection::Query(store, events::ClaimKeyFor(partition_, log_.PartitionCount()),
                             {.action = "writer.claimed"}, 10, "");
  ASSERT_OK(claims);
  EXPECT_EQ(claims->records.size(), 2u);
  auto chain = AuditProjection::VerifyChain(store);
  ASSERT_OK(chain);
  EXPECT_TRUE(chain->ok);
}

TEST_F(FenceTest, EveryReplayAgreesWhereverItResumes) {
  MemoryViewStore whole;
  Project(whole, 1000, false);
  for (size_t run : {1, 2, 3}) {
    MemoryViewStore resumed;
    Project(resumed, run, true);
    // Canonical rows: runs of other lengths pack the audit index entries into other rows.
    EXPECT_EQ(projections::DumpViews(resumed), projections::DumpViews(whole)) << "runs of " << run;
  }
}

}  // namespace
}  // namespace keytrail
