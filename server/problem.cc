#include "server/problem.h"

#include <string>

#include <nlohmann/json.hpp>

#include "server/log.h"

namespace keytrail::server {

HttpResponse Problem(int status, std::string_view code, std::string_view detail) {
  nlohmann::json body = {{"type", "urn:keytrail:problem:" + std::string(code)},
                         {"title", std::string(ReasonPhrase(status))},
                         {"status", status},
                         {"code", std::string(code)},
                         {"detail", std::string(detail)}};
  HttpResponse response;
  response.status = status;
  response.content_type = "application/problem+json";
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (status == 401) response.SetHeader("WWW-Authenticate", "Bearer");
  return response;
}

int StatusForRejection(domain::RejectionCode code) {
  using C = domain::RejectionCode;
  switch (code) {
    case C::kOrgNotFound:
    case C::kGroupNotFound:
    case C::kKeyNotFound:
    case C::kMemberNotFound:
    case C::kSessionNotFound:
      return 404;
    case C::kInvitationInvalid:
      return 410;
    case C::kForbidden:
      return 403;
    case C::kStaleVersion:
      return 412;
    case C::kOrgExists:
    case C::kNameTaken:
    case C::kGroupExists:
    case C::kKeyExists:
    case C::kKeyRevoked:
    case C::kKeyExpired:
    case C::kAlreadyRevoked:
    case C::kQuotaExceeded:
    case C::kNotDue:
    case C::kNothingDue:
    case C::kMemberExists:
    case C::kMemberInactive:
    case C::kNotProvisioned:
    case C::kGroupInUse:
    case C::kGroupBuiltin:
    case C::kNoPassword:
    case C::kKeySuspended:
    case C::kKeyNotSuspended:
      return 409;
    case C::kInvalidName:
    case C::kInvalidGroupId:
    case C::kInvalidExpiration:
    case C::kInvalidPermission:
    case C::kInvalidGrace:
    case C::kInvalidReason:
    case C::kUnknownRole:
    case C::kRoleNotScopable:
    case C::kDuplicateRole:
    case C::kInvalidResource:
    case C::kInvalidDescription:
    case C::kInvalidMemberId:
    case C::kInvalidMemberGroups:
    case C::kIdempotencyKeyReused:
    case C::kPolicyViolation:
    case C::kInvalidFilter:
    case C::kInvalidProfile:
    case C::kInvalidSso:
      return 422;
  }
  return 422;
}

HttpResponse RejectionProblem(const domain::Rejection& rejection) {
  return Problem(StatusForRejection(rejection.code), domain::RejectionCodeName(rejection.code),
                 rejection.message);
}

HttpResponse StatusProblem(const Status& status) {
  if (status.code() == StatusCode::kUnavailable || status.code() == StatusCode::kTimeout) {
    Log(LogLevel::kWarn, "dependency unavailable", {{"error", status.ToString()}});
    HttpResponse response = Problem(503, "unavailable", status.ToString());
    response.SetHeader("Retry-After", "1");  // a move, a fenced write, Kafka down: retry
    return response;
  }
  Log(LogLevel::kError, "internal error", {{"error", status.ToString()}});
  return Problem(500, "internal", "internal error; see the server log");
}

}  // namespace keytrail::server
