#include "engine/verify_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "events/codec.h"
#include "projections/key_view.h"
#include "schemas/views_generated.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_events.h"

namespace keytrail {
namespace {

using model::KeyRecord;
using model::KeyStatus;
using projections::KeyViewProjection;

constexpr Micros kNow = 1'800'000'000'000'000;

// An ordered in-memory ViewStore, enough for the key view's readers.
class MemoryStore final : public projections::ViewStore {
 public:
  class Batch final : public projections::ViewBatch {
   public:
    explicit Batch(MemoryStore& store) : store_(store) {}
    void Put(std::string_view key, std::string_view value) override {
      writes_.insert_or_assign(std::string(key), std::optional<std::string>(value));
      ++count_;
    }
    void Delete(std::string_view key) override {
      writes_.insert_or_assign(std::string(key), std::nullopt);
      ++count_;
    }
    Result<std::optional<std::string>> Get(std::string_view key) override {
      if (auto it = writes_.find(std::string(key)); it != writes_.end()) return it->second;
      return store_.Get(key);
    }
    size_t Count() const override { return count_; }

   private:
    friend class MemoryStore;
    MemoryStore& store_;
    std::map<std::string, std::optional<std::string>> writes_;
    size_t count_ = 0;
  };

  std::unique_ptr<projections::ViewBatch> NewBatch() override {
    return std::make_unique<Batch>(*this);
  }
  Status Commit(projections::ViewBatch& batch) override {
    std::lock_guard lock(mu_);
    for (auto& [key, value] : static_cast<Batch&>(batch).writes_) {
      if (value.has_value()) {
        rows_[key] = *value;
      } else {
        rows_.erase(key);
      }
    }
    return Status::Ok();
  }
  Result<std::optional<std::string>> Get(std::string_view key) override {
    std::lock_guard lock(mu_);
    auto it = rows_.find(std::string(key));
    if (it == rows_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status Scan(std::string_view begin, std::string_view end,
              const projections::RowVisitor& visit) override {
    std::vector<std::pair<std::string, std::string>> rows;
    {
      std::lock_guard lock(mu_);
      for (auto it = rows_.lower_bound(std::string(begin));
           it != rows_.end() && (end.empty() || it->first < end); ++it) {
        rows.push_back(*it);
      }
    }
    for (const auto& [key, value] : rows) {
      if (!visit(key, value)) break;
    }
    return Status::Ok();
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> rows_;
};

// Made-up but well-spread ids and hashes.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

KeyId IdOf(uint64_t n) {
  KeyId id;
  for (size_t i = 0; i < id.bytes.size(); ++i) id.bytes[i] = static_cast<uint8_t>(Mix(n + i * 977));
  return id;
}

SecretHash HashOf(uint64_t n, uint64_t generation = 0) {
  SecretHash h;
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint8_t>(Mix(n * 131 + generation + i));
  return h;
}

KeyRecord Record(uint64_t n, std::string org = "acme", std::string group = "developer") {
  KeyRecord r;
  r.org = std::move(org);
  r.key_id = IdOf(n);
  r.name = "key-" + std::to_string(n);
  r.group_id = std::move(group);
  r.secret_hash = HashOf(n);
  r.created_at_us = kNow - 1000;
  r.created_by = "member-1";
  return r;
}

ParsedToken Token(uint64_t n, uint64_t generation = 0) { return {IdOf(n), HashOf(n, generation)}; }

TEST(VerifyIndexTest, ReasonCodes) {
  EXPECT_EQ(ReasonCode(VerifyReason::kValid), "valid");
  EXPECT_EQ(ReasonCode(VerifyReason::kMalformed), "malformed");
  EXPECT_EQ(ReasonCode(VerifyReason::kUnknown), "unknown");
  EXPECT_EQ(ReasonCode(VerifyReason::kRevoked), "revoked");
  EXPECT_EQ(ReasonCode(VerifyReason::kExpired), "expired");
  EXPECT_EQ(ReasonCode(VerifyReason::kNoGroup), "no-group");
  std::vector<std::string> permissions = {"scim", "future"};
  EXPECT_EQ(PermissionBits(permissions), kPermissionScim);
  EXPECT_EQ(PermissionBits({}), 0u);
}

TEST(VerifyIndexTest, EveryReason) {
  VerifyIndex index;
  KeyRecord valid = Record(1);
  valid.expires_at_us = kNow + 1'000'000;
  valid.permissions = {"scim"};
  KeyRecord revoked = Record(2);
  revoked.status = KeyStatus::kRevoked;
  KeyRecord expired_by_event = Record(3);
  expired_by_event.status = KeyStatus::kExpired;
  KeyRecord expired_by_time = Record(4);
  expired_by_time.expires_at_us = kNow - 1;
  KeyRecord no_group = Record(5, "acme", "");
  KeyRecord deleted_group = Record(6, "acme", "gone");
  std::vector<KeyRecord> all = {valid,           revoked,  expired_by_event,
                                expired_by_time, no_group, deleted_group};
  index.Upsert(all);
  index.SetGroupDeleted("acme", "gone", true);
  EXPECT_EQ(index.size(), 6u);

  VerifyResult r = index.Verify(Token(1), kNow);
  EXPECT_TRUE(r.valid);
  EXPECT_EQ(r.reason, VerifyReason::kValid);
  EXPECT_EQ(r.key_id, IdOf(1));
  EXPECT_EQ(r.org, "acme");
  EXPECT_EQ(r.group, "developer");
  EXPECT_EQ(r.expires_at_us, kNow + 1'000'000);
  EXPECT_EQ(r.permissions, kPermissionScim);

  EXPECT_EQ(index.Verify(std::optional<ParsedToken>(), kNow).reason, VerifyReason::kMalformed);
  EXPECT_EQ(index.Verify(Token(99), kNow).reason, VerifyReason::kUnknown);
  EXPECT_EQ(index.Verify(Token(1, /*generation=*/7), kNow).reason, VerifyReason::kUnknown);
  EXPECT_EQ(index.Verify(Token(2), kNow).reason, VerifyReason::kRevoked);
  EXPECT_EQ(index.Verify(Token(3), kNow).reason, VerifyReason::kExpired);
  EXPECT_EQ(index.Verify(Token(4), kNow).reason, VerifyReason::kExpired);
  EXPECT_EQ(index.Verify(Token(5), kNow).reason, VerifyReason::kNoGroup);
  r = index.Verify(Token(6), kNow);
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.reason, VerifyReason::kNoGroup);
  EXPECT_EQ(r.org, "acme") << "the secret matched: the caller may learn the org";
  EXPECT_EQ(r.permissions, 0u) << "an invalid key grants nothing";
}

TEST(VerifyIndexTest, UnknownRevealsNothing) {
  VerifyIndex index;
  KeyRecord revoked = Record(1);
  revoked.status = KeyStatus::kRevoked;
  index.Upsert(revoked);
  VerifyResult r = index.Verify(Token(1, /*generation=*/1), kNow);
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.reason, VerifyReason::kUnknown) << "wrong secret must not learn 'revoked'";
  EXPECT_TRUE(r.org.empty());
  EXPECT_EQ(r.key_id, KeyId{});
}

TEST(VerifyIndexTest, ExpiryIsExactToTheMicrosecond) {
  VerifyIndex index;
  KeyRecord r = Record(1);
  r.expires_at_us = kNow;
  index.Upsert(r);
  EXPECT_TRUE(index.Verify(Token(1), kNow - 1).valid);
  EXPECT_EQ(index.Verify(Token(1), kNow).reason, VerifyReason::kExpired);
  EXPECT_EQ(index.Verify(Token(1), kNow + 1).reason, VerifyReason::kExpired);
}

TEST(VerifyIndexTest, RotationGracePeriod) {
  VerifyIndex index;
  KeyRecord r = Record(1);
  r.previous_hash = r.secret_hash;
  r.secret_hash = HashOf(1, /*generation=*/1);
  r.previous_valid_until_us = kNow + 500;
  index.Upsert(r);
  EXPECT_TRUE(index.Verify(Token(1, 1), kNow + 10'000).valid) << "the new secret never lapses";
  EXPECT_FALSE(index.Verify(Token(1, 1), kNow).previous_secret);
  EXPECT_TRUE(index.Verify(Token(1, 0), kNow + 499).valid);
  EXPECT_TRUE(index.Verify(Token(1, 0), kNow + 499).previous_secret);
  EXPECT_EQ(SecretName(index.Verify(Token(1, 0), kNow + 499)), "previous");
  EXPECT_EQ(index.Verify(Token(1, 0), kNow + 500).reason, VerifyReason::kUnknown);

  // previous_valid_until 0: the old secret stopped at once.
  r.previous_valid_until_us = 0;
  index.Upsert(r);
  EXPECT_EQ(index.Verify(Token(1, 0), kNow).reason, VerifyReason::kUnknown);

  // The grace period never outlives the key itself.
  r.previous_valid_until_us = kNow + 500;
  r.expires_at_us = kNow + 100;
  index.Upsert(r);
  EXPECT_TRUE(index.Verify(Token(1, 0), kNow + 99).valid);
  EXPECT_EQ(index.Verify(Token(1, 0), kNow + 100).reason, VerifyReason::kExpired);
  r.status = KeyStatus::kRevoked;
  index.Upsert(r);
  EXPECT_EQ(index.Verify(Token(1, 0), kNow).reason, VerifyReason::kRevoked);
  EXPECT_EQ(index.size(), 1u);
}

// Slots are probed by the first 8 id bytes: keys that share them must still be told apart
// (by the full id for writers, by the hash for readers), through updates and graces.
TEST(VerifyIndexTest, KeysSharingTheirFirstIdBytes) {
  VerifyIndex index;
  std::vector<KeyRecord> records;
  for (uint64_t n = 0; n < 50; ++n) {
    KeyRecord r = Record(n);
    r.key_id = IdOf(1000);
    r.key_id.bytes[15] = static_cast<uint8_t>(n);  // same first 8 bytes, same shard
    records.push_back(r);
  }
  index.Upsert(records);
  EXPECT_EQ(index.size(), 50u);
  auto token = [&](uint64_t n, uint64_t generation) {
    return ParsedToken{records[n].key_id, HashOf(n, generation)};
  };
  for (uint64_t n = 0; n < 50; ++n) {
    const VerifyResult r = index.Verify(token(n, 0), kNow);
    ASSERT_TRUE(r.valid) << n;
    EXPECT_EQ(r.key_id, records[n].key_id);
  }
  // Ids that differ only in the bit the tag overwrites (bit 0 of byte 0).
  KeyRecord low = Record(77), high = Record(78);
  low.key_id.bytes[0] &= 0xfe;
  high.key_id = low.key_id;
  high.key_id.bytes[0] |= 1;
  index.Upsert(std::vector<KeyRecord>{low, high});
  EXPECT_EQ(index.size(), 52u);
  EXPECT_EQ(index.Verify(ParsedToken{low.key_id, HashOf(77)}, kNow).key_id, low.key_id);
  EXPECT_EQ(index.Verify(ParsedToken{high.key_id, HashOf(78)}, kNow).key_id, high.key_id);
  high.status = KeyStatus::kRevoked;
  index.Upsert(high);
  EXPECT_TRUE(index.Verify(ParsedToken{low.key_id, HashOf(77)}, kNow).valid);
  EXPECT_EQ(index.Verify(ParsedToken{high.key_id, HashOf(78)}, kNow).reason,
            VerifyReason::kRevoked);
  EXPECT_EQ(index.size(), 52u);
  // Another key's secret under this key's id is unknown.
  EXPECT_EQ(index.Verify(ParsedToken{records[1].key_id, HashOf(2)}, kNow).reason,
            VerifyReason::kUnknown);
  // Rotate every other key with a grace; revoke key 3.
  for (uint64_t n = 0; n < 50; n += 2) {
    records[n].previous_hash = records[n].secret_hash;
    records[n].secret_hash = HashOf(n, 1);
    records[n].previous_valid_until_us = kNow + 100;
  }
  records[3].status = KeyStatus::kRevoked;
  index.Upsert(records);
  EXPECT_EQ(index.size(), 52u);
  for (uint64_t n = 0; n < 50; ++n) {
    if (n % 2 == 0) {
      EXPECT_TRUE(index.Verify(token(n, 1), kNow).valid) << n;
      EXPECT_TRUE(index.Verify(token(n, 0), kNow).previous_secret) << n;
      EXPECT_EQ(index.Verify(token(n, 0), kNow + 100).reason, VerifyReason::kUnknown) << n;
    } else {
      EXPECT_EQ(index.Verify(token(n, 0), kNow).reason,
                n == 3 ? VerifyReason::kRevoked : VerifyReason::kValid);
    }
  }
  // A key's previous secret is not another key's: 4's old secret under 6's id.
  EXPECT_EQ(index.Verify(ParsedToken{records[6].key_id, HashOf(4, 0)}, kNow).reason,
            VerifyReason::kUnknown);
}

// Ids as keytrail makes them (NewKeyId): a burst of keys created in one millisecond
// shares the first 6 id bytes, which ShardOf and the probe's home slot read. They still
// spread over the shards and within them as random ids do.
TEST(VerifyIndexTest, IdsMadeInOneMillisecondSpreadAsRandomIdsDo) {
  constexpr uint64_t kKeys = 100'000;  // ~24 per shard
  auto largest_shard = [&](bool same_millisecond) {
    std::vector<KeyRecord> records;
    for (uint64_t n = 0; n < kKeys; ++n) {
      records.push_back(Record(n));
      if (same_millisecond) records.back().key_id = NewKeyId(SystemRandom(), kNow);
    }
    VerifyIndex index;
    index.Upsert(records);
    EXPECT_EQ(index.size(), kKeys);
    for (uint64_t n = 0; n < kKeys; n += 101) {
      EXPECT_TRUE(index.Verify(ParsedToken{records[n].key_id, HashOf(n)}, kNow).valid) << n;
    }
    size_t largest = 0;
    for (const KeyRecord& r : records) largest = std::max(largest, index.ShardCapacity(r.key_id));
    return largest;
  };
  const size_t random_ids = largest_shard(false);
  const size_t ids_of_one_millisecond = largest_shard(true);
  EXPECT_LE(ids_of_one_millisecond, 2 * random_ids)
      << "ids of one millisecond crowd into a few shards";
}

// Readers take a shard's capacity from the word that publishes it, which holds capacities
// up to 65535 slots; a larger shard's is read from the shard itself. Made-up ids that all
// land in one shard (ShardOf's multiplier inverted) but spread within it reach that size.
TEST(VerifyIndexTest, AShardTooLargeForItsPublishedCapacityStillAnswers) {
  constexpr uint64_t kMultiplier = 0x9E3779B97F4A7C15ULL;  // ShardOf's
  uint64_t inverse = kMultiplier;                          // Newton: odd numbers invert mod 2^64
  for (int i = 0; i < 6; ++i) inverse *= 2 - kMultiplier * inverse;
  ASSERT_EQ(kMultiplier * inverse, 1u);
  auto id_in_shard_7 = [&](uint64_t n) {
    KeyId id = IdOf(n);
    const uint64_t hashed = (uint64_t{7} << 52) | (Mix(n) >> 12);  // what ShardOf sees
    const uint64_t head = hashed * inverse;
    std::memcpy(id.bytes.data(), &head, sizeof(head));
    return id;
  };
  constexpr uint64_t kKeys = 70'000;  // capacity 87,502 slots
  std::vector<KeyRecord> records;
  for (uint64_t n = 0; n < kKeys; ++n) {
    records.push_back(Record(n));
    records.back().key_id = id_in_shard_7(n);
  }
  VerifyIndex index;
  index.Upsert(records);
  ASSERT_EQ(index.size(), kKeys);
  ASSERT_GT(index.ShardCapacity(records[0].key_id), 0xffffu);  // one shard holds them all
  for (uint64_t n = 0; n < kKeys; n += 97) {
    const VerifyResult r = index.Verify(ParsedToken{records[n].key_id, HashOf(n)}, kNow);
    ASSERT_TRUE(r.valid) << n;
    EXPECT_EQ(r.key_id, records[n].key_id);
    EXPECT_EQ(index.Verify(ParsedToken{records[n].key_id, HashOf(n + 1)}, kNow).reason,
              VerifyReason::kUnknown);
  }
  EXPECT_EQ(index.Verify(ParsedToken{id_in_shard_7(kKeys), HashOf(kKeys)}, kNow).reason,
            VerifyReason::kUnknown);
  // Changes to such a shard (in place, and by copy) read it the same way.
  records.resize(1000);
  for (KeyRecord& r : records) r.status = KeyStatus::kRevoked;
  index.Upsert(records);
  EXPECT_EQ(index.Verify(ParsedToken{records[5].key_id, HashOf(5)}, kNow).reason,
            VerifyReason::kRevoked);
  KeyRecord added = Record(kKeys + 1);
  added.key_id = id_in_shard_7(kKeys + 1);
  index.Upsert(added);
  EXPECT_TRUE(index.Verify(ParsedToken{added.key_id, HashOf(kKeys + 1)}, kNow).valid);
  EXPECT_EQ(index.size(), kKeys + 1);
  EXPECT_TRUE(index.Verify(ParsedToken{id_in_shard_7(5000), HashOf(5000)}, kNow).valid);
}

// A change of status alone (revoke, expiry, suspension) is made in place: no shard is
// copied, so the index's memory does not move; any other change copies the shard.
TEST(VerifyIndexTest, StatusChangesAreMadeInPlace) {
  VerifyIndex index;
  std::vector<KeyRecord> records;
  for (uint64_t n = 0; n < 100; ++n) records.push_back(Record(n));
  index.Upsert(records);
  const size_t bytes = index.MemoryBytes();
  records[3].status = KeyStatus::kRevoked;
  records[4].status = KeyStatus::kSuspended;
  records[5].status = KeyStatus::kExpired;
  index.Upsert(std::vector<KeyRecord>{records[3], records[4], records[5]});
  EXPECT_EQ(index.MemoryBytes(), bytes);
  EXPECT_EQ(index.Verify(Token(3), kNow).reason, VerifyReason::kRevoked);
  EXPECT_EQ(index.Verify(Token(4), kNow).reason, VerifyReason::kSuspended);
  EXPECT_EQ(index.Verify(Token(5), kNow).reason, VerifyReason::kExpired);
  EXPECT_TRUE(index.Verify(Token(6), kNow).valid);
  // Resumed, then suspended again in one batch: the last record wins.
  KeyRecord resumed = records[4];
  resumed.status = KeyStatus::kActive;
  index.Upsert(std::vector<KeyRecord>{resumed, records[4], resumed});
  EXPECT_TRUE(index.Verify(Token(4), kNow).valid);
  EXPECT_EQ(index.MemoryBytes(), bytes);
  // A rotation changes the hash: copied, and the old secret is gone.
  records[6].secret_hash = HashOf(6, 1);
  records[6].status = KeyStatus::kRevoked;
  index.Upsert(records[6]);
  EXPECT_EQ(index.Verify(Token(6, 1), kNow).reason, VerifyReason::kRevoked);
  EXPECT_EQ(index.Verify(Token(6, 0), kNow).reason, VerifyReason::kUnknown);
  EXPECT_EQ(index.size(), 100u);
}

TEST(VerifyIndexTest, GroupDeletionAppliesToEveryKeyOfTheGroup) {
  VerifyIndex index;
  std::vector<KeyRecord> records;
  for (uint64_t n = 0; n < 20; ++n) records.push_back(Record(n, "acme", n < 10 ? "ops" : "dev"));
  index.Upsert(records);
  index.SetGroupDeleted("acme", "ops", true);
  index.SetGroupDeleted("other-org", "dev", true);  // another org's group of the same name
  for (uint64_t n = 0; n < 20; ++n) {
    EXPECT_EQ(index.Verify(Token(n), kNow).reason,
              n < 10 ? VerifyReason::kNoGroup : VerifyReason::kValid);
  }
  index.SetGroupDeleted("acme", "ops", false);
  EXPECT_TRUE(index.Verify(Token(3), kNow).valid);
  // Moving a key to another group takes effect at once.
  index.SetGroupDeleted("acme", "ops", true);
  records[3].group_id = "dev";
  index.Upsert(records[3]);
  EXPECT_TRUE(index.Verify(Token(3), kNow).valid);
  EXPECT_EQ(index.Verify(Token(3), kNow).group, "dev");
}

TEST(VerifyIndexTest, BatchUpsertLastRecordWins) {
  VerifyIndex index;
  KeyRecord first = Record(1);
  KeyRecord second = Record(1);
  second.status = KeyStatus::kRevoked;
  std::vector<KeyRecord> batch = {first, Record(2), second};
  index.Upsert(batch);
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.Verify(Token(1), kNow).reason, VerifyReason::kRevoked);
  EXPECT_TRUE(index.Verify(Token(2), kNow).valid);
  const size_t bytes = index.MemoryBytes();
  std::vector<KeyRecord> more;
  for (uint64_t n = 10; n < 1010; ++n) more.push_back(Record(n));
  index.Upsert(more);
  EXPECT_EQ(index.size(), 1002u);
  EXPECT_GT(index.MemoryBytes(), bytes + 1000 * 100);
}

TEST(VerifyIndexTest, RealTokens) {
  TokenCodec codec;
  IssuedToken issued = codec.Issue(SystemRandom());
  VerifyIndex index;
  KeyRecord r = Record(0);
  r.key_id = issued.key_id;
  r.secret_hash = issued.hash;
  index.Upsert(r);
  EXPECT_TRUE(index.Verify(codec, issued.token.reveal(), kNow).valid);
  std::string typo(issued.token.reveal());
  typo[typo.size() / 2] = typo[typo.size() / 2] == 'a' ? 'b' : 'a';
  EXPECT_EQ(index.Verify(codec, typo, kNow).reason, VerifyReason::kMalformed);
  EXPECT_EQ(index.Verify(codec, "kt_short", kNow).reason, VerifyReason::kMalformed);
  IssuedToken other = codec.Issue(SystemRandom(), issued.key_id);  // same id, other secret
  EXPECT_EQ(index.Verify(codec, other.token.reveal(), kNow).reason, VerifyReason::kUnknown);
}

// Readers verify continuously while a writer inserts and revokes keys: every answer must
// be one the key could have had at some moment, and the final answers exact.
TEST(VerifyIndexTest, ConcurrentReadersSeeConsistentEntries) {
  constexpr uint64_t kKeys = 20'000;
  auto org_of = [](uint64_t n) { return "org-" + std::to_string(n % 7); };
  auto group_of = [](uint64_t n) { return "group-" + std::to_string(n % 3); };
  auto revoked = [](uint64_t n) { return n % 5 == 0; };

  VerifyIndex index;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> bad{0}, verified{0};
  auto reader = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    while (!done.load(std::memory_order_acquire)) {
      const uint64_t n = rng() % kKeys;
      VerifyResult r = index.Verify(Token(n), kNow);
      bool ok = r.reason == VerifyReason::kUnknown ||
                (r.reason == VerifyReason::kRevoked && revoked(n)) ||
                r.reason == VerifyReason::kValid;
      if (r.reason != VerifyReason::kUnknown) {
        ok = ok && r.key_id == IdOf(n) && r.org == org_of(n) && r.group == group_of(n);
      }
      ok = ok && index.Verify(Token(n, 1), kNow).reason == VerifyReason::kUnknown;
      if (!ok) bad.fetch_add(1);
      verified.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread r1(reader, 1), r2(reader, 2);
  for (uint64_t n = 0; n < kKeys; ++n) {
    if (n < kKeys / 2) {
      index.Upsert(Record(n, org_of(n), group_of(n)));
    } else if (n % 100 == 0) {  // the second half in batches of 100
      std::vector<KeyRecord> batch;
      for (uint64_t m = n; m < n + 100; ++m) batch.push_back(Record(m, org_of(m), group_of(m)));
      index.Upsert(batch);
    }
    if (n % 500 == 499) {
      for (uint64_t m = n - 499; m <= n; ++m) {
        if (!revoked(m)) continue;
        KeyRecord r = Record(m, org_of(m), group_of(m));
        r.status = KeyStatus::kRevoked;
        index.Upsert(r);
      }
    }
  }
  done.store(true, std::memory_order_release);
  r1.join();
  r2.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(verified.load(), 0u);
  ASSERT_EQ(index.size(), kKeys);
  for (uint64_t n = 0; n < kKeys; ++n) {
    ASSERT_EQ(index.Verify(Token(n), kNow).reason,
              revoked(n) ? VerifyReason::kRevoked : VerifyReason::kValid)
        << n;
  }
}

// Feeds encoded events to a KeyViewProjection as one committed run.
void Feed(KeyViewProjection& view, projections::ViewStore& store,
          const std::vector<std::string>& encoded, bool commit = true) {
  auto batch = store.NewBatch();
  int64_t offset = 0;
  for (const std::string& bytes : encoded) {
    auto event = events::Decode(bytes);
    ASSERT_OK(event);
    Status s = view.Apply({0, offset++}, **event, *batch);
    ASSERT_OK(s) << s.ToString();
  }
  if (commit) {
    ASSERT_OK(store.Commit(*batch));
    view.Committed();
  } else {
    view.Aborted();
  }
}

std::vector<VerifyResult> Answers(const VerifyIndex& index, uint64_t keys, Micros now) {
  std::vector<VerifyResult> out;
  for (uint64_t n = 0; n < keys; ++n) {
    for (uint64_t generation : {0, 1, 2}) out.push_back(index.Verify(Token(n, generation), now));
  }
  return out;
}

void ExpectSameAnswers(const std::vector<VerifyResult>& a, const std::vector<VerifyResult>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].valid, b[i].valid) << i;
    EXPECT_EQ(a[i].reason, b[i].reason) << i;
    EXPECT_EQ(a[i].key_id, b[i].key_id) << i;
    EXPECT_EQ(a[i].org, b[i].org) << i;
    EXPECT_EQ(a[i].group, b[i].group) << i;
    EXPECT_EQ(a[i].expires_at_us, b[i].expires_at_us) << i;
    EXPECT_EQ(a[i].permissions, b[i].permissions) << i;
  }
}

TEST(VerifyIndexTest, RebuildFromTheViewAnswersLikeTheLiveIndex) {
  constexpr uint64_t kKeys = 300;
  MemoryStore store;
  VerifyIndex live;
  KeyViewProjection view(live.Listener());
  uint64_t seq = 1;
  std::vector<std::string> run;
  for (const char* org : {"acme", "globex"}) {
    for (const char* group : {"dev", "ops", "doomed"}) {
      run.push_back(testing::EncodeGroupCreated(org, seq++, group));
    }
  }
  Feed(view, store, run);
  run.clear();
  const char* groups[] = {"dev", "ops", "doomed"};
  for (uint64_t n = 0; n < kKeys; ++n) {
    testing::KeyCreatedFields f;
    f.key_id = FormatKeyId(IdOf(n));
    f.group_id = groups[n % 3];
    f.secret_hash = HashOf(n, 0);
    f.expires_at_us = n % 4 == 0 ? kNow + static_cast<Micros>(n) : 0;
    if (n % 2 == 0) f.permissions = {"scim"};
    run.push_back(testing::EncodeKeyCreated(n % 2 ? "acme" : "globex", seq++, f));
    if (run.size() == 64) {
      Feed(view, store, run);
      run.clear();
    }
  }
  Feed(view, store, run);
  run.clear();
  for (uint64_t n = 0; n < kKeys; n += 7) {
    const std::string org = n % 2 ? "acme" : "globex";
    const std::string id = FormatKeyId(IdOf(n));
    run.push_back(testing::EncodeKeyRotated(org, seq++, id, HashOf(n, 1), "kt_...new",
                                            n % 3 ? kNow + 50 : 0));
    if (n % 5 == 0) run.push_back(testing::EncodeKeyRevoked(org, seq++, id, "leaked"));
    if (n % 11 == 0) run.push_back(testing::EncodeKeyExpired(org, seq++, id, kNow));
    if (n % 13 == 0) run.push_back(testing::EncodeKeyGroupChanged(org, seq++, id, "ops", "dev"));
  }
  run.push_back(testing::EncodeGroupDeleted("acme", seq++, "doomed"));
  Feed(view, store, run);

  // A run that is aborted never reaches the index.
  Feed(view, store, {testing::EncodeGroupDeleted("acme", seq++, "dev")}, /*commit=*/false);
  EXPECT_TRUE(live.Verify(Token(1), kNow).valid) << "acme/dev must still exist";

  VerifyIndex rebuilt;
  ASSERT_OK(rebuilt.RebuildFrom(store));
  EXPECT_EQ(rebuilt.size(), kKeys);
  EXPECT_EQ(live.size(), kKeys);
  for (Micros now : {kNow - 1, kNow + 49, kNow + 50, kNow + 1000}) {
    SCOPED_TRACE(now);
    ExpectSameAnswers(Answers(live, kKeys, now), Answers(rebuilt, kKeys, now));
  }
  // Rebuilding over existing contents replaces them.
  ASSERT_OK(live.RebuildFrom(store));
  EXPECT_EQ(live.size(), kKeys);
  ExpectSameAnswers(Answers(live, kKeys, kNow), Answers(rebuilt, kKeys, kNow));
  // The answers are not all alike (the fixture exercises every reason).
  std::map<VerifyReason, int> seen;
  for (const VerifyResult& r : Answers(live, kKeys, kNow)) ++seen[r.reason];
  EXPECT_EQ(seen.size(), 5u);  // valid, unknown, revoked, expired, no-group

  // Rebuilt leaving out the keys retired before a cutoff (after every event here): those
  // are unknown, every other key answers as before.
  std::set<uint64_t> retired;
  ASSERT_OK(KeyViewProjection::ForEachKey(store, [&](const KeyRecord& r) {
    EXPECT_EQ(model::IsLive(r.status), r.retired_at_us == 0);
    if (!model::IsLive(r.status)) {
      for (uint64_t n = 0; n < kKeys; ++n) {
        if (IdOf(n) == r.key_id) retired.insert(n);
      }
    }
    return true;
  }));
  ASSERT_FALSE(retired.empty());
  VerifyIndex trimmed;
  // (now - window is past every event here)
  ASSERT_OK(trimmed.RebuildFrom(store, testing::kEventTimeBase + static_cast<Micros>(seq) + 10,
                                /*retired_key_window=*/10));
  EXPECT_EQ(trimmed.size(), kKeys - retired.size());
  const std::vector<VerifyResult> full = Answers(live, kKeys, kNow);
  const std::vector<VerifyResult> kept = Answers(trimmed, kKeys, kNow);
  for (size_t i = 0; i < full.size(); ++i) {  // three tokens per key (Answers)
    SCOPED_TRACE(i);
    if (retired.contains(i / 3)) {
      EXPECT_EQ(kept[i].reason, VerifyReason::kUnknown);
    } else {
      EXPECT_EQ(kept[i].reason, full[i].reason);
      EXPECT_EQ(kept[i].valid, full[i].valid);
    }
  }
}

// Status changes apply in order from each key's current status; a key changed twice in
// one span keeps the retirement time of the change that retired it; keys the index does
// not hold are left out.
TEST(VerifyIndexTest, StatusChangesFollowTheKeysStatusAndTheirRetirement) {
  using model::StatusChange;
  VerifyIndex index;
  std::vector<KeyRecord> records;
  for (uint64_t n = 0; n < 4; ++n) records.push_back(Record(n));
  index.Upsert(records);
  index.SetStatuses(std::vector<model::KeyStatusChange>{
      {IdOf(0), StatusChange::kRevoke, kNow + 10},
      {IdOf(0), StatusChange::kExpire, kNow + 20},  // stays revoked, retired at kNow + 10
      {IdOf(1), StatusChange::kSuspend, kNow + 10},
      {IdOf(2), StatusChange::kSuspend, kNow + 10},
      {IdOf(2), StatusChange::kResume, kNow + 11},
      {IdOf(3), StatusChange::kExpire, kNow + 30},
      {IdOf(99), StatusChange::kRevoke, kNow}});  // not held: left out
  EXPECT_EQ(index.size(), 4u);
  EXPECT_EQ(index.Verify(Token(0), kNow).reason, VerifyReason::kRevoked);
  EXPECT_EQ(index.Verify(Token(1), kNow).reason, VerifyReason::kSuspended);
  EXPECT_EQ(index.Verify(Token(2), kNow).reason, VerifyReason::kValid);
  EXPECT_EQ(index.Verify(Token(3), kNow).reason, VerifyReason::kExpired);
  EXPECT_EQ(index.Verify(Token(99), kNow).reason, VerifyReason::kUnknown);

  EXPECT_EQ(index.ForgetRetiredBefore(kNow + 10), 0u) << "key 0 retired at kNow + 10, not 0";
  EXPECT_EQ(index.ForgetRetiredBefore(kNow + 11), 1u);
  EXPECT_EQ(index.Verify(Token(0), kNow).reason, VerifyReason::kUnknown);
  // A later change of a retired key does not retire it again.
  index.SetStatuses(std::vector<model::KeyStatusChange>{{IdOf(3), StatusChange::kRevoke, kNow}});
  EXPECT_EQ(index.Verify(Token(3), kNow).reason, VerifyReason::kRevoked);
  EXPECT_EQ(index.ForgetRetiredBefore(kNow + 30), 0u);
  EXPECT_EQ(index.ForgetRetiredBefore(kNow + 31), 1u);
  EXPECT_EQ(index.size(), 2u);
}

// Retired keys leave the index once ForgetRetiredBefore passes their retirement, oldest
// first; the live keys stay.
TEST(VerifyIndexTest, RetiredKeysAreForgottenAfterTheirRetirement) {
  VerifyIndex index;
  std::vector<KeyRecord> records;
  for (uint64_t n = 0; n < 200; ++n) records.push_back(Record(n));
  index.Upsert(records);
  const size_t bytes = index.MemoryBytes();
  // Keys 0..99 retire, key n at kNow + n: revoked if even, expired if odd.
  for (uint64_t n = 0; n < 100; ++n) {
    records[n].status = n % 2 ? KeyStatus::kExpired : KeyStatus::kRevoked;
    records[n].retired_at_us = kNow + static_cast<Micros>(n);
    index.Upsert(records[n]);
  }
  // A later record of a retired key (a use noted after its revocation) changes nothing.
  records[8].last_used_at_us = kNow;
  index.Upsert(records[8]);

  EXPECT_EQ(index.ForgetRetiredBefore(kNow), 0u);
  EXPECT_EQ(index.ForgetRetiredBefore(kNow + 50), 50u);
  EXPECT_EQ(index.size(), 150u);
  for (uint64_t n = 0; n < 200; ++n) {
    SCOPED_TRACE(n);
    const VerifyReason reason = index.Verify(Token(n), kNow).reason;
    if (n < 50) {
      EXPECT_EQ(reason, VerifyReason::kUnknown);
    } else if (n < 100) {
      EXPECT_EQ(reason, n % 2 ? VerifyReason::kExpired : VerifyReason::kRevoked);
    } else {
      EXPECT_EQ(reason, VerifyReason::kValid);
    }
  }
  // A forgotten key that comes back (a late record) retires again, and leaves again
  // at its own time, though it came after later ones.
  index.Upsert(records[3]);
  EXPECT_EQ(index.Verify(Token(3), kNow).reason, VerifyReason::kExpired);
  EXPECT_EQ(index.ForgetRetiredBefore(kNow + 50), 1u);
  EXPECT_EQ(index.Verify(Token(50), kNow).reason, VerifyReason::kRevoked);
  EXPECT_EQ(index.Verify(Token(3), kNow).reason, VerifyReason::kUnknown);

  EXPECT_EQ(index.ForgetRetiredBefore(kNow + 1000), 50u);
  EXPECT_EQ(index.size(), 100u);
  EXPECT_LT(index.MemoryBytes(), bytes);
  for (uint64_t n = 100; n < 200; ++n) EXPECT_TRUE(index.Verify(Token(n), kNow).valid);
  EXPECT_EQ(index.ForgetRetiredBefore(kNow + 1000), 0u);

  // An index that keeps retired keys forever removes nothing.
  VerifyIndex keeping(/*track_retirements=*/false);
  keeping.Upsert(records);
  EXPECT_EQ(keeping.ForgetRetiredBefore(kNow + 1000), 0u);
  EXPECT_EQ(keeping.size(), 200u);
}

// A rebuild with a window leaves out what retired before it, and counts a retired row
// without a retirement time (written before rows had one) as retired at the rebuild.
TEST(VerifyIndexTest, RebuildLeavesOutKeysRetiredBeforeTheWindow) {
  MemoryStore store;
  KeyViewProjection view;
  std::vector<std::string> run;
  for (uint64_t n = 0; n < 3; ++n) {
    testing::KeyCreatedFields f;
    f.key_id = FormatKeyId(IdOf(n));
    f.secret_hash = HashOf(n, 0);
    run.push_back(testing::EncodeKeyCreated("acme", n + 1, f));
  }
  run.push_back(testing::EncodeKeyRevoked("acme", 10, FormatKeyId(IdOf(0)), ""));
  run.push_back(testing::EncodeKeyRevoked("acme", 20, FormatKeyId(IdOf(1)), ""));
  Feed(view, store, run);
  const Micros t10 = testing::kEventTimeBase + 10;
  VerifyIndex index;
  ASSERT_OK(index.RebuildFrom(store, t10 + 100, /*retired_key_window=*/95));
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.Verify(Token(0), kNow).reason, VerifyReason::kUnknown);
  EXPECT_EQ(index.Verify(Token(1), kNow).reason, VerifyReason::kRevoked);
  EXPECT_EQ(index.ForgetRetiredBefore(t10 + 10), 0u);
  EXPECT_EQ(index.ForgetRetiredBefore(t10 + 11), 1u);
  EXPECT_EQ(index.Verify(Token(2), kNow).reason, VerifyReason::kValid);

  // Key 0's row rewritten without its retirement time, as an older version wrote it: it
  // counts as retired at the rebuild, so it stays for a window from then.
  std::string row_key, old_row;
  ASSERT_OK(store.Scan("key/", "key0", [&](std::string_view key, std::string_view value) {
    const std::string copy(value);  // aligned
    fb::KeyRowT row;
    fb::GetSizePrefixedKeyRow(copy.data())->UnPackTo(&row);
    if (row.key_id == nullptr ||
        std::memcmp(row.key_id->bytes()->Data(), IdOf(0).bytes.data(), IdOf(0).bytes.size()) != 0) {
      return true;
    }
    EXPECT_EQ(row.retired_at_us, t10);
    row.retired_at_us = 0;
    flatbuffers::FlatBufferBuilder b;
    b.FinishSizePrefixed(fb::KeyRow::Pack(b, &row), fb::KeyRowIdentifier());
    row_key = std::string(key);
    old_row.assign(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
    return false;
  }));
  ASSERT_FALSE(old_row.empty());
  auto batch = store.NewBatch();
  batch->Put(row_key, old_row);
  ASSERT_OK(store.Commit(*batch));
  VerifyIndex upgraded;
  ASSERT_OK(upgraded.RebuildFrom(store, t10 + 100, /*retired_key_window=*/95));
  EXPECT_EQ(upgraded.size(), 3u);
  EXPECT_EQ(upgraded.Verify(Token(0), kNow).reason, VerifyReason::kRevoked);
  EXPECT_EQ(upgraded.ForgetRetiredBefore(t10 + 100), 1u) << "key 1 only";
  EXPECT_EQ(upgraded.ForgetRetiredBefore(t10 + 101), 1u) << "then key 0";
  // Without a window nothing is left out.
  VerifyIndex all;
  ASSERT_OK(all.RebuildFrom(store));
  EXPECT_EQ(all.size(), 3u);
}

}  // namespace
}  // namespace keytrail
