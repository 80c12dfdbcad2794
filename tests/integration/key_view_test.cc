#include "projections/key_view.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "engine/verify_index.h"
#include "events/local_event_log.h"
#include "projections/projector.h"
#include "projections/view_compare.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_events.h"

namespace keytrail::projections {
namespace {

using testing::EncodeGroupCreated;
using testing::EncodeGroupDeleted;
using testing::EncodeKeyCreated;
using testing::EncodeKeyExpired;
using testing::EncodeKeyGroupChanged;
using testing::EncodeKeyRevoked;
using testing::EncodeKeyRotated;
using testing::KeyCreatedFields;
using testing::TempDir;

constexpr Micros kT0 = 1'700'000'000'000'000;  // MakeEnvelope: occurred_at = kT0 + seq

KeyId RandomId(std::mt19937_64& rng) {
  KeyId id;
  for (auto& b : id.bytes) b = static_cast<uint8_t>(rng());
  return id;
}

SecretHash HashOf(uint8_t seed) {
  SecretHash h;
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint8_t>(seed * 31 + i);
  return h;
}

class KeyViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = events::LocalEventLog::Open({.path = dir_.path() + "/log", .partitions = 4});
    ASSERT_OK(log);
    log_ = std::move(log).value();
    store_ = OpenStore("views");
    projector_ = std::make_unique<Projector>(*log_, *store_, std::vector<Projection*>{&view_});
  }

  std::unique_ptr<ViewStore> OpenStore(const std::string& name) {
    auto store = OpenRocksViewStore(dir_.path() + "/" + name);
    EXPECT_OK(store);
    return std::move(store).value();
  }

  // Appends and applies.
  void Apply(const std::string& org, std::vector<std::string> events) {
    ASSERT_OK(log_->Append(org, events));
    Status s = projector_->CatchUpAll();
    ASSERT_OK(s) << s.ToString();
  }

  // Creates a key with a fresh random id; returns the id.
  KeyId Create(const std::string& org, KeyCreatedFields f) {
    const KeyId id = RandomId(rng_);
    f.key_id = FormatKeyId(id);
    Apply(org, {EncodeKeyCreated(org, seq_++, f)});
    return id;
  }

  KeyRecord Get(const std::string& org, const KeyId& id) {
    auto key = KeyViewProjection::GetKey(*store_, org, id);
    EXPECT_OK(key);
    EXPECT_TRUE(key->has_value());
    return key->value_or(KeyRecord{});
  }

  std::vector<KeyId> List(const std::string& org, const KeyFilter& filter) {
    std::vector<KeyId> ids;
    std::string token;
    do {
      auto page = KeyViewProjection::ListKeys(*store_, org, filter, 7, token);
      EXPECT_OK(page);
      if (!page.ok()) break;
      for (const KeyRecord& k : page->keys) ids.push_back(k.key_id);
      token = page->next_page_token;
    } while (!token.empty());
    return ids;
  }

  TempDir dir_;
  std::unique_ptr<events::LocalEventLog> log_;
  std::unique_ptr<ViewStore> store_;
  KeyViewProjection view_;
  std::unique_ptr<Projector> projector_;
  std::mt19937_64 rng_{42};
  uint64_t seq_ = 1;
};

TEST_F(KeyViewTest, RowsFollowEveryEventKind) {
  Apply("acme",
        {EncodeGroupCreated("acme", seq_++, "dev"), EncodeGroupCreated("acme", seq_++, "ops")});
  EXPECT_TRUE(*KeyViewProjection::GroupExists(*store_, "acme", "dev"));
  EXPECT_FALSE(*KeyViewProjection::GroupExists(*store_, "acme", "nope"));
  EXPECT_FALSE(*KeyViewProjection::GroupExists(*store_, "other", "dev"));

  const uint64_t created_seq = seq_;
  KeyCreatedFields f;
  f.name = "ci";
  f.group_id = "dev";
  f.secret_hash = HashOf(1);
  f.hint = "kt_...a1b2";
  f.expires_at_us = kT0 + 1'000'000;
  f.permissions = {"scim"};
  f.created_by = "alice";
  const KeyId id = Create("acme", f);
  const std::string text = FormatKeyId(id);

  KeyRecord k = Get("acme", id);
  EXPECT_EQ(k.org, "acme");
  EXPECT_EQ(k.key_id, id);
  EXPECT_EQ(k.name, "ci");
  EXPECT_EQ(k.group_id, "dev");
  EXPECT_EQ(k.secret_hash, HashOf(1));
  EXPECT_EQ(k.previous_hash, SecretHash{});
  EXPECT_EQ(k.previous_valid_until_us, 0);
  EXPECT_EQ(k.hint, "kt_...a1b2");
  EXPECT_EQ(k.created_at_us, kT0 + static_cast<Micros>(created_seq));
  EXPECT_EQ(k.created_by, "alice");
  EXPECT_EQ(k.expires_at_us, kT0 + 1'000'000);
  EXPECT_EQ(k.permissions, std::vector<std::string>{"scim"});
  EXPECT_EQ(k.status, KeyStatus::kActive);
  EXPECT_EQ(k.last_rotated_at_us, 0);
  EXPECT_EQ(k.version, created_seq);
  EXPECT_FALSE(KeyViewProjection::GetKey(*store_, "other-org", id)->has_value());
  EXPECT_EQ(List("acme", {.group = "dev"}), std::vector<KeyId>{id});
  EXPECT_EQ(List("acme", {.created_by = "alice"}), std::vector<KeyId>{id});

  const uint64_t rotated_seq = seq_;
  Apply("acme", {EncodeKeyRotated("acme", seq_++, text, HashOf(2), "kt_...c3d4", kT0 + 500)});
  k = Get("acme", id);
  EXPECT_EQ(k.secret_hash, HashOf(2));
  EXPECT_EQ(k.previous_hash, HashOf(1));
  EXPECT_EQ(k.previous_valid_until_us, kT0 + 500);
  EXPECT_EQ(k.hint, "kt_...c3d4");
  EXPECT_EQ(k.last_rotated_at_us, kT0 + static_cast<Micros>(rotated_seq));
  EXPECT_EQ(k.version, rotated_seq);
  EXPECT_EQ(k.created_at_us, kT0 + static_cast<Micros>(created_seq)) << "unchanged";

  Apply("acme", {EncodeKeyGroupChanged("acme", seq_++, text, "ops", "dev")});
  EXPECT_EQ(Get("acme", id).group_id, "ops");
  EXPECT_TRUE(List("acme", {.group = "dev"}).empty());
  EXPECT_EQ(List("acme", {.group = "ops"}), std::vector<KeyId>{id});

  Apply("acme", {EncodeKeyRevoked("acme", seq_++, text, "leaked in CI logs")});
  k = Get("acme", id);
  EXPECT_EQ(k.status, KeyStatus::kRevoked);
  EXPECT_EQ(k.revoked_reason, "leaked in CI logs");
  // The scheduler racing a revocation: the key stays revoked.
  Apply("acme", {EncodeKeyExpired("acme", seq_++, text, kT0 + 1'000'000)});
  EXPECT_EQ(Get("acme", id).status, KeyStatus::kRevoked);

  f.expires_at_us = kT0 + 5;
  const KeyId other = Create("acme", f);
  Apply("acme", {EncodeKeyExpired("acme", seq_++, FormatKeyId(other), kT0 + 5)});
  EXPECT_EQ(Get("acme", other).status, KeyStatus::kExpired);

  Apply("acme", {EncodeGroupDeleted("acme", seq_++, "dev")});
  EXPECT_FALSE(*KeyViewProjection::GroupExists(*store_, "acme", "dev"));
  Apply("acme", {EncodeGroupCreated("acme", seq_++, "dev")});
  EXPECT_TRUE(*KeyViewProjection::GroupExists(*store_, "acme", "dev"));
  std::vector<std::pair<std::string, bool>> groups;
  ASSERT_OK(KeyViewProjection::ForEachGroup(
      *store_, [&](std::string_view org, std::string_view group, bool exists) {
        EXPECT_EQ(org, "acme");
        groups.emplace_back(std::string(group), exists);
        return true;
      }));
  EXPECT_EQ(groups, (std::vector<std::pair<std::string, bool>>{{"dev", true}, {"ops", true}}));
}

TEST_F(KeyViewTest, FiltersUseIndexesAndCombine) {
  struct Made {
    KeyId id;
    std::string group, creator;
    KeyStatus status;
    Micros expires_at;
  };
  std::vector<Made> made;
  for (int i = 0; i < 60; ++i) {
    KeyCreatedFields f;
    f.group_id = "g" + std::to_string(i % 3);
    f.created_by = i % 2 ? "alice" : "bob";
    f.expires_at_us = i % 4 == 0 ? 0 : kT0 + 1000 * i;
    const KeyId id = Create("acme", f);
    made.push_back({id, f.group_id, f.created_by, KeyStatus::kActive, f.expires_at_us});
  }
  // Another org with the same groups and creators must never leak in.
  for (int i = 0; i < 5; ++i) Create("globex", KeyCreatedFields{.group_id = "g0"});
  for (int i = 0; i < 60; i += 5) {
    Apply("acme", {EncodeKeyRevoked("acme", seq_++, FormatKeyId(made[i].id), "r")});
    made[i].status = KeyStatus::kRevoked;
  }
  Apply("acme", {EncodeKeyGroupChanged("acme", seq_++, FormatKeyId(made[1].id), "g0", "g1")});
  made[1].group = "g0";

  auto expect = [&](const KeyFilter& filter) {
    std::vector<KeyId> want;
    for (const Made& m : made) {
      if (filter.group && m.group != *filter.group) continue;
      if (filter.created_by && m.creator != *filter.created_by) continue;
      if (filter.status && m.status != *filter.status) continue;
      if (filter.expires_before_us &&
          (m.expires_at == 0 || m.expires_at >= *filter.expires_before_us)) {
        continue;
      }
      if (filter.never_expires && (m.expires_at == 0) != *filter.never_expires) continue;
      want.push_back(m.id);
    }
    std::sort(want.begin(), want.end());
    return want;
  };
  const std::vector<KeyFilter> filters = {
      {},
      {.group = "g0"},
      {.group = "g1"},
      {.created_by = "alice"},
      {.status = KeyStatus::kRevoked},
      {.status = KeyStatus::kActive},
      {.expires_before_us = kT0 + 30'000},
      {.group = "g2", .created_by = "bob"},
      {.group = "g0", .status = KeyStatus::kActive, .expires_before_us = kT0 + 40'000},
      {.created_by = "alice", .status = KeyStatus::kRevoked},
      {.group = "nope"},
      {.never_expires = true},
      {.group = "g1", .never_expires = false},
  };
  for (size_t i = 0; i < filters.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(List("acme", filters[i]), expect(filters[i]));
  }
  EXPECT_EQ(List("acme", {}).size(), 60u);
  EXPECT_EQ(List("globex", {.group = "g0"}).size(), 5u);
  EXPECT_TRUE(List("initech", {}).empty());
}

TEST_F(KeyViewTest, PaginationReturnsEachKeyOnceEvenWithConcurrentInserts) {
  std::vector<KeyId> ids;
  {
    std::vector<std::string> batch;
    for (int i = 0; i < 250; ++i) {
      ids.push_back(RandomId(rng_));
      batch.push_back(EncodeKeyCreated("acme", seq_++, {.key_id = FormatKeyId(ids.back())}));
    }
    Apply("acme", batch);
  }
  std::sort(ids.begin(), ids.end());

  std::vector<KeyId> seen;
  std::string token;
  std::vector<size_t> sizes;
  do {
    auto page = KeyViewProjection::ListKeys(*store_, "acme", {}, 100, token);
    ASSERT_OK(page);
    sizes.push_back(page->keys.size());
    for (const KeyRecord& k : page->keys) seen.push_back(k.key_id);
    token = page->next_page_token;
  } while (!token.empty());
  EXPECT_EQ(sizes, (std::vector<size_t>{100, 100, 50}));
  EXPECT_EQ(seen, ids);

  // Insert keys between page reads: nothing already listed repeats, no old key is skipped,
  // and a new key shows up iff its id sorts after the token in force when it was created.
  seen.clear();
  token.clear();
  std::vector<std::pair<KeyId, std::string>> inserted;  // id, token when inserted
  std::vector<KeyId> all = ids;
  do {
    auto page = KeyViewProjection::ListKeys(*store_, "acme", {}, 100, token);
    ASSERT_OK(page);
    for (const KeyRecord& k : page->keys) seen.push_back(k.key_id);
    token = page->next_page_token;
    for (int i = 0; i < 30; ++i) {
      const KeyId id = Create("acme", {});
      inserted.emplace_back(id, token);
      all.push_back(id);
    }
  } while (!token.empty());
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "a key repeated";
  std::set<KeyId> seen_set(seen.begin(), seen.end());
  for (const KeyId& id : ids) EXPECT_TRUE(seen_set.count(id)) << "an old key was skipped";
  for (const auto& [id, token_then] : inserted) {
    const bool after = !token_then.empty() && FormatKeyId(id) > token_then;
    EXPECT_EQ(seen_set.count(id) == 1, after) << FormatKeyId(id) << " vs token " << token_then;
  }
  EXPECT_EQ(List("acme", {}).size(), all.size());
}

TEST_F(KeyViewTest, RejectsBadPageArguments) {
  Create("acme", {});
  EXPECT_EQ(KeyViewProjection::ListKeys(*store_, "acme", {}, 0, "").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(KeyViewProjection::ListKeys(*store_, "acme", {}, 1001, "").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(KeyViewProjection::ListKeys(*store_, "acme", {}, 10, "not-a-token").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(KeyViewProjection::ListKeys(*store_, "acme", {}, 1000, "")->keys.size(), 1u);
}

TEST_F(KeyViewTest, AKeyIsThreeRowsWhateverItsExpiry) {
  // What a key costs the store: its row and its group and creator index rows; an expiry
  // adds none (the scheduler's timers are in the writers' memory), nor does expiring.
  const KeyId expiring = Create("acme", {.expires_at_us = kT0 + 1000});
  const KeyId forever = Create("acme", {});
  Apply("acme", {EncodeKeyExpired("acme", seq_++, FormatKeyId(expiring), kT0 + 1000)});
  std::map<std::string, int> rows_by_prefix;
  ASSERT_OK(store_->Scan("", "", [&](std::string_view key, std::string_view) {
    if (!key.starts_with('\0')) ++rows_by_prefix[std::string(key.substr(0, key.find('/') + 1))];
    return true;
  }));
  EXPECT_EQ(rows_by_prefix, (std::map<std::string, int>{{"key/", 2}, {"kgrp/", 2}, {"kcre/", 2}}));
  EXPECT_EQ(Get("acme", expiring).status, KeyStatus::kExpired);
  EXPECT_EQ(Get("acme", forever).status, KeyStatus::kActive);
}

TEST_F(KeyViewTest, KeyEventWithoutItsKeyHaltsTheProjectorAndReachesNoListener) {
  // A projector whose listener is a verify index, as in the engine.
  VerifyIndex index;
  KeyViewProjection view(index.Listener());
  auto store = OpenStore("halting");
  Projector projector(*log_, *store, {&view});

  KeyCreatedFields f;
  f.key_id = FormatKeyId(RandomId(rng_));
  f.secret_hash = HashOf(1);
  ASSERT_OK(log_->Append("acme", std::vector<std::string>{EncodeKeyCreated("acme", seq_++, f)}));
  ASSERT_OK(projector.CatchUpAll());
  EXPECT_EQ(index.size(), 1u);

  // The next run holds a good creation, then a group change (which reads the key's row) of
  // a key nobody created.
  KeyCreatedFields g;
  g.key_id = FormatKeyId(RandomId(rng_));
  std::vector<std::string> bad = {
      EncodeKeyCreated("acme", seq_++, g),
      EncodeKeyGroupChanged("acme", seq_++, FormatKeyId(RandomId(rng_)), "ops", "ci")};
  ASSERT_OK(log_->Append("acme", bad));
  const int32_t p = log_->PartitionFor("acme");
  Status s = projector.CatchUp(p);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find(fmt::format("partition {} offset 2", p)), std::string::npos)
      << s.message();
  EXPECT_EQ(*ReadCheckpoint(*store, p), 1);
  EXPECT_EQ(index.size(), 1u) << "the aborted run's creation must not reach the index";
  EXPECT_FALSE(KeyViewProjection::GetKey(*store, "acme", *ParseKeyId(g.key_id))->has_value());
  EXPECT_FALSE(projector.Step(p, std::chrono::milliseconds(10)).ok()) << "stays halted";

  // A key id that is not one halts too (an org on another partition than the one halted).
  std::string org = "initech";
  while (log_->PartitionFor(org) == p) org += "x";
  auto other_store = OpenStore("halting-2");
  Projector other(*log_, *other_store, {&view_});
  std::vector<std::string> garbage = {EncodeKeyRevoked(org, seq_++, "k1", "r")};
  ASSERT_OK(log_->Append(org, garbage));
  s = other.CatchUp(log_->PartitionFor(org));
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("not a key id"), std::string::npos) << s.message();
}

// Status events and rotations are merged into the key's row unread, in log order (also
// over a row stored by an earlier run); the index hears them in log order; and the rows
// read the same once RocksDB has merged them for good (compaction).
TEST_F(KeyViewTest, StatusEventsMergeIntoTheRowAndReachTheIndexInLogOrder) {
  VerifyIndex index;
  KeyViewProjection view(index.Listener());
  auto store = OpenStore("merged");
  Projector projector(*log_, *store, {&view});
  auto get = [&](const KeyId& id) {
    auto key = KeyViewProjection::GetKey(*store, "acme", id);
    EXPECT_OK(key);
    return key.ok() && key->has_value() ? **key : KeyRecord{};
  };
  const KeyId a = RandomId(rng_), b = RandomId(rng_), c = RandomId(rng_), d = RandomId(rng_),
              e = RandomId(rng_);
  auto create = [&](const KeyId& id, uint8_t hash, Micros expires_at) {
    return EncodeKeyCreated(
        "acme", seq_++,
        {.key_id = FormatKeyId(id), .secret_hash = HashOf(hash), .expires_at_us = expires_at});
  };
  ASSERT_OK(log_->Append("acme", std::vector<std::string>{create(d, 4, 0), create(e, 6, 0)}));
  ASSERT_OK(projector.CatchUpAll());
  ASSERT_OK(log_->Append(
      "acme",
      std::vector<std::string>{
          create(a, 1, 0), testing::EncodeKeySuspended("acme", seq_++, FormatKeyId(a), "paused"),
          EncodeKeyRotated("acme", seq_++, FormatKeyId(a), HashOf(2), "kt_...new", kT0 + 1),
          create(b, 3, 0), EncodeKeyRevoked("acme", seq_++, FormatKeyId(b), "leaked"),
          EncodeKeyExpired("acme", seq_++, FormatKeyId(b), 0),  // stays revoked
          create(c, 5, kT0 + 1'000'000), EncodeKeyExpired("acme", seq_++, FormatKeyId(c), 0),
          testing::EncodeKeySuspended("acme", seq_++, FormatKeyId(d), "audit"),
          testing::EncodeKeyResumed("acme", seq_++, FormatKeyId(d)),
          EncodeKeyRevoked("acme", seq_++, FormatKeyId(d), "done"),
          // stored; merged, then read (a group change reads the row) in one run
          testing::EncodeKeySuspended("acme", seq_++, FormatKeyId(e), "hold"),
          EncodeKeyRotated("acme", seq_++, FormatKeyId(e), HashOf(7), "kt_...e", 0),
          EncodeKeyGroupChanged("acme", seq_++, FormatKeyId(e), "ops", "")}));
  ASSERT_OK(projector.CatchUpAll());

  const KeyRecord ra = get(a);
  EXPECT_EQ(ra.status, KeyStatus::kSuspended) << "the rotation merged after the suspension";
  EXPECT_EQ(ra.suspended_reason, "paused");
  EXPECT_EQ(ra.secret_hash, HashOf(2));
  EXPECT_EQ(ra.previous_hash, HashOf(1));
  EXPECT_EQ(ra.previous_valid_until_us, kT0 + 1);
  EXPECT_EQ(ra.hint, "kt_...new");
  const KeyRecord rb = get(b);
  EXPECT_EQ(rb.status, KeyStatus::kRevoked);
  EXPECT_EQ(rb.revoked_reason, "leaked");
  EXPECT_EQ(rb.retired_at_us, kT0 + static_cast<Micros>(rb.version) - 1) << "the revocation's";
  const KeyRecord rc = get(c);
  EXPECT_EQ(rc.status, KeyStatus::kExpired);
  EXPECT_EQ(rc.retired_at_us, kT0 + static_cast<Micros>(rc.version));
  const KeyRecord rd = get(d);
  EXPECT_EQ(rd.status, KeyStatus::kRevoked);
  EXPECT_EQ(rd.suspended_reason, "");
  EXPECT_EQ(rd.version, seq_ - 4);
  const KeyRecord re = get(e);
  EXPECT_EQ(re.status, KeyStatus::kSuspended) << "the group change read the row merged";
  EXPECT_EQ(re.secret_hash, HashOf(7));
  EXPECT_EQ(re.group_id, "ops");

  const Micros now = kT0 + 10;
  EXPECT_EQ(index.Verify(ParsedToken{a, HashOf(2)}, now).reason, VerifyReason::kSuspended);
  EXPECT_EQ(index.Verify(ParsedToken{a, HashOf(1)}, kT0).reason, VerifyReason::kSuspended)
      << "the previous secret, within its grace";
  EXPECT_EQ(index.Verify(ParsedToken{a, HashOf(1)}, kT0 + 1).reason, VerifyReason::kUnknown);
  EXPECT_EQ(index.Verify(ParsedToken{b, HashOf(3)}, now).reason, VerifyReason::kRevoked);
  EXPECT_EQ(index.Verify(ParsedToken{c, HashOf(5)}, now).reason, VerifyReason::kExpired)
      << "expired by event, before its expiry time";
  EXPECT_EQ(index.Verify(ParsedToken{d, HashOf(4)}, now).reason, VerifyReason::kRevoked);
  EXPECT_EQ(index.Verify(ParsedToken{e, HashOf(7)}, now).reason, VerifyReason::kSuspended);

  ASSERT_OK(log_->Append(
      "acme", std::vector<std::string>{testing::EncodeKeyResumed("acme", seq_++, FormatKeyId(a))}));
  ASSERT_OK(projector.CatchUpAll());
  EXPECT_EQ(index.Verify(ParsedToken{a, HashOf(2)}, now).reason, VerifyReason::kValid);
  EXPECT_EQ(get(a).status, KeyStatus::kActive);

  std::map<KeyId, KeyRecord> before;
  for (const KeyId& id : {a, b, c, d, e}) before[id] = get(id);
  ASSERT_OK(store->Compact());
  for (const KeyId& id : {a, b, c, d, e}) EXPECT_EQ(get(id), before[id]);
}

// A status event or a rotation for a key the view has no row of is merged into nothing:
// the view reads no row to refuse it (the engine's writers refuse it in the same run), and
// the empty row it leaves is no key to every reader. An event that reads the row halts.
TEST_F(KeyViewTest, AStatusEventWithoutItsKeyLeavesNoKey) {
  const KeyId real = Create("acme", {});
  const KeyId ghost = RandomId(rng_);
  Apply("acme", {EncodeKeyExpired("acme", seq_++, FormatKeyId(ghost), kT0)});
  ASSERT_OK(store_->Compact());  // merged for good
  EXPECT_FALSE(KeyViewProjection::GetKey(*store_, "acme", ghost)->has_value());
  EXPECT_EQ(List("acme", {}), std::vector<KeyId>{real});
  size_t keys = 0;
  ASSERT_OK(KeyViewProjection::ForEachKey(*store_, [&](const KeyRecord&) { return ++keys; }));
  EXPECT_EQ(keys, 1u);

  // A rotation is merged too: still no key.
  Apply("acme", {EncodeKeyRotated("acme", seq_++, FormatKeyId(ghost), HashOf(2), "h", 0)});
  EXPECT_FALSE(KeyViewProjection::GetKey(*store_, "acme", ghost)->has_value());
  // A change that reads the row refuses a key it does not have.
  ASSERT_OK(log_->Append("acme", std::vector<std::string>{EncodeKeyGroupChanged(
                                     "acme", seq_++, FormatKeyId(ghost), "ops", "ci")}));
  const Status s = projector_->CatchUpAll();
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_NE(s.message().find("KeyGroupChanged for key " + FormatKeyId(ghost)), std::string::npos)
      << s.message();
}

// A merge operand that does not apply (written by a later version, or damaged) leaves no
// key rather than the key's last good state (a dropped revocation must not read as a live
// key), and the store stays healthy (a failed merge in a compaction would stop it).
TEST_F(KeyViewTest, AnOperandThatDoesNotApplyLeavesNoKeyAndAHealthyStore) {
  const KeyId id = Create("acme", {});
  std::string row_key;
  ASSERT_OK(store_->Scan("key/", "key0", [&](std::string_view key, std::string_view) {
    row_key = std::string(key);
    return false;
  }));
  ASSERT_FALSE(row_key.empty());
  auto batch = store_->NewBatch();
  ASSERT_OK(batch->Merge(row_key, std::string(17, '\x09')));  // no such kind
  ASSERT_OK(store_->Commit(*batch));
  EXPECT_FALSE(KeyViewProjection::GetKey(*store_, "acme", id)->has_value());
  ASSERT_OK(store_->Compact());
  EXPECT_FALSE(KeyViewProjection::GetKey(*store_, "acme", id)->has_value()) << "after it too";
  const KeyId other = Create("acme", {});
  EXPECT_EQ(Get("acme", other).status, KeyStatus::kActive) << "the store still takes writes";
}

TEST_F(KeyViewTest, ABatchReadsARowOnceAndWritesOnlyWhatItWrote) {
  {
    auto setup = store_->NewBatch();
    setup->Put("t/present", "stored");
    ASSERT_OK(store_->Commit(*setup));
  }
  auto batch = store_->NewBatch();
  EXPECT_EQ(batch->Get("t/present")->value_or(""), "stored");
  EXPECT_FALSE(batch->Get("t/absent")->has_value());
  // Another writer changes the row meanwhile: the batch answers what it read (the store
  // relies on no other batch writing a partition's rows), and its commit writes neither.
  {
    auto other = store_->NewBatch();
    other->Put("t/present", "changed");
    ASSERT_OK(store_->Commit(*other));
  }
  EXPECT_EQ(batch->Get("t/present")->value_or(""), "stored");
  EXPECT_EQ(batch->Count(), 0u);
  // A write or a merge after the read is written; a read row stays unwritten.
  batch->Put("t/absent", "new");
  EXPECT_EQ(batch->Get("t/absent")->value_or(""), "new");
  ASSERT_OK(store_->Commit(*batch));
  EXPECT_EQ(store_->Get("t/present")->value_or(""), "changed");
  EXPECT_EQ(store_->Get("t/absent")->value_or(""), "new");

  const KeyId id = Create("acme", {});
  std::string row_key;
  ASSERT_OK(store_->Scan("key/", "key0", [&](std::string_view key, std::string_view) {
    row_key = std::string(key);
    return false;
  }));
  auto revoke = store_->NewBatch();
  ASSERT_TRUE(revoke->Get(row_key)->has_value());
  // Merged by RocksDB, as into a row never read: no such kind, so an empty row (no key).
  ASSERT_OK(revoke->Merge(row_key, std::string(17, '\x09')));
  EXPECT_EQ(revoke->Get(row_key).status().code(), StatusCode::kCorruption);
  ASSERT_OK(store_->Commit(*revoke));
  EXPECT_FALSE(KeyViewProjection::GetKey(*store_, "acme", id)->has_value());
}

TEST_F(KeyViewTest, RebuildFromOffsetZeroEqualsTheLiveViews) {
  VerifyIndex live_index;
  KeyViewProjection view(live_index.Listener());
  auto live = OpenStore("live");
  Projector projector(*log_, *live, {&view}, {.max_batch_records = 13});
  std::vector<std::pair<std::string, KeyId>> keys;
  for (int round = 0; round < 4; ++round) {
    for (const char* org : {"acme", "globex", "initech"}) {
      std::vector<std::string> batch;
      batch.push_back(EncodeGroupCreated(org, seq_++, "g" + std::to_string(round)));
      for (int i = 0; i < 25; ++i) {
        const KeyId id = RandomId(rng_);
        keys.emplace_back(org, id);
        batch.push_back(EncodeKeyCreated(org, seq_++,
                                         {.key_id = FormatKeyId(id),
                                          .group_id = "g" + std::to_string(round),
                                          .secret_hash = HashOf(static_cast<uint8_t>(i)),
                                          .expires_at_us = i % 3 ? kT0 + 1000 * i : 0}));
      }
      for (size_t k = round; k < keys.size(); k += 9) {
        if (keys[k].first != org) continue;
        const std::string text = FormatKeyId(keys[k].second);
        switch (k % 4) {
          case 0:
            batch.push_back(EncodeKeyRotated(org, seq_++, text, HashOf(9), "h", kT0 + 77));
            break;
          case 1:
            batch.push_back(EncodeKeyRevoked(org, seq_++, text, "r"));
            break;
          case 2:
            batch.push_back(EncodeKeyExpired(org, seq_++, text, 0));
            break;
          case 3:
            batch.push_back(EncodeKeyGroupChanged(org, seq_++, text, "g0", "?"));
            break;
        }
      }
      if (round == 3) batch.push_back(EncodeGroupDeleted(org, seq_++, "g1"));
      ASSERT_OK(log_->Append(org, batch));
    }
    ASSERT_OK(projector.CatchUpAll());
  }

  auto fresh = OpenStore("rebuilt");
  KeyViewProjection rebuilt_view;
  Projector rebuild(*log_, *fresh, {&rebuilt_view});
  ASSERT_OK(rebuild.CatchUpAll());
  EXPECT_EQ(DumpViews(*live), DumpViews(*fresh));

  // And the verify index built from the rebuilt view answers like the live one.
  VerifyIndex rebuilt_index;
  ASSERT_OK(rebuilt_index.RebuildFrom(*fresh));
  ASSERT_EQ(rebuilt_index.size(), live_index.size());
  size_t visited = 0;
  ASSERT_OK(KeyViewProjection::ForEachKey(*fresh, [&](const KeyRecord& k) {
    ++visited;
    for (const SecretHash& h : {k.secret_hash, k.previous_hash, HashOf(200)}) {
      const ParsedToken t{k.key_id, h};
      for (Micros now : {kT0, kT0 + 77, kT0 + 100'000}) {
        const VerifyResult a = live_index.Verify(t, now);
        const VerifyResult b = rebuilt_index.Verify(t, now);
        EXPECT_EQ(a.reason, b.reason);
        EXPECT_EQ(a.org, b.org);
        EXPECT_EQ(a.group, b.group);
      }
    }
    return true;
  }));
  EXPECT_EQ(visited, keys.size());
}

}  // namespace
}  // namespace keytrail::projections
