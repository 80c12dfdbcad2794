// The expiry scheduler, driven by the fake clock: Engine::WaitIdle() returns once every
// writer has fired what is due at the clock's now and gone back to sleep, so "nothing
// expired" is checked without sleeping.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <thread>

#include "engine/engine.h"
#include "events/codec.h"
#include "tests/support/engine_fixture.h"

namespace keytrail {
namespace {

using Kind = CommandOutcome::Kind;
using testing::AsMember;

constexpr Micros kNow = testing::kTestNow;
constexpr Micros kSecond = testing::kTestSecond;
constexpr Micros kHour = testing::kTestHour;

struct Expiry {
  Micros occurred_at = 0;
  Micros expires_at = 0;
  fb::ActorKind actor = fb::ActorKind::Unknown;
};

// Calls `visit` with every event in acme's partition of `log`, in log order.
void ForEachEvent(events::EventLog& log, const std::function<void(const fb::Envelope&)>& visit) {
  auto reader = log.OpenReader(log.PartitionFor("acme"), 0);
  EXPECT_OK(reader);
  if (!reader.ok()) return;
  auto records = (*reader)->Next(1'000'000, std::chrono::milliseconds(0));
  EXPECT_OK(records);
  if (!records.ok()) return;
  for (const auto& r : *records) {
    auto e = events::Decode(r.value);
    if (e.ok()) visit(**e);
  }
}

// Every KeyExpired in acme's partition of `log`, by key id.
std::multimap<std::string, Expiry> ExpiredIn(events::EventLog& log) {
  std::multimap<std::string, Expiry> out;
  ForEachEvent(log, [&](const fb::Envelope& e) {
    if (e.payload_type() != fb::Payload::KeyExpired) return;
    out.emplace(
        e.payload_as_KeyExpired()->key_id()->str(),
        Expiry{e.occurred_at_us(), e.payload_as_KeyExpired()->expires_at_us(), e.actor()->kind()});
  });
  return out;
}

IssuedKey CreateExpiring(Engine& engine, const std::string& name, Micros at) {
  auto key = engine.CreateKey(AsMember(),
                              {.name = name, .group = "ci", .expires = domain::Expiration::At(at)});
  EXPECT_OK(key);
  EXPECT_TRUE(key.ok() && key->outcome.kind == Kind::kApplied);
  return key.ok() ? std::move(key).value() : IssuedKey{};
}

class SchedulerTest : public testing::EngineFixture {
 protected:
  testing::EngineWorldOptions WorldOptions() const override {
    testing::EngineWorldOptions options;
    options.partitions = 2;
    options.engine.domain.max_active_keys = 100000;
    return options;
  }
  void SetUp() override {
    EngineFixture::SetUp();
    GivenOrg("acme", {"ci"});
  }

  IssuedKey CreateExpiring(const std::string& name, Micros at) {
    return keytrail::CreateExpiring(engine(), name, at);
  }
  // Sets the clock, lets every writer act on it, and returns every KeyExpired so far.
  std::multimap<std::string, Expiry> ExpiredAt(Micros now) {
    clock_.Set(now);
    engine().WaitIdle();
    return ExpiredIn(log());
  }
};

TEST_F(SchedulerTest, ExpiresAtTheExactMicrosecondOnce) {
  const Micros due = kNow + kHour;
  IssuedKey key = CreateExpiring("deploy", due);
  EXPECT_EQ(engine().scheduler_stats().pending_timers, 1u);
  EXPECT_EQ(engine().scheduler_stats().next_due, due);

  EXPECT_TRUE(ExpiredAt(due - 1).empty());
  EXPECT_TRUE(engine().Verify(key.token->reveal()).valid);

  clock_.Set(due);
  EXPECT_EQ(engine().Verify(key.token->reveal()).reason,
            VerifyReason::kExpired);  // before the event
  auto expired = ExpiredAt(due);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired.begin()->first, key.key_id);
  EXPECT_EQ(expired.begin()->second.occurred_at, due);
  EXPECT_EQ(expired.begin()->second.expires_at, due);
  EXPECT_EQ(expired.begin()->second.actor, fb::ActorKind::Scheduler);
  EXPECT_EQ(engine().Verify(key.token->reveal()).reason, VerifyReason::kExpired);

  const SchedulerStats stats = engine().scheduler_stats();
  EXPECT_EQ(stats.pending_timers, 0u);
  EXPECT_FALSE(stats.next_due.has_value());
  EXPECT_EQ(stats.expired, 1u);
  EXPECT_EQ(stats.lateness.counts[0], 1u);  // 0 us late under the fake clock

  EXPECT_EQ(ExpiredAt(due + kHour).size(), 1u);
}

TEST_F(SchedulerTest, ManyKeysWithTheSameExpiryEachExpireOnce) {
  const Micros due = kNow + kHour;
  for (int i = 0; i < 500; ++i) CreateExpiring("key-" + std::to_string(i), due);
  auto expired = ExpiredAt(due);
  EXPECT_EQ(expired.size(), 500u);
  std::set<std::string> distinct;
  for (const auto& [key_id, e] : expired) distinct.insert(key_id);
  EXPECT_EQ(distinct.size(), 500u);
}

TEST_F(SchedulerTest, RevokedKeyIsNeverExpired) {
  IssuedKey key = CreateExpiring("deploy", kNow + kHour);
  ASSERT_EQ(engine().Execute(AsMember(), domain::RevokeKey{*ParseKeyId(key.key_id), ""})->kind,
            Kind::kApplied);
  EXPECT_EQ(engine().scheduler_stats().pending_timers, 0u);
  EXPECT_TRUE(ExpiredAt(kNow + 2 * kHour).empty());
  EXPECT_EQ(engine().Verify(key.token->reveal()).reason, VerifyReason::kRevoked);
}

TEST_F(SchedulerTest, OverdueTimersFireAtOnceAfterARestart) {
  IssuedKey a = CreateExpiring("a-key", kNow + kHour);
  IssuedKey b = CreateExpiring("b-key", kNow + 3 * kHour);
  world_->Close();
  clock_.Set(kNow + 2 * kHour);
  ASSERT_OK(world_->Open());  // the writer sees the overdue timer when it starts
  auto expired = ExpiredAt(kNow + 2 * kHour);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired.begin()->first, a.key_id);
  EXPECT_EQ(engine().scheduler_stats().pending_timers, 1u);
  EXPECT_EQ(engine().scheduler_stats().next_due, kNow + 3 * kHour);
}

TEST_F(SchedulerTest, ClockJumpingForwardExpiresEverythingDue) {
  for (int day = 1; day <= 3; ++day)
    CreateExpiring("day-" + std::to_string(day), kNow + day * 24 * kHour);
  CreateExpiring("later", kNow + 30 * 24 * kHour);
  EXPECT_EQ(ExpiredAt(kNow + 10 * 24 * kHour).size(), 3u);
  EXPECT_EQ(engine().scheduler_stats().pending_timers, 1u);
}

// The key ids of acme's events of `type` (and, for KeyRevoked, of `reason`), in log order;
// each must be the scheduler's.
std::vector<std::string> KeysWith(events::EventLog& log, fb::Payload type,
                                  std::string_view reason = "") {
  std::vector<std::string> out;
  ForEachEvent(log, [&](const fb::Envelope& e) {
    if (e.payload_type() != type) return;
    if (type == fb::Payload::KeyRevoked &&
        e.payload_as_KeyRevoked()->reason()->string_view() != reason) {
      return;
    }
    EXPECT_EQ(e.actor()->kind(), fb::ActorKind::Scheduler);
    out.push_back(e.aggregate_id()->str());
  });
  return out;
}

// The org's policy, set as the system (no principal to authorize).
void SetPolicy(Engine& engine, domain::SetKeyPolicy policy) {
  domain::CommandContext system{
      .org = "acme", .actor_kind = fb::ActorKind::System, .actor_id = "test", .authorize = false};
  auto outcome = engine.Execute(system, policy);
  ASSERT_OK(outcome);
  ASSERT_EQ(outcome->kind, Kind::kApplied);
}

TEST_F(SchedulerTest, KeysUnusedForThePolicysWindowAreRevokedOnceCountingFromTheLastUse) {
  constexpr Micros kDay = 24 * kHour;
  IssuedKey used = CreateExpiring("used-bot", kNow + 30 * kDay);
  IssuedKey idle = CreateExpiring("idle-bot", kNow + 30 * kDay);
  EXPECT_EQ(engine().scheduler_stats().pending_timers, 2u);  // their expiries
  SetPolicy(engine(), {.revoke_unused_after = 2 * kDay});    // reschedules existing keys
  EXPECT_EQ(engine().scheduler_stats().pending_timers, 4u);

  clock_.Set(kNow + kDay);
  ASSERT_TRUE(engine().Verify(used.token->reveal()).valid);
  engine().FlushKeyUse();
  EXPECT_TRUE(ExpiredAt(kNow + 2 * kDay - 1).empty());
  EXPECT_TRUE(KeysWith(log(), fb::Payload::KeyRevoked, "unused").empty());

  clock_.Set(kNow + 2 * kDay);  // the window, not yet its margin
  engine().WaitIdle();
  EXPECT_TRUE(KeysWith(log(), fb::Payload::KeyRevoked, "unused").empty());
  clock_.Set(kNow + 2 * kDay + domain::kUnusedMargin);
  engine().WaitIdle();
  EXPECT_EQ(KeysWith(log(), fb::Payload::KeyRevoked, "unused"),
            std::vector<std::string>{idle.key_id});
  EXPECT_EQ(engine().Verify(idle.token->reveal()).reason, VerifyReason::kRevoked);
  EXPECT_TRUE(engine().Verify(used.token->reveal()).valid);  // used a day ago

  // Its use (to the minute) plus two days.
  clock_.Set(kNow + 3 * kDay + 5 * 60 * kSecond);
  engine().WaitIdle();
  EXPECT_EQ(KeysWith(log(), fb::Payload::KeyRevoked, "unused"),
            (std::vector<std::string>{idle.key_id, used.key_id}));
  clock_.Set(kNow + 10 * kDay);
  engine().WaitIdle();
  EXPECT_EQ(KeysWith(log(), fb::Payload::KeyRevoked, "unused").size(), 2u);  // exactly once
  EXPECT_EQ(engine().scheduler_stats().revoked_unused, 2u);
  EXPECT_EQ(engine().scheduler_stats().pending_timers, 0u);
}

TEST_F(SchedulerTest, TurningThePolicyOffCancelsTheRevocations) {
  constexpr Micros kDay = 24 * kHour;
  IssuedKey key = CreateExpiring("idle-bot", kNow + 30 * kDay);
  SetPolicy(engine(), {.revoke_unused_after = kDay});
  SetPolicy(engine(), {});
  clock_.Set(kNow + 3 * kDay);
  engine().WaitIdle();
  EXPECT_TRUE(KeysWith(log(), fb::Payload::KeyRevoked, "unused").empty());
  EXPECT_TRUE(engine().Verify(key.token->reveal()).valid);
}

TEST_F(SchedulerTest, ExpiringSoonIsWrittenOncePerKeyAndExpiryWhenTheWindowOpens) {
  constexpr Micros kDay = 24 * kHour;
  IssuedKey key = CreateExpiring("nightly", kNow + 10 * kDay);
  CreateExpiring("far-off", kNow + 100 * kDay);
  SetPolicy(engine(), {.expiring_soon = 7 * kDay});
  EXPECT_TRUE(ExpiredAt(kNow + 3 * kDay - 1).empty());
  EXPECT_TRUE(KeysWith(log(), fb::Payload::KeyExpiringSoon).empty());
  clock_.Set(kNow + 3 * kDay);
  engine().WaitIdle();
  EXPECT_EQ(KeysWith(log(), fb::Payload::KeyExpiringSoon), std::vector<std::string>{key.key_id});
  clock_.Set(kNow + 4 * kDay);
  engine().WaitIdle();
  EXPECT_EQ(KeysWith(log(), fb::Payload::KeyExpiringSoon).size(), 1u);

  // Renewed: a new expiry, warned about again when its own window opens, then expired.
  auto renewed = engine().Execute(
      AsMember(),
      domain::UpdateKey{*ParseKeyId(key.key_id), {}, domain::Expiration::At(kNow + 20 * kDay), {}});
  ASSERT_OK(renewed);
  ASSERT_EQ(renewed->kind, Kind::kApplied);
  clock_.Set(kNow + 13 * kDay - 1);
  engine().WaitIdle();
  EXPECT_EQ(KeysWith(log(), fb::Payload::KeyExpiringSoon).size(), 1u);
  clock_.Set(kNow + 13 * kDay);
  engine().WaitIdle();
  EXPECT_EQ(KeysWith(log(), fb::Payload::KeyExpiringSoon).size(), 2u);
  EXPECT_EQ(ExpiredAt(kNow + 20 * kDay).size(), 1u);
  EXPECT_EQ(engine().scheduler_stats().expiring_soon, 2u);
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
TEST(RealTimeSchedulerTest, KeyExpiresOnTimeInRealTime) {
  const Clock& clock = SystemClock::Instance();
  testing::EngineWorld world(clock, {.partitions = 2});
  ASSERT_OK(world.Open());
  Engine& engine = world.engine();
  ASSERT_OK(engine.Execute(AsMember(), domain::CreateOrg{"acme"}));
  ASSERT_OK(engine.Execute(AsMember(), domain::CreateGroup{"ci", "", ""}));
  const Micros due = clock.NowMicros() + 2 * kSecond;
  IssuedKey key = CreateExpiring(engine, "short-lived", due);
  EXPECT_TRUE(engine.VerifyAt(key.token->reveal(), due - 1).valid);
  while (clock.NowMicros() < due - 50'000) {
    EXPECT_TRUE(engine.Verify(key.token->reveal()).valid);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  while (clock.NowMicros() < due) std::this_thread::sleep_for(std::chrono::microseconds(200));
  EXPECT_EQ(engine.Verify(key.token->reveal()).reason, VerifyReason::kExpired);
  // Real time: poll (bounded) until the scheduler has written and counted the expiry.
  std::multimap<std::string, Expiry> expired;
  for (int i = 0; i < 500 && (expired.empty() || engine.scheduler_stats().expired == 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    expired = ExpiredIn(world.log());
  }
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_GE(expired.begin()->second.occurred_at, due);
  EXPECT_LT(expired.begin()->second.occurred_at - due, 1 * kSecond)
      << "KeyExpired was written " << (expired.begin()->second.occurred_at - due) << " us late";
}

}  // namespace
}  // namespace keytrail
