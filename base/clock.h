// Clock: the one seam through which keytrail reads time, so tests can drive it.
#pragma once

#include <atomic>
#include <cstdint>

namespace keytrail {

// Microseconds since the Unix epoch, UTC.
using Micros = int64_t;

// Thread-safe source of the current time.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Micros NowMicros() const = 0;
};

// The system's real-time clock.
class SystemClock final : public Clock {
 public:
  Micros NowMicros() const override;
  // A process-wide instance; never destroyed.
  static SystemClock& Instance();
};

// A clock that only moves when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Micros start) : now_(start) {}
  Micros NowMicros() const override { return now_.load(std::memory_order_acquire); }
  void Set(Micros t) { now_.store(t, std::memory_order_release); }
  void Advance(Micros d) { now_.fetch_add(d, std::memory_order_acq_rel); }

 private:
  std::atomic<Micros> now_;
};

}  // namespace keytrail
