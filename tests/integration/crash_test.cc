// Crash tests: a child process is killed with SIGKILL at random points; what it
// acknowledged must survive, and what it built must equal a clean rebuild.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "engine/engine.h"
#include "events/codec.h"
#include "events/local_event_log.h"
#include "projections/audit_projection.h"
#include "projections/history_projection.h"
#include "projections/projector.h"
#include "projections/view_compare.h"
#include "tests/support/child_process.h"
#include "tests/support/counting_projection.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_events.h"

namespace keytrail::testing {
namespace {

using projections::DumpViews;

constexpr int32_t kPartitions = 4;  // as in test_child.cc

TEST(Crash, KilledAppenderLosesNoAcknowledgedRecordAndLeavesNoTornOne) {
  TempDir dir;
  const std::string log_dir = dir.path() + "/log";
  std::mt19937 rng(42);
  std::map<std::pair<std::string, int64_t>, uint64_t> acked;  // (org, offset) -> seq
  for (int round = 0; round < 4; ++round) {
    ChildProcess child({KEYTRAIL_TEST_CHILD, "append", log_dir, "8", "100000"});
    ASSERT_TRUE(child.started());
    const int lines_before_kill = 50 + static_cast<int>(rng() % 400);
    std::string line;
    for (int i = 0; i < lines_before_kill && child.ReadLine(&line); ++i) {
      std::istringstream in(line);
      std::string word, org;
      uint64_t seq;
      int64_t offset;
      in >> word >> org >> seq >> offset;
      ASSERT_EQ(word, "ack") << line;
      acked[{org, offset}] = seq;
    }
    child.Kill();
    child.Wait();
  }
  ASSERT_GT(acked.size(), 200u);

  auto log = events::LocalEventLog::Open({.path = log_dir, .partitions = kPartitions});
  ASSERT_OK(log);
  std::map<std::pair<std::string, int64_t>, std::string> stored;
  for (int32_t p = 0; p < kPartitions; ++p) {
    auto end = (*log)->EndOffset(p);
    ASSERT_OK(end);
    auto reader = (*log)->OpenReader(p, 0);
    ASSERT_OK(reader);
    int64_t expected_offset = 0;
    while (expected_offset < *end) {
      auto batch = (*reader)->Next(10000, std::chrono::milliseconds(100));
      ASSERT_OK(batch);  // gaps are reported as errors
      for (auto& record : *batch) {
        ASSERT_EQ(record.offset, expected_offset++);
        ASSERT_OK(events::Decode(record.value)) << "torn record at " << record.offset;
        stored[{record.key, record.offset}] = std::move(record.value);
      }
    }
  }
  for (const auto& [where, seq] : acked) {
    auto it = stored.find(where);
    ASSERT_NE(it, stored.end()) << "acknowledged " << where.first << "@" << where.second
                                << " is gone";
    EXPECT_EQ(it->second, EncodedKeyCreated(where.first, "k" + std::to_string(seq), seq));
  }
}

TEST(Crash, KilledProjectorResumesToViewsIdenticalToACleanRebuild) {
  TempDir dir;
  const std::string log_dir = dir.path() + "/log";
  const std::string views_dir = dir.path() + "/views";
  {
    auto log = events::LocalEventLog::Open({.path = log_dir, .partitions = kPartitions});
    ASSERT_OK(log);
    for (int org = 0; org < 40; ++org) {
      const std::string name = "org-" + std::to_string(org);
      std::vector<std::string> batch;
      for (int i = 0; i < 1500; ++i) {
        batch.push_back(i % 10 == 9 ? EncodedKeyRevoked(name, "k" + std::to_string(i - 1), i)
                                    : EncodedKeyCreated(name, "k" + std::to_string(i), i));
      }
      ASSERT_OK((*log)->Append(name, batch));
    }
  }
  constexpr int64_t kTotal = 40 * 1500;
  std::mt19937 rng(7);
  int killed_midway = 0;
  for (int round = 0; round < 6; ++round) {
    ChildProcess child({KEYTRAIL_TEST_CHILD, "project", log_dir, views_dir, "97"});
    ASSERT_TRUE(child.started());
    // Let it finish 1..3 partitions, then kill it at a random point of the next one.
    std::string line;
    for (int done = 0; done <= round % 3 && child.ReadLine(&line);) {
      if (line.starts_with("partition")) ++done;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 100));
    child.Kill();
    child.Wait();
    auto store = projections::OpenRocksViewStore(views_dir);
    ASSERT_OK(store);
    int64_t applied = 0;
    for (int32_t p = 0; p < kPartitions; ++p) applied += *projections::ReadCheckpoint(**store, p);
    if (applied > 0 && applied < kTotal) ++killed_midway;
  }
  EXPECT_GE(killed_midway, 3) << "the kills did not land while the projector was working";
  {
    ChildProcess finisher({KEYTRAIL_TEST_CHILD, "project", log_dir, views_dir, "97"});
    std::string line, last;
    while (finisher.ReadLine(&line)) last = line;
    EXPECT_EQ(last, "caught-up");
    EXPECT_EQ(finisher.Wait(), 0);
  }

  auto log = events::LocalEventLog::Open({.path = log_dir, .partitions = kPartitions});
  ASSERT_OK(log);
  auto resumed = projections::OpenRocksViewStore(views_dir);
  auto fresh = projections::OpenRocksViewStore(dir.path() + "/fresh");
  ASSERT_TRUE(resumed.ok() && fresh.ok());
  projections::HistoryProjection history;
  projections::AuditProjection audit;
  CountingProjection counting;
  projections::Projector rebuild(**log, **fresh, {&history, &audit, &counting});
  ASSERT_OK(rebuild.CatchUpAll());
  const std::string expected = DumpViews(**fresh);
  EXPECT_GT(expected.size(), 60000u * 20);
  EXPECT_TRUE(DumpViews(**resumed) == expected) << "resumed views differ from a clean rebuild";
}

TEST(Crash, KilledEngineLosesNoAcknowledgedKey) {
  TempDir dir;
  const std::string log_dir = dir.path() + "/log";
  const std::string views_dir = dir.path() + "/views";
  std::mt19937 rng(3);
  std::map<std::string, std::string> acked;  // key id -> token
  for (int round = 0; round < 3; ++round) {
    ChildProcess child({KEYTRAIL_TEST_CHILD, "create-keys", log_dir, views_dir, "16"});
    ASSERT_TRUE(child.started());
    std::string line;
    ASSERT_TRUE(child.ReadLine(&line));
    ASSERT_EQ(line, "ready");
    const int acks_before_kill = 100 + static_cast<int>(rng() % 300);
    for (int i = 0; i < acks_before_kill && child.ReadLine(&line); ++i) {
      std::istringstream in(line);
      std::string word, key_id, token;
      in >> word >> key_id >> token;
      ASSERT_EQ(word, "ack") << line;
      acked[key_id] = token;
    }
    child.Kill();
    child.Wait();
  }
  ASSERT_GE(acked.size(), 300u);

  auto log = events::LocalEventLog::Open({.path = log_dir, .partitions = kPartitions});
  auto views = projections::OpenRocksViewStore(views_dir);
  ASSERT_TRUE(log.ok() && views.ok());
  auto engine = Engine::Start(**log, **views, SystemClock::Instance(), {});
  ASSERT_OK(engine);
  for (const auto& [key_id, token] : acked) {
    const VerifyResult r = (*engine)->Verify(token);
    ASSERT_TRUE(r.valid) << key_id << ": " << ReasonCode(r.reason);
    EXPECT_EQ(FormatKeyId(r.key_id), key_id);
  }
}

}  // namespace
}  // namespace keytrail::testing
