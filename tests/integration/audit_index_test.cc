// The audit trail's packed index rows (projections/audit_projection.h): a projector run
// writes one row per index value, queries cut tokens and time ranges inside rows, log
// times keep an org's records in log order when a writer's clock runs backwards, and rows
// written before packing (one entry each, 40-byte chain heads) still read.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/big_endian.h"
#include "events/codec.h"
#include "projections/audit_projection.h"
#include "projections/projector.h"
#include "projections/row_key.h"
#include "projections/view_compare.h"
#include "projections/view_set.h"
#include "tests/support/memory_event_log.h"
#include "tests/support/memory_view_store.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_events.h"

namespace keytrail {
namespace {

using model::AuditFilter;
using model::AuditRecord;
using projections::AuditProjection;
using projections::Projector;
using projections::ViewSet;
using testing::kEventTimeBase;
using testing::MemoryEventLog;
using testing::MemoryViewStore;

std::string KeyIdText(int n) {
  KeyId id;
  id.bytes.fill(0);
  id.bytes[14] = static_cast<uint8_t>(n >> 8);
  id.bytes[15] = static_cast<uint8_t>(n);
  return FormatKeyId(id);
}

// Event `seq` of org "acme": a KeyCreated for key `seq`, at `occurred_at_us` if given
// (else kEventTimeBase + seq).
std::string Created(uint64_t seq, std::optional<Micros> occurred_at_us = std::nullopt) {
  const std::string bytes = testing::EncodeKeyCreated(
      "acme", seq, {.key_id = KeyIdText(static_cast<int>(seq)), .name = "key"});
  if (!occurred_at_us) return bytes;
  auto event = events::DecodeToObject(bytes);
  EXPECT_OK(event);
  event->occurred_at_us = *occurred_at_us;
  return events::Encode(*event);
}

class AuditIndexTest : public ::testing::Test {
 protected:
  void Append(const std::string& event) {
    ASSERT_OK(log_.Append("acme", std::span<const std::string>(&event, 1)));
  }

  // Projects what the log holds into `store`, `run` records per commit.
  void Project(MemoryViewStore& store, size_t run) {
    ViewSet views;
    Projector projector(log_, store, views.projections(), {.max_batch_records = run});
    ASSERT_OK(projector.CatchUpAll());
  }

  // The stored rows of one index prefix.
  static size_t RowsUnder(MemoryViewStore& store, const std::string& prefix) {
    size_t rows = 0;
    for (const auto& [key, value] : store.Rows()) rows += key.starts_with(prefix) ? 1 : 0;
    return rows;
  }

  // Every record of `filter`, page by page.
  static std::vector<AuditRecord> Paged(MemoryViewStore& store, const AuditFilter& filter,
                                        size_t page_size) {
    std::vector<AuditRecord> all;
    std::string token;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = AuditProjection::Query(store, "acme", filter, page_size, token);
      EXPECT_OK(page);
      if (!page.ok()) break;
      all.insert(all.end(), page->records.begin(), page->records.end());
      token = page->next_page_token;
      if (token.empty()) break;
    }
    return all;
  }

  static std::vector<int64_t> Offsets(const std::vector<AuditRecord>& records) {
    std::vector<int64_t> offsets;
    for (const AuditRecord& r : records) offsets.push_back(r.offset);
    return offsets;
  }

  static std::string IndexPrefix(char index, const std::string& value) {
    std::string prefix = "aud/i/";
    prefix.push_back(index);
    projections::PutComponent(&prefix, "acme");
    if (!value.empty()) projections::PutComponent(&prefix, value);
    return prefix;
  }

  MemoryEventLog log_{1};
};

TEST_F(AuditIndexTest, ARunWritesOneRowPerIndexValue) {
  for (uint64_t seq = 0; seq < 100; ++seq) Append(Created(seq));
  MemoryViewStore packed;
  Project(packed, 1000);
  EXPECT_EQ(RowsUnder(packed, IndexPrefix('t', "")), 1u);
  EXPECT_EQ(RowsUnder(packed, IndexPrefix('c', "api_key.created")), 1u);
  EXPECT_EQ(RowsUnder(packed, "aud/i/k"), 100u);  // one key each: rows of one entry

  // Runs of 7 pack the same entries into other rows: the same canonical views.
  MemoryViewStore runs_of_7;
  Project(runs_of_7, 7);
  EXPECT_EQ(RowsUnder(runs_of_7, IndexPrefix('t', "")), 15u);
  EXPECT_EQ(projections::DumpViews(runs_of_7), projections::DumpViews(packed));

  // Every record once, in log order, whatever the page size (tokens cut inside rows).
  std::vector<int64_t> expected;
  for (int64_t offset = 0; offset < 100; ++offset) expected.push_back(offset);
  for (size_t page_size : {1, 3, 100, 1000}) {
    EXPECT_EQ(Offsets(Paged(packed, {}, page_size)), expected) << page_size;
    EXPECT_EQ(Offsets(Paged(runs_of_7, {.action = "api_key.created"}, page_size)), expected);
  }
  auto chain = AuditProjection::VerifyChain(packed);
  ASSERT_OK(chain);
  EXPECT_TRUE(chain->ok);
}

TEST_F(AuditIndexTest, TimeRangesAndExaminedRowsCutInsideARow) {
  for (uint64_t seq = 0; seq < 50; ++seq) Append(Created(seq));
  MemoryViewStore store;
  Project(store, 1000);
  // Events 10..39: from is inclusive, to exclusive.
  const AuditFilter range{.from = kEventTimeBase + 10, .to = kEventTimeBase + 40};
  for (size_t page_size : {1, 4, 50}) {
    const std::vector<int64_t> offsets = Offsets(Paged(store, range, page_size));
    ASSERT_EQ(offsets.size(), 30u) << page_size;
    EXPECT_EQ(offsets.front(), 10);
    EXPECT_EQ(offsets.back(), 39);
  }
  // A page that may examine 5 entries stops inside the row and its token goes on there.
  auto page = AuditProjection::Query(store, "acme", {}, 100, "", /*max_examined=*/5);
  ASSERT_OK(page);
  EXPECT_EQ(Offsets(page->records), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  auto next = AuditProjection::Query(store, "acme", {}, 2, page->next_page_token);
  ASSERT_OK(next);
  EXPECT_EQ(Offsets(next->records), (std::vector<int64_t>{5, 6}));
}

// A writer whose clock ran behind (a failover to a node with a slow clock): the record
// keeps its occurred_at, its log time is the previous record's, and the org's records
// stay in log order for every index and page size, within one run and across runs.
TEST_F(AuditIndexTest, AClockThatRanBackwardsKeepsLogOrder) {
  const Micros t = kEventTimeBase;
  const std::vector<Micros> times = {t + 100, t + 200, t + 150, t + 300, t + 50, t + 400};
  for (size_t i = 0; i < times.size(); ++i) Append(Created(i, times[i]));
  for (size_t run : {1, 2, 1000}) {
    MemoryViewStore store;
    Project(store, run);
    const std::vector<AuditRecord> all = Paged(store, {}, 1);
    EXPECT_EQ(Offsets(all), (std::vector<int64_t>{0, 1, 2, 3, 4, 5})) << run;
    ASSERT_EQ(all.size(), times.size());
    for (size_t i = 0; i < times.size(); ++i) EXPECT_EQ(all[i].occurred_at_us, times[i]);
    EXPECT_EQ(Offsets(Paged(store, {.action = "api_key.created"}, 2)),
              (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
    // Log times: 100, 200, 200, 300, 300, 400.
    EXPECT_EQ(Offsets(Paged(store, {.from = t + 200, .to = t + 300}, 1)),
              (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(Offsets(Paged(store, {.from = t + 300}, 10)), (std::vector<int64_t>{3, 4, 5}));
  }
}

// Views written before index rows were packed: every index row holds one entry in its
// key (empty value) and chain heads are 40 bytes. They read as before, and new runs go
// on from them.
TEST_F(AuditIndexTest, RowsWrittenBeforePackingStillRead) {
  const Micros t = kEventTimeBase;
  for (uint64_t seq = 0; seq < 10; ++seq) Append(Created(seq, t + 100 * seq));
  MemoryViewStore store;
  Project(store, 1000);
  {  // Rewrite the store as the earlier format had it: its canonical rows.
    auto batch = store.NewBatch();
    for (const auto& [key, value] : store.Rows()) {
      batch->Delete(key);
      AuditProjection::CanonicalRows(
          key, value, [&](std::string_view k, std::string_view v) { batch->Put(k, v); });
    }
    ASSERT_OK(store.Commit(*batch));
  }
  EXPECT_EQ(store.Rows().at("aud/h/" + std::string(4, '\0')).size(), 40u);
  EXPECT_EQ(RowsUnder(store, IndexPrefix('t', "")), 10u);
  // `keytrail check` right after an upgrade: the old views equal a fresh rebuild.
  MemoryViewStore rebuilt;
  Project(rebuilt, 1000);
  EXPECT_EQ(projections::DumpViews(store), projections::DumpViews(rebuilt));
  EXPECT_EQ(*projections::FirstDifference(store, rebuilt), std::nullopt);
  // A record whose clock ran behind the last one before the new format: its log time
  // comes from the record the 40-byte head names.
  Append(Created(10, t + 850));
  Append(Created(11, t + 1100));
  Project(store, 1000);
  EXPECT_EQ(Offsets(Paged(store, {}, 3)),
            (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  // Record 10's log time is record 9's (900), so it is listed from 900 on, after 9.
  EXPECT_EQ(Offsets(Paged(store, {.from = t + 900}, 10)), (std::vector<int64_t>{9, 10, 11}));
  auto chain = AuditProjection::VerifyChain(store);
  ASSERT_OK(chain);
  EXPECT_TRUE(chain->ok);
}

// `keytrail check`: stores compare by entries, in chunks of entries (a packed row of more
// entries than a chunk holds), and an entry missing from a packed row is a difference.
TEST_F(AuditIndexTest, ChecksCompareEntriesNotRows) {
  for (uint64_t seq = 0; seq < 5000; ++seq) Append(Created(seq));
  MemoryViewStore packed, runs_of_7;
  Project(packed, 10000);
  Project(runs_of_7, 7);
  EXPECT_EQ(*projections::FirstDifference(packed, runs_of_7), std::nullopt);

  const std::string prefix = IndexPrefix('t', "");
  const auto rows = packed.Rows();
  auto row = rows.lower_bound(prefix);
  ASSERT_TRUE(row != rows.end() && row->first.starts_with(prefix));
  ASSERT_EQ(row->second.size(), 5000u * 20);
  std::string without_one = row->second;
  const std::string entry = without_one.substr(20 * 2500, 20);
  without_one.erase(20 * 2500, 20);
  auto batch = packed.NewBatch();
  batch->Put(row->first, without_one);
  ASSERT_OK(packed.Commit(*batch));
  auto difference = projections::FirstDifference(packed, runs_of_7);
  ASSERT_OK(difference);
  ASSERT_TRUE(difference->has_value());
  EXPECT_EQ((*difference)->kind, projections::ViewDifference::Kind::kOnlyInSecond);
  EXPECT_EQ((*difference)->key, prefix + entry);
}

TEST_F(AuditIndexTest, AMalformedIndexRowFailsTheQuery) {
  for (uint64_t seq = 0; seq < 3; ++seq) Append(Created(seq));
  MemoryViewStore store;
  Project(store, 1000);
  const std::string prefix = IndexPrefix('t', "");
  for (const auto& [key, value] : store.Rows()) {
    if (!key.starts_with(prefix)) continue;
    for (const std::string& bad : {value.substr(0, value.size() - 1),      // cut short
                                   value.substr(0, value.size() - 20)}) {  // last entry gone
      auto batch = store.NewBatch();
      batch->Put(key, bad);
      ASSERT_OK(store.Commit(*batch));
      auto page = AuditProjection::Query(store, "acme", {}, 10, "");
      EXPECT_EQ(page.status().code(), StatusCode::kCorruption) << bad.size();
    }
  }
}

}  // namespace
}  // namespace keytrail
