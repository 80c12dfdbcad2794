// The audit trail over a real engine (local log, RocksDB views): one record per event,
// the hash chain and its tamper detection, and the compliance queries with pagination.
#include "projections/audit_projection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "events/local_event_log.h"
#include "tests/support/engine_fixture.h"
#include "tests/support/memory_event_log.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_time.h"

namespace keytrail {
namespace {

using domain::CommandContext;
using model::AuditFilter;
using model::AuditRecord;
using nlohmann::json;
using projections::AuditProjection;
using Kind = CommandOutcome::Kind;

constexpr Micros kNow = testing::kTestNow;
constexpr Micros kSecond = testing::kTestSecond;

CommandContext As(fb::ActorKind kind, std::string id, std::string org = "acme") {
  return CommandContext{
      .org = std::move(org), .actor_kind = kind, .actor_id = std::move(id), .authorize = false};
}

class AuditTest : public testing::EngineFixture {
 protected:
  // An org with a group and a key `admin` that acts afterwards; returns its key id.
  std::string GivenOrgWithAdmin(const std::string& org) {
    const auto alice = As(fb::ActorKind::Member, "alice", org);
    EXPECT_EQ(engine().Execute(alice, domain::CreateOrg{org})->kind, Kind::kApplied);
    EXPECT_EQ(engine().Execute(alice, domain::CreateGroup{"ci", "CI", ""})->kind, Kind::kApplied);
    auto admin = engine().CreateKey(alice, {.name = "admin key", .group = "ci"});
    EXPECT_OK(admin);
    return admin->key_id;
  }

  std::vector<json> All(const std::string& org, AuditFilter filter = {}) {
    std::vector<json> out;
    EXPECT_OK(AuditProjection::ForEach(views(), org, filter, [&](const AuditRecord& record) {
      out.push_back(json::parse(record.stored));
      return true;
    }));
    return out;
  }

  // Replaces the stored bytes of the record at `position` with `bytes`.
  void Overwrite(const projections::LogPosition& position, const std::string& bytes) {
    auto batch = views().NewBatch();
    batch->Put(AuditProjection::RecordKey(position), bytes);
    ASSERT_OK(views().Commit(*batch));
  }
};

TEST_F(AuditTest, EveryEventHasExactlyOneRecordSayingWhoDidWhat) {
  const std::string admin = GivenOrgWithAdmin("acme");
  const auto as_key = As(fb::ActorKind::Key, admin);
  auto key = engine().CreateKey(
      as_key, {.name = "deploy", .group = "ci", .expires = domain::Expiration::At(kNow + kSecond)});
  ASSERT_OK(key);
  const KeyId id = *ParseKeyId(key->key_id);
  ASSERT_OK(engine().RotateKey(as_key, id, 0));
  ASSERT_OK(engine().Execute(as_key, domain::CreateGroup{"ops", "Ops", ""}));
  ASSERT_OK(engine().Execute(as_key, domain::ChangeKeyGroup{id, "ops"}));
  clock_.Advance(2 * kSecond);
  engine().WakeSchedulers();
  for (int i = 0; i < 200 && engine().scheduler_stats().expired == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(engine().scheduler_stats().expired, 1u);
  GivenOrgWithAdmin("globex");

  // Every event in the log has its record at its position, and nothing else does.
  size_t events = 0;
  for (int32_t p = 0; p < log().PartitionCount(); ++p) {
    auto reader = log().OpenReader(p, 0);
    ASSERT_OK(reader);
    auto records = (*reader)->Next(10000, std::chrono::milliseconds(0));
    ASSERT_OK(records);
    for (const events::LogRecord& r : *records) {
      auto row = views().Get(AuditProjection::RecordKey({r.partition, r.offset}));
      ASSERT_TRUE(row.ok() && row->has_value()) << p << "/" << r.offset;
      const json record = json::parse(**row);
      // Canonical: the bytes nlohmann prints for the record (sorted keys), as before
      // records were written without it.
      EXPECT_EQ(record.dump(-1, ' ', false, json::error_handler_t::replace), **row);
      EXPECT_EQ(record["partition"], r.partition);
      EXPECT_EQ(record["offset"], r.offset);
      ++events;
    }
  }
  size_t rows = 0;
  ASSERT_OK(views().Scan("aud/r/", "aud/r0", [&](std::string_view, std::string_view) {
    ++rows;
    return true;
  }));
  EXPECT_EQ(rows, events);
  // Two orgs' set-up (the org with its 4 built-in groups, ci, a key), then deploy's five.
  EXPECT_EQ(events, 7u + 7u + 5u);

  // The key's history, in order, with the acting key named.
  std::vector<std::string> actions;
  for (const json& r : All("acme", {.key = key->key_id})) {
    actions.push_back(r["action"]);
    if (r["action"] != "api_key.expired") {
      EXPECT_EQ(r["actor"]["kind"], "key");
      EXPECT_EQ(r["actor"]["id"], admin);
      EXPECT_EQ(r["actor"]["key_name"], "admin key");
    } else {
      EXPECT_EQ(r["actor"]["kind"], "scheduler");
    }
    EXPECT_EQ(r["target"]["id"], key->key_id);
  }
  EXPECT_EQ(actions, (std::vector<std::string>{"api_key.created", "api_key.rotated",
                                               "api_key.group_updated", "api_key.expired"}));
  const json created = All("acme", {.key = key->key_id})[0];
  EXPECT_EQ(created["details"]["name"], "deploy");
  EXPECT_EQ(created["details"]["group"], "ci");
  EXPECT_EQ(created["details"]["expires_at_us"], kNow + kSecond);
  // Orgs see only their own records.
  for (const json& r : All("globex")) EXPECT_EQ(r["org"], "globex");
  EXPECT_EQ(All("globex").size(), 7u);
}

TEST_F(AuditTest, FiltersSelectByActorActionAndTime) {
  const std::string admin = GivenOrgWithAdmin("acme");
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(kSecond);
    ASSERT_OK(engine().CreateKey(As(fb::ActorKind::Key, admin),
                                 {.name = "key " + std::to_string(i), .group = "ci"}));
  }
  EXPECT_EQ(All("acme", {.actor = admin}).size(), 5u);
  EXPECT_EQ(All("acme", {.actor = "alice"}).size(), 7u);  // org, 4 built-in groups, ci, key
  EXPECT_EQ(All("acme", {.action = "api_key.created"}).size(), 6u);
  EXPECT_EQ(All("acme", {.actor = admin, .action = "group.created"}).size(), 0u);
  // Keys 1..3 were created at kNow + 2 s .. kNow + 4 s.
  EXPECT_EQ(All("acme", {.from = kNow + 2 * kSecond, .to = kNow + 5 * kSecond}).size(), 3u);
  EXPECT_EQ(All("acme", {.action = "api_key.created", .from = kNow + 5 * kSecond}).size(), 1u);
  EXPECT_FALSE(AuditProjection::Query(views(), "acme", {}, 10, "zz").ok());
}

TEST_F(AuditTest, PagesAreStableWhileRecordsAreAdded) {
  const std::string admin = GivenOrgWithAdmin("acme");
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK(engine().CreateKey(As(fb::ActorKind::Key, admin),
                                 {.name = "before " + std::to_string(i), .group = "ci"}));
  }
  const std::vector<json> before = All("acme");
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      clock_.Advance(1);
      (void)engine().CreateKey(As(fb::ActorKind::Key, admin),
                               {.name = "during " + std::to_string(i), .group = "ci"});
    }
  });
  std::vector<json> paged;
  std::string token;
  do {
    auto page = AuditProjection::Query(views(), "acme", {}, 3, token);
    ASSERT_OK(page);
    for (const AuditRecord& r : page->records) paged.push_back(json::parse(r.stored));
    token = page->next_page_token;
  } while (!token.empty() && paged.size() < before.size() + 30);
  stop = true;
  writer.join();
  // The records that existed come first, once each and in order; later ones follow.
  ASSERT_GE(paged.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(paged[i], before[i]) << i;
  std::set<int64_t> offsets;
  for (const json& r : paged) EXPECT_TRUE(offsets.insert(r["offset"].get<int64_t>()).second);
}

// Actor and action together: one index applies one of them, the other is checked per
// row. A page reads at most max_examined rows, so a rarely matching query gets short
// (even empty) pages whose tokens continue, and paging still finds every match once.
TEST_F(AuditTest, APageExaminesBoundedRowsAndItsTokenContinues) {
  const std::string admin = GivenOrgWithAdmin("acme");
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) {
    auto key = engine().CreateKey(As(fb::ActorKind::Key, admin),
                                  {.name = "key " + std::to_string(i), .group = "ci"});
    ASSERT_OK(key);
    ids.push_back(key->key_id);
  }
  // The rare match: two revocations among 30+ creations by the same actor.
  for (const std::string& id : {ids[3], ids[27]}) {
    ASSERT_OK(engine().Execute(As(fb::ActorKind::Key, admin),
                               domain::RevokeKey{*ParseKeyId(id), "rotated out"}));
  }
  const AuditFilter rare{.actor = admin, .action = "api_key.revoked"};
  const std::vector<json> all = All("acme", rare);
  ASSERT_EQ(all.size(), 2u);
  std::vector<json> paged;
  std::string token;
  int pages = 0, short_pages = 0;
  do {
    auto page = AuditProjection::Query(views(), "acme", rare, 10, token, /*max_examined=*/5);
    ASSERT_OK(page);
    ++pages;
    if (page->records.empty() && !page->next_page_token.empty()) ++short_pages;
    for (const AuditRecord& r : page->records) paged.push_back(json::parse(r.stored));
    token = page->next_page_token;
  } while (!token.empty() && pages < 100);
  EXPECT_EQ(paged, all);
  EXPECT_GE(pages, 32 / 5);  // every page stopped after 5 rows
  EXPECT_GT(short_pages, 0);
}

TEST_F(AuditTest, TamperingIsReportedAtTheAlteredRecord) {
  GivenOrgWithAdmin("acme");
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK(engine().CreateKey(As(fb::ActorKind::Member, "alice"),
                                 {.name = "key " + std::to_string(i), .group = "ci"}));
  }
  auto clean = AuditProjection::VerifyChain(views());
  ASSERT_OK(clean);
  EXPECT_TRUE(clean->ok) << clean->problem;
  const int32_t partition = log().PartitionFor("acme");
  const int64_t end = *log().EndOffset(partition);
  EXPECT_EQ(clean->records, static_cast<uint64_t>(end));

  for (int64_t offset : {int64_t{0}, end / 2, end - 1}) {  // first, middle, last
    const projections::LogPosition at{partition, offset};
    const std::string original = **views().Get(AuditProjection::RecordKey(at));
    // A flipped byte in the body (the org's first letter), and one in the stored
    // prev_hash (its first hex digit).
    for (const std::string& needle : {std::string("\"org\":\""), std::string("\"prev_hash\":\"")}) {
      std::string altered = original;
      const size_t where = altered.find(needle);
      ASSERT_NE(where, std::string::npos);
      altered[where + needle.size()] ^= 0x01;
      Overwrite(at, altered);
      auto report = AuditProjection::VerifyChain(views());
      ASSERT_OK(report);
      EXPECT_FALSE(report->ok) << offset << " " << needle;
      EXPECT_EQ(report->partition, partition);
      EXPECT_EQ(report->offset, offset) << needle << ": " << report->problem;
      Overwrite(at, original);
    }
  }
  EXPECT_TRUE(AuditProjection::VerifyChain(views())->ok);
}

// Point-in-time answers fold the org's events read from the log: a record that does not
// decode fails the answer (fail-stop, as the projector does), never an answer from the
// records around it.
class PointInTimeTest : public AuditTest {
 protected:
  testing::EngineWorldOptions WorldOptions() const override {
    return {.in_memory = true, .shared_log = storage_};
  }
  std::shared_ptr<testing::MemoryEventLog::Storage> storage_ =
      std::make_shared<testing::MemoryEventLog::Storage>(4);
};

TEST_F(PointInTimeTest, AnUndecodableRecordFailsTheAnswerInsteadOfBeingSkipped) {
  const std::string admin = GivenOrgWithAdmin("acme");
  clock_.Advance(kSecond);
  auto key = engine().CreateKey(As(fb::ActorKind::Key, admin), {.name = "deploy", .group = "ci"});
  ASSERT_OK(key);
  clock_.Advance(kSecond);
  ASSERT_OK(engine().Execute(As(fb::ActorKind::Key, admin),
                             domain::RevokeKey{*ParseKeyId(key->key_id), "leaked"}));
  const Micros now = clock_.NowMicros();
  auto before = engine().queries().KeyAsOf("acme", key->key_id, now);
  ASSERT_OK(before);
  ASSERT_TRUE(before->has_value());
  EXPECT_EQ((*before)->status, model::KeyStatus::kRevoked);

  // The revocation's record, damaged in the log after the views applied it.
  {
    std::lock_guard lock(storage_->mu);
    auto& partition = storage_->partitions[log().PartitionFor("acme")];
    partition.back().value = "not an event";
  }
  auto after = engine().queries().KeyAsOf("acme", key->key_id, now);
  EXPECT_FALSE(after.ok()) << "answered from partial data: the key would look active";
}

}  // namespace
}  // namespace keytrail
