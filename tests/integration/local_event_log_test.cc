#include "events/local_event_log.h"

#include "tests/integration/event_log_contract.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_events.h"

#include <thread>

namespace keytrail::testing {
namespace {

class LocalFactory final : public EventLogFactory {
 public:
  std::unique_ptr<events::EventLog> Open() override {
    auto log = events::LocalEventLog::Open({.path = dir_.path() + "/log", .partitions = 8});
    EXPECT_OK(log);
    return std::move(log).value();
  }

 private:
  TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(Local, EventLogContract,
                         ::testing::Values(EventLogContractParam{
                             "local", [] { return std::make_unique<LocalFactory>(); }}),
                         [](const auto& info) { return info.param.name; });

TEST(LocalEventLog, ReopenWithAnotherPartitionCountFails) {
  TempDir dir;
  ASSERT_OK(events::LocalEventLog::Open({.path = dir.path(), .partitions = 4}));
  auto again = events::LocalEventLog::Open({.path = dir.path(), .partitions = 8});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kInvalidArgument);
}

TEST(LocalEventLog, RejectsBadOptions) {
  EXPECT_FALSE(events::LocalEventLog::Open({.path = ""}).ok());
  TempDir dir;
  EXPECT_FALSE(events::LocalEventLog::Open({.path = dir.path(), .partitions = 0}).ok());
}

TEST(LocalEventLog, ConcurrentAppendersShareSyncedWrites) {
  TempDir dir;
  auto log = events::LocalEventLog::Open({.path = dir.path(), .partitions = 4});
  ASSERT_OK(log);
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      const std::string org = "org-" + std::to_string(t);
      for (int i = 0; i < 20; ++i) {
        const std::vector<std::string> batch = {EncodedKeyCreated(org, "k", i)};
        ASSERT_OK((*log)->Append(org, batch));
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto stats = (*log)->GetStats();
  EXPECT_EQ(stats.appends, 320u);
  EXPECT_LT(stats.synced_writes, stats.appends) << "no two appends shared a synced write";
}

}  // namespace
}  // namespace keytrail::testing
