#include "events/event_id.h"

#include <fmt/format.h>

namespace keytrail::events {

EventIdGenerator::EventIdGenerator(const Clock& clock, uint64_t seed) : clock_(clock), rng_(seed) {}

fb::EventId EventIdGenerator::Next() {
  const Micros now = clock_.NowMicros();
  const uint64_t millis = static_cast<uint64_t>(now / 1000);
  const uint64_t sub_millis = static_cast<uint64_t>(now % 1000) * 4096 / 1000;
  uint64_t random;
  {
    std::lock_guard lock(mu_);
    random = rng_();
  }
  const uint64_t hi = (millis << 16) | (uint64_t{0x7} << 12) | sub_millis;
  const uint64_t lo = (uint64_t{0x2} << 62) | (random >> 2);
  return fb::EventId(hi, lo);
}

std::string FormatEventId(const fb::EventId& id) {
  const uint64_t hi = id.hi();
  const uint64_t lo = id.lo();
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff,
                     hi & 0xffff, lo >> 48, lo & 0xffffffffffffULL);
}

}  // namespace keytrail::events
