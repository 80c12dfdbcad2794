#include "server/auth.h"

#include <algorithm>

#include <fmt/format.h>

#include "server/problem.h"

namespace keytrail::server {
namespace {

constexpr std::string_view kAdminGroup = "admin";
constexpr std::string_view kScim = "scim";

bool IsPrivileged(std::string_view group, std::span<const std::string> permissions) {
  return group == kAdminGroup ||
         std::find(permissions.begin(), permissions.end(), kScim) != permissions.end();
}

HttpResponse Forbidden(std::string_view detail) { return Problem(403, "forbidden", detail); }

// Least privilege: `a` grants more than `b` (roles are declared most powerful first).
bool Outranks(Role a, Role b) { return static_cast<int>(a) < static_cast<int>(b); }

}  // namespace

Role RoleOfGroup(std::string_view group) {
  if (group == "admin") return Role::kAdmin;
  if (group == "apikey-manager") return Role::kKeyManager;
  if (group == "developer") return Role::kDeveloper;
  return Role::kReadOnly;
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kKeyManager:
      return "apikey-manager";
    case Role::kDeveloper:
      return "developer";
    case Role::kReadOnly:
      return "read-only";
  }
  return "read-only";
}

std::optional<std::string_view> BearerToken(const HttpRequest& request) {
  auto header = request.Header("authorization");
  if (!header) return std::nullopt;
  std::string_view value = *header;
  constexpr std::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() || value[kScheme.size()] != ' ') return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) return std::nullopt;
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  return value;
}

std::variant<Caller, AuthFailure> Authenticate(const Engine& engine, const HttpRequest& request) {
  auto token = BearerToken(request);
  if (!token) {
    return AuthFailure{std::nullopt,
                       Problem(401, "unauthenticated",
                               "send the caller's API key as 'Authorization: Bearer <key>'")};
  }
  const VerifyResult result = engine.Verify(*token);
  if (!result.valid) {
    return AuthFailure{result.reason, Problem(401, ReasonCode(result.reason),
                                              fmt::format("the bearer key is not valid ({})",
                                                          ReasonCode(result.reason)))};
  }
  Caller caller;
  caller.key_id = FormatKeyId(result.key_id);
  caller.org = std::string(result.org);
  caller.group = std::string(result.group);
  caller.role = RoleOfGroup(caller.group);
  return caller;
}

std::optional<HttpResponse> Authorize(const Caller& caller, KeyAction action, const KeyTarget& key,
                                      std::string_view new_group) {
  if (action == KeyAction::kRead) return std::nullopt;
  if (caller.role == Role::kAdmin) return std::nullopt;
  if (caller.role == Role::kReadOnly) {
    return Forbidden(fmt::format("keys of group '{}' may only read", caller.group));
  }
  const bool privileged = IsPrivileged(key.group, key.permissions);
  switch (action) {
    case KeyAction::kRead:
      return std::nullopt;
    case KeyAction::kCreate:
      if (privileged) {
        return Forbidden("only an admin may create a key in group 'admin' or with 'scim'");
      }
      if (Outranks(RoleOfGroup(key.group), caller.role)) {
        return Forbidden(fmt::format("a {} may not create a key in group '{}', which grants more",
                                     RoleName(caller.role), key.group));
      }
      return std::nullopt;
    case KeyAction::kRotate:
    case KeyAction::kRevoke:
      if (privileged) {
        return Forbidden(
            "only an admin may rotate or revoke a key in group 'admin' or with 'scim'");
      }
      if (caller.role == Role::kDeveloper && key.created_by != caller.key_id) {
        return Forbidden("a developer may rotate or revoke only the keys it created");
      }
      return std::nullopt;
    case KeyAction::kMove:
      if (caller.role != Role::kKeyManager) {
        return Forbidden("only an admin or an apikey-manager may move a key to another group");
      }
      if (privileged || new_group == kAdminGroup) {
        return Forbidden(
            "only an admin may move a key into, or a key of, group 'admin' or with "
            "'scim'");
      }
      if (Outranks(RoleOfGroup(new_group), caller.role) ||
          Outranks(RoleOfGroup(key.group), caller.role)) {
        return Forbidden(
            fmt::format("a {} may not move keys into or out of a group that grants more",
                        RoleName(caller.role)));
      }
      return std::nullopt;
  }
  return Forbidden("not allowed");
}

}  // namespace keytrail::server
