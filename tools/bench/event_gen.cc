#include "tools/bench/event_gen.h"

#include <algorithm>
#include <array>
#include <memory>

#include "events/codec.h"
#include "keys/key_material.h"

namespace keytrail::bench {
namespace {

constexpr std::array<const char*, 3> kGroups = {"developer", "viewer", "ci"};

}  // namespace

EventGenerator::EventGenerator(Options options)
    : options_(options), rng_(options.seed), now_us_(options.start_us) {
  for (int i = 0; i < options_.orgs; ++i) {
    org_ids_.push_back("org-" + std::to_string(i));
    org_state_.push_back(Org{org_ids_.back()});
  }
}

const std::vector<std::string>& EventGenerator::Actions() {
  static const std::vector<std::string> actions = {
      "org.created",     "group.created",   "api_key.created",      "api_key.rotated",
      "api_key.revoked", "api_key.expired", "api_key.group_updated"};
  return actions;
}

const std::string& EventGenerator::RandomKey(const std::string& org, std::mt19937_64& rng) const {
  for (const Org& o : org_state_) {
    if (o.id == org && !o.keys.empty()) return o.keys[rng() % o.keys.size()].id;
  }
  static const std::string none;
  return none;
}

std::string EventGenerator::RandomActor(const std::string& org, std::mt19937_64& rng) const {
  for (const Org& o : org_state_) {
    if (o.id != org) continue;
    const int n = options_.members_per_org + options_.admin_keys_per_org;
    const int pick = static_cast<int>(rng() % n);
    if (pick < options_.members_per_org || static_cast<int>(o.keys.size()) <= pick) {
      return "m" + org.substr(4) + "-" + std::to_string(pick % options_.members_per_org);
    }
    return o.keys[pick - options_.members_per_org].id;
  }
  return "";
}

std::string EventGenerator::Next(std::string* org_id) {
  now_us_ += static_cast<Micros>(rng_() % (2 * options_.mean_gap_us + 1));
  ++seq_;
  Org& org = org_state_[rng_() % org_state_.size()];
  *org_id = org.id;
  if (org.setup_step <= static_cast<int>(kGroups.size())) return Setup(org);
  return KeyEvent(org);
}

namespace {

fb::EnvelopeT Envelope(const std::string& org, const std::string& aggregate, uint64_t version,
                       Micros t, uint64_t seq) {
  fb::EnvelopeT e;
  e.id = std::make_unique<fb::EventId>(static_cast<uint64_t>(t / 1000) << 16 | 0x7000,
                                       0x8000000000000000ULL | seq);
  e.org = org;
  e.aggregate_id = aggregate;
  e.aggregate_version = version;
  e.occurred_at_us = t;
  e.command_id = "cmd-" + std::to_string(seq);
  e.correlation_id = "req-" + std::to_string(seq);
  e.actor = std::make_unique<fb::ActorT>();
  return e;
}

}  // namespace

std::string EventGenerator::Setup(Org& org) {
  const int step = org.setup_step++;
  if (step == 0) {
    fb::EnvelopeT e = Envelope(org.id, org.id, 1, now_us_, seq_);
    e.actor->kind = fb::ActorKind::System;
    e.actor->id = "bootstrap";
    fb::OrgCreatedT p;
    p.name = "Org " + org.id;
    e.payload.Set(std::move(p));
    return events::Encode(e);
  }
  const std::string group = kGroups[step - 1];
  fb::EnvelopeT e = Envelope(org.id, group, 1, now_us_, seq_);
  e.actor->kind = fb::ActorKind::System;
  e.actor->id = "bootstrap";
  fb::GroupCreatedT p;
  p.group_id = group;
  p.name = group;
  p.description = "built-in group " + group;
  p.builtin = true;
  auto rule = std::make_unique<fb::RuleT>();
  rule->role = "organization-" + group;
  p.rules.push_back(std::move(rule));
  e.payload.Set(std::move(p));
  return events::Encode(e);
}

std::string EventGenerator::KeyEvent(Org& org) {
  // Who acts: mostly members, sometimes one of the org's admin keys.
  const int members = options_.members_per_org;
  const int pick = static_cast<int>(rng_() % (members + options_.admin_keys_per_org));
  const bool by_key = pick >= members && static_cast<int>(org.keys.size()) > pick - members;
  std::string actor_id = by_key ? org.keys[pick - members].id
                                : "m" + org.id.substr(4) + "-" + std::to_string(pick % members);

  const unsigned roll = static_cast<unsigned>(rng_() % 100);
  Key* key = org.keys.empty() ? nullptr : &org.keys[rng_() % org.keys.size()];
  const bool create = key == nullptr || !key->live || roll < 45 ||
                      static_cast<int>(org.keys.size()) < options_.admin_keys_per_org;
  if (create) {
    const KeyId id = NewKeyId(random_, now_us_);  // as the engine makes them
    Key k{FormatKeyId(id), kGroups[rng_() % kGroups.size()], 1, 0, true};
    if (rng_() % 10 < 3) k.expires_at_us = now_us_ + (30 + rng_() % 335) * 86'400'000'000LL;
    fb::EnvelopeT e = Envelope(org.id, k.id, 1, now_us_, seq_);
    e.actor->kind = by_key ? fb::ActorKind::Key : fb::ActorKind::Member;
    e.actor->id = actor_id;
    fb::KeyCreatedT p;
    p.key_id = k.id;
    p.name = "pipeline " + std::to_string(seq_);
    p.group_id = k.group;
    p.secret_hash = std::make_unique<fb::Sha256>();
    p.hint = "kt_..." + k.id.substr(0, 4);
    p.expires_at_us = k.expires_at_us;
    p.created_by = actor_id;
    e.payload.Set(std::move(p));
    org.keys.push_back(std::move(k));
    return events::Encode(e);
  }
  fb::EnvelopeT e = Envelope(org.id, key->id, ++key->version, now_us_, seq_);
  e.actor->kind = by_key ? fb::ActorKind::Key : fb::ActorKind::Member;
  e.actor->id = actor_id;
  if (roll < 80) {
    fb::KeyRotatedT p;
    p.key_id = key->id;
    p.secret_hash = std::make_unique<fb::Sha256>();
    p.hint = "kt_..." + key->id.substr(4, 4);
    p.previous_valid_until_us = roll % 2 == 0 ? now_us_ + 3'600'000'000LL : 0;
    e.payload.Set(std::move(p));
  } else if (roll < 88) {
    fb::KeyGroupChangedT p;
    p.key_id = key->id;
    p.previous_group_id = key->group;
    key->group =
        kGroups[(rng_() % (kGroups.size() - 1) + 1 +
                 (std::find(kGroups.begin(), kGroups.end(), key->group) - kGroups.begin())) %
                kGroups.size()];
    p.group_id = key->group;
    e.payload.Set(std::move(p));
  } else if (roll < 96 || key->expires_at_us == 0) {
    fb::KeyRevokedT p;
    p.key_id = key->id;
    p.reason = "rotated out of the pipeline";
    e.payload.Set(std::move(p));
    key->live = false;
  } else {
    e.actor->kind = fb::ActorKind::Scheduler;
    e.actor->id = "scheduler";
    fb::KeyExpiredT p;
    p.key_id = key->id;
    p.expires_at_us = key->expires_at_us;
    e.payload.Set(std::move(p));
    key->live = false;
  }
  return events::Encode(e);
}

}  // namespace keytrail::bench
