#include "engine/domain/decide.h"

#include <algorithm>

#include <fmt/format.h>

namespace keytrail::domain {
namespace {

constexpr size_t kMaxReasonLength = 500;

Rejection Reject(RejectionCode code, std::string message) { return {code, std::move(message)}; }

bool ValidKeyName(std::string_view name) {
  if (name.size() < 3 || name.size() > 50) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
           c == '-' || c == '_' || c == '.';
  });
}

// Group ids: 1-64 characters of [a-z0-9-_].
bool ValidGroupId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

fb::Sha256 ToFb(const SecretHash& hash) {
  return fb::Sha256(flatbuffers::span<const uint8_t, 32>(hash.data(), hash.size()));
}

template <typename T>
NewEvent Event(std::string aggregate_id, uint64_t version, T payload) {
  NewEvent e;
  e.aggregate_id = std::move(aggregate_id);
  e.aggregate_version = version;
  e.payload.Set(std::move(payload));
  return e;
}

Rejection KeyNotFound(const KeyId& id) {
  return Reject(RejectionCode::kKeyNotFound, fmt::format("no key {}", FormatKeyId(id)));
}

// Rejects commands on keys that are revoked or past their expiry.
std::optional<Rejection> RequireLive(const KeyState& key, Micros now) {
  if (key.status == KeyStatus::kRevoked) {
    return Reject(RejectionCode::kKeyRevoked,
                  fmt::format("key {} is revoked", FormatKeyId(key.id)));
  }
  if (!key.ActiveAt(now)) {
    return Reject(RejectionCode::kKeyExpired,
                  fmt::format("key {} has expired", FormatKeyId(key.id)));
  }
  return std::nullopt;
}

class Decider {
 public:
  Decider(const OrgState& state, Micros now, const DomainOptions& options)
      : state_(state), now_(now), options_(options) {}

  Decision operator()(const CreateOrg& c) const {
    if (state_.exists) return Reject(RejectionCode::kOrgExists, "org already exists");
    if (c.name.empty() || c.name.size() > 200) {
      return Reject(RejectionCode::kInvalidName, "org name must be 1-200 characters");
    }
    fb::OrgCreatedT p;
    p.name = c.name;
    return Events(Event(state_.id, 1, std::move(p)));
  }

  Decision operator()(const CreateGroup& c) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    if (!ValidGroupId(c.group_id)) {
      return Reject(RejectionCode::kInvalidGroupId,
                    "group id must be 1-64 characters of a-z, 0-9, '-' and '_'");
    }
    auto it = state_.groups.find(c.group_id);
    if (it != state_.groups.end() && !it->second.deleted) {
      return Reject(RejectionCode::kGroupExists, fmt::format("group {} exists", c.group_id));
    }
    fb::GroupCreatedT p;
    p.group_id = c.group_id;
    p.name = c.name.empty() ? c.group_id : c.name;
    p.description = c.description;
    const uint64_t version = it == state_.groups.end() ? 1 : it->second.version + 1;
    return Events(Event(c.group_id, version, std::move(p)));
  }

  Decision operator()(const CreateKey& c) const {
    if (!state_.exists) return Reject(RejectionCode::kOrgNotFound, "no such org");
    if (!ValidKeyName(c.name)) {
      return Reject(RejectionCode::kInvalidName,
                    "key name must be 3-50 characters: letters, digits, space, '-', '_', '.'");
    }
    if (auto it = state_.names.find(c.name); it != state_.names.end()) {
      const KeyState* holder = state_.FindKey(it->second);
      if (holder != nullptr && holder->ActiveAt(now_)) {
        return Reject(RejectionCode::kNameTaken, fmt::format("a key named '{}' exists", c.name));
      }
    }
    if (!state_.GroupExists(c.group)) {
      return Reject(RejectionCode::kGroupNotFound, fmt::format("no group '{}'", c.group));
    }
    const Micros expires_at = ResolveExpiration(c.expires, now_);
    if (c.expires.kind == Expiration::Kind::kAt && expires_at <= now_) {
      return Reject(RejectionCode::kInvalidExpiration, "expiration must be in the future");
    }
    for (const std::string& permission : c.permissions) {
      const auto& known = KnownPermissions();
      if (std::find(known.begin(), known.end(), permission) == known.end()) {
        return Reject(RejectionCode::kInvalidPermission,
                      fmt::format("unknown permission '{}'", permission));
      }
    }
    if (state_.ActiveKeyCount(now_) >= options_.max_active_keys) {
      return Reject(RejectionCode::kQuotaExceeded,
                    fmt::format("the org has {} active keys, the quota", options_.max_active_keys));
    }
    if (state_.keys.contains(c.key_id)) {
      return Reject(RejectionCode::kKeyExists, "key id collision; retry");
    }
    fb::KeyCreatedT p;
    p.key_id = FormatKeyId(c.key_id);
    p.name = c.name;
    p.group_id = c.group;
    p.secret_hash = std::make_unique<fb::Sha256>(ToFb(c.secret_hash));
    p.hint = c.hint;
    p.expires_at_us = expires_at;
    p.permissions = c.permissions;
    std::sort(p.permissions.begin(), p.permissions.end());
    p.permissions.erase(std::unique(p.permissions.begin(), p.permissions.end()),
                        p.permissions.end());
    p.created_by = c.created_by;
    std::string id = p.key_id;
    return Events(Event(std::move(id), 1, std::move(p)));
  }

  Decision operator()(const RotateKey& c) const {
    const KeyState* found = state_.FindKey(c.key_id);
    if (found == nullptr) return KeyNotFound(c.key_id);
    const KeyState& key = *found;
    if (auto r = RequireLive(key, now_)) return *r;
    if (c.grace < 0 || c.grace > kMaxRotationGrace) {
      return Reject(RejectionCode::kInvalidGrace, "grace must be between 0s and 24h");
    }
    fb::KeyRotatedT p;
    p.secret_hash = std::make_unique<fb::Sha256>(ToFb(c.new_secret_hash));
    p.hint = c.hint;
    if (c.grace > 0) {
      p.previous_valid_until_us =
          key.expires_at == 0 ? now_ + c.grace : std::min(now_ + c.grace, key.expires_at);
    }
    return KeyEvent(key, std::move(p));
  }

  Decision operator()(const RevokeKey& c) const {
    const KeyState* found = state_.FindKey(c.key_id);
    if (found == nullptr) return KeyNotFound(c.key_id);
    const KeyState& key = *found;
    if (key.status == KeyStatus::kRevoked) {
      return Reject(RejectionCode::kAlreadyRevoked,
                    fmt::format("key {} is already revoked", FormatKeyId(key.id)));
    }
    if (!key.ActiveAt(now_)) {
      return Reject(RejectionCode::kKeyExpired,
                    fmt::format("key {} has expired", FormatKeyId(key.id)));
    }
    if (c.reason.size() > kMaxReasonLength) {
      return Reject(RejectionCode::kInvalidReason, "reason must be at most 500 characters");
    }
    fb::KeyRevokedT p;
    p.reason = c.reason;
    return KeyEvent(key, std::move(p));
  }

  Decision operator()(const ExpireKey& c) const {
    const KeyState* found = state_.FindKey(c.key_id);
    if (found == nullptr) return KeyNotFound(c.key_id);
    const KeyState& key = *found;
    if (key.status == KeyStatus::kRevoked) {
      return Reject(RejectionCode::kKeyRevoked,
                    fmt::format("key {} is revoked", FormatKeyId(key.id)));
    }
    if (key.status == KeyStatus::kExpired) {
      return Reject(RejectionCode::kKeyExpired,
                    fmt::format("key {} has already expired", FormatKeyId(key.id)));
    }
    if (key.expires_at == 0 || now_ < key.expires_at) {
      return Reject(RejectionCode::kNotDue, fmt::format("key {} is not due", FormatKeyId(key.id)));
    }
    fb::KeyExpiredT p;
    p.expires_at_us = key.expires_at;
    return KeyEvent(key, std::move(p));
  }

  Decision operator()(const ChangeKeyGroup& c) const {
    const KeyState* found = state_.FindKey(c.key_id);
    if (found == nullptr) return KeyNotFound(c.key_id);
    const KeyState& key = *found;
    if (auto r = RequireLive(key, now_)) return *r;
    if (!state_.GroupExists(c.group)) {
      return Reject(RejectionCode::kGroupNotFound, fmt::format("no group '{}'", c.group));
    }
    if (key.group == c.group) return std::vector<NewEvent>{};  // already there: nothing to do
    fb::KeyGroupChangedT p;
    p.group_id = c.group;
    p.previous_group_id = key.group;
    return KeyEvent(key, std::move(p));
  }

 private:
  // The key's next event: carries its id and the next aggregate version.
  template <typename T>
  static Decision KeyEvent(const KeyState& key, T payload) {
    payload.key_id = FormatKeyId(key.id);
    std::string id = payload.key_id;
    return Events(Event(std::move(id), key.version + 1, std::move(payload)));
  }

  static Decision Events(NewEvent e) {
    std::vector<NewEvent> out;
    out.push_back(std::move(e));
    return out;
  }

  const OrgState& state_;
  const Micros now_;
  const DomainOptions& options_;
};

}  // namespace

std::string_view RejectionCodeName(RejectionCode code) {
  switch (code) {
    case RejectionCode::kOrgNotFound:
      return "org_not_found";
    case RejectionCode::kOrgExists:
      return "org_exists";
    case RejectionCode::kInvalidName:
      return "invalid_name";
    case RejectionCode::kNameTaken:
      return "name_taken";
    case RejectionCode::kGroupNotFound:
      return "group_not_found";
    case RejectionCode::kGroupExists:
      return "group_exists";
    case RejectionCode::kInvalidGroupId:
      return "invalid_group_id";
    case RejectionCode::kInvalidExpiration:
      return "invalid_expiration";
    case RejectionCode::kInvalidPermission:
      return "invalid_permission";
    case RejectionCode::kQuotaExceeded:
      return "quota_exceeded";
    case RejectionCode::kKeyNotFound:
      return "key_not_found";
    case RejectionCode::kKeyExists:
      return "key_exists";
    case RejectionCode::kKeyRevoked:
      return "key_revoked";
    case RejectionCode::kKeyExpired:
      return "key_expired";
    case RejectionCode::kAlreadyRevoked:
      return "already_revoked";
    case RejectionCode::kNotDue:
      return "not_due";
    case RejectionCode::kInvalidGrace:
      return "invalid_grace";
    case RejectionCode::kInvalidReason:
      return "invalid_reason";
  }
  return "unknown";
}

Decision Decide(const OrgState& state, const Command& command, Micros now,
                const DomainOptions& options) {
  return std::visit(Decider(state, now, options), command);
}

fb::EnvelopeT Stamp(const CommandContext& context, NewEvent event, const fb::EventId& id,
                    Micros now) {
  fb::EnvelopeT e;
  e.id = std::make_unique<fb::EventId>(id);
  e.org = context.org;
  e.aggregate_id = std::move(event.aggregate_id);
  e.aggregate_version = event.aggregate_version;
  e.occurred_at_us = now;
  e.actor = std::make_unique<fb::ActorT>();
  e.actor->kind = context.actor_kind;
  e.actor->id = context.actor_id;
  e.actor->on_behalf_of = context.on_behalf_of;
  e.command_id = context.command_id;
  e.correlation_id = context.correlation_id;
  e.payload = std::move(event.payload);
  return e;
}

}  // namespace keytrail::domain
