// Problem responses (RFC 9457, application/problem+json): the one place where domain
// rejections and infrastructure failures become HTTP statuses.
//
//   {"type": "urn:keytrail:problem:<code>", "title": "<reason phrase>", "status": 404,
//    "code": "key_not_found", "detail": "no key ..."}
//
// `code` is stable; clients match on it. `detail` is for humans and never holds key
// material (domain messages and Status messages never do).
#pragma once

#include <string_view>

#include "base/status.h"
#include "engine/domain/decide.h"
#include "server/http.h"

namespace keytrail::server {

HttpResponse Problem(int status, std::string_view code, std::string_view detail);

// Domain rejections, by code:
//   *_not_found                                            -> 404
//   name_taken, already_revoked, group_exists, org_exists,
//   key_exists, key_revoked, key_expired, quota_exceeded,
//   not_due                                                -> 409
//   invalid_* (name, group id, expiration, permission, grace, reason) -> 422
// quota_exceeded is 409, not 429: the quota counts active keys, so waiting does not
// help; revoking a key does.
int StatusForRejection(domain::RejectionCode code);
HttpResponse RejectionProblem(const domain::Rejection& rejection);

// Infrastructure failures: kUnavailable and kTimeout -> 503 (code "unavailable"),
// everything else -> 500 (code "internal").
HttpResponse StatusProblem(const Status& status);

}  // namespace keytrail::server
