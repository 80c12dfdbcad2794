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

}  // namespace

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
