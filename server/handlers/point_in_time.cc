#include "server/handlers/point_in_time.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "projections/audit_projection.h"
#include "server/problem.h"
#include "server/wire_format.h"

namespace keytrail::server {
namespace {

using nlohmann::json;
using projections::AuditProjection;

// The validated rules of a group record's details ("rules": [{role, resources}]).
Result<std::vector<domain::Rule>> RulesOf(const json& record) {
  std::vector<domain::RuleSpec> specs;
  const json& details = record["details"];
  if (details.is_object() && details.contains("rules") && details["rules"].is_array()) {
    for (const json& rule : details["rules"]) {
      domain::RuleSpec spec;
      spec.role = rule.value("role", "");
      spec.resources = rule.value("resources", std::vector<std::string>{});
      specs.push_back(std::move(spec));
    }
  }
  auto rules = domain::ValidateRules(specs);
  if (auto* rejected = std::get_if<domain::Rejection>(&rules)) {
    return Status::Corruption(fmt::format("audit record at offset {}: {}",
                                          record.value("offset", int64_t{-1}), rejected->message));
  }
  return std::get<std::vector<domain::Rule>>(std::move(rules));
}

}  // namespace

std::variant<Micros, HttpResponse> ParseAsOf(std::string_view text, Micros now) {
  const std::optional<Micros> t = ParseRfc3339Time(text);
  if (!t) return Problem(400, "invalid_request", "as_of must be an RFC 3339 time");
  if (*t > now) return Problem(400, "invalid_request", "as_of must not be in the future");
  return *t;
}

Result<std::optional<projections::KeyRecord>> KeyAsOf(projections::ViewStore& views,
                                                      const std::string& org,
                                                      const std::string& key_id, Micros t) {
  projections::KeyRecord key;
  bool exists = false;
  Status s = AuditProjection::ForEach(
      views, org, {.key = key_id, .to = t + 1}, [&](std::string_view stored) {
        const json r = json::parse(stored, nullptr, false);
        if (!r.is_object()) return true;
        const std::string action = r.value("action", "");
        const json& d = r["details"];
        const Micros at = r.value("occurred_at_us", Micros{0});
        if (action == "api_key.created") {
          exists = true;
          key.org = org;
          key.key_id = ParseKeyId(key_id).value_or(KeyId{});
          key.name = d.value("name", "");
          key.group_id = d.value("group", "");
          key.created_by = d.value("created_by", "");
          key.created_at_us = at;
          key.expires_at_us = d.value("expires_at_us", Micros{0});
          key.hint = d.value("hint", "");
          key.permissions = d.value("permissions", std::vector<std::string>{});
        } else if (action == "api_key.rotated") {
          key.hint = d.value("hint", key.hint);
          key.last_rotated_at_us = at;
          key.previous_valid_until_us = d.value("previous_valid_until_us", Micros{0});
        } else if (action == "api_key.group_updated") {
          key.group_id = d.value("group", key.group_id);
        } else if (action == "api_key.revoked") {
          key.status = projections::KeyStatus::kRevoked;
          key.revoked_reason = d.value("reason", "");
        } else if (action == "api_key.expired" && key.status == projections::KeyStatus::kActive) {
          key.status = projections::KeyStatus::kExpired;
        }
        return true;
      });
  KT_RETURN_IF_ERROR(s);
  if (!exists) return std::optional<projections::KeyRecord>();
  return std::optional<projections::KeyRecord>(std::move(key));
}

Result<domain::GroupDirectory> DirectoryAsOf(projections::ViewStore& views, const std::string& org,
                                             Micros t) {
  // The org's group and member records up to t, each action from its index, then in log
  // order (an org's events are all in one partition, so the offset orders them).
  std::vector<std::pair<int64_t, json>> changes;
  for (const char* action :
       {"group.created", "group.rules_updated", "group.deleted", "member.groups_updated"}) {
    KT_RETURN_IF_ERROR(AuditProjection::ForEach(
        views, org, {.action = action, .to = t + 1}, [&](std::string_view stored) {
          json r = json::parse(stored, nullptr, false);
          if (r.is_object()) changes.emplace_back(r.value("offset", int64_t{0}), std::move(r));
          return true;
        }));
  }
  std::sort(changes.begin(), changes.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });

  domain::GroupDirectory directory;
  for (const auto& [offset, r] : changes) {
    const std::string action = r.value("action", "");
    const std::string id = r["target"].value("id", "");
    const json& d = r["details"];
    if (action == "member.groups_updated") {
      std::vector<std::string> groups = d.value("groups", std::vector<std::string>{});
      std::sort(groups.begin(), groups.end());
      groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
      directory.members[id].groups = std::move(groups);
      continue;
    }
    domain::GroupState& group = directory.groups[id];
    if (action == "group.deleted") {
      group.deleted = true;
      group.rules.clear();
      group.grants = domain::Grants::Of(group.rules);
      continue;
    }
    auto rules = RulesOf(r);
    if (!rules.ok()) return rules.status();
    group.rules = std::move(*rules);
    group.grants = domain::Grants::Of(group.rules);
    group.description = d.value("description", "");
    if (action == "group.created") {
      group.id = id;
      group.name = d.value("name", id);
      group.builtin = d.value("builtin", false);
      group.deleted = false;
    }
  }
  return directory;
}

}  // namespace keytrail::server
