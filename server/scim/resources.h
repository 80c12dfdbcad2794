// The SCIM resources (RFC 7643) as keytrail keeps them: a User is a member (userName =
// id = the member id, the profile the identity provider sent), a Group is the group of
// the same id. JSON in and out, filters' attribute values, PATCH paths; no HTTP (the
// handlers, server/handlers/scim.cc, answer with what these return).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "engine/domain/org_state.h"
#include "server/scim/filter.h"

namespace keytrail::server::scim {

inline constexpr std::string_view kUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
inline constexpr std::string_view kGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";

// A client's mistake in a resource: its scimType (RFC 7644 3.12) and what is wrong.
struct Fault {
  std::string scim_type;
  std::string detail;
};

// meta (RFC 7643 3.1).
nlohmann::json Meta(std::string_view type, Micros created, Micros modified,
                    const std::string& version, const std::string& location);

// --- Users

// The profile's emails as SCIM writes them: the primary first, each of type "work".
nlohmann::json EmailsJson(const domain::MemberProfile& profile);
// The member's ETag / meta.version: its aggregate version.
std::string UserVersion(const domain::MemberState& member);
// The User for member `id` (groups named with their display names from `directory`);
// `base` is the SCIM base URL.
nlohmann::json UserJson(const std::string& base, const domain::GroupDirectory& directory,
                        std::string_view id, const domain::MemberState& member);
// What a filter reads of a user at `path` (lower-cased).
AttributeValues UserAttribute(std::string_view id, const domain::MemberState& member,
                              std::string_view path);
// A JSON boolean, or "true"/"false" in any case (as Entra ID sends them).
std::optional<bool> Boolean(const nlohmann::json& value);
// Sets the attribute at `path` (lower-cased) of `profile` to `value`; a message if the
// value does not fit. Attributes keytrail does not keep are ignored (RFC 7644 3.3).
std::optional<std::string> SetUserAttribute(domain::MemberProfile& profile, std::string_view path,
                                            const nlohmann::json& value, std::string_view id);
// The paths (lower-cased) a PATCH may name: what SetUserAttribute keeps, and `emails[...]`.
bool KnownUserPath(std::string_view path);
// The profile a POST or PUT body describes (an attribute it does not name is unset).
std::variant<domain::MemberProfile, Fault> ProfileFromBody(const nlohmann::json& body,
                                                           std::string_view id);

// --- Groups

// The ids of the members of group `g`, in id order.
std::vector<std::string> MembersOf(const domain::GroupDirectory& directory, std::string_view g);
// The group's ETag: its version and its members (membership changes are members' events).
std::string GroupVersion(const domain::GroupState& group, const std::vector<std::string>& members);
nlohmann::json GroupJson(const std::string& base, const domain::GroupDirectory& directory,
                         const domain::GroupState& group, bool with_members);
// A group id from a displayName: lower-case letters, digits, '-' and '_' (others become
// '-'), at most 64 characters; empty if nothing is left.
std::string GroupIdFor(std::string_view display_name);
// The member ids of a "members" value: [{value}].
std::variant<std::vector<std::string>, Fault> MemberIds(const nlohmann::json& members);

}  // namespace keytrail::server::scim
