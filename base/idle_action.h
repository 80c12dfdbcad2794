// IdleAction: runs an action on its own thread once activity has stopped: `quiet` after
// the last Touch(), then not again until the next Touch(). For work that should wait for
// a lull, such as handing a store's write buffers back to the system once writes stop.
//
// Thread-safe. Touch() is cheap (an atomic store; a lock only on the first touch after
// an action). The destructor stops the thread, waiting for an action that is running.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace keytrail {

class IdleAction {
 public:
  IdleAction(std::chrono::milliseconds quiet, std::function<void()> action);
  ~IdleAction();
  IdleAction(const IdleAction&) = delete;
  IdleAction& operator=(const IdleAction&) = delete;

  // Notes activity: the action runs once `quiet` has passed without another Touch().
  void Touch();

 private:
  void Run();

  const std::chrono::milliseconds quiet_;
  const std::function<void()> action_;
  std::atomic<std::chrono::steady_clock::rep> last_touch_{0};
  std::atomic<bool> pending_{false};  // touched since the action last ran
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace keytrail
