// Builders of well-formed events for tests and benchmarks.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "events/codec.h"

namespace keytrail::testing {

// occurred_at_us of MakeEnvelope's event `seq` is kEventTimeBase + seq.
inline constexpr int64_t kEventTimeBase = 1700000000000000;

// An envelope with every header field set deterministically from `seq`.
fb::EnvelopeT MakeEnvelope(const std::string& org, const std::string& aggregate_id, uint64_t seq);

// A KeyCreated event for `key_id` in `org`, encoded.
std::string EncodedKeyCreated(const std::string& org, const std::string& key_id, uint64_t seq);

// A KeyRevoked event, encoded.
std::string EncodedKeyRevoked(const std::string& org, const std::string& key_id, uint64_t seq);

// Key and group events with the fields the key view reads, encoded. Envelopes come from
// MakeEnvelope (version = seq, occurred_at_us = kEventTimeBase + seq); the aggregate
// id is the key or group id.
struct KeyCreatedFields {
  std::string key_id;  // FormatKeyId text, as the domain writes it
  std::string name = "key";
  std::string group_id = "developer";
  std::array<uint8_t, 32> secret_hash{};
  std::string hint = "kt_...abcd";
  int64_t expires_at_us = 0;  // 0 = never
  std::vector<std::string> permissions;
  std::string created_by = "member-1";
};
std::string EncodeKeyCreated(const std::string& org, uint64_t seq, const KeyCreatedFields& f);
std::string EncodeKeyRotated(const std::string& org, uint64_t seq, const std::string& key_id,
                             const std::array<uint8_t, 32>& secret_hash, const std::string& hint,
                             int64_t previous_valid_until_us);
std::string EncodeKeyRevoked(const std::string& org, uint64_t seq, const std::string& key_id,
                             const std::string& reason);
std::string EncodeKeySuspended(const std::string& org, uint64_t seq, const std::string& key_id,
                               const std::string& reason);
std::string EncodeKeyResumed(const std::string& org, uint64_t seq, const std::string& key_id);
std::string EncodeKeyExpired(const std::string& org, uint64_t seq, const std::string& key_id,
                             int64_t expires_at_us);
std::string EncodeKeyGroupChanged(const std::string& org, uint64_t seq, const std::string& key_id,
                                  const std::string& group_id,
                                  const std::string& previous_group_id);
std::string EncodeGroupCreated(const std::string& org, uint64_t seq, const std::string& group_id);
std::string EncodeGroupDeleted(const std::string& org, uint64_t seq, const std::string& group_id);

// A WriterClaimed of `partition` (of `partition_count`) by `node` at `epoch`, keyed as
// events::ClaimKeyFor says and stamped with writer_epoch = epoch.
std::string EncodeWriterClaimed(int32_t partition, int32_t partition_count, uint64_t seq,
                                int64_t epoch, const std::string& node);

// `encoded` with its envelope's writer_epoch set to `epoch`.
std::string WithWriterEpoch(const std::string& encoded, int64_t epoch);

}  // namespace keytrail::testing
