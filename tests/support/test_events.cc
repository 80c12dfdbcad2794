#include "tests/support/test_events.h"

#include "events/epoch_fence.h"

#include <memory>

namespace keytrail::testing {

fb::EnvelopeT MakeEnvelope(const std::string& org, const std::string& aggregate_id, uint64_t seq) {
  fb::EnvelopeT e;
  e.id = std::make_unique<fb::EventId>((uint64_t{1700000000000} + seq) << 16 | 0x7000,
                                       0x8000000000000000ULL | seq);
  e.org = org;
  e.aggregate_id = aggregate_id;
  e.aggregate_version = seq;
  e.occurred_at_us = kEventTimeBase + static_cast<int64_t>(seq);
  e.actor = std::make_unique<fb::ActorT>();
  e.actor->kind = fb::ActorKind::System;
  e.actor->id = "test";
  e.command_id = "cmd-" + std::to_string(seq);
  e.correlation_id = "corr-" + std::to_string(seq);
  return e;
}

std::string EncodedKeyCreated(const std::string& org, const std::string& key_id, uint64_t seq) {
  fb::EnvelopeT e = MakeEnvelope(org, key_id, seq);
  fb::KeyCreatedT p;
  p.key_id = key_id;
  p.name = "key " + key_id;
  p.group_id = "developer";
  p.secret_hash = std::make_unique<fb::Sha256>();
  p.hint = "kt_...abcd";
  p.expires_at_us = 0;
  p.created_by = "test";
  e.payload.Set(std::move(p));
  return events::Encode(e);
}

std::string EncodedKeyRevoked(const std::string& org, const std::string& key_id, uint64_t seq) {
  fb::EnvelopeT e = MakeEnvelope(org, key_id, seq);
  fb::KeyRevokedT p;
  p.key_id = key_id;
  p.reason = "test";
  e.payload.Set(std::move(p));
  return events::Encode(e);
}

std::string EncodeKeyCreated(const std::string& org, uint64_t seq, const KeyCreatedFields& f) {
  fb::EnvelopeT e = MakeEnvelope(org, f.key_id, seq);
  fb::KeyCreatedT p;
  p.key_id = f.key_id;
  p.name = f.name;
  p.group_id = f.group_id;
  p.secret_hash = std::make_unique<fb::Sha256>(f.secret_hash);
  p.hint = f.hint;
  p.expires_at_us = f.expires_at_us;
  p.permissions = f.permissions;
  p.created_by = f.created_by;
  e.payload.Set(std::move(p));
  return events::Encode(e);
}

std::string EncodeKeyRotated(const std::string& org, uint64_t seq, const std::string& key_id,
                             const std::array<uint8_t, 32>& secret_hash, const std::string& hint,
                             int64_t previous_valid_until_us) {
  fb::EnvelopeT e = MakeEnvelope(org, key_id, seq);
  fb::KeyRotatedT p;
  p.key_id = key_id;
  p.secret_hash = std::make_unique<fb::Sha256>(secret_hash);
  p.hint = hint;
  p.previous_valid_until_us = previous_valid_until_us;
  e.payload.Set(std::move(p));
  return events::Encode(e);
}

std::string EncodeKeyRevoked(const std::string& org, uint64_t seq, const std::string& key_id,
                             const std::string& reason) {
  fb::EnvelopeT e = MakeEnvelope(org, key_id, seq);
  fb::KeyRevokedT p;
  p.key_id = key_id;
  p.reason = reason;
  e.payload.Set(std::move(p));
  return events::Encode(e);
}

std::string EncodeKeySuspended(const std::string& org, uint64_t seq, const std::string& key_id,
                               const std::string& reason) {
  fb::EnvelopeT e = MakeEnvelope(org, key_id, seq);
  fb::KeySuspendedT p;
  p.key_id = key_id;
  p.reason = reason;
  e.payload.Set(std::move(p));
  return events::Encode(e);
}

std::string EncodeKeyResumed(const std::string& org, uint64_t seq, const std::string& key_id) {
  fb::EnvelopeT e = MakeEnvelope(org, key_id, seq);
  fb::KeyResumedT p;
  p.key_id = key_id;
  e.payload.Set(std::move(p));
  return events::Encode(e);
}

std::string EncodeKeyExpired(const std::string& org, uint64_t seq, const std::string& key_id,
                             int64_t expires_at_us) {
  fb::EnvelopeT e = MakeEnvelope(org, key_id, seq);
  fb::KeyExpiredT p;
  p.key_id = key_id;
  p.expires_at_us = expires_at_us;
  e.payload.Set(std::move(p));
  return events::Encode(e);
}

std::string EncodeKeyGroupChanged(const std::string& org, uint64_t seq, const std::string& key_id,
                                  const std::string& group_id,
                                  const std::string& previous_group_id) {
  fb::EnvelopeT e = MakeEnvelope(org, key_id, seq);
  fb::KeyGroupChangedT p;
  p.key_id = key_id;
  p.group_id = group_id;
  p.previous_group_id = previous_group_id;
  e.payload.Set(std::move(p));
  return events::Encode(e);
}

std::string EncodeGroupCreated(const std::string& org, uint64_t seq, const std::string& group_id) {
  fb::EnvelopeT e = MakeEnvelope(org, group_id, seq);
  fb::GroupCreatedT p;
  p.group_id = group_id;
  p.name = group_id;
  e.payload.Set(std::move(p));
  return events::Encode(e);
}

std::string EncodeGroupDeleted(const std::string& org, uint64_t seq, const std::string& group_id) {
  fb::EnvelopeT e = MakeEnvelope(org, group_id, seq);
  fb::GroupDeletedT p;
  p.group_id = group_id;
  e.payload.Set(std::move(p));
  return events::Encode(e);
}

std::string EncodeWriterClaimed(int32_t partition, int32_t partition_count, uint64_t seq,
                                int64_t epoch, const std::string& node) {
  const std::string key = events::ClaimKeyFor(partition, partition_count);
  fb::EnvelopeT e = MakeEnvelope(key, key, seq);
  e.writer_epoch = epoch;
  fb::WriterClaimedT p;
  p.partition = partition;
  p.node_id = node;
  p.advertise_url = "http://" + node + ".test:8080";
  p.epoch = epoch;
  e.payload.Set(std::move(p));
  return events::Encode(e);
}

std::string WithWriterEpoch(const std::string& encoded, int64_t epoch) {
  auto e = events::DecodeToObject(encoded);
  if (!e.ok()) return encoded;
  e->writer_epoch = epoch;
  return events::Encode(*e);
}

}  // namespace keytrail::testing
