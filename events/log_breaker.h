// LogBreaker: whether an event log is known to be unreachable, so that commands are
// refused at once (503 + Retry-After) instead of each waiting out the log's timeout. A
// failure the log sees (every broker down, an append that timed out) opens it; a success
// (an append, a probe that reached a broker) closes it. Thread-safe; Reachable() is one
// atomic load.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

#include "events/event_log.h"

namespace keytrail::events {

class LogBreaker {
 public:
  // Opens the breaker (if closed: now is when it opened) with why.
  void Open(std::string_view reason) {
    std::lock_guard lock(mu_);
    if (!open_.load(std::memory_order_relaxed)) since_ = std::chrono::steady_clock::now();
    reason_ = std::string(reason);
    open_.store(true, std::memory_order_release);
  }
  void Close() {
    if (!open_.load(std::memory_order_acquire)) return;
    std::lock_guard lock(mu_);
    open_.store(false, std::memory_order_release);
  }
  bool Reachable() const { return !open_.load(std::memory_order_acquire); }
  LogReachability Get() const {
    if (Reachable()) return {};
    std::lock_guard lock(mu_);
    return {
        .reachable = !open_.load(std::memory_order_relaxed), .reason = reason_, .since = since_};
  }

 private:
  std::atomic<bool> open_{false};
  mutable std::mutex mu_;
  std::string reason_;                           // guarded by mu_
  std::chrono::steady_clock::time_point since_;  // guarded by mu_
};

}  // namespace keytrail::events
