#include "engine/domain/rejection.h"

namespace keytrail::domain {

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
    case RejectionCode::kUnknownRole:
      return "unknown_role";
    case RejectionCode::kRoleNotScopable:
      return "role_not_scopable";
    case RejectionCode::kDuplicateRole:
      return "duplicate_role";
    case RejectionCode::kInvalidResource:
      return "invalid_resource";
    case RejectionCode::kInvalidDescription:
      return "invalid_description";
    case RejectionCode::kGroupInUse:
      return "group_in_use";
    case RejectionCode::kGroupBuiltin:
      return "group_builtin";
    case RejectionCode::kInvalidMemberId:
      return "invalid_member_id";
    case RejectionCode::kMemberNotFound:
      return "member_not_found";
    case RejectionCode::kInvalidMemberGroups:
      return "invalid_member_groups";
    case RejectionCode::kForbidden:
      return "forbidden";
    case RejectionCode::kIdempotencyKeyReused:
      return "idempotency_key_reused";
    case RejectionCode::kInvitationInvalid:
      return "invitation_invalid";
    case RejectionCode::kNoPassword:
      return "no_password";
    case RejectionCode::kSessionNotFound:
      return "session_not_found";
    case RejectionCode::kKeySuspended:
      return "key_suspended";
    case RejectionCode::kKeyNotSuspended:
      return "key_not_suspended";
    case RejectionCode::kPolicyViolation:
      return "policy_violation";
    case RejectionCode::kNothingDue:
      return "nothing_due";
    case RejectionCode::kInvalidFilter:
      return "invalid_filter";
    case RejectionCode::kMemberExists:
      return "member_exists";
    case RejectionCode::kInvalidProfile:
      return "invalid_profile";
    case RejectionCode::kMemberInactive:
      return "member_inactive";
    case RejectionCode::kInvalidSso:
      return "invalid_sso";
    case RejectionCode::kNotProvisioned:
      return "not_provisioned";
  }
  return "unknown";
}

}  // namespace keytrail::domain
