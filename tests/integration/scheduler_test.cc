// The expiry scheduler: timers owned by the partition writers, fired through the
// normal write path. Fake-clock tests plus one in real time.
#include <gtest/gtest.h>

#include "tests/support/test_time.h"

#include <map>
#include <set>
#include <thread>

#include "engine/engine.h"
#include "events/codec.h"
#include "events/local_event_log.h"
#include "projections/view_store.h"
#include "tests/support/temp_dir.h"

namespace keytrail {
namespace {

using domain::CommandContext;
using Kind = CommandOutcome::Kind;

constexpr Micros kNow = testing::kTestNow;
constexpr Micros kSecond = testing::kTestSecond;
constexpr Micros kHour = testing::kTestHour;

CommandContext As() { return CommandContext{.org = "acme", .actor_id = "alice"}; }

struct Expiry {
  Micros occurred_at = 0;
  Micros expires_at = 0;
  fb::ActorKind actor = fb::ActorKind::Unknown;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    auto log = events::LocalEventLog::Open({.path = dir_.path() + "/log", .partitions = 2});
    ASSERT_TRUE(log.ok());
    log_ = std::move(log).value();
    auto views = projections::OpenRocksViewStore(dir_.path() + "/views");
    ASSERT_TRUE(views.ok());
    views_ = std::move(views).value();
    Engine::Options options;
    options.domain.max_active_keys = 100000;
    auto engine = Engine::Start(*log_, *views_, *clock_, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
  }

  void Close() {
    engine_.reset();
    views_.reset();
    log_.reset();
  }

  void GivenOrgAndGroup() {
    ASSERT_EQ(engine_->Execute(As(), domain::CreateOrg{"Acme"})->kind, Kind::kApplied);
    ASSERT_EQ(engine_->Execute(As(), domain::CreateGroup{"ci", "", ""})->kind, Kind::kApplied);
  }

  IssuedKey CreateExpiring(const std::string& name, Micros at) {
    auto key = engine_->CreateKey(
        As(), {.name = name, .group = "ci", .expires = domain::Expiration::At(at)});
    EXPECT_TRUE(key.ok() && key->outcome.kind == Kind::kApplied);
    return key.ok() ? std::move(key).value() : IssuedKey{};
  }

  // Every KeyExpired in acme's partition, by key id.
  std::multimap<std::string, Expiry> Expired() {
    std::multimap<std::string, Expiry> out;
    const int32_t p = log_->PartitionFor("acme");
    auto reader = log_->OpenReader(p, 0);
    auto records = (*reader)->Next(1'000'000, std::chrono::milliseconds(0));
    EXPECT_TRUE(records.ok());
    for (const auto& r : *records) {
      auto e = events::Decode(r.value);
      if (!e.ok() || (*e)->payload_type() != fb::Payload::KeyExpired) continue;
      out.emplace((*e)->payload_as_KeyExpired()->key_id()->str(),
                  Expiry{(*e)->occurred_at_us(), (*e)->payload_as_KeyExpired()->expires_at_us(),
                         (*e)->actor()->kind()});
    }
    return out;
  }

  // Waits (real time) until `count` KeyExpired events exist and the scheduler has
  // counted them (its metrics move after the log); returns the events.
  std::multimap<std::string, Expiry> WaitForExpired(size_t count) {
    std::multimap<std::string, Expiry> expired;
    for (int i = 0; i < 500; ++i) {
      expired = Expired();
      if (expired.size() >= count && engine_->scheduler_stats().expired >= count) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return expired;
  }

  testing::TempDir dir_;
  std::unique_ptr<Clock> owned_clock_ = std::make_unique<FakeClock>(kNow);
  Clock* clock_ = owned_clock_.get();
  FakeClock& fake() { return static_cast<FakeClock&>(*clock_); }
  std::unique_ptr<events::LocalEventLog> log_;
  std::unique_ptr<projections::ViewStore> views_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(SchedulerTest, ExpiresAtTheExactMicrosecondOnce) {
  GivenOrgAndGroup();
  const Micros due = kNow + kHour;
  IssuedKey key = CreateExpiring("deploy", due);
  EXPECT_EQ(engine_->scheduler_stats().pending_timers, 1u);
  EXPECT_EQ(engine_->scheduler_stats().next_due, due);

  fake().Set(due - 1);
  engine_->WakeSchedulers();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(Expired().empty());
  EXPECT_TRUE(engine_->Verify(key.token->reveal()).valid);

  fake().Set(due);
  EXPECT_EQ(engine_->Verify(key.token->reveal()).reason,
            VerifyReason::kExpired);  // before the event
  engine_->WakeSchedulers();
  auto expired = WaitForExpired(1);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired.begin()->first, key.key_id);
  EXPECT_EQ(expired.begin()->second.occurred_at, due);
  EXPECT_EQ(expired.begin()->second.expires_at, due);
  EXPECT_EQ(expired.begin()->second.actor, fb::ActorKind::Scheduler);
  EXPECT_EQ(engine_->Verify(key.token->reveal()).reason, VerifyReason::kExpired);

  const SchedulerStats stats = engine_->scheduler_stats();
  EXPECT_EQ(stats.pending_timers, 0u);
  EXPECT_FALSE(stats.next_due.has_value());
  EXPECT_EQ(stats.expired, 1u);
  EXPECT_EQ(stats.lateness.counts[0], 1u);  // 0 us late under the fake clock

  fake().Advance(kHour);
  engine_->WakeSchedulers();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Expired().size(), 1u);
}

TEST_F(SchedulerTest, ManyKeysWithTheSameExpiryEachExpireOnce) {
  GivenOrgAndGroup();
  const Micros due = kNow + kHour;
  for (int i = 0; i < 500; ++i) CreateExpiring("key-" + std::to_string(i), due);
  fake().Set(due);
  engine_->WakeSchedulers();
  auto expired = WaitForExpired(500);
  EXPECT_EQ(expired.size(), 500u);
  std::set<std::string> distinct;
  for (const auto& [key_id, e] : expired) distinct.insert(key_id);
  EXPECT_EQ(distinct.size(), 500u);
}

TEST_F(SchedulerTest, RevokedKeyIsNeverExpired) {
  GivenOrgAndGroup();
  IssuedKey key = CreateExpiring("deploy", kNow + kHour);
  ASSERT_EQ(engine_->Execute(As(), domain::RevokeKey{*ParseKeyId(key.key_id), ""})->kind,
            Kind::kApplied);
  EXPECT_EQ(engine_->scheduler_stats().pending_timers, 0u);
  fake().Set(kNow + 2 * kHour);
  engine_->WakeSchedulers();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(Expired().empty());
  EXPECT_EQ(engine_->Verify(key.token->reveal()).reason, VerifyReason::kRevoked);
}

TEST_F(SchedulerTest, OverdueTimersFireAtOnceAfterARestart) {
  GivenOrgAndGroup();
  IssuedKey a = CreateExpiring("a-key", kNow + kHour);
  IssuedKey b = CreateExpiring("b-key", kNow + 3 * kHour);
  Close();
  fake().Set(kNow + 2 * kHour);
  Open();  // no Wake: the writer sees the overdue timer when it starts
  auto expired = WaitForExpired(1);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired.begin()->first, a.key_id);
  EXPECT_EQ(engine_->scheduler_stats().pending_timers, 1u);
  EXPECT_EQ(engine_->scheduler_stats().next_due, kNow + 3 * kHour);
}

TEST_F(SchedulerTest, ClockJumpingForwardExpiresEverythingDue) {
  GivenOrgAndGroup();
  for (int day = 1; day <= 3; ++day)
    CreateExpiring("day-" + std::to_string(day), kNow + day * 24 * kHour);
  CreateExpiring("later", kNow + 30 * 24 * kHour);
  fake().Advance(10 * 24 * kHour);
  engine_->WakeSchedulers();
  EXPECT_EQ(WaitForExpired(3).size(), 3u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Expired().size(), 3u);
  EXPECT_EQ(engine_->scheduler_stats().pending_timers, 1u);
}

TEST_F(SchedulerTest, LatenessQuantilesComeFromTheHistogram) {
  SchedulerStats stats;
  stats.lateness.counts[LatencySnapshot::BucketOf(0)] += 50;
  stats.lateness.counts[LatencySnapshot::BucketOf(1000)] += 49;
  stats.lateness.counts[LatencySnapshot::BucketOf(300000)] += 1;
  EXPECT_EQ(stats.lateness.Quantile(0.5), 0);
  EXPECT_GE(stats.lateness.Quantile(0.99), 1000);
  EXPECT_LT(stats.lateness.Quantile(0.99), 2048);
  EXPECT_GE(stats.lateness.Quantile(1.0), 300000);
}

// In real time: a key expiring 2 s after creation is valid before, invalid right after,
// and its KeyExpired is in the log within 1 s of the due time.
class RealTimeSchedulerTest : public SchedulerTest {
 protected:
  void SetUp() override {
    owned_clock_.reset();
    clock_ = &SystemClock::Instance();
    Open();
  }
};

TEST_F(RealTimeSchedulerTest, KeyExpiresOnTimeInRealTime) {
  GivenOrgAndGroup();
  const Micros due = clock_->NowMicros() + 2 * kSecond;
  IssuedKey key = CreateExpiring("short-lived", due);
  EXPECT_TRUE(engine_->VerifyAt(key.token->reveal(), due - 1).valid);
  while (clock_->NowMicros() < due - 50'000) {
    EXPECT_TRUE(engine_->Verify(key.token->reveal()).valid);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  while (clock_->NowMicros() < due) std::this_thread::sleep_for(std::chrono::microseconds(200));
  EXPECT_EQ(engine_->Verify(key.token->reveal()).reason, VerifyReason::kExpired);
  auto expired = WaitForExpired(1);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_GE(expired.begin()->second.occurred_at, due);
  EXPECT_LT(expired.begin()->second.occurred_at - due, 1 * kSecond)
      << "KeyExpired was written " << (expired.begin()->second.occurred_at - due) << " us late";
}

}  // namespace
}  // namespace keytrail
