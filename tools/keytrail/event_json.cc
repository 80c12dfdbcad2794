#include "tools/keytrail/event_json.h"

#include <cctype>
#include <string>

#include "events/codec.h"
#include "events/event_id.h"
#include "server/wire_format.h"

namespace keytrail::cli {
namespace {

using nlohmann::json;

std::string Str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

json Strings(const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* list) {
  json out = json::array();
  if (list) {
    for (const auto* s : *list) out.push_back(s->str());
  }
  return out;
}

json Rules(const flatbuffers::Vector<flatbuffers::Offset<fb::Rule>>* rules) {
  json out = json::array();
  if (rules == nullptr) return out;
  for (const fb::Rule* rule : *rules) {
    out.push_back(json{{"role", Str(rule->role())}, {"resources", Strings(rule->resources())}});
  }
  return out;
}

// A time field: "<name>" as RFC 3339 (null for 0) and "<name>_us" as the number.
void PutTime(json& out, const std::string& name, int64_t t) {
  out[name] = t == 0 ? json() : json(FormatMicros(t));
  out[name + "_us"] = t;
}

json Payload(const fb::Envelope& event) {
  json p = json::object();
  switch (event.payload_type()) {
    case fb::Payload::OrgCreated:
      p["name"] = Str(event.payload_as_OrgCreated()->name());
      break;
    case fb::Payload::GroupCreated: {
      const auto* e = event.payload_as_GroupCreated();
      p = {{"group_id", Str(e->group_id())},
           {"name", Str(e->name())},
           {"description", Str(e->description())},
           {"rules", Rules(e->rules())},
           {"builtin", e->builtin()}};
      break;
    }
    case fb::Payload::GroupRulesChanged: {
      const auto* e = event.payload_as_GroupRulesChanged();
      p = {{"group_id", Str(e->group_id())},
           {"rules", Rules(e->rules())},
           {"description", Str(e->description())}};
      break;
    }
    case fb::Payload::GroupDeleted:
      p["group_id"] = Str(event.payload_as_GroupDeleted()->group_id());
      break;
    case fb::Payload::MemberGroupsChanged: {
      const auto* e = event.payload_as_MemberGroupsChanged();
      p = {{"member_id", Str(e->member_id())}, {"groups", Strings(e->groups())}};
      break;
    }
    case fb::Payload::KeyCreated: {
      // secret_hash is left out on purpose.
      const auto* e = event.payload_as_KeyCreated();
      p = {{"key_id", Str(e->key_id())},
           {"name", Str(e->name())},
           {"group_id", Str(e->group_id())},
           {"hint", Str(e->hint())},
           {"permissions", Strings(e->permissions())},
           {"created_by", Str(e->created_by())}};
      PutTime(p, "expires_at", e->expires_at_us());
      break;
    }
    case fb::Payload::KeyGroupChanged: {
      const auto* e = event.payload_as_KeyGroupChanged();
      p = {{"key_id", Str(e->key_id())},
           {"group_id", Str(e->group_id())},
           {"previous_group_id", Str(e->previous_group_id())}};
      break;
    }
    case fb::Payload::KeyRotated: {
      // secret_hash is left out on purpose.
      const auto* e = event.payload_as_KeyRotated();
      p = {{"key_id", Str(e->key_id())}, {"hint", Str(e->hint())}};
      PutTime(p, "previous_valid_until", e->previous_valid_until_us());
      break;
    }
    case fb::Payload::KeyRevoked: {
      const auto* e = event.payload_as_KeyRevoked();
      p = {{"key_id", Str(e->key_id())}, {"reason", Str(e->reason())}};
      if (const fb::LeakReport* leak = e->leak()) {
        p["leak"] = {{"source", Str(leak->source())}, {"url", Str(leak->url())}};
      }
      break;
    }
    case fb::Payload::KeyExpired: {
      const auto* e = event.payload_as_KeyExpired();
      p["key_id"] = Str(e->key_id());
      PutTime(p, "expires_at", e->expires_at_us());
      break;
    }
    case fb::Payload::WriterClaimed: {
      const auto* e = event.payload_as_WriterClaimed();
      p = {{"partition", e->partition()},
           {"node_id", Str(e->node_id())},
           {"advertise_url", Str(e->advertise_url())},
           {"epoch", e->epoch()}};
      break;
    }
    case fb::Payload::MemberInvited: {
      const auto* e = event.payload_as_MemberInvited();
      p = {{"member_id", Str(e->member_id())}, {"invitation_id", Str(e->invitation_id())}};
      PutTime(p, "expires_at", e->expires_at_us());
      break;
    }
    case fb::Payload::MemberPasswordSet: {
      const auto* e = event.payload_as_MemberPasswordSet();
      p = {{"member_id", Str(e->member_id())},
           {"invitation_id", Str(e->invitation_id())},
           {"credential_id", Str(e->credential_id())}};
      break;
    }
    case fb::Payload::MemberSignedIn: {
      const auto* e = event.payload_as_MemberSignedIn();
      p = {{"member_id", Str(e->member_id())}, {"session_id", Str(e->session_id())}};
      PutTime(p, "expires_at", e->expires_at_us());
      break;
    }
    case fb::Payload::MemberProfileChanged: {
      const auto* e = event.payload_as_MemberProfileChanged();
      json emails = json::array();
      if (e->emails() != nullptr) {
        for (const flatbuffers::String* email : *e->emails()) emails.push_back(Str(email));
      }
      p = {{"member_id", Str(e->member_id())},
           {"provisioned", e->provisioned()},
           {"active", e->active()},
           {"external_id", Str(e->external_id())},
           {"display_name", Str(e->display_name())},
           {"given_name", Str(e->given_name())},
           {"family_name", Str(e->family_name())},
           {"emails", std::move(emails)}};
      break;
    }
    case fb::Payload::MemberSignedOut: {
      const auto* e = event.payload_as_MemberSignedOut();
      p = {{"member_id", Str(e->member_id())},
           {"session_id", Str(e->session_id())},
           {"reason", Str(e->reason())}};
      break;
    }
    case fb::Payload::KeySuspended: {
      const auto* e = event.payload_as_KeySuspended();
      p = {{"key_id", Str(e->key_id())}, {"reason", Str(e->reason())}};
      break;
    }
    case fb::Payload::KeyResumed:
      p["key_id"] = Str(event.payload_as_KeyResumed()->key_id());
      break;
    case fb::Payload::OrgPolicyChanged: {
      const auto* e = event.payload_as_OrgPolicyChanged();
      p = {{"max_lifetime_us", e->max_lifetime_us()},
           {"require_expiry", e->require_expiry()},
           {"revoke_unused_after_us", e->revoke_unused_after_us()},
           {"expiring_soon_us", e->expiring_soon_us()}};
      break;
    }
    case fb::Payload::OrgSsoChanged: {
      const auto* e = event.payload_as_OrgSsoChanged();
      p = {{"issuer", Str(e->issuer())},
           {"client_id", Str(e->client_id())},
           {"claim", Str(e->claim())},
           {"jit_group", Str(e->jit_group())},
           {"password_sign_in", e->password_sign_in()}};
      break;
    }
    case fb::Payload::KeyExpiringSoon: {
      const auto* e = event.payload_as_KeyExpiringSoon();
      p["key_id"] = Str(e->key_id());
      PutTime(p, "expires_at", e->expires_at_us());
      break;
    }
    case fb::Payload::KeyUpdated: {
      const auto* e = event.payload_as_KeyUpdated();
      p["key_id"] = Str(e->key_id());
      if (e->name_changed()) p["name"] = Str(e->name());
      if (e->expires_changed()) PutTime(p, "expires_at", e->expires_at_us());
      if (e->description_changed()) p["description"] = Str(e->description());
      break;
    }
    case fb::Payload::KeysUsed: {
      json uses = json::array();
      if (const auto* list = event.payload_as_KeysUsed()->uses()) {
        for (const fb::KeyUsed* use : *list) {
          json u = {{"key_id", Str(use->key_id())}};
          PutTime(u, "used_at", use->used_at_us());
          uses.push_back(std::move(u));
        }
      }
      p["uses"] = std::move(uses);
      break;
    }
    case fb::Payload::NONE:
      break;
  }
  return p;
}

std::string LowerCase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

std::string FormatMicros(int64_t t) {
  std::string text = server::FormatRfc3339(t);
  if (text.find('.') == std::string::npos) text.insert(text.size() - 1, ".000000");
  return text;
}

json EventJson(const events::LogRecord& record, const fb::Envelope& event) {
  json actor = json::object();
  if (event.actor()) {
    actor["kind"] = LowerCase(fb::EnumNameActorKind(event.actor()->kind()));
    actor["id"] = Str(event.actor()->id());
    if (event.actor()->on_behalf_of() && event.actor()->on_behalf_of()->size() > 0) {
      actor["on_behalf_of"] = Str(event.actor()->on_behalf_of());
    }
  }
  return json{{"partition", record.partition},
              {"offset", record.offset},
              {"event_id", event.id() ? events::FormatEventId(*event.id()) : ""},
              {"org", Str(event.org())},
              {"aggregate_id", Str(event.aggregate_id())},
              {"aggregate_version", event.aggregate_version()},
              {"occurred_at", FormatMicros(event.occurred_at_us())},
              {"occurred_at_us", event.occurred_at_us()},
              {"actor", std::move(actor)},
              {"command_id", Str(event.command_id())},
              {"command_hash", Str(event.command_hash())},
              {"correlation_id", Str(event.correlation_id())},
              {"schema_version", event.schema_version()},
              {"writer_epoch", event.writer_epoch()},
              {"type", std::string(events::PayloadName(event.payload_type()))},
              {"ce_type", std::string(events::CloudEventType(event.payload_type()))},
              {"payload", Payload(event)}};
}

json BadRecordJson(const events::LogRecord& record, std::string_view error) {
  return json{{"partition", record.partition},
              {"offset", record.offset},
              {"org", record.key},
              {"bytes", record.value.size()},
              {"error", std::string(error)}};
}

}  // namespace keytrail::cli
