// LocalEventLog: the embedded default EventLog, stored in its own RocksDB instance.
//
// Records live under key = partition (4 bytes, big-endian) ‖ offset (8 bytes,
// big-endian). Append returns only after a synced write; concurrent appenders are
// grouped so that they share one synced write (group commit, as in LevelDB). A RocksDB
// WriteBatch is atomic, so after a crash (even kill -9 or power loss) every acknowledged
// record is present and no partial batch is visible.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "events/event_log.h"

namespace keytrail::events {

class LocalEventLog final : public EventLog {
 public:
  struct Options {
    std::string path;        // directory of the RocksDB instance; created if missing
    int32_t partitions = 8;  // fixed at creation; reopening with another count fails
    bool sync = true;        // false only for benchmarks that measure the unsynced cost
    // Open an existing log without taking its lock, as a snapshot of the records durable
    // when it was opened (operator tools reading a log a running server writes). Append
    // fails with kFailedPrecondition; readers never see later records.
    bool read_only = false;
    // Group commit: when fewer appenders are queued than joined the previous group, the
    // leader waits up to this long for the rest before writing. 0 disables the wait.
    std::chrono::microseconds group_linger{200};
    // Once appends have stopped for this long, a memtable of at least
    // idle_flush_min_bytes is flushed to a file, so an idle server hands its write
    // buffer (up to 64 MiB) back. Zero: never.
    std::chrono::milliseconds idle_flush_after{2000};
    size_t idle_flush_min_bytes = 1 << 20;
  };

  // Opens or creates the log. Errors: kInvalidArgument (bad options or a partition count
  // that differs from the stored one), kFailedPrecondition (another process has it open
  // for writing, e.g. a running `keytrail serve`), kNotFound (read_only and no log at
  // path), kIoError (RocksDB could not open it).
  static Result<std::unique_ptr<LocalEventLog>> Open(const Options& options);
  ~LocalEventLog() override;

  int32_t PartitionCount() const override;
  Result<std::vector<int64_t>> Append(std::string_view org,
                                      std::span<const std::string> events) override;
  Result<int64_t> EndOffset(int32_t partition) override;
  // Readers must be destroyed before the log.
  Result<std::unique_ptr<LogReader>> OpenReader(int32_t partition, int64_t offset) override;

  // Appends performed and synced writes issued since open; their ratio shows how well
  // group commit batches concurrent appenders.
  struct Stats {
    uint64_t appends = 0;
    uint64_t synced_writes = 0;
  };
  Stats GetStats() const;

  struct Impl;

 private:
  explicit LocalEventLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keytrail::events
