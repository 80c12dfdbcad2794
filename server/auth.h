// Authentication and authorization for the HTTP API.
//
// INTERIM: groups carry no rules yet (that is the groups/rules issue), so a caller's
// role is read from the *id* of its key's group: "admin", "apikey-manager",
// "developer"; any other group is read-only. When rules land, Authorize is the one
// function to replace with authorize(principal, action, resource).
//
// The policy (server/README.md has the table):
//   read (list, get)            every role
//   create key                  admin, apikey-manager, developer
//   rotate / revoke key         admin; apikey-manager any key; developer only keys it
//                               created (created_by == the caller's key id)
//   move key to another group   admin, apikey-manager
//   create org                  admin of the bootstrap org
// Least privilege: only admin may create a key in group "admin", grant "scim", move a
// key into "admin", or rotate, revoke or move a key that is in "admin" or holds "scim"
// (rotating such a key would hand its new secret to a less privileged caller).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "engine/engine.h"
#include "server/http.h"

namespace keytrail::server {

// What a caller may do, from its key's group (see RoleOfGroup).
enum class Role { kAdmin, kKeyManager, kDeveloper, kReadOnly };

// The role a group id grants (see the file comment).
Role RoleOfGroup(std::string_view group);
std::string_view RoleName(Role role);

// An authenticated caller: the key that signed the request.
struct Caller {
  std::string key_id;  // text form
  std::string org;
  std::string group;
  Role role = Role::kReadOnly;
};

// The presented bearer token of `request`, or nullopt if there is no
// "Authorization: Bearer <token>" header.
std::optional<std::string_view> BearerToken(const HttpRequest& request);

// Why authentication failed, with the 401 problem to send.
struct AuthFailure {
  std::optional<VerifyReason> reason;  // nullopt: no bearer token was presented
  HttpResponse response;
};

// Verifies the bearer token. A missing header -> 401 code "unauthenticated"; a token
// that does not verify -> 401 with the verify reason as code ("malformed", "unknown",
// "revoked", "expired", "no-group").
std::variant<Caller, AuthFailure> Authenticate(const Engine& engine, const HttpRequest& request);

// The target of a key action, for Authorize.
struct KeyTarget {
  std::string_view group;
  std::span<const std::string> permissions;
  std::string_view created_by;
};

// What a caller asks to do with a key.
enum class KeyAction { kRead, kCreate, kRotate, kRevoke, kMove };

// Whether `caller` may do `action` on `key`. For kCreate, `key` describes the key to be
// created; for kMove, `new_group` is where it would go. A refusal is a 403 problem with
// code "forbidden".
std::optional<HttpResponse> Authorize(const Caller& caller, KeyAction action, const KeyTarget& key,
                                      std::string_view new_group = {});

}  // namespace keytrail::server
