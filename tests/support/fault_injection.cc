#include "tests/support/fault_injection.h"

#include <algorithm>

namespace keytrail::testing {
namespace {

// Counts `countdown` down; true on the call that takes it from 1 to 0.
bool Due(std::atomic<int>& countdown) {
  int left = countdown.load();
  while (left > 0 && !countdown.compare_exchange_weak(left, left - 1)) {
  }
  return left == 1;
}

// A reader that returns nothing from its first `empty_reads` calls, then forwards.
class DelayedReader final : public events::LogReader {
 public:
  DelayedReader(std::unique_ptr<events::LogReader> reader, int empty_reads)
      : reader_(std::move(reader)), empty_reads_(empty_reads) {}

  Result<std::vector<events::LogRecord>> Next(size_t max_records,
                                              std::chrono::milliseconds wait) override {
    if (empty_reads_ > 0) {
      --empty_reads_;
      return std::vector<events::LogRecord>();
    }
    return reader_->Next(max_records, wait);
  }
  void Wake() override { reader_->Wake(); }

 private:
  std::unique_ptr<events::LogReader> reader_;
  int empty_reads_;
};

}  // namespace

Result<std::unique_ptr<events::LogReader>> FaultyEventLog::OpenReader(int32_t partition,
                                                                      int64_t offset) {
  auto reader = log_.OpenReader(partition, offset);
  const int delay = reader_delay_.load();
  if (!reader.ok() || delay <= 0) return reader;
  return std::unique_ptr<events::LogReader>(
      std::make_unique<DelayedReader>(std::move(reader).value(), delay));
}

void FaultyEventLog::FailAppend(int nth, size_t keep_prefix) {
  keep_prefix_.store(keep_prefix);
  countdown_.store(nth);
}

void FaultyEventLog::PauseAppends(bool after_writing) {
  {
    std::lock_guard lock(pause_mu_);
    paused_ = true;
    pause_after_ = after_writing;
  }
  resumed_.notify_all();
}

void FaultyEventLog::ResumeAppends() {
  {
    std::lock_guard lock(pause_mu_);
    paused_ = false;
  }
  resumed_.notify_all();
}

int FaultyEventLog::paused_appends() const {
  std::lock_guard lock(pause_mu_);
  return waiting_;
}

void FaultyEventLog::SetReachable(bool reachable, std::string reason) {
  if (reachable) {
    breaker_.Close();
  } else {
    breaker_.Open(reason);
  }
}

events::LogReachability FaultyEventLog::Reachability() const { return breaker_.Get(); }

Result<std::vector<int64_t>> FaultyEventLog::Append(std::string_view org,
                                                    std::span<const std::string> events) {
  appends_.fetch_add(1);
  // Waits while appends are paused at this stage (before or after writing).
  auto pause = [&](bool after) {
    std::unique_lock lock(pause_mu_);
    if (!paused_ || pause_after_ != after) return;
    ++waiting_;
    resumed_.wait(lock, [&] { return !paused_ || pause_after_ != after; });
    --waiting_;
  };
  pause(false);
  if (!Due(countdown_)) {
    auto written = log_.Append(org, events);
    pause(true);
    return written;
  }
  ++failures_;
  const size_t keep = std::min(keep_prefix_.load(), events.size());
  if (keep > 0) KT_RETURN_IF_ERROR(log_.Append(org, events.first(keep)).status());
  return Status::Unavailable("injected append failure");
}

Status FaultyViewStore::Commit(projections::ViewBatch& batch) {
  if (!Due(countdown_)) return store_.Commit(batch);
  ++failures_;
  return Status::IoError("injected commit failure");
}

}  // namespace keytrail::testing
