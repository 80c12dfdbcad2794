// MemoryEventLog: an EventLog held in memory, for tests that need a log but not its
// storage. It passes the same contract suite as the local and Kafka logs
// (tests/integration/event_log_contract.cc). Logs made from one Storage share it, so a
// second MemoryEventLog over the same storage is a reopen. Thread-safe.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "events/event_log.h"

namespace keytrail::testing {

class MemoryEventLog final : public events::EventLog {
 public:
  // The records of every partition; outlives the logs that use it.
  struct Storage {
    explicit Storage(int32_t partition_count) : partitions(partition_count) {}
    std::mutex mu;
    std::condition_variable appended;
    std::vector<std::vector<events::LogRecord>> partitions;
  };

  explicit MemoryEventLog(int32_t partition_count = 4)
      : storage_(std::make_shared<Storage>(partition_count)) {}
  explicit MemoryEventLog(std::shared_ptr<Storage> storage) : storage_(std::move(storage)) {}

  std::shared_ptr<Storage> storage() const { return storage_; }

  int32_t PartitionCount() const override;
  Result<std::vector<int64_t>> Append(std::string_view org,
                                      std::span<const std::string> events) override;
  Result<int64_t> EndOffset(int32_t partition) override;
  Result<std::unique_ptr<events::LogReader>> OpenReader(int32_t partition, int64_t offset) override;

 private:
  std::shared_ptr<Storage> storage_;
};

}  // namespace keytrail::testing
