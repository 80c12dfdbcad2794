#include "server/auth.h"

#include <fmt/format.h>

#include "server/problem.h"

namespace keytrail::server {
namespace {

bool VisibleAscii(std::string_view text, size_t max) {
  if (text.empty() || text.size() > max) return false;
  for (char c : text) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

domain::Principal PrincipalOf(const Caller& caller) {
  if (caller.is_member()) return domain::Principal::Member(caller.member);
  return domain::Principal::Key(caller.key_id, caller.group, caller.scim)
      .OnBehalfOf(caller.on_behalf_of);
}

std::variant<Caller, AuthFailure> Authenticate(const Engine& engine, const HttpRequest& request) {
  auto token = BearerToken(request);
  if (!token) {
    return AuthFailure{"missing",
                       Problem(401, "unauthenticated",
                               "send the caller's API key as 'Authorization: Bearer <key>'")};
  }
  const VerifyResult result = engine.Verify(*token);
  if (!result.valid) {
    return AuthFailure{
        ReasonCode(result.reason),
        Problem(401, ReasonCode(result.reason),
                fmt::format("the bearer key is not valid ({})", ReasonCode(result.reason)))};
  }
  Caller caller;
  caller.key_id = FormatKeyId(result.key_id);
  caller.org = std::string(result.org);
  caller.group = std::string(result.group);
  caller.scim = (result.permissions & kPermissionScim) != 0;
  caller.previous_secret = result.previous_secret;
  if (auto member = request.Header("x-keytrail-on-behalf-of")) {
    if ((result.permissions & kPermissionOnBehalfOf) == 0) {
      return AuthFailure{
          "on-behalf-of",
          Problem(403, "forbidden",
                  "X-Keytrail-On-Behalf-Of needs a key with the 'on-behalf-of' permission, "
                  "which an organization-admin grants when creating the key")};
    }
    if (!VisibleAscii(*member, domain::kMaxMemberIdLength)) {
      return AuthFailure{
          "on-behalf-of",
          Problem(400, "invalid_request",
                  "X-Keytrail-On-Behalf-Of must be a member id (1-128 visible ASCII characters)")};
    }
    caller.on_behalf_of = std::string(*member);
  }
  return caller;
}

std::optional<HttpResponse> Authorize(const Engine& engine, const Caller& caller,
                                      domain::Action action, const domain::Resource& resource) {
  const Authorization answer = engine.Authorize(caller.org, PrincipalOf(caller), action, resource);
  if (answer.decision.allowed) return std::nullopt;
  std::string detail =
      fmt::format("{} is not granted to the caller ({}{})", domain::ActionName(action),
                  domain::DenyReasonName(answer.decision.reason),
                  answer.decision.denied_on_behalf ? ", on behalf of a member" : "");
  return Problem(403, "forbidden", detail);
}

bool IsOrgAdmin(const Engine& engine, const Caller& caller) {
  return domain::IsAdmin(*engine.Groups(caller.org), PrincipalOf(caller));
}

}  // namespace keytrail::server
