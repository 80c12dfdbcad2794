#include "tests/integration/event_log_contract.h"

#include <map>
#include <set>
#include <thread>

#include "events/codec.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_events.h"

namespace keytrail::testing {
namespace {

using events::EventLog;
using events::LogRecord;
using std::chrono::milliseconds;

std::vector<LogRecord> ReadAll(EventLog& log, int32_t partition, int64_t from, size_t count) {
  auto reader = log.OpenReader(partition, from);
  EXPECT_OK(reader);
  if (!reader.ok()) return {};
  std::vector<LogRecord> out;
  int empty_polls = 0;
  while (out.size() < count && empty_polls < 50) {
    auto batch = (*reader)->Next(count - out.size(), milliseconds(200));
    EXPECT_OK(batch);
    if (!batch.ok()) break;
    if (batch->empty()) ++empty_polls;
    for (auto& r : *batch) out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::string> Events(const std::string& org, int first, int n) {
  std::vector<std::string> out;
  for (int i = first; i < first + n; ++i) {
    out.push_back(EncodedKeyCreated(org, "key-" + std::to_string(i), i));
  }
  return out;
}

TEST_P(EventLogContract, AppendReturnsConsecutiveOffsetsAndReadsBackInOrder) {
  auto log = factory_->Open();
  const int32_t p = log->PartitionFor("acme");
  auto first = log->Append("acme", Events("acme", 0, 3));
  ASSERT_OK(first);
  EXPECT_EQ(*first, (std::vector<int64_t>{0, 1, 2}));
  auto second = log->Append("acme", Events("acme", 3, 2));
  ASSERT_OK(second);
  EXPECT_EQ(*second, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(*log->EndOffset(p), 5);

  auto records = ReadAll(*log, p, 0, 5);
  ASSERT_EQ(records.size(), 5u);
  const auto expected = Events("acme", 0, 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(records[i].partition, p);
    EXPECT_EQ(records[i].offset, i);
    EXPECT_EQ(records[i].key, "acme");
    EXPECT_EQ(records[i].value, expected[i]);
    EXPECT_OK(events::Decode(records[i].value));
  }
}

TEST_P(EventLogContract, ReadsFromAnOffsetInTheMiddle) {
  auto log = factory_->Open();
  const int32_t p = log->PartitionFor("acme");
  ASSERT_OK(log->Append("acme", Events("acme", 0, 10)));
  auto records = ReadAll(*log, p, 7, 3);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].offset, 7);
  EXPECT_EQ(records[2].offset, 9);
  EXPECT_EQ(records[0].value, Events("acme", 7, 1)[0]);
}

TEST_P(EventLogContract, ReaderAtTheEndWaitsThenSeesNewRecords) {
  auto log = factory_->Open();
  const int32_t p = log->PartitionFor("acme");
  auto reader = log->OpenReader(p, 0);
  ASSERT_OK(reader);
  auto none = (*reader)->Next(10, milliseconds(50));
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
  std::thread appender([&] { ASSERT_OK(log->Append("acme", Events("acme", 0, 1))); });
  std::vector<LogRecord> got;
  for (int i = 0; i < 50 && got.empty(); ++i) {
    auto batch = (*reader)->Next(10, milliseconds(200));
    ASSERT_OK(batch);
    got = std::move(*batch);
  }
  appender.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].offset, 0);
}

TEST_P(EventLogContract, OrgsMapToStablePartitionsAndStayOrderedPerOrg) {
  auto log = factory_->Open();
  std::vector<std::string> orgs;
  for (int i = 0; i < 12; ++i) orgs.push_back("org-" + std::to_string(i));
  std::set<int32_t> used;
  for (int round = 0; round < 4; ++round) {
    for (const auto& org : orgs) {
      ASSERT_OK(log->Append(org, Events(org, round, 1)));
    }
  }
  for (const auto& org : orgs) used.insert(log->PartitionFor(org));
  EXPECT_GT(used.size(), 1u) << "12 orgs should spread over more than one partition";

  for (int32_t p : used) {
    auto end = log->EndOffset(p);
    ASSERT_OK(end);
    auto records = ReadAll(*log, p, 0, static_cast<size_t>(*end));
    ASSERT_EQ(static_cast<int64_t>(records.size()), *end);
    std::map<std::string, uint64_t> last_version;
    for (const auto& r : records) {
      EXPECT_EQ(log->PartitionFor(r.key), p);
      auto e = events::Decode(r.value);
      ASSERT_OK(e);
      EXPECT_EQ((*e)->org()->str(), r.key);
      auto [it, inserted] = last_version.emplace(r.key, (*e)->aggregate_version());
      if (!inserted) {
        EXPECT_GT((*e)->aggregate_version(), it->second) << "events of " << r.key << " reordered";
        it->second = (*e)->aggregate_version();
      }
    }
  }
}

TEST_P(EventLogContract, LargeBatch) {
  auto log = factory_->Open();
  const int32_t p = log->PartitionFor("big");
  auto batch = Events("big", 0, 2000);
  auto offsets = log->Append("big", batch);
  ASSERT_OK(offsets);
  ASSERT_EQ(offsets->size(), 2000u);
  for (size_t i = 0; i < offsets->size(); ++i) EXPECT_EQ((*offsets)[i], static_cast<int64_t>(i));
  auto records = ReadAll(*log, p, 0, 2000);
  ASSERT_EQ(records.size(), 2000u);
  EXPECT_EQ(records[1999].value, batch[1999]);
}

TEST_P(EventLogContract, ConcurrentAppendersGetDistinctOffsetsAndNoLoss) {
  auto log = factory_->Open();
  constexpr int kThreads = 16;
  constexpr int kPerThread = 25;
  std::vector<std::vector<int64_t>> offsets(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string org = "org-" + std::to_string(t % 4);
      for (int i = 0; i < kPerThread; ++i) {
        auto r = log->Append(org, Events(org, t * 1000 + i, 1));
        ASSERT_OK(r);
        offsets[t].push_back((*r)[0]);
      }
    });
  }
  for (auto& t : threads) t.join();

  std::map<int32_t, std::set<int64_t>> seen;
  for (int t = 0; t < kThreads; ++t) {
    const int32_t p = log->PartitionFor("org-" + std::to_string(t % 4));
    for (int64_t o : offsets[t]) EXPECT_TRUE(seen[p].insert(o).second) << "offset reused";
  }
  for (auto& [p, set] : seen) {
    auto end = log->EndOffset(p);
    ASSERT_OK(end);
    EXPECT_EQ(static_cast<size_t>(*end), set.size());
    EXPECT_EQ(*set.rbegin(), *end - 1);
    EXPECT_EQ(ReadAll(*log, p, 0, set.size()).size(), set.size());
  }
}

TEST_P(EventLogContract, ReopenKeepsEverythingAndContinuesOffsets) {
  int32_t p;
  {
    auto log = factory_->Open();
    p = log->PartitionFor("acme");
    ASSERT_OK(log->Append("acme", Events("acme", 0, 4)));
  }
  auto log = factory_->Open();
  auto end = log->EndOffset(p);
  ASSERT_OK(end);
  EXPECT_EQ(*end, 4);
  auto more = log->Append("acme", Events("acme", 4, 1));
  ASSERT_OK(more);
  EXPECT_EQ((*more)[0], 4);
  auto records = ReadAll(*log, p, 0, 5);
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[4].value, Events("acme", 4, 1)[0]);
}

TEST_P(EventLogContract, RejectsBadPartitions) {
  auto log = factory_->Open();
  EXPECT_FALSE(log->OpenReader(-1, 0).ok());
  EXPECT_FALSE(log->OpenReader(log->PartitionCount(), 0).ok());
  EXPECT_FALSE(log->EndOffset(log->PartitionCount()).ok());
}

TEST_P(EventLogContract, EmptyAppendIsANoOp) {
  auto log = factory_->Open();
  auto r = log->Append("acme", {});
  ASSERT_OK(r);
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(*log->EndOffset(log->PartitionFor("acme")), 0);
}

}  // namespace
}  // namespace keytrail::testing
