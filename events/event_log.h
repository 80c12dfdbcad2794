// EventLog: the port every keytrail log implements (local RocksDB, Kafka).
//
// A log has a fixed number of partitions. All events of one org go to one partition,
// chosen by PartitionFor(org), so one org's events are totally ordered. Offsets within
// a partition start at 0 and grow by one per record.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace keytrail::events {

// One record as read back from a log.
struct LogRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;    // the org id
  std::string value;  // an encoded Envelope (see codec.h); verify before use
};

// Kafka's default partitioner (murmur2 of the key, made positive, modulo the count), so
// Kafka clients that key records by org agree with keytrail on placement.
// REQUIRES: partition_count > 0.
int32_t PartitionForKey(std::string_view key, int32_t partition_count);

// Reads one partition in offset order. Not thread-safe: one reader per thread.
class LogReader {
 public:
  virtual ~LogReader() = default;

  // Returns up to `max_records` records that follow the last one returned (the first
  // call starts at the offset given to OpenReader). Waits up to `wait` for at least one;
  // returns an empty vector if none arrived in time. Records come back exactly as
  // appended; their values are not verified here.
  virtual Result<std::vector<LogRecord>> Next(size_t max_records,
                                              std::chrono::milliseconds wait) = 0;

  // Makes a Next waiting in another thread return now, with what it has (possibly
  // nothing); if none is waiting, the next Next may return early once. The one call that
  // may come from another thread.
  virtual void Wake() = 0;
};

// Whether the log answers, as far as it knows without asking (see LogBreaker).
struct LogReachability {
  bool reachable = true;
  std::string reason;                           // why not (reachable = false)
  std::chrono::steady_clock::time_point since;  // since when not
};

// Thread-safe: any number of threads may append and read concurrently.
class EventLog {
 public:
  virtual ~EventLog() = default;
  EventLog() = default;
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  virtual int32_t PartitionCount() const = 0;

  // The partition that holds `org`'s events.
  int32_t PartitionFor(std::string_view org) const {
    return PartitionForKey(org, PartitionCount());
  }

  // Appends `events` (encoded Envelopes of `org`) in order to org's partition and
  // returns their offsets, in the same order, once they are durable. Concurrent calls
  // share durable writes (group commit).
  // On error, the local log has written none of them; Kafka may have written a prefix
  // of the batch, so a caller that keeps state re-reads the log before deciding again.
  virtual Result<std::vector<int64_t>> Append(std::string_view org,
                                              std::span<const std::string> events) = 0;

  // The offset the next record of `partition` will get (0 for an empty partition).
  virtual Result<int64_t> EndOffset(int32_t partition) = 0;

  // A reader positioned at `offset` of `partition`.
  virtual Result<std::unique_ptr<LogReader>> OpenReader(int32_t partition, int64_t offset) = 0;

  // Whether the log is known to be unreachable now. Non-blocking (no I/O). The
  // embedded log is always reachable; Kafka's breaker opens when every broker is down.
  virtual LogReachability Reachability() const { return {}; }
};

}  // namespace keytrail::events
