#include "tests/support/test_events.h"

#include <memory>

namespace keytrail::testing {

fb::EnvelopeT MakeEnvelope(const std::string& org, const std::string& aggregate_id, uint64_t seq) {
  fb::EnvelopeT e;
  e.id = std::make_unique<fb::EventId>((uint64_t{1700000000000} + seq) << 16 | 0x7000,
                                       0x8000000000000000ULL | seq);
  e.org = org;
  e.aggregate_id = aggregate_id;
  e.aggregate_version = seq;
  e.occurred_at_us = int64_t{1700000000000000} + static_cast<int64_t>(seq);
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

}  // namespace keytrail::testing
