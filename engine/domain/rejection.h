// Rejection: the domain's "no" to a command, with a stable code. A rejection is an
// answer, not an error; server/problem.cc maps each code to one HTTP status.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace keytrail::domain {

// Stable rejection codes (appended, never renamed: clients match on their names).
enum class RejectionCode : uint8_t {
  kOrgNotFound,
  kOrgExists,
  kInvalidName,
  kNameTaken,
  kGroupNotFound,
  kGroupExists,
  kInvalidGroupId,
  kInvalidExpiration,
  kInvalidPermission,
  kQuotaExceeded,
  kKeyNotFound,
  kKeyExists,
  kKeyRevoked,
  kKeyExpired,
  kAlreadyRevoked,
  kNotDue,
  kInvalidGrace,
  kInvalidReason,
  // Groups, rules and members.
  kUnknownRole,          // a rule names a role that is not in the catalogue
  kRoleNotScopable,      // an organization-* role was given resources
  kDuplicateRole,        // a group's rules name one role twice
  kInvalidResource,      // a resource id is malformed, or a rule lists too many
  kInvalidDescription,   // longer than kMaxDescriptionLength
  kGroupInUse,           // delete refused: the group still has live keys or members
  kGroupBuiltin,         // built-in groups cannot be changed or deleted
  kInvalidMemberId,      // not 1-128 visible ASCII characters
  kMemberNotFound,       // no member with that id (or it was removed)
  kInvalidMemberGroups,  // a member's groups are empty (use RemoveMember) or too many
  // Authorization (command_policy.h): the actor may not issue the command. The message
  // starts with the DenialCode name ("exceeds_caller: ...").
  kForbidden,
  // A command id (Idempotency-Key) already used for a different request.
  kIdempotencyKeyReused,
  // Member sign-in.
  kInvitationInvalid,  // no such invitation, or it was used or has expired
  kNoPassword,         // the member has set no password yet
  kSessionNotFound,    // no such live session
  kKeySuspended,       // suspend refused: the key is suspended already
  kKeyNotSuspended,    // resume refused: the key is not suspended
  kPolicyViolation,    // the expiry breaks the org's key policy (the message names the rule)
  kNothingDue,         // a scheduler's command found nothing to do (the policy or key changed)
  kInvalidFilter,      // a bulk revocation names neither a creator nor a group
  kMemberExists,       // provisioning refused: the member exists already
  kInvalidProfile,     // a profile field too long, too many emails
  kMemberInactive,     // sign-in refused: the member is deactivated
  kInvalidSso,         // a single sign-on set-up that cannot work (claim, group, client id)
  kNotProvisioned,     // SCIM refused: the member or group was not provisioned through SCIM
  kStaleVersion,       // the resource changed since the version the command names
};

// "org_not_found", "name_taken", "unknown_role", ...
std::string_view RejectionCodeName(RejectionCode code);

struct Rejection {
  RejectionCode code;
  std::string message;  // for humans; never contains key material
};

}  // namespace keytrail::domain
