#include "server/scim/resources.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "server/wire_format.h"

namespace keytrail::server::scim {

using nlohmann::json;

json Meta(std::string_view type, Micros created, Micros modified, const std::string& version,
          const std::string& location) {
  return json{{"resourceType", type},
              {"created", FormatRfc3339(created)},
              {"lastModified", FormatRfc3339(modified)},
              {"version", version},
              {"location", location}};
}

// The profile's emails as SCIM writes them: the primary first.
json EmailsJson(const domain::MemberProfile& profile) {
  json emails = json::array();
  for (size_t i = 0; i < profile.emails.size(); ++i) {
    emails.push_back({{"value", profile.emails[i]}, {"type", "work"}, {"primary", i == 0}});
  }
  return emails;
}

std::string UserVersion(const domain::MemberState& member) {
  return fmt::format("W/\"{}\"", member.version);
}

json UserJson(const std::string& base, const domain::GroupDirectory& directory, std::string_view id,
              const domain::MemberState& member) {
  const domain::MemberProfile& p = member.profile;
  json user = {{"schemas", {kUserSchema}},
               {"id", id},
               {"userName", id},
               {"active", p.active},
               {"meta", Meta("User", member.created_at, member.updated_at, UserVersion(member),
                             fmt::format("{}/Users/{}", base, id))}};
  if (!p.external_id.empty()) user["externalId"] = p.external_id;
  if (!p.display_name.empty()) user["displayName"] = p.display_name;
  if (!p.given_name.empty() || !p.family_name.empty()) {
    user["name"] = {{"givenName", p.given_name},
                    {"familyName", p.family_name},
                    {"formatted", fmt::format("{} {}", p.given_name, p.family_name)}};
  }
  if (!p.emails.empty()) user["emails"] = EmailsJson(p);
  json groups = json::array();
  for (const std::string& g : member.groups) {
    const domain::GroupState* group = directory.FindGroup(g);
    groups.push_back({{"value", g},
                      {"display", group ? group->name : g},
                      {"$ref", fmt::format("{}/Groups/{}", base, g)}});
  }
  user["groups"] = std::move(groups);
  return user;
}

// What a filter reads of a user.
AttributeValues UserAttribute(std::string_view id, const domain::MemberState& member,
                              std::string_view path) {
  const domain::MemberProfile& p = member.profile;
  auto one = [](std::string_view v, bool exact = false) {
    AttributeValues out{{}, exact};
    if (!v.empty()) out.values.emplace_back(v);
    return out;
  };
  if (path == "id" || path == "username") return one(id);
  if (path == "externalid") return one(p.external_id, true);
  if (path == "displayname") return one(p.display_name);
  if (path == "name.givenname") return one(p.given_name);
  if (path == "name.familyname") return one(p.family_name);
  if (path == "active") return one(p.active ? "true" : "false");
  if (path == "emails" || path == "emails.value") return {p.emails, false};
  if (path == "groups" || path == "groups.value") return {member.groups, true};
  if (path == "meta.lastmodified") return one(FormatRfc3339(member.updated_at));
  if (path == "meta.created") return one(FormatRfc3339(member.created_at));
  return {};
}

// A JSON boolean, or the strings "true"/"false" in any case (Entra ID sends "False").
std::optional<bool> Boolean(const json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_string()) {
    const std::string text = Lower(value.get<std::string>());
    if (text == "true") return true;
    if (text == "false") return false;
  }
  return std::nullopt;
}

// Applies one attribute of a User (`name`, lower-cased path) to `profile`; an error
// message if the value does not fit. Unknown attributes are ignored (RFC 7644 3.3:
// the service provider keeps what it supports).
std::optional<std::string> SetUserAttribute(domain::MemberProfile& profile, std::string_view path,
                                            const json& value, std::string_view id) {
  auto text = [&](std::string* out) -> std::optional<std::string> {
    if (value.is_null()) {
      out->clear();
      return std::nullopt;
    }
    if (!value.is_string()) return fmt::format("'{}' must be a string", path);
    *out = value.get<std::string>();
    return std::nullopt;
  };
  if (path == "username") {
    if (!value.is_string() || value.get<std::string>() != id) {
      return std::string("userName is the member id and cannot change");
    }
    return std::nullopt;
  }
  if (path == "externalid") return text(&profile.external_id);
  if (path == "displayname") return text(&profile.display_name);
  if (path == "name.givenname") return text(&profile.given_name);
  if (path == "name.familyname") return text(&profile.family_name);
  if (path == "active") {
    auto active = Boolean(value);
    if (!active) return std::string("'active' must be true or false");
    profile.active = *active;
    return std::nullopt;
  }
  if (path == "name") {
    if (!value.is_object()) return std::string("'name' must be an object");
    for (const auto& [key, sub] : value.items()) {
      if (auto error = SetUserAttribute(profile, "name." + Lower(key), sub, id)) return error;
    }
    return std::nullopt;
  }
  if (path == "emails") {
    if (!value.is_array()) return std::string("'emails' must be an array of {value, primary?}");
    std::vector<std::string> primary, others;
    for (const json& email : value) {
      if (!email.is_object() || !email.contains("value") || !email["value"].is_string()) {
        return std::string("each email is {\"value\": string, \"primary\"?: bool}");
      }
      const bool is_primary = email.contains("primary") && Boolean(email["primary"]) == true;
      (is_primary ? primary : others).push_back(email["value"].get<std::string>());
    }
    profile.emails = std::move(primary);
    profile.emails.insert(profile.emails.end(), others.begin(), others.end());
    return std::nullopt;
  }
  // `emails[type eq "work"].value` (Entra ID): the primary address.
  if (path.starts_with("emails[") && path.ends_with("].value")) {
    if (!value.is_string()) return std::string("an email is a string");
    if (profile.emails.empty()) {
      profile.emails.push_back(value.get<std::string>());
    } else {
      profile.emails[0] = value.get<std::string>();
    }
    return std::nullopt;
  }
  return std::nullopt;
}

// The attribute paths a PATCH may name (lower-cased): what SetUserAttribute keeps, and
// `emails[...]` value paths.
bool KnownUserPath(std::string_view path) {
  for (std::string_view known : {"username", "externalid", "displayname", "name", "name.givenname",
                                 "name.familyname", "active", "emails"}) {
    if (path == known) return true;
  }
  return path.starts_with("emails[") && (path.ends_with("]") || path.ends_with("].value"));
}

std::variant<domain::MemberProfile, Fault> ProfileFromBody(const json& body, std::string_view id) {
  domain::MemberProfile profile;
  for (const auto& [key, value] : body.items()) {
    const std::string path = Lower(key);
    if (path == "schemas" || path == "id" || path == "meta" || path == "groups" ||
        path == "password") {
      continue;  // read-only here, or not ours to keep (passwords stay with the IdP)
    }
    if (auto error = SetUserAttribute(profile, path, value, id)) {
      return Fault{path == "username" ? "mutability" : "invalidValue", *error};
    }
  }
  return profile;
}

std::vector<std::string> MembersOf(const domain::GroupDirectory& directory, std::string_view g) {
  std::vector<std::string> out;
  for (const auto& [id, member] : directory.members) {
    if (std::binary_search(member.groups.begin(), member.groups.end(), g)) out.push_back(id);
  }
  return out;
}

// Membership changes are members' events: the version covers the group and its members.
std::string GroupVersion(const domain::GroupState& group, const std::vector<std::string>& members) {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a: the same on every node and build
  for (const std::string& m : members) {
    for (unsigned char c : m) h = (h ^ c) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;  // ends the id
  }
  return fmt::format("W/\"{}-{:x}\"", group.version, h);
}

json GroupJson(const std::string& base, const domain::GroupDirectory& directory,
               const domain::GroupState& group, bool with_members) {
  const std::vector<std::string> members = MembersOf(directory, group.id);
  json out = {
      {"schemas", {kGroupSchema}},
      {"id", group.id},
      {"displayName", group.name},
      {"meta", Meta("Group", group.created_at, group.updated_at, GroupVersion(group, members),
                    fmt::format("{}/Groups/{}", base, group.id))}};
  if (with_members) {
    json list = json::array();
    for (const std::string& m : members) {
      list.push_back({{"value", m}, {"display", m}, {"$ref", fmt::format("{}/Users/{}", base, m)}});
    }
    out["members"] = std::move(list);
  }
  return out;
}

// A group id from a displayName: lower-case letters, digits, '-' and '_' (others become
// '-'), at most 64 characters.
std::string GroupIdFor(std::string_view display_name) {
  std::string id;
  for (char c : display_name) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '_' || l == '-';
    if (ok) {
      id.push_back(l);
    } else if (!id.empty() && id.back() != '-') {
      id.push_back('-');
    }
    if (id.size() == 64) break;
  }
  while (!id.empty() && id.back() == '-') id.pop_back();
  return id;
}

// The member ids of a "members" value: [{value}].
std::variant<std::vector<std::string>, Fault> MemberIds(const json& members) {
  if (!members.is_array()) return Fault{"invalidValue", "'members' must be an array"};
  std::vector<std::string> ids;
  for (const json& m : members) {
    if (!m.is_object() || !m.contains("value") || !m["value"].is_string()) {
      return Fault{"invalidValue", "each member is {\"value\": user id}"};
    }
    ids.push_back(m["value"].get<std::string>());
  }
  return ids;
}

}  // namespace keytrail::server::scim
