#include "engine/latency_histogram.h"

#include <algorithm>

namespace keytrail {

size_t LatencySnapshot::BucketOf(Micros value) {
  size_t bucket = 0;
  for (uint64_t v = value > 0 ? static_cast<uint64_t>(value) : 0; v != 0; v >>= 1) ++bucket;
  return std::min(bucket, kBuckets - 1);
}

Micros LatencySnapshot::UpperBound(size_t bucket) {
  return bucket == 0 ? 0 : (Micros{1} << bucket) - 1;
}

void LatencySnapshot::Add(const LatencySnapshot& other) {
  for (size_t b = 0; b < kBuckets; ++b) counts[b] += other.counts[b];
  count += other.count;
  sum += other.sum;
}

Micros LatencySnapshot::Quantile(double q) const {
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  if (total == 0) return 0;
  const auto rank = static_cast<uint64_t>(q * static_cast<double>(total) + 0.999999);
  uint64_t seen = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    seen += counts[b];
    if (seen >= rank) return UpperBound(b);
  }
  return UpperBound(kBuckets - 1);
}

void LatencyRecorder::Record(Micros value) {
  counts_[LatencySnapshot::BucketOf(value)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(std::max<Micros>(value, 0), std::memory_order_relaxed);
}

LatencySnapshot LatencyRecorder::Snapshot() const {
  LatencySnapshot out;
  for (size_t b = 0; b < LatencySnapshot::kBuckets; ++b) {
    out.counts[b] = counts_[b].load(std::memory_order_relaxed);
  }
  out.count = count_.load(std::memory_order_relaxed);
  out.sum = sum_.load(std::memory_order_relaxed);
  return out;
}

}  // namespace keytrail
