// The operators' toolkit below the CLI: explicit, recorded skips of poison records
// (Projector::Skip, honoured by the writers and by rebuilds), RebuildViews and its end
// offsets, and the canonical comparison of two view stores.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/hex.h"
#include "engine/engine.h"
#include "events/local_event_log.h"
#include "projections/audit_projection.h"
#include "projections/key_view.h"
#include "projections/projector.h"
#include "projections/rebuild.h"
#include "projections/view_compare.h"
#include "projections/view_set.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_events.h"
#include "tests/support/test_time.h"

namespace keytrail {
namespace {

using domain::CommandContext;
using model::AuditFilter;
using model::AuditRecord;
using nlohmann::json;
using projections::AuditProjection;
using projections::Projector;
using projections::SkippedRecord;
using projections::ViewSet;
using Kind = CommandOutcome::Kind;

std::string HexOf(std::string_view bytes) { return HexEncode(bytes); }

class OpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = events::LocalEventLog::Open({.path = dir_.path() + "/log", .partitions = 4});
    ASSERT_OK(log);
    log_ = std::move(log).value();
    views_ = OpenStore("views");
  }

  std::unique_ptr<projections::ViewStore> OpenStore(const std::string& name) {
    auto store = projections::OpenRocksViewStore(dir_.path() + "/" + name);
    EXPECT_OK(store);
    return std::move(store).value();
  }

  void Append(const std::string& org, std::string event) {
    std::vector<std::string> batch = {std::move(event)};
    ASSERT_OK(log_->Append(org, batch));
  }

  // An engine run that creates org `acme` with a group and a key, then stops.
  void GivenAcmeWithAKey() {
    auto engine = Engine::Start(*log_, *views_, clock_, {});
    ASSERT_OK(engine);
    const CommandContext alice{.org = "acme",
                               .actor_kind = fb::ActorKind::Member,
                               .actor_id = "alice",
                               .authorize = false};
    EXPECT_EQ((*engine)->Execute(alice, domain::CreateOrg{"acme"})->kind, Kind::kApplied);
    EXPECT_EQ((*engine)->Execute(alice, domain::CreateGroup{"ci", "CI", ""})->kind, Kind::kApplied);
    EXPECT_OK((*engine)->CreateKey(alice, {.name = "deploy", .group = "ci"}));
  }

  static SkippedRecord Skip(std::string reason) {
    return SkippedRecord{.reason = std::move(reason),
                         .operator_id = "oncall",
                         .skipped_at_us = testing::kTestNow + testing::kTestHour};
  }

  std::vector<json> Audit(const std::string& org, AuditFilter filter = {}) {
    std::vector<json> out;
    EXPECT_OK(AuditProjection::ForEach(*views_, org, filter, [&](const AuditRecord& record) {
      out.push_back(json::parse(record.stored));
      return true;
    }));
    return out;
  }

  testing::TempDir dir_;
  FakeClock clock_{testing::kTestNow};
  std::unique_ptr<events::LocalEventLog> log_;
  std::unique_ptr<projections::ViewStore> views_;
};

TEST_F(OpsTest, SkippedPoisonRecordIsAuditedAndTheEngineAndRebuildsGoOn) {
  GivenAcmeWithAKey();
  const int32_t p = log_->PartitionFor("acme");
  const int64_t poison = *log_->EndOffset(p);
  Append("acme", "definitely not an event");

  // Fail-stop: the engine refuses to start on it.
  auto halted = Engine::Start(*log_, *views_, clock_, {});
  ASSERT_FALSE(halted.ok());
  EXPECT_NE(halted.status().message().find(fmt::format("offset {}", poison)), std::string::npos)
      << halted.status().ToString();

  {
    ViewSet set;
    Projector projector(*log_, *views_, set.projections());
    Status elsewhere = projector.Skip(p, poison + 1, Skip("wrong offset"));
    EXPECT_EQ(elsewhere.code(), StatusCode::kFailedPrecondition) << elsewhere.ToString();
    ASSERT_OK(projector.Skip(p, poison, Skip("garbage from a misconfigured producer")));
    EXPECT_EQ(*projector.Checkpoint(p), poison + 1);
    EXPECT_EQ(*projector.SkippedOffsets(p), std::vector<int64_t>{poison});
  }

  // The engine starts past it, and new commands work.
  {
    auto engine = Engine::Start(*log_, *views_, clock_, {});
    ASSERT_OK(engine);
    const CommandContext alice{.org = "acme",
                               .actor_kind = fb::ActorKind::Member,
                               .actor_id = "alice",
                               .authorize = false};
    auto second = (*engine)->CreateKey(alice, {.name = "second", .group = "ci"});
    ASSERT_OK(second);
    EXPECT_EQ(second->outcome.kind, Kind::kApplied);
  }

  // The trail: one record per offset, the skip among them, and an intact chain.
  const std::vector<json> all = Audit("acme");
  ASSERT_EQ(static_cast<int64_t>(all.size()), *log_->EndOffset(p));
  const std::vector<json> skipped = Audit("acme", {.action = "projector.skipped"});
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0]["actor"], (json{{"kind", "operator"}, {"id", "oncall"}}));
  EXPECT_EQ(skipped[0]["target"],
            (json{{"type", "log_record"}, {"id", fmt::format("{}/{}", p, poison)}}));
  EXPECT_EQ(skipped[0]["details"]["reason"], "garbage from a misconfigured producer");
  EXPECT_NE(skipped[0]["details"]["error"].get<std::string>().find("declares"), std::string::npos)
      << skipped[0].dump();
  EXPECT_EQ(skipped[0]["offset"], poison);
  auto chain = AuditProjection::VerifyChain(*views_);
  ASSERT_OK(chain);
  EXPECT_TRUE(chain->ok) << chain->problem;

  // A rebuild that carries the skip rows over equals the live views.
  auto fresh = OpenStore("fresh");
  EXPECT_EQ(*projections::CopySkips(*views_, *fresh), 1u);
  auto rebuilt = projections::RebuildViews(*log_, *fresh, {});
  ASSERT_OK(rebuilt);
  EXPECT_EQ(rebuilt->events, *log_->EndOffset(p));
  auto difference = projections::FirstDifference(*views_, *fresh);
  ASSERT_OK(difference);
  EXPECT_FALSE(difference->has_value()) << (*difference)->Describe("live", "fresh");
  // Without them it halts where the engine did.
  auto bare = OpenStore("bare");
  auto halts = projections::RebuildViews(*log_, *bare, {});
  ASSERT_FALSE(halts.ok());
  EXPECT_NE(halts.status().message().find(fmt::format("offset {}", poison)), std::string::npos);
}

TEST_F(OpsTest, SkipRefusesHealthyAndMissingRecordsAndTakesRefusedOnes) {
  Append("acme", testing::EncodeGroupCreated("acme", 1, "ci"));
  const int32_t p = log_->PartitionFor("acme");
  ViewSet set;
  Projector projector(*log_, *views_, set.projections());
  Status healthy = projector.Skip(p, 0, Skip("no"));
  EXPECT_EQ(healthy.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(healthy.message().find("applies cleanly"), std::string::npos) << healthy.ToString();
  EXPECT_FALSE(views_->Get(projections::SkipKey(p, 0))->has_value());

  ASSERT_OK(projector.CatchUp(p));
  EXPECT_EQ(projector.Skip(p, 1, Skip("nothing there")).code(), StatusCode::kNotFound);

  // Decodes, but the key view refuses it (not a key id): skippable, and the error says so.
  Append("acme", testing::EncodedKeyCreated("acme", "not-a-key-id", 2));
  EXPECT_FALSE(projector.CatchUp(p).ok());
  ASSERT_OK(projector.Skip(p, 1, Skip("bad id")));
  auto skips = projections::ReadSkips(*views_, p);
  ASSERT_OK(skips);
  ASSERT_EQ(skips->size(), 1u);
  EXPECT_NE(skips->at(1).error.find("key/"), std::string::npos) << skips->at(1).error;
  EXPECT_EQ(skips->at(1).org, "acme");
  EXPECT_OK(projector.CatchUp(p));
}

TEST_F(OpsTest, RebuildStopsAtTheGivenOffsetsAndOffsetsBeforeCutsByTime) {
  // seq i occurs at 1700000000000000 + i (test_events.h).
  for (int i = 0; i < 5; ++i) {
    Append("acme", testing::EncodeGroupCreated("acme", i, "g" + std::to_string(i)));
  }
  const int32_t p = log_->PartitionFor("acme");
  auto cut = projections::OffsetsBefore(*log_, 1700000000000000 + 3);
  ASSERT_OK(cut);
  ASSERT_EQ(cut->size(), 4u);
  EXPECT_EQ((*cut)[p], 3);

  auto rebuilt = projections::RebuildViews(*log_, *views_, {.end_offsets = *cut});
  ASSERT_OK(rebuilt);
  EXPECT_EQ(rebuilt->events, 3);
  EXPECT_EQ(*projections::ReadCheckpoint(*views_, p), 3);
  EXPECT_TRUE(*projections::KeyViewProjection::GroupExists(*views_, "acme", "g2"));
  EXPECT_FALSE(*projections::KeyViewProjection::GroupExists(*views_, "acme", "g3"));

  // Resumes from the checkpoint to the log's end.
  int64_t reported = -1;
  auto rest = projections::RebuildViews(
      *log_, *views_, {.progress = [&](const projections::RebuildProgress& progress) {
        reported = progress.done;
      }});
  ASSERT_OK(rest);
  EXPECT_EQ(rest->events, 2);
  EXPECT_EQ(reported, 2);
  EXPECT_EQ(rest->end_offsets[p], 5);
}

TEST_F(OpsTest, FirstDifferenceNamesTheRowButNeverItsValue) {
  auto other = OpenStore("other");
  auto put = [](projections::ViewStore& store, std::string key, std::string value) {
    auto batch = store.NewBatch();
    batch->Put(key, value);
    ASSERT_OK(store.Commit(*batch));
  };
  for (int i = 0; i < 5000; ++i) {  // more than one chunk
    const std::string key = fmt::format("row/{:05}", i);
    put(*views_, key, "v");
    put(*other, key, "v");
  }
  EXPECT_FALSE(projections::FirstDifference(*views_, *other)->has_value());

  put(*other, "row/04500", "SECRETISH");
  auto changed = projections::FirstDifference(*views_, *other);
  ASSERT_TRUE(changed.ok() && changed->has_value());
  EXPECT_EQ((*changed)->kind, projections::ViewDifference::Kind::kValuesDiffer);
  EXPECT_EQ((*changed)->key, "row/04500");
  const std::string text = (*changed)->Describe("live", "rebuild");
  EXPECT_NE(text.find(HexOf("row/04500")), std::string::npos) << text;
  EXPECT_EQ(text.find("SECRETISH"), std::string::npos);
  put(*other, "row/04500", "v");

  put(*views_, "row/04999x", "v");
  auto extra = projections::FirstDifference(*views_, *other);
  ASSERT_TRUE(extra->has_value());
  EXPECT_EQ((*extra)->kind, projections::ViewDifference::Kind::kOnlyInFirst);
  put(*other, "row/00000a", "v");
  auto missing = projections::FirstDifference(*views_, *other);
  ASSERT_TRUE(missing->has_value());
  EXPECT_EQ((*missing)->kind, projections::ViewDifference::Kind::kOnlyInSecond);
  EXPECT_EQ((*missing)->key, "row/00000a");
}

}  // namespace
}  // namespace keytrail
