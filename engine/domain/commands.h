// Commands: what a caller asks the writer to do. Plain data, already authenticated and
// authorized; the domain decides whether the current state allows it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/clock.h"
#include "engine/domain/roles.h"
#include "keys/key_material.h"

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

inline constexpr size_t kMaxGroupNameLength = 200;
inline constexpr size_t kMaxDescriptionLength = 1000;
inline constexpr size_t kMaxMemberIdLength = 128;
inline constexpr size_t kMaxGroupsPerMember = 64;

// Creates the org together with its built-in groups (BuiltinGroups(): admin, developer,
// apikey-manager, viewer, each holding the matching organization-* role).
struct CreateOrg {
  std::string name;
};

// A new group. `rules` are validated by ValidateRules; no rules = the group grants
// nothing. `name` defaults to the id; at most kMaxGroupNameLength characters.
struct CreateGroup {
  std::string group_id;
  std::string name;
  std::string description;
  std::vector<RuleSpec> rules;
};

// Replaces a group's rules (all of them) and, if set, its description. Takes effect for
// every key and member of the group as soon as it is acknowledged. Not for built-in
// groups.
struct ChangeGroupRules {
  std::string group_id;
  std::vector<RuleSpec> rules;
  std::optional<std::string> description;  // nullopt = unchanged
};

// Deletes a group that has no live keys and no members (move them first). Not for
// built-in groups.
struct DeleteGroup {
  std::string group_id;
};

// Sets a member's groups (all of them; at least one). Adds the member if it has none.
struct SetMemberGroups {
  std::string member_id;
  std::vector<std::string> groups;
};

// A member's profile as its identity provider keeps it (SCIM).
struct MemberProfile {
  bool active = true;  // false: cannot sign in; its sessions end
  std::string external_id;
  std::string display_name;
  std::string given_name;
  std::string family_name;
  std::vector<std::string> emails;  // the primary first
  friend bool operator==(const MemberProfile&, const MemberProfile&) = default;
};
inline constexpr size_t kMaxProfileFieldLength = 256;
inline constexpr size_t kMaxEmailsPerMember = 10;

// SCIM: sets a member's profile (all of it), provisioning the member if it is new (a
// provisioned member exists without groups; its id is unique regardless of case).
// create_only: kMemberExists if the member exists. A member made in keytrail, not
// through SCIM: kNotProvisioned. Only a key holding `scim` (AuthorizeCommand).
struct ProvisionMember {
  std::string member_id;
  MemberProfile profile;
  bool create_only = false;
  // Set: the member must still be at this version (kStaleVersion otherwise), e.g. the
  // one an If-Match named and the profile was computed from.
  std::optional<uint64_t> expected_version;
};

// SCIM: the member leaves every group and its profile is forgotten (it no longer exists).
// Only members SCIM provisioned (kNotProvisioned otherwise).
struct DeprovisionMember {
  std::string member_id;
};

// SCIM: creates a group (no rules: it grants nothing until an admin gives it some) and/or
// changes who is in it: `members` replaces its provisioned members, else `add` and
// `remove` change them. SCIM moves only members it provisioned (kNotProvisioned), at most
// kMaxMembersPerChange at once. One decision: a MemberGroupsChanged per member changed.
struct ProvisionGroup {
  std::string group_id;
  std::string display_name;  // for a new group
  bool create = false;       // create it (kGroupExists if it exists)
  std::optional<std::vector<std::string>> members;
  std::vector<std::string> add;
  std::vector<std::string> remove;
};

inline constexpr size_t kMaxMembersPerChange = 1000;

// SCIM: every member leaves the group, then it is deleted. Only groups SCIM created
// (kGroupBuiltin otherwise); not while it has live keys (kGroupInUse).
struct DeprovisionGroup {
  std::string group_id;
};

// Removes a member: it leaves all its groups. With revoke_keys (admins only), every live
// key the member created is revoked in the same decision (reason "offboarded").
struct RemoveMember {
  std::string member_id;
  bool revoke_keys = false;
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

// A new secret; with `expires`, the key is renewed in the same decision (KeyRotated,
// then KeyUpdated with the new expiry).
struct RotateKey {
  KeyId key_id;
  SecretHash new_secret_hash{};
  std::string hint;
  Micros grace = 0;  // 0 .. kMaxRotationGrace
  std::optional<Expiration> expires;
};

// Changes a live key's name, expiry (longer or shorter; never or a time in the future)
// or description; unset fields stay. Authorized as rotating the key. Nothing that
// changes: no event.
struct UpdateKey {
  KeyId key_id;
  std::optional<std::string> name;
  std::optional<Expiration> expires;
  std::optional<std::string> description;
};

// Where a leaked token was seen, as its reporter said (POST /v1/leaks).
struct LeakSource {
  std::string source;
  std::string url;
};
inline constexpr size_t kMaxLeakSourceLength = 200;
inline constexpr size_t kMaxLeakUrlLength = 2000;

struct RevokeKey {
  KeyId key_id;
  std::string reason;
  std::optional<LeakSource> leak;  // set for a leak report (reason "leaked")
};

// Revokes, in one decision, every live key (suspended ones included) created by
// `created_by` and/or in `group` (at least one of the two): offboarding. Admins only;
// one KeyRevoked per key, so the audit trail names each. No matching key: no event.
struct RevokeKeys {
  std::optional<std::string> created_by;  // a principal id, as KeyCreated.created_by
  std::optional<std::string> group;
  std::string reason;
};

// Suspends a live key: it stops verifying (reason "suspended") until ResumeKey; it
// keeps its name, group and expiry. Authorized as revoking the key.
struct SuspendKey {
  KeyId key_id;
  std::string reason;
};

// Resumes a suspended key. Authorized as revoking the key.
struct ResumeKey {
  KeyId key_id;
};

struct ExpireKey {
  KeyId key_id;
};

// The scheduler's, under the org's policy: revokes a key (reason "unused") that was not
// used for revoke_unused_after since its creation or last use (kNotDue before that).
struct RevokeUnusedKey {
  KeyId key_id;
};

// The scheduler's, under the org's policy: notes once per key and expiry that the key
// expires within the expiring_soon window (KeyExpiringSoon; kNotDue before the window).
struct NoteExpiringSoon {
  KeyId key_id;
};

struct ChangeKeyGroup {
  KeyId key_id;
  std::string group;
};

inline constexpr Micros kInvitationLifetime = kMicrosPerDay;
inline constexpr size_t kMaxSessionsPerMember = 16;

// Invites a member (which must exist) to set its password. The secret half of the
// invitation's token is hashed onto the credentials stream before this is issued; the
// event carries only `invitation_id`. Valid until `expires_at`, once.
struct InviteMember {
  std::string member_id;
  std::string invitation_id;
  Micros expires_at = 0;
};

// Uses up invitation `invitation_id`: its member's password becomes credential
// `credential_id` (already on the credentials stream). Issued by the invitation's
// holder, who proved it with the token: not authorized as a principal.
struct AcceptInvitation {
  std::string invitation_id;
  std::string credential_id;
};

// A member who proved its password starts session `session_id` (its secret's hash is
// already on the credentials stream), valid until `expires_at`. Not authorized as a
// principal: the password was the proof. At most kMaxSessionsPerMember live sessions:
// the oldest ends (MemberSignedOut, reason "replaced") when one more starts.
struct StartSession {
  std::string member_id;
  std::string session_id;
  Micros expires_at = 0;
  // The password credential that was checked: refused if the member's password changed
  // since. Empty when the org's identity provider was the proof (sso_issuer).
  std::string password_credential;
  // Set when the member signed in through the org's provider: it must still be the org's.
  std::string sso_issuer;
};

// Ends a member's session before its expiry (sign-out). Not authorized as a principal:
// the session itself is the proof.
struct EndSession {
  std::string member_id;
  std::string session_id;
  std::string reason;
};

// The org's single sign-on for the console (OpenID Connect); an empty issuer: off.
struct SsoConfig {
  std::string issuer;
  std::string client_id;
  std::string client_secret_id;  // its record on the credentials stream
  std::string claim = "email";   // email (verified), preferred_username or sub
  std::string jit_group;         // empty: unknown members are refused
  bool password_sign_in = true;
  bool enabled() const { return !issuer.empty(); }
  friend bool operator==(const SsoConfig&, const SsoConfig&) = default;
};

// Replaces the org's single sign-on (admins only). The jit_group must exist and not hold
// organization-admin.
struct SetSso {
  SsoConfig config;
};

// Replaces the org's key policy (KeyPolicy): admins only. Applies to keys created,
// renewed or updated afterwards.
struct SetKeyPolicy {
  Micros max_lifetime = 0;  // 0 = no limit; at most kMaxPolicyLifetime
  bool require_expiry = false;
  Micros revoke_unused_after = 0;  // 0 = off; at least a day, at most kMaxPolicyLifetime
  Micros expiring_soon = 0;        // 0 = off; at most kMaxPolicyLifetime
};
inline constexpr Micros kMaxPolicyLifetime = 100LL * 366 * kMicrosPerDay;

// Notes when keys were last used (the engine's usage flush). Keys the org does not
// have are left out; nothing to note, no event. Issued by the system only.
struct RecordKeyUse {
  std::vector<std::pair<KeyId, Micros>> uses;  // key, last use (to the minute)
};

using Command =
    std::variant<CreateOrg, CreateGroup, CreateKey, RotateKey, RevokeKey, ExpireKey, ChangeKeyGroup,
                 ChangeGroupRules, DeleteGroup, SetMemberGroups, RemoveMember, InviteMember,
                 AcceptInvitation, StartSession, EndSession, RecordKeyUse, SuspendKey, ResumeKey,
                 UpdateKey, SetKeyPolicy, RevokeKeys, RevokeUnusedKey, NoteExpiringSoon,
                 ProvisionMember, DeprovisionMember, ProvisionGroup, DeprovisionGroup, SetSso>;

// The permissions a key may carry, each granted only by an organization-admin:
//   scim          the key may call the SCIM endpoints (action scim)
//   on-behalf-of  the key may act for a member (X-Keytrail-On-Behalf-Of): who it names
//                 becomes created_by and the audit trail's on_behalf_of
inline const std::vector<std::string>& KnownPermissions() {
  static const std::vector<std::string> known = {"scim", "on-behalf-of"};
  return known;
}

}  // namespace keytrail::domain
