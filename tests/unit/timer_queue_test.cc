// TimerQueue against real events folded by Evolve: timers follow the keys' state, come
// out earliest first with their key ids resolved from record numbers, and go with the
// events that end them.
#include "engine/timer_queue.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "events/codec.h"
#include "tests/support/test_events.h"

namespace keytrail {
namespace {

using testing::EncodeKeyCreated;
using testing::EncodeKeyExpired;
using testing::EncodeKeyRevoked;
using testing::KeyCreatedFields;

KeyId Id(uint8_t n) {
  KeyId id;
  id.bytes[0] = n;
  id.bytes[15] = n;
  return id;
}

// One partition's states and queue, fed the way the writer feeds them.
class TimerQueueTest : public ::testing::Test {
 protected:
  void Fold(const std::string& org, const std::string& encoded) {
    auto event = events::Decode(encoded);
    ASSERT_TRUE(event.ok());
    domain::OrgState& state = states_[org];
    queue_.Forget(**event, state);
    ASSERT_TRUE(domain::Evolve(state, **event).ok());
    queue_.Apply(**event, state);
  }

  void Create(const std::string& org, uint8_t key, Micros expires_at) {
    KeyCreatedFields fields;
    fields.key_id = FormatKeyId(Id(key));
    fields.name = "key-" + std::to_string(key);
    fields.expires_at_us = expires_at;
    Fold(org, EncodeKeyCreated(org, ++seq_, fields));
  }

  std::vector<TimerQueue::Timer> Due(Micros now, size_t limit = 100) {
    return queue_.Due(now, limit, [this](std::string_view org) -> const domain::OrgState* {
      auto it = states_.find(std::string(org));
      return it == states_.end() ? nullptr : &it->second;
    });
  }

  std::map<std::string, domain::OrgState> states_;
  TimerQueue queue_;
  uint64_t seq_ = 0;
};

TEST_F(TimerQueueTest, DueComesOutEarliestFirstWithTheKeysIds) {
  Create("org-a", 1, 3000);
  Create("org-b", 2, 1000);
  Create("org-a", 3, 0);  // never expires: no timer
  Create("org-a", 4, 2000);
  EXPECT_EQ(queue_.size(), 3u);
  EXPECT_EQ(queue_.NextDue(), Micros{1000});

  EXPECT_TRUE(Due(999).empty());
  auto due = Due(2500);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].due, 1000);
  EXPECT_EQ(due[0].org, "org-b");
  EXPECT_EQ(due[0].key_id, Id(2));
  EXPECT_EQ(due[0].kind, TimerQueue::Kind::kExpire);
  EXPECT_EQ(due[1].org, "org-a");
  EXPECT_EQ(due[1].key_id, Id(4));

  auto first = Due(5000, /*limit=*/1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].key_id, Id(2));
  EXPECT_EQ(Due(5000).size(), 3u) << "Due leaves them queued";
}

TEST_F(TimerQueueTest, EventsThatEndAKeyTakeItsTimerOut) {
  Create("org", 1, 1000);
  Create("org", 2, 2000);
  Fold("org", EncodeKeyRevoked("org", ++seq_, FormatKeyId(Id(1)), "leaked"));
  auto due = Due(5000);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].key_id, Id(2));
  Fold("org", EncodeKeyExpired("org", ++seq_, FormatKeyId(Id(2)), 2000));
  EXPECT_TRUE(Due(5000).empty());
  EXPECT_EQ(queue_.size(), 0u);
  EXPECT_EQ(queue_.NextDue(), std::nullopt);
}

TEST_F(TimerQueueTest, RemoveAndContainsNameOneTimer) {
  Create("org", 1, 1000);
  Create("org", 2, 1000);  // same due time, another record
  auto due = Due(1000);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_NE(due[0].record, due[1].record);
  EXPECT_TRUE(queue_.Contains(due[0]));
  queue_.Remove(due[0]);
  EXPECT_FALSE(queue_.Contains(due[0]));
  EXPECT_TRUE(queue_.Contains(due[1]));
  TimerQueue::Timer unknown = due[1];
  unknown.org = "no-such-org";
  EXPECT_FALSE(queue_.Contains(unknown));
  queue_.Remove(unknown);  // nothing happens
  EXPECT_EQ(queue_.size(), 1u);
  queue_.Clear();
  EXPECT_EQ(queue_.size(), 0u);
}

TEST_F(TimerQueueTest, ARecordReusedByANewKeyNamesTheNewKey) {
  Create("org", 1, 1000);
  Fold("org", EncodeKeyRevoked("org", ++seq_, FormatKeyId(Id(1)), "rotated out"));
  // The retired key's record is freed, then taken by the next key created.
  EXPECT_EQ(domain::ForgetRetiredKeysBefore(states_["org"], INT64_MAX), 1u);
  Create("org", 2, 4000);
  auto due = Due(5000);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].key_id, Id(2));
  EXPECT_EQ(due[0].due, 4000);
}

TEST_F(TimerQueueTest, ATimerFromBeforeAClearNamesNothing) {
  Create("org", 1, 1000);
  auto before = Due(1000);
  ASSERT_EQ(before.size(), 1u);
  // A refold from the log: the states and the queue start over, and another key takes
  // the same record, due at the same time.
  queue_.Clear();
  states_.clear();
  Create("org", 2, 1000);
  auto after = Due(1000);
  ASSERT_EQ(after.size(), 1u);
  ASSERT_EQ(after[0].record, before[0].record);
  EXPECT_FALSE(queue_.Contains(before[0]));
  queue_.Remove(before[0]);
  EXPECT_TRUE(queue_.Contains(after[0])) << "the other key's timer stays";
  EXPECT_EQ(Due(1000)[0].key_id, Id(2));
}

TEST_F(TimerQueueTest, ATimerWhoseKeyRetiredUnseenIsDropped) {
  Create("org", 1, 1000);
  Create("org", 2, 2000);
  // A revocation whose header names another key than its payload: Evolve retires key 1,
  // while Forget and Apply looked at the header's.
  fb::EnvelopeT e = testing::MakeEnvelope("org", FormatKeyId(Id(9)), ++seq_);
  fb::KeyRevokedT p;
  p.key_id = FormatKeyId(Id(1));
  p.reason = "mislabelled";
  e.payload.Set(std::move(p));
  Fold("org", events::Encode(e));
  EXPECT_EQ(queue_.size(), 2u);
  auto due = Due(5000);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].key_id, Id(2));
  EXPECT_EQ(queue_.size(), 1u) << "dropped, not fired";
}

}  // namespace
}  // namespace keytrail
