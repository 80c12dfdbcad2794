// Point in time: an org as its audit trail says it was at a time T (inclusive), for
// GET .../keys/{id}?as_of=T and POST /v1/authorize with "as_of". Both are folded from the
// audit records up to T through the audit indexes, so the cost is the records folded (the
// key's own, and the org's group and member changes), not the size of the log.
// Server-internal. Thread-safe (reads the view store only).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "base/clock.h"
#include "base/status.h"
#include "engine/domain/org_state.h"
#include "projections/key_view.h"
#include "projections/view_store.h"
#include "server/http.h"

namespace keytrail::server {

// An "as_of" value: an RFC 3339 time not after `now`, or the 400 invalid_request to
// send (the trail does not know the future: a rule change or revocation may come).
std::variant<Micros, HttpResponse> ParseAsOf(std::string_view text, Micros now);

// The key `key_id` of `org` as it was at `t`: name, group, creator, expiry, hint,
// permissions, last rotation and status (revoked or expired by event; expiry by time is
// the caller's to apply, as for the live view). nullopt if it did not exist yet.
Result<std::optional<projections::KeyRecord>> KeyAsOf(projections::ViewStore& views,
                                                      const std::string& org,
                                                      const std::string& key_id, Micros t);

// The groups (with their rules) and members of `org` as they were at `t`, in the form
// domain::Authorize reads. Rules are rebuilt from the audit records with the domain's own
// validation; a record that does not validate is reported as corruption.
Result<domain::GroupDirectory> DirectoryAsOf(projections::ViewStore& views, const std::string& org,
                                             Micros t);

}  // namespace keytrail::server
