// ReadinessProbe: whether the engine can serve (Engine::CheckReady, which asks the log
// for its end offsets and may wait for it), computed on a thread of its own every
// `interval` and kept, so /readyz answers from memory and never holds an io thread.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "base/status.h"

namespace keytrail::server {

class ReadinessProbe {
 public:
  ReadinessProbe(std::function<Status()> check, std::chrono::milliseconds interval)
      : check_(std::move(check)), interval_(interval) {}
  ~ReadinessProbe() { Stop(); }
  ReadinessProbe(const ReadinessProbe&) = delete;
  ReadinessProbe& operator=(const ReadinessProbe&) = delete;

  // Checks once now (on the calling thread), then every interval on the probe's thread.
  // Idempotent.
  void Start() {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    if (thread_.joinable()) return;
    Store(check_());
    thread_ = std::thread([this] { Loop(); });
  }

  // Ends the checks, waiting for one in progress: after it, the check is never called
  // again (so what it reads, the engine, may go). Start does nothing afterwards.
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // The last answer; kUnavailable "not checked yet" before Start.
  Status Last() const {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  void Store(Status status) {
    std::lock_guard lock(mu_);
    last_ = std::move(status);
  }
  void Loop() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
      lock.unlock();
      Status status = check_();
      lock.lock();
      last_ = std::move(status);
    }
  }

  const std::function<Status()> check_;
  const std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                                     // guarded by mu_
  Status last_ = Status::Unavailable("not checked yet");  // guarded by mu_
  std::thread thread_;
};

}  // namespace keytrail::server
