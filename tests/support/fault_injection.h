// Wrappers that forward to a real log or view store and fail on request, so tests can
// put a fault exactly where they want it (LevelDB's fault-injecting Env, for keytrail's
// two seams). Thread-safe; the wrapped object must outlive the wrapper.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>

#include "events/event_log.h"
#include "events/log_breaker.h"
#include "projections/view_store.h"

namespace keytrail::testing {

// Forwards to `log`, except that the `nth` Append from the call of FailAppend on (1 =
// the next) fails with kUnavailable. With keep_prefix = k it first appends the batch's
// first k events to the real log: what a Kafka producer may leave behind when it fails
// in the middle of a batch.
class FaultyEventLog final : public events::EventLog {
 public:
  explicit FaultyEventLog(events::EventLog& log) : log_(log) {}

  void FailAppend(int nth = 1, size_t keep_prefix = 0);
  // Appends wait while paused: a writer stopped mid-command, as by SIGSTOP. By default
  // before reaching the log; with `after_writing`, once their records are in the log but
  // before Append returns. Pausing after writing releases appends waiting before it (they
  // write, then wait again). paused_appends() counts those waiting.
  void PauseAppends(bool after_writing = false);
  void ResumeAppends();
  int paused_appends() const;
  // Appends that failed on request so far.
  int failures() const { return failures_.load(); }
  // Appends that reached this wrapper (failed, paused or forwarded).
  int appends() const { return appends_.load(); }
  // Reports the log unreachable (its breaker open, as KafkaEventLog's when every broker
  // is down) until SetReachable(true); appends still go through if anyone tries.
  void SetReachable(bool reachable, std::string reason = "the test took the log away");
  events::LogReachability Reachability() const override;

  int32_t PartitionCount() const override { return log_.PartitionCount(); }
  Result<std::vector<int64_t>> Append(std::string_view org,
                                      std::span<const std::string> events) override;
  Result<int64_t> EndOffset(int32_t partition) override { return log_.EndOffset(partition); }
  // Readers opened from now on come back empty from their first `empty_reads` calls of
  // Next, as a fresh Kafka consumer does while it connects and fetches (0: no delay).
  void DelayNewReaders(int empty_reads) { reader_delay_.store(empty_reads); }
  Result<std::unique_ptr<events::LogReader>> OpenReader(int32_t partition, int64_t offset) override;

 private:
  events::EventLog& log_;
  std::atomic<int> countdown_{0};  // 0: no failure planned
  std::atomic<size_t> keep_prefix_{0};
  std::atomic<int> failures_{0};
  std::atomic<int> appends_{0};
  std::atomic<int> reader_delay_{0};
  events::LogBreaker breaker_;
  mutable std::mutex pause_mu_;
  std::condition_variable resumed_;
  bool paused_ = false;       // guarded by pause_mu_
  bool pause_after_ = false;  // guarded by pause_mu_
  int waiting_ = 0;           // guarded by pause_mu_
};

// Forwards to `store`, except that the `nth` Commit from the call of FailCommit on fails
// with kIoError and writes nothing.
class FaultyViewStore final : public projections::ViewStore {
 public:
  explicit FaultyViewStore(projections::ViewStore& store) : store_(store) {}

  void FailCommit(int nth = 1) { countdown_.store(nth); }
  int failures() const { return failures_.load(); }

  std::unique_ptr<projections::ViewBatch> NewBatch() override { return store_.NewBatch(); }
  Status Commit(projections::ViewBatch& batch) override;
  Result<std::optional<std::string>> Get(std::string_view key) override { return store_.Get(key); }
  Status Scan(std::string_view begin, std::string_view end,
              const projections::RowVisitor& visit) override {
    return store_.Scan(begin, end, visit);
  }

 private:
  projections::ViewStore& store_;
  std::atomic<int> countdown_{0};
  std::atomic<int> failures_{0};
};

}  // namespace keytrail::testing
