#include "events/codec.h"

#include <fmt/format.h>

namespace keytrail::events {
namespace {

// size prefix + root offset + file identifier
constexpr size_t kMinEnvelopeSize = 3 * sizeof(flatbuffers::uoffset_t);

bool IsKnownPayload(fb::Payload type) {
  return type != fb::Payload::NONE &&
         static_cast<uint8_t>(type) <= static_cast<uint8_t>(fb::Payload::MAX);
}

}  // namespace

std::string Encode(const fb::EnvelopeT& event) {
  flatbuffers::FlatBufferBuilder builder(256);
  builder.FinishSizePrefixed(fb::Envelope::Pack(builder, &event), fb::EnvelopeIdentifier());
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

Result<const fb::Envelope*> Decode(std::string_view bytes) {
  if (bytes.size() < kMinEnvelopeSize) {
    return Status::Corruption(fmt::format("event of {} bytes is truncated", bytes.size()));
  }
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t declared = flatbuffers::GetPrefixedSize(data);
  if (declared != bytes.size() - sizeof(flatbuffers::uoffset_t)) {
    return Status::Corruption(fmt::format("event declares {} bytes but has {}", declared,
                                          bytes.size() - sizeof(flatbuffers::uoffset_t)));
  }
  if (!fb::SizePrefixedEnvelopeBufferHasIdentifier(data)) {
    return Status::Corruption("not a keytrail event (file identifier is not KTEV)");
  }
  flatbuffers::Verifier verifier(data, bytes.size());
  if (!fb::VerifySizePrefixedEnvelopeBuffer(verifier)) {
    return Status::Corruption(fmt::format("event of {} bytes fails verification", bytes.size()));
  }
  const fb::Envelope* envelope = fb::GetSizePrefixedEnvelope(data);
  if (envelope->schema_version() == 0 || envelope->schema_version() > kSchemaVersion) {
    return Status::Corruption(
        fmt::format("unsupported schema version {}", envelope->schema_version()));
  }
  if (!IsKnownPayload(envelope->payload_type())) {
    return Status::Corruption(
        fmt::format("unknown payload type {}", static_cast<int>(envelope->payload_type())));
  }
  if (envelope->id() == nullptr || envelope->org() == nullptr ||
      envelope->aggregate_id() == nullptr || envelope->payload() == nullptr) {
    return Status::Corruption("event lacks a required field (id, org, aggregate_id, payload)");
  }
  return envelope;
}

Result<fb::EnvelopeT> DecodeToObject(std::string_view bytes) {
  auto envelope = Decode(bytes);
  if (!envelope.ok()) return envelope.status();
  fb::EnvelopeT object;
  (*envelope)->UnPackTo(&object);
  return object;
}

std::string CloudEventDataSchema(uint16_t schema_version) {
  return fmt::format("urn:keytrail:events:schema:{}", schema_version);
}

std::string_view CloudEventType(fb::Payload type) {
  switch (type) {
    case fb::Payload::OrgCreated:
      return "io.keytrail.org.created.v1";
    case fb::Payload::GroupCreated:
      return "io.keytrail.group.created.v1";
    case fb::Payload::GroupRulesChanged:
      return "io.keytrail.group.rules_changed.v1";
    case fb::Payload::GroupDeleted:
      return "io.keytrail.group.deleted.v1";
    case fb::Payload::MemberGroupsChanged:
      return "io.keytrail.member.groups_changed.v1";
    case fb::Payload::KeyCreated:
      return "io.keytrail.key.created.v1";
    case fb::Payload::KeyGroupChanged:
      return "io.keytrail.key.group_changed.v1";
    case fb::Payload::KeyRotated:
      return "io.keytrail.key.rotated.v1";
    case fb::Payload::KeyRevoked:
      return "io.keytrail.key.revoked.v1";
    case fb::Payload::KeyExpired:
      return "io.keytrail.key.expired.v1";
    case fb::Payload::WriterClaimed:
      return "io.keytrail.writer.claimed.v1";
    case fb::Payload::MemberInvited:
      return "io.keytrail.member.invited.v1";
    case fb::Payload::MemberPasswordSet:
      return "io.keytrail.member.password_set.v1";
    case fb::Payload::MemberSignedIn:
      return "io.keytrail.member.signed_in.v1";
    case fb::Payload::MemberSignedOut:
      return "io.keytrail.member.signed_out.v1";
    case fb::Payload::KeysUsed:
      return "io.keytrail.key.used.v1";
    case fb::Payload::KeySuspended:
      return "io.keytrail.key.suspended.v1";
    case fb::Payload::KeyResumed:
      return "io.keytrail.key.resumed.v1";
    case fb::Payload::KeyUpdated:
      return "io.keytrail.key.updated.v1";
    case fb::Payload::OrgPolicyChanged:
      return "io.keytrail.org.policy_changed.v1";
    case fb::Payload::KeyExpiringSoon:
      return "io.keytrail.key.expiring_soon.v1";
    case fb::Payload::MemberProfileChanged:
      return "io.keytrail.member.profile_changed.v1";
    case fb::Payload::OrgSsoChanged:
      return "io.keytrail.org.sso_changed.v1";
    case fb::Payload::NONE:
      break;
  }
  return "io.keytrail.unknown.v1";
}

std::string_view PayloadName(fb::Payload type) {
  if (!IsKnownPayload(type)) return "unknown";
  return fb::EnumNamePayload(type);
}

}  // namespace keytrail::events
