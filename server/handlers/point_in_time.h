// Point in time: the "as_of" parameter of GET .../keys/{id}?as_of=T and POST
// /v1/authorize. The answers themselves come from Queries::KeyAsOf and
// Queries::DirectoryAsOf (engine/queries.h), which fold the org's events up to T.
// Server-internal.
#pragma once

#include <string_view>
#include <variant>

#include "base/clock.h"
#include "server/http.h"

namespace keytrail::server {

// An "as_of" value: an RFC 3339 time not after `now`, or the 400 invalid_request to
// send (the trail does not know the future: a rule change or revocation may come).
std::variant<Micros, HttpResponse> ParseAsOf(std::string_view text, Micros now);

}  // namespace keytrail::server
