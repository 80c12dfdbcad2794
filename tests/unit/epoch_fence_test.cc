// The fencing rule (events/epoch_fence.h), as Given(events) / Then(which count).
#include "events/epoch_fence.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "events/codec.h"
#include "events/event_log.h"
#include "tests/support/test_events.h"

namespace keytrail::events {
namespace {

using testing::EncodedKeyCreated;
using testing::EncodeWriterClaimed;
using testing::WithWriterEpoch;

constexpr int32_t kPartitions = 8;

// Which of `records` the fence admits, in order.
std::vector<bool> Admitted(EpochFence& fence, const std::vector<std::string>& records) {
  std::vector<bool> out;
  int64_t offset = 0;
  for (const std::string& bytes : records) {
    auto event = Decode(bytes);
    EXPECT_TRUE(event.ok()) << event.status().ToString();
    out.push_back(event.ok() && fence.Admit(offset++, **event));
  }
  return out;
}

TEST(EpochFence, BeforeAnyClaimEpochZeroEventsCount) {
  EpochFence fence;
  EXPECT_EQ(
      Admitted(fence, {EncodedKeyCreated("acme", "k1", 1), EncodedKeyCreated("acme", "k2", 2)}),
      (std::vector<bool>{true, true}));
  EXPECT_EQ(fence.claim().epoch, 0);
}

TEST(EpochFence, AStaleWritersEventsAfterANewClaimDoNotCount) {
  EpochFence fence;
  const auto admitted =
      Admitted(fence, {EncodeWriterClaimed(0, kPartitions, 1, 1, "node-a"),
                       WithWriterEpoch(EncodedKeyCreated("acme", "k1", 2), 1),
                       EncodeWriterClaimed(0, kPartitions, 3, 2, "node-b"),
                       WithWriterEpoch(EncodedKeyCreated("acme", "k2", 4), 1),  // node-a, paused
                       WithWriterEpoch(EncodedKeyCreated("acme", "k3", 5), 2),
                       EncodedKeyCreated("acme", "k4", 6)});  // epoch 0: from before any claim
  EXPECT_EQ(admitted, (std::vector<bool>{true, true, true, false, true, false}));
  EXPECT_EQ(fence.claim().epoch, 2);
  EXPECT_EQ(fence.claim().node_id, "node-b");
  EXPECT_EQ(fence.claim().offset, 2);
  EXPECT_EQ(fence.claim().advertise_url, "http://node-b.test:8080");
}

// Uses of keys: any node writes them, whatever epoch it last saw.
TEST(EpochFence, KeysUsedCountsFromAnyEpoch) {
  fb::EnvelopeT used;
  used.id = std::make_unique<fb::EventId>(1, 7);
  used.org = "acme";
  used.aggregate_id = "acme";
  used.occurred_at_us = 7;
  fb::KeysUsedT payload;
  used.payload.Set(std::move(payload));
  used.writer_epoch = 1;  // a node that has not read the second claim yet
  EpochFence fence;
  EXPECT_EQ(Admitted(fence, {EncodeWriterClaimed(0, kPartitions, 1, 1, "node-a"),
                             EncodeWriterClaimed(0, kPartitions, 2, 2, "node-b"),
                             WithWriterEpoch(EncodedKeyCreated("acme", "k1", 3), 1), Encode(used)}),
            (std::vector<bool>{true, true, false, true}));
}

TEST(EpochFence, OfTwoClaimsOfOneEpochTheFirstWins) {
  EpochFence fence;
  EXPECT_EQ(Admitted(fence, {EncodeWriterClaimed(0, kPartitions, 1, 1, "node-a"),
                             EncodeWriterClaimed(0, kPartitions, 2, 1, "node-b"),
                             WithWriterEpoch(EncodedKeyCreated("acme", "k1", 3), 1)}),
            (std::vector<bool>{true, false, true}));
  EXPECT_EQ(fence.claim().node_id, "node-a");
}

TEST(EpochFence, EventsAheadOfTheCurrentEpochAndClaimsThatSkipOrRepeatEpochsDoNotCount) {
  EpochFence fence;
  EXPECT_EQ(Admitted(fence, {WithWriterEpoch(EncodedKeyCreated("acme", "k1", 1), 5),
                             EncodeWriterClaimed(0, kPartitions, 2, 3, "node-a"),  // skips
                             EncodeWriterClaimed(0, kPartitions, 3, 1, "node-b"),
                             EncodeWriterClaimed(0, kPartitions, 4, 1, "node-c"),  // repeats
                             EncodeWriterClaimed(0, kPartitions, 5, INT64_MAX, "node-d")}),
            (std::vector<bool>{false, false, true, false, false}));
  EXPECT_EQ(fence.claim().epoch, 1);
  EXPECT_EQ(fence.claim().node_id, "node-b");
}

TEST(EpochFence, ResumesFromAStoredClaim) {
  EpochFence fence(PartitionClaim{.epoch = 4, .offset = 10, .node_id = "node-c"});
  EXPECT_EQ(Admitted(fence, {WithWriterEpoch(EncodedKeyCreated("acme", "k1", 1), 4),
                             WithWriterEpoch(EncodedKeyCreated("acme", "k2", 2), 3),
                             EncodeWriterClaimed(0, kPartitions, 3, 5, "node-d")}),
            (std::vector<bool>{true, false, true}));
}

TEST(ClaimKeyFor, MapsToItsPartitionAndIsNoOrgId) {
  for (int32_t p = 0; p < kPartitions; ++p) {
    const std::string key = ClaimKeyFor(p, kPartitions);
    EXPECT_EQ(PartitionForKey(key, kPartitions), p) << key;
    EXPECT_NE(key.find('.'), std::string::npos);
    EXPECT_EQ(key, ClaimKeyFor(p, kPartitions));  // deterministic
  }
}

}  // namespace
}  // namespace keytrail::events
