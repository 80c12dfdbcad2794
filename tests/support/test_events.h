// Builders of well-formed events for tests and benchmarks.
#pragma once

#include <cstdint>
#include <string>

#include "events/codec.h"

namespace keytrail::testing {

// An envelope with every header field set deterministically from `seq`.
fb::EnvelopeT MakeEnvelope(const std::string& org, const std::string& aggregate_id, uint64_t seq);

// A KeyCreated event for `key_id` in `org`, encoded.
std::string EncodedKeyCreated(const std::string& org, const std::string& key_id, uint64_t seq);

// A KeyRevoked event, encoded.
std::string EncodedKeyRevoked(const std::string& org, const std::string& key_id, uint64_t seq);

}  // namespace keytrail::testing
