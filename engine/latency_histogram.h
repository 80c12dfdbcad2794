// Latency histograms with power-of-two microsecond buckets: bucket 0 counts 0 us,
// bucket b >= 1 counts [2^(b-1), 2^b) us, the last bucket everything above. Cheap
// enough for every command: one relaxed atomic add per sample.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/clock.h"

namespace keytrail {

// A point-in-time copy of a histogram; plain data, mergeable.
struct LatencySnapshot {
  static constexpr size_t kBuckets = 40;
  std::array<uint64_t, kBuckets> counts{};
  uint64_t count = 0;
  Micros sum = 0;  // of all samples, us

  static size_t BucketOf(Micros value);
  // The largest value bucket b holds (bucket 0: 0; bucket b: 2^b - 1).
  static Micros UpperBound(size_t bucket);
  void Add(const LatencySnapshot& other);
  // An upper bound of the q-quantile (0 < q <= 1), in us; 0 if empty.
  Micros Quantile(double q) const;
};

// The live histogram: any thread may Record and Snapshot at any time.
class LatencyRecorder {
 public:
  void Record(Micros value);
  LatencySnapshot Snapshot() const;

 private:
  std::array<std::atomic<uint64_t>, LatencySnapshot::kBuckets> counts_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> sum_{0};
};

}  // namespace keytrail
