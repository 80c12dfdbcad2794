// Text forms the HTTP API uses for times, durations and key status.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "model/keys.h"

namespace keytrail::server {

// RFC 3339 in UTC: "2026-01-01T00:00:00Z", with ".ffffff" when the time has microseconds.
std::string FormatRfc3339(Micros t);
// Appends FormatRfc3339(t) to *out.
void AppendRfc3339(Micros t, std::string* out);

// An explicit RFC 3339 time (the forms domain::ParseExpiration accepts); nullopt if
// malformed.
std::optional<Micros> ParseRfc3339Time(std::string_view text);

// A duration as a sequence of <digits><unit>, unit h, m or s: "0s", "90s", "15m",
// "1h30m". nullopt if malformed, empty, or over 100000 hours.
std::optional<Micros> ParseDuration(std::string_view text);

// A page size: 1..max in decimal digits; nullopt otherwise.
std::optional<size_t> ParsePageSize(std::string_view text, size_t max);

// The status a client sees (model::StatusAt): "revoked", "expired" (by event, or now >=
// expires_at before the scheduler has written KeyExpired), or "active".
std::string_view DisplayStatus(const model::KeyRecord& key, Micros now);

}  // namespace keytrail::server
