// Authentication and authorization for the HTTP API.
//
// A caller is the key that signed the request (Authorization: Bearer), optionally acting
// on behalf of a member (X-Keytrail-On-Behalf-Of: <member>; its rights are then the
// intersection of the key's and the member's). What a caller may do is the domain's
// answer (engine/domain/authorize.h, docs/roles.md), never decided here:
//   - commands (create, rotate, revoke, move keys; groups; members) are authorized by the
//     org's writer with AuthorizeCommand against the state Decide sees
//     (CommandContext::authorize, on by default), so a concurrent move or rule change cannot slip
//     in between; a refusal is the rejection `forbidden` (403);
//   - reads are checked here with Engine::Authorize (the writer's published directory).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "engine/domain/authorize.h"
#include "engine/engine.h"
#include "server/http.h"

namespace keytrail::server {

// An authenticated caller: the key that signed the request, or a member signed in with
// a console session (server/member_sessions.h).
struct Caller {
  std::string key_id;      // text form; empty for a member
  std::string member;      // the signed-in member; empty for a key
  std::string session_id;  // the member's session
  std::string csrf_token;  // the session's CSRF token
  std::string org;
  std::string group;
  bool scim = false;         // the key holds the "scim" permission
  std::string on_behalf_of;  // X-Keytrail-On-Behalf-Of; empty = none
  // The key's previous secret signed the request (inside its rotation grace): it may
  // read, but not issue commands (ApiContext::CommandId refuses them).
  bool previous_secret = false;

  bool is_member() const { return !member.empty(); }
  // Who acts: the key's id or the member's (created_by, the audit trail's actor).
  const std::string& actor_id() const { return is_member() ? member : key_id; }
  fb::ActorKind actor_kind() const {
    return is_member() ? fb::ActorKind::Member : fb::ActorKind::Key;
  }
};

// The caller as a domain principal (views into `caller`).
domain::Principal PrincipalOf(const Caller& caller);

// Why authentication failed, with the problem to send.
struct AuthFailure {
  std::string_view reason;  // for metrics: "missing", a verify reason, "on-behalf-of"
  HttpResponse response;
};

// Verifies the bearer token. A missing header -> 401 code "unauthenticated"; a token
// that does not verify -> 401 with the verify reason as code ("malformed", "unknown",
// "revoked", "expired", "no-group"). X-Keytrail-On-Behalf-Of from a key without the
// "on-behalf-of" permission -> 403 forbidden (any key could otherwise name any member
// as the author of its keys and audit records); one that is not 1-128 visible ASCII
// characters -> 400 invalid_request.
std::variant<Caller, AuthFailure> Authenticate(const Engine& engine, const HttpRequest& request);

// nullopt if `caller` may do `action` on `resource` in its org now; otherwise a 403
// problem "forbidden" whose detail says why.
std::optional<HttpResponse> Authorize(const Engine& engine, const Caller& caller,
                                      domain::Action action, const domain::Resource& resource);

// Whether the caller holds organization-admin in its org (on behalf of a member: both).
bool IsOrgAdmin(const Engine& engine, const Caller& caller);

}  // namespace keytrail::server
