#include "tests/support/memory_event_log.h"

#include <fmt/format.h>

namespace keytrail::testing {
namespace {

using Storage = MemoryEventLog::Storage;

class MemoryLogReader final : public events::LogReader {
 public:
  MemoryLogReader(std::shared_ptr<Storage> storage, int32_t partition, int64_t offset)
      : storage_(std::move(storage)), partition_(partition), next_(offset) {}

  Result<std::vector<events::LogRecord>> Next(size_t max_records,
                                              std::chrono::milliseconds wait) override {
    std::unique_lock lock(storage_->mu);
    const auto& records = storage_->partitions[partition_];
    storage_->appended.wait_for(lock, wait,
                                [&] { return next_ < int64_t(records.size()) || woken_; });
    woken_ = false;
    std::vector<events::LogRecord> out;
    while (out.size() < max_records && next_ < int64_t(records.size())) {
      out.push_back(records[next_++]);
    }
    return out;
  }

  void Wake() override {
    {
      std::lock_guard lock(storage_->mu);
      woken_ = true;
    }
    storage_->appended.notify_all();
  }

 private:
  std::shared_ptr<Storage> storage_;
  const int32_t partition_;
  int64_t next_;
  bool woken_ = false;  // guarded by storage_->mu
};

Status CheckPartition(const Storage& storage, int32_t partition) {
  if (partition < 0 || partition >= int32_t(storage.partitions.size())) {
    return Status::InvalidArgument(fmt::format("no partition {}", partition));
  }
  return Status::Ok();
}

}  // namespace

int32_t MemoryEventLog::PartitionCount() const { return int32_t(storage_->partitions.size()); }

Result<std::vector<int64_t>> MemoryEventLog::Append(std::string_view org,
                                                    std::span<const std::string> events) {
  const int32_t partition = PartitionFor(org);
  std::vector<int64_t> offsets;
  {
    std::lock_guard lock(storage_->mu);
    auto& records = storage_->partitions[partition];
    for (const std::string& value : events) {
      const int64_t offset = int64_t(records.size());
      records.push_back(
          {.partition = partition, .offset = offset, .key = std::string(org), .value = value});
      offsets.push_back(offset);
    }
  }
  storage_->appended.notify_all();
  return offsets;
}

Result<int64_t> MemoryEventLog::EndOffset(int32_t partition) {
  std::lock_guard lock(storage_->mu);
  KT_RETURN_IF_ERROR(CheckPartition(*storage_, partition));
  return int64_t(storage_->partitions[partition].size());
}

Result<std::unique_ptr<events::LogReader>> MemoryEventLog::OpenReader(int32_t partition,
                                                                      int64_t offset) {
  {
    std::lock_guard lock(storage_->mu);
    KT_RETURN_IF_ERROR(CheckPartition(*storage_, partition));
  }
  if (offset < 0) return Status::InvalidArgument("negative offset");
  return std::unique_ptr<events::LogReader>(
      std::make_unique<MemoryLogReader>(storage_, partition, offset));
}

}  // namespace keytrail::testing
