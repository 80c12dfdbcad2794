// Time-ordered 128-bit event ids in the UUIDv7 layout (RFC 9562): 48 bits of Unix
// milliseconds, then 12 bits of sub-millisecond time, then 62 random bits.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>
#include <string>

#include "base/clock.h"
#include "schemas/events_generated.h"

namespace keytrail::events {

// Thread-safe. Ids from one generator sort by creation time to the microsecond.
class EventIdGenerator {
 public:
  // `seed` feeds the random bits; ids need to be unique, not secret.
  EventIdGenerator(const Clock& clock, uint64_t seed);

  fb::EventId Next();

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::mt19937_64 rng_;
};

// The canonical 8-4-4-4-12 hex form, e.g. "0190b5c2-4a1e-7abc-9def-0123456789ab".
std::string FormatEventId(const fb::EventId& id);

}  // namespace keytrail::events
