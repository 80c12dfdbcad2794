// keytrail dev-kafka, driven as a user would: start it, use the brokers it prints with a
// real Kafka client, stop it with SIGTERM.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>

#include "events/kafka_event_log.h"
#include "tests/support/child_process.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_events.h"

namespace keytrail::testing {
namespace {

TEST(DevKafka, ServesAUsableClusterAndStopsCleanlyOnSigterm) {
  TempDir dir;
  const std::string file = dir.path() + "/bootstrap";
  ChildProcess child({KEYTRAIL_BINARY, "dev-kafka", "--partitions", "4", "--bootstrap-file", file});
  ASSERT_TRUE(child.started());
  std::string servers;
  ASSERT_TRUE(child.ReadLine(&servers));
  ASSERT_FALSE(servers.empty());
  std::string from_file;
  std::getline(std::ifstream(file) >> std::ws, from_file);
  EXPECT_EQ(from_file, servers);

  {
    auto log = events::KafkaEventLog::Open({.brokers = servers});
    ASSERT_OK(log);
    EXPECT_EQ((*log)->PartitionCount(), 4);
    const std::vector<std::string> batch = {EncodedKeyCreated("acme", "k1", 1),
                                            EncodedKeyCreated("acme", "k2", 2)};
    auto offsets = (*log)->Append("acme", batch);
    ASSERT_OK(offsets);
    EXPECT_EQ(*offsets, (std::vector<int64_t>{0, 1}));
    auto reader = (*log)->OpenReader((*log)->PartitionFor("acme"), 0);
    ASSERT_OK(reader);
    std::vector<events::LogRecord> got;
    for (int i = 0; i < 20 && got.size() < 2; ++i) {
      auto records = (*reader)->Next(10, std::chrono::milliseconds(250));
      ASSERT_OK(records);
      for (auto& r : *records) got.push_back(std::move(r));
    }
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[1].value, batch[1]);
  }

  child.Signal(SIGTERM);
  const int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(DevKafka, BadFlagsExitWithUsageCode) {
  ChildProcess child({KEYTRAIL_BINARY, "dev-kafka", "--partitions", "0"});
  ASSERT_TRUE(child.started());
  const int status = child.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

}  // namespace
}  // namespace keytrail::testing
