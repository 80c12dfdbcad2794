// Commands: what a caller asks the writer to do. Plain data, already authenticated and
// authorized; the domain decides whether the current state allows it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/clock.h"
#include "engine/key_material.h"

namespace keytrail::domain {

inline constexpr Micros kMicrosPerSecond = 1'000'000;
inline constexpr Micros kMicrosPerDay = 86'400 * kMicrosPerSecond;
inline constexpr Micros kMaxRotationGrace = 24 * 3600 * kMicrosPerSecond;

// When a new key expires.
struct Expiration {
  enum class Kind : uint8_t { kNever, k30Days, k6Months, k1Year, kAt };
  Kind kind = Kind::kNever;
  Micros at = 0;  // for kAt: an explicit time, which must be in the future

  static Expiration Never() { return {Kind::kNever, 0}; }
  static Expiration At(Micros t) { return {Kind::kAt, t}; }
};

// Parses "never", "30d", "6m", "1y" or an RFC 3339 UTC time ("2027-01-01T00:00:00Z",
// optional fraction of up to 6 digits, "Z" or a ±hh:mm offset). nullopt if malformed.
std::optional<Expiration> ParseExpiration(std::string_view text);

// The expiry time an Expiration gives at `now` (0 = never). Months and years are
// calendar months and years in UTC, clamped to the month's last day.
Micros ResolveExpiration(const Expiration& expiration, Micros now);

struct CreateOrg {
  std::string name;
};

struct CreateGroup {
  std::string group_id;
  std::string name;
  std::string description;
};

struct CreateKey {
  KeyId key_id;  // minted with the token, outside the domain
  std::string name;
  std::string group;
  Expiration expires;
  std::vector<std::string> permissions;
  SecretHash secret_hash{};
  std::string hint;
  std::string created_by;
};

struct RotateKey {
  KeyId key_id;
  SecretHash new_secret_hash{};
  std::string hint;
  Micros grace = 0;  // 0 .. kMaxRotationGrace
};

struct RevokeKey {
  KeyId key_id;
  std::string reason;
};

struct ExpireKey {
  KeyId key_id;
};

struct ChangeKeyGroup {
  KeyId key_id;
  std::string group;
};

using Command = std::variant<CreateOrg, CreateGroup, CreateKey, RotateKey, RevokeKey, ExpireKey,
                             ChangeKeyGroup>;

// The permissions a key may carry.
inline const std::vector<std::string>& KnownPermissions() {
  static const std::vector<std::string> known = {"scim"};
  return known;
}

}  // namespace keytrail::domain
