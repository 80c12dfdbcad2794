// Who may issue which command: Authorize applied to commands, plus the least-privilege
// rules of key and group management. Meant to run where Decide runs (the org's writer),
// against the same OrgState, so the check and the decision see the same rules.
//
//   command                 needs                    and, unless the caller is an admin
//   CreateGroup             groups:manage            the new rules are within the caller's
//   ChangeGroupRules        groups:manage            old and new rules within the caller's
//   DeleteGroup             groups:manage            the group's rules within the caller's
//   SetMemberGroups         members:manage           old and new groups within the caller's
//   RemoveMember            members:manage           the member's groups within the caller's;
//                                                    revoke_keys: organization-admin
//   CreateKey               keys:create              group within the caller's; no group
//                                                    holding organization-admin; no scim
//   RotateKey / RevokeKey   keys:rotate / :revoke    the key's group within the caller's;
//   (Suspend/ResumeKey:     (developers: own keys)   not a scim key
//    as RevokeKey,
//    UpdateKey as RotateKey)
//   ChangeKeyGroup          keys:move                old and new group within the caller's;
//                                                    not into a group holding
//                                                    organization-admin; not a scim key
//   SetKeyPolicy, SetSso,   organization-admin
//   RevokeKeys (offboarding)
//   ProvisionMember,        a key holding scim       no member into a group holding
//   DeprovisionMember,      (not on behalf of        organization-admin (Decide: only
//   ProvisionGroup,         anyone)                  members and groups SCIM provisioned)
//   DeprovisionGroup
//   InviteMember            members:manage           the member's groups within the caller's
//                                                    (the link sets its password)
//   CreateOrg, ExpireKey,   not for principals: authorized outside the org (operator,
//   RevokeUnusedKey,        bootstrap), issued by the scheduler, or by keytrail itself
//   NoteExpiringSoon,       (the usage flush)
//   RecordKeyUse
//   AcceptInvitation,       not for principals: the invitation's token, the password or
//   StartSession,           the session is the proof (server/handlers/sessions.cc)
//   EndSession
// "Within" is GrantsWithin (authorize.h); an admin's grants contain every group's, so the
// extra rules never refuse an admin. Commands naming a key or group that does not exist
// are let through to Decide, which answers key_not_found / group_not_found.
//
// Rotate and revoke are held to least privilege too (the text lets API key
// managers act on any key): rotating hands the caller the key's new secret, which would
// make any apikey-manager an admin; revoking every admin key would lock the org's admins
// out.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "engine/domain/authorize.h"
#include "engine/domain/commands.h"
#include "engine/domain/decide.h"

namespace keytrail::domain {

// Stable codes of a refusal (appended, never renamed). All are 403-class.
enum class DenialCode : uint8_t {
  kNotGranted,        // no rule grants the action (or the key's group is gone)
  kNotOwner,          // granted on own keys only, and the key is someone else's
  kExceedsCaller,     // the group (or rules) would grant more than the caller has
  kAdminOnly,         // only an organization-admin may (organization-admin groups, scim)
  kNotForPrincipals,  // CreateOrg, ExpireKey: not issued by keys or members of the org
};

// "not_granted", "not_owner", "exceeds_caller", "admin_only", "not_for_principals".
std::string_view DenialCodeName(DenialCode code);

struct Denial {
  DenialCode code;
  std::string message;  // for humans; never contains key material
};

// nullopt if `principal` may issue `command` in the org of `state` (Decide may still
// reject it); otherwise why not.
std::optional<Denial> AuthorizeCommand(const OrgState& state, const Principal& principal,
                                       const Command& command);

// The principal acting in `context` at `now`: nullopt for the system and the scheduler,
// which are trusted and not authorized. A key actor that is unknown, revoked or expired
// yields a key principal without a group, which is denied everything. Views into
// `context` and `state`.
std::optional<Principal> PrincipalOf(const OrgState& state, const CommandContext& context,
                                     Micros now);

}  // namespace keytrail::domain
