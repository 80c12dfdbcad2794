// One log record as a JSON object, for `keytrail log dump`. CLI-internal.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "events/event_log.h"
#include "schemas/events_generated.h"

namespace keytrail::cli {

// The envelope's header fields and the payload's fields, with its position in the log:
//   {"partition", "offset", "event_id", "org", "aggregate_id", "aggregate_version",
//    "occurred_at" (RFC 3339 with microseconds, UTC), "occurred_at_us",
//    "actor": {"kind", "id"[, "on_behalf_of"]}, "command_id", "correlation_id",
//    "schema_version", "type" (e.g. "KeyCreated"), "ce_type"
//    (e.g. "io.keytrail.key.created.v1"), "payload": {...}}
// The payload shows every field but secret hashes (KeyCreated and KeyRotated carry a
// SHA-256 of the secret; it is left out). Times are shown both as RFC 3339 and as
// microseconds; 0 ("never" / "none") is shown as null and 0.
nlohmann::json EventJson(const events::LogRecord& record, const fb::Envelope& event);

// A record that does not decode: {"partition", "offset", "org" (the record's log key),
// "bytes", "error"}.
nlohmann::json BadRecordJson(const events::LogRecord& record, std::string_view error);

// RFC 3339 in UTC with exactly six fractional digits: "2026-01-01T00:00:00.000000Z".
std::string FormatMicros(int64_t t);

}  // namespace keytrail::cli
