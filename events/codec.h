// The event codec: the only place that turns Envelopes into bytes and back.
//
// Decode never trusts its input: it runs the FlatBuffers Verifier and rejects anything
// that is not a complete, known keytrail event, so a caller never reads out of bounds.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "schemas/events_generated.h"

namespace keytrail::events {

// The newest schema version this build writes and understands.
inline constexpr uint16_t kSchemaVersion = 1;

// Serializes `event` as a size-prefixed FlatBuffer: a 4-byte little-endian length, then
// the buffer, whose file identifier is "KTEV". The prefix makes truncation detectable.
std::string Encode(const fb::EnvelopeT& event);

// Verifies `bytes` and returns a view into them (valid while `bytes` lives).
// Errors (kCorruption): too short or a length that disagrees with the prefix, wrong
// identifier, fails the Verifier, a missing
// required field (id, org, aggregate_id, payload), a payload type this build does not
// know, or a schema_version newer than kSchemaVersion.
// REQUIRES: bytes.data() is 8-byte aligned (any heap-allocated std::string is).
Result<const fb::Envelope*> Decode(std::string_view bytes);

// Decode, then unpack into an owning object.
Result<fb::EnvelopeT> DecodeToObject(std::string_view bytes);

// The CloudEvents `ce_type` of a payload, e.g. "io.keytrail.key.created.v1".
// REQUIRES: a known, non-NONE payload type.
std::string_view CloudEventType(fb::Payload type);

// The CloudEvents `ce_dataschema` of an envelope of `schema_version`: the URN naming
// that version of schemas/events.fbs, e.g. "urn:keytrail:events:schema:1".
std::string CloudEventDataSchema(uint16_t schema_version);

// The payload's short name, e.g. "KeyCreated"; "unknown" for types this build lacks.
std::string_view PayloadName(fb::Payload type);

}  // namespace keytrail::events
