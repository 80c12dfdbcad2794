#include "base/idle_action.h"

namespace keytrail {

IdleAction::IdleAction(std::chrono::milliseconds quiet, std::function<void()> action)
    : quiet_(quiet), action_(std::move(action)), thread_([this] { Run(); }) {}

IdleAction::~IdleAction() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void IdleAction::Touch() {
  // seq_cst with Run's store of pending_ and load of last_touch_: either this sees the
  // action's pending_ = false, or the action sees this touch (and runs again later).
  // The latest touch wins even when touches race (several threads commit).
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  auto last = last_touch_.load();
  while (last < now && !last_touch_.compare_exchange_weak(last, now)) {
  }
  if (pending_.load()) return;
  {
    std::lock_guard lock(mu_);
    pending_.store(true);
  }
  cv_.notify_one();
}

void IdleAction::Run() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || pending_.load(); });
    if (stop_) return;
    // Touched: wait until `quiet` has passed since the last touch.
    const Clock::rep seen = last_touch_.load();
    const Clock::time_point due = Clock::time_point(Clock::duration(seen)) + quiet_;
    if (Clock::now() < due) {
      cv_.wait_until(lock, due, [&] { return stop_; });
      continue;
    }
    pending_.store(false);
    if (last_touch_.load() != seen) {  // touched meanwhile, maybe seeing pending_ true
      pending_.store(true);
      continue;
    }
    lock.unlock();
    action_();
    lock.lock();
  }
}

}  // namespace keytrail
