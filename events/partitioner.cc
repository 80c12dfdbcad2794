#include <cstdint>
#include <string_view>

#include "events/event_log.h"

namespace keytrail::events {
namespace {

// Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), seed 0x9747b28c.
uint32_t Murmur2(std::string_view data) {
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t m = 0x5bd1e995;
  constexpr int r = 24;
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  const size_t length = data.size();
  uint32_t h = kSeed ^ static_cast<uint32_t>(length);
  const size_t length4 = length / 4;
  for (size_t i = 0; i < length4; ++i) {
    const size_t i4 = i * 4;
    uint32_t k = uint32_t{bytes[i4]} | (uint32_t{bytes[i4 + 1]} << 8) |
                 (uint32_t{bytes[i4 + 2]} << 16) | (uint32_t{bytes[i4 + 3]} << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const size_t tail = length & ~size_t{3};
  switch (length % 4) {
    case 3:
      h ^= uint32_t{bytes[tail + 2]} << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t{bytes[tail + 1]} << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t{bytes[tail]};
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

}  // namespace

int32_t PartitionForKey(std::string_view key, int32_t partition_count) {
  const uint32_t positive = Murmur2(key) & 0x7fffffff;
  return static_cast<int32_t>(positive % static_cast<uint32_t>(partition_count));
}

}  // namespace keytrail::events
