#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <string>

#include "events/event_log.h"

namespace keytrail::events {
namespace {

// librdkafka's murmur2 partitioner is the oracle: it is Kafka's Java default.
TEST(Partitioner, AgreesWithLibrdkafkaMurmur2) {
  for (int32_t partitions : {1, 3, 8, 16, 100}) {
    for (int i = 0; i < 2000; ++i) {
      const std::string key = "org-" + std::to_string(i * 7919) + std::string(i % 5, 'x');
      const int32_t expected = rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(),
                                                                partitions, nullptr, nullptr);
      ASSERT_EQ(PartitionForKey(key, partitions), expected) << key << " / " << partitions;
    }
  }
}

TEST(Partitioner, EmptyKeyIsStable) {
  EXPECT_EQ(PartitionForKey("", 8), PartitionForKey("", 8));
  EXPECT_GE(PartitionForKey("", 8), 0);
}

}  // namespace
}  // namespace keytrail::events
