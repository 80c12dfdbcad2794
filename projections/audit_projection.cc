#include "projections/audit_projection.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/big_endian.h"
#include "base/hex.h"
#include "events/event_id.h"
#include "projections/json_writer.h"
#include "projections/row_key.h"

namespace keytrail::projections {
namespace {

using nlohmann::json;
using Hash = std::array<uint8_t, 32>;

constexpr std::string_view kRecords = "aud/r/";
constexpr std::string_view kHeads = "aud/h/";
constexpr std::string_view kNames = "aud/n/";
constexpr std::string_view kIndex = "aud/i/";
constexpr size_t kPosBytes = 12;                // partition (4) ‖ offset (8)
constexpr size_t kSuffixBytes = 8 + kPosBytes;  // an index entry: log time ‖ pos
constexpr size_t kHeadBytes = 32 + 8 + 8;       // hash ‖ offset ‖ log time
constexpr size_t kOldHeadBytes = 32 + 8;        // hash ‖ offset (before log times)

// A run's index entries, by index row prefix (AuditProjection::pending_index_).
using PendingIndex = std::unordered_map<std::string, std::string>;

Hash Sha256(std::string_view bytes) {
  Hash out{};
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), out.data(), &length, EVP_sha256(), nullptr);
  return out;
}

std::string Hex(std::string_view bytes) { return HexEncode(bytes); }

std::optional<std::string> Unhex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = digit(text[i]), lo = digit(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

std::string Pos(const LogPosition& position) {
  std::string out;
  PutBigEndian32(&out, static_cast<uint32_t>(position.partition));
  PutBigEndian64(&out, static_cast<uint64_t>(position.offset));
  return out;
}

std::string HeadKey(int32_t partition) {
  std::string key(kHeads);
  PutBigEndian32(&key, static_cast<uint32_t>(partition));
  return key;
}

std::string NameKey(std::string_view org, std::string_view key_id) {
  std::string key(kNames);
  PutComponent(&key, org);
  PutComponent(&key, key_id);
  return key;
}

std::string IndexPrefix(char index, std::string_view org, std::optional<std::string_view> value) {
  std::string key(kIndex);
  key.push_back(index);
  PutComponent(&key, org);
  if (value) PutComponent(&key, *value);
  return key;
}

std::string_view Str(const flatbuffers::String* s) {
  return s ? s->string_view() : std::string_view();
}

void WriteStrings(JsonWriter& json,
                  const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* list) {
  json.BeginArray();
  if (list) {
    for (const auto* s : *list) json.String(s->string_view());
  }
  json.EndArray();
}

void WriteRules(JsonWriter& json, const flatbuffers::Vector<flatbuffers::Offset<fb::Rule>>* rules) {
  json.BeginArray();
  if (rules) {
    for (const fb::Rule* rule : *rules) {
      json.BeginObject();
      json.Key("resources");
      WriteStrings(json, rule->resources());
      json.Key("role");
      json.String(Str(rule->role()));
      json.EndObject();
    }
  }
  json.EndArray();
}

// What an event did, in audit terms. `details` is a JSON object.
struct Described {
  std::string_view action;
  std::string_view target_type;
  std::string target_id;
  std::string details;
};

// Describes the event. Only names, ids, times, hints and reasons: an event holds a
// secret's hash at most, and that is left out too. Keys in byte order (see JsonWriter).
Result<Described> Describe(const fb::Envelope& event) {
  Described d;
  auto what = [&d](std::string_view action, std::string_view target_type,
                   const flatbuffers::String* target_id) {
    d.action = action;
    d.target_type = target_type;
    d.target_id = Str(target_id);
  };
  JsonWriter json(&d.details);
  json.BeginObject();
  switch (event.payload_type()) {
    case fb::Payload::OrgCreated:
      what("org.created", "org", event.org());
      json.Key("name");
      json.String(Str(event.payload_as_OrgCreated()->name()));
      break;
    case fb::Payload::GroupCreated: {
      const auto* e = event.payload_as_GroupCreated();
      what("group.created", "group", e->group_id());
      json.Key("builtin");
      json.Bool(e->builtin());
      json.Key("description");
      json.String(Str(e->description()));
      json.Key("name");
      json.String(Str(e->name()));
      json.Key("rules");
      WriteRules(json, e->rules());
      break;
    }
    case fb::Payload::GroupRulesChanged: {
      const auto* e = event.payload_as_GroupRulesChanged();
      what("group.rules_updated", "group", e->group_id());
      json.Key("description");
      json.String(Str(e->description()));
      json.Key("rules");
      WriteRules(json, e->rules());
      break;
    }
    case fb::Payload::GroupDeleted:
      what("group.deleted", "group", event.payload_as_GroupDeleted()->group_id());
      break;
    case fb::Payload::MemberGroupsChanged: {
      const auto* e = event.payload_as_MemberGroupsChanged();
      what("member.groups_updated", "member", e->member_id());
      json.Key("groups");
      WriteStrings(json, e->groups());
      break;
    }
    case fb::Payload::KeyCreated: {
      const auto* e = event.payload_as_KeyCreated();
      what("api_key.created", "api_key", e->key_id());
      json.Key("created_by");
      json.String(Str(e->created_by()));
      json.Key("expires_at_us");
      json.Int(e->expires_at_us());
      json.Key("group");
      json.String(Str(e->group_id()));
      json.Key("hint");
      json.String(Str(e->hint()));
      json.Key("name");
      json.String(Str(e->name()));
      json.Key("permissions");
      WriteStrings(json, e->permissions());
      break;
    }
    case fb::Payload::KeyGroupChanged: {
      const auto* e = event.payload_as_KeyGroupChanged();
      what("api_key.group_updated", "api_key", e->key_id());
      json.Key("group");
      json.String(Str(e->group_id()));
      json.Key("previous_group");
      json.String(Str(e->previous_group_id()));
      break;
    }
    case fb::Payload::KeyRotated: {
      const auto* e = event.payload_as_KeyRotated();
      what("api_key.rotated", "api_key", e->key_id());
      json.Key("hint");
      json.String(Str(e->hint()));
      json.Key("previous_valid_until_us");
      json.Int(e->previous_valid_until_us());
      break;
    }
    case fb::Payload::KeyRevoked: {
      const auto* e = event.payload_as_KeyRevoked();
      what("api_key.revoked", "api_key", e->key_id());
      if (const fb::LeakReport* leak = e->leak()) {
        json.Key("leak");
        json.BeginObject();
        json.Key("source");
        json.String(Str(leak->source()));
        json.Key("url");
        json.String(Str(leak->url()));
        json.EndObject();
      }
      json.Key("reason");
      json.String(Str(e->reason()));
      break;
    }
    case fb::Payload::KeyExpired: {
      const auto* e = event.payload_as_KeyExpired();
      what("api_key.expired", "api_key", e->key_id());
      json.Key("expires_at_us");
      json.Int(e->expires_at_us());
      break;
    }
    case fb::Payload::WriterClaimed: {
      const auto* e = event.payload_as_WriterClaimed();
      d.action = "writer.claimed";
      d.target_type = "partition";
      d.target_id = std::to_string(e->partition());
      json.Key("advertise_url");
      json.String(Str(e->advertise_url()));
      json.Key("epoch");
      json.Int(e->epoch());
      json.Key("node_id");
      json.String(Str(e->node_id()));
      break;
    }
    case fb::Payload::KeySuspended: {
      const auto* e = event.payload_as_KeySuspended();
      what("api_key.suspended", "api_key", e->key_id());
      json.Key("reason");
      json.String(Str(e->reason()));
      break;
    }
    case fb::Payload::KeyResumed:
      what("api_key.resumed", "api_key", event.payload_as_KeyResumed()->key_id());
      break;
    case fb::Payload::OrgPolicyChanged: {
      const auto* e = event.payload_as_OrgPolicyChanged();
      what("org.policy_changed", "org", event.org());
      json.Key("expiring_soon_us");
      json.Int(e->expiring_soon_us());
      json.Key("max_lifetime_us");
      json.Int(e->max_lifetime_us());
      json.Key("require_expiry");
      json.Bool(e->require_expiry());
      json.Key("revoke_unused_after_us");
      json.Int(e->revoke_unused_after_us());
      break;
    }
    case fb::Payload::OrgSsoChanged: {  // keys in byte order; the secret is not in the event
      const auto* e = event.payload_as_OrgSsoChanged();
      what("org.sso_changed", "org", event.org());
      json.Key("claim");
      json.String(Str(e->claim()));
      json.Key("client_id");
      json.String(Str(e->client_id()));
      json.Key("issuer");
      json.String(Str(e->issuer()));
      json.Key("jit_group");
      json.String(Str(e->jit_group()));
      json.Key("password_sign_in");
      json.Bool(e->password_sign_in());
      break;
    }
    case fb::Payload::KeyExpiringSoon: {
      const auto* e = event.payload_as_KeyExpiringSoon();
      what("api_key.expiring_soon", "api_key", e->key_id());
      json.Key("expires_at_us");
      json.Int(e->expires_at_us());
      break;
    }
    case fb::Payload::KeyUpdated: {  // only what changed; keys in byte order
      const auto* e = event.payload_as_KeyUpdated();
      what("api_key.updated", "api_key", e->key_id());
      if (e->description_changed()) {
        json.Key("description");
        json.String(Str(e->description()));
      }
      if (e->expires_changed()) {
        json.Key("expires_at_us");
        json.Int(e->expires_at_us());
      }
      if (e->name_changed()) {
        json.Key("name");
        json.String(Str(e->name()));
      }
      break;
    }
    case fb::Payload::MemberInvited: {
      const auto* e = event.payload_as_MemberInvited();
      what("member.invited", "member", e->member_id());
      json.Key("expires_at_us");
      json.Int(e->expires_at_us());
      json.Key("invitation_id");
      json.String(Str(e->invitation_id()));
      break;
    }
    case fb::Payload::MemberPasswordSet: {
      const auto* e = event.payload_as_MemberPasswordSet();
      what("member.password_set", "member", e->member_id());
      json.Key("invitation_id");
      json.String(Str(e->invitation_id()));
      break;
    }
    case fb::Payload::MemberSignedIn: {
      const auto* e = event.payload_as_MemberSignedIn();
      what("member.signed_in", "member", e->member_id());
      json.Key("expires_at_us");
      json.Int(e->expires_at_us());
      json.Key("session_id");
      json.String(Str(e->session_id()));
      break;
    }
    case fb::Payload::MemberProfileChanged: {  // keys in byte order
      const auto* e = event.payload_as_MemberProfileChanged();
      what(e->provisioned() ? "member.profile_updated" : "member.deprovisioned", "member",
           e->member_id());
      json.Key("active");
      json.Bool(e->active());
      json.Key("display_name");
      json.String(Str(e->display_name()));
      json.Key("emails");
      WriteStrings(json, e->emails());
      json.Key("external_id");
      json.String(Str(e->external_id()));
      json.Key("family_name");
      json.String(Str(e->family_name()));
      json.Key("given_name");
      json.String(Str(e->given_name()));
      json.Key("provisioned");
      json.Bool(e->provisioned());
      break;
    }
    case fb::Payload::MemberSignedOut: {
      const auto* e = event.payload_as_MemberSignedOut();
      what("member.signed_out", "member", e->member_id());
      json.Key("reason");
      json.String(Str(e->reason()));
      json.Key("session_id");
      json.String(Str(e->session_id()));
      break;
    }
    default:
      return Status::Corruption(fmt::format("audit: no action for payload type {}",
                                            static_cast<int>(event.payload_type())));
  }
  json.EndObject();
  return d;
}

std::string LowerCase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The index to scan for `filter` ('k', 'a', 'c' or 't'): the most selective one set.
char ChooseIndex(const AuditFilter& filter) {
  if (!filter.key.empty()) return 'k';
  if (!filter.actor.empty()) return 'a';
  if (!filter.action.empty()) return 'c';
  return 't';
}

// The prefix of `index`'s rows for `filter` and the value it is keyed by.
std::string IndexPrefixFor(char index, std::string_view org, const AuditFilter& filter) {
  switch (index) {
    case 'k':
      return IndexPrefix('k', org, filter.key);
    case 'a':
      return IndexPrefix('a', org, filter.actor);
    case 'c':
      return IndexPrefix('c', org, filter.action);
  }
  return IndexPrefix('t', org, std::nullopt);
}

// The typed form of a stored record; `suffix` (an index entry: log time ‖ partition ‖
// offset) gives the position. kCorruption if the bytes are not a record.
Result<model::AuditRecord> ParseRecord(std::string stored, std::string_view suffix) {
  const json r = json::parse(stored, nullptr, false);
  if (!r.is_object()) return Status::Corruption("audit: a stored record is not a JSON object");
  auto text = [](const json& object, const char* name) {
    auto it = object.find(name);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const json& actor = r.contains("actor") ? r["actor"] : json::object();
  const json& target = r.contains("target") ? r["target"] : json::object();
  model::AuditRecord record;
  const auto occurred = r.find("occurred_at_us");
  if (occurred == r.end() || !occurred->is_number_integer()) {
    return Status::Corruption("audit: a stored record has no occurred_at_us");
  }
  record.occurred_at_us = occurred->get<Micros>();
  record.partition = static_cast<int32_t>(GetBigEndian32(suffix.substr(8, 4)));
  record.offset = static_cast<int64_t>(GetBigEndian64(suffix.substr(12, 8)));
  record.org = text(r, "org");
  record.action = text(r, "action");
  record.event_id = text(r, "event_id");
  record.actor = {.kind = text(actor, "kind"),
                  .id = text(actor, "id"),
                  .key_name = text(actor, "key_name"),
                  .on_behalf_of = text(actor, "on_behalf_of")};
  record.target = {.type = text(target, "type"), .id = text(target, "id")};
  record.details = r.contains("details") ? r["details"].dump() : "{}";
  record.prev_hash = text(r, "prev_hash");
  record.stored = std::move(stored);
  return record;
}

// Whether `record` passes the filters that `index` does not apply by itself (key and
// time always come from the index).
bool Matches(const model::AuditRecord& record, const AuditFilter& filter, char index) {
  if (!filter.actor.empty() && index != 'a' && record.actor.id != filter.actor) return false;
  if (!filter.action.empty() && index != 'c' && record.action != filter.action) return false;
  return true;
}

// Scans the matching index entries after `after` (an entry, or empty) and visits
// (entry, record) until `visit` returns false; `examined`, if given, hears every entry read
// (matching or not) and stops the scan by returning false.
Status Scan(ViewStore& store, std::string_view org, const AuditFilter& filter,
            std::string_view after,
            const std::function<bool(std::string_view suffix, model::AuditRecord record)>& visit,
            const std::function<bool(std::string_view suffix)>& examined = {}) {
  const char index = ChooseIndex(filter);
  const std::string prefix = IndexPrefixFor(index, org, filter);
  // Rows are keyed by their last entry: the first row whose key is at or past the start
  // holds the first entry wanted (or is the first row after it).
  std::string begin = prefix;
  if (!after.empty()) {
    begin.append(after);
  } else if (filter.from > 0) {
    PutBigEndian64(&begin, static_cast<uint64_t>(filter.from));
  }
  Status failed;
  bool done = false;
  Status scanned =
      store.Scan(begin, PrefixEnd(prefix), [&](std::string_view key, std::string_view value) {
        const std::string_view last = key.size() == prefix.size() + kSuffixBytes
                                          ? key.substr(prefix.size())
                                          : std::string_view();
        if (last.empty() || value.size() % kSuffixBytes != 0 ||
            (!value.empty() && value.substr(value.size() - kSuffixBytes) != last)) {
          failed = Status::Corruption("audit: malformed index row");
          return false;
        }
        const std::string_view entries = value.empty() ? last : value;
        for (size_t at = 0; at < entries.size() && !done; at += kSuffixBytes) {
          const std::string_view suffix = entries.substr(at, kSuffixBytes);
          if (!after.empty() && suffix <= after) continue;
          const auto time = static_cast<Micros>(GetBigEndian64(suffix.substr(0, 8)));
          if (time < filter.from) continue;
          if (filter.to > 0 && time >= filter.to) {
            done = true;  // entries only grow from here
            break;
          }
          if (examined && !examined(suffix)) {
            done = true;
            break;
          }
          auto stored = store.Get(std::string(kRecords) + std::string(suffix.substr(8)));
          if (!stored.ok()) {
            failed = stored.status();
            return false;
          }
          if (!stored->has_value()) {
            failed = Status::Corruption("audit: an index row points at no record");
            return false;
          }
          auto record = ParseRecord(std::move(**stored), suffix);
          if (!record.ok()) {
            failed = record.status();
            return false;
          }
          if (!Matches(*record, filter, index)) continue;
          if (!visit(suffix, std::move(*record))) done = true;
        }
        return !done;
      });
  KT_RETURN_IF_ERROR(scanned);
  return failed;
}

// Who did it: the record's "actor" object.
struct Actor {
  std::string kind;
  std::string_view id;
  std::optional<std::string> key_name;  // the acting key's name, when the actor is a key
  std::string_view on_behalf_of;        // empty: not written
};

// The record's bytes: canonical JSON (keys in byte order, see JsonWriter).
std::string FormatRecord(const LogPosition& position, std::string_view org, const Actor& actor,
                         const Described& described, std::string_view event_id,
                         Micros occurred_at_us, std::string_view prev_hash) {
  std::string bytes;
  bytes.reserve(384 + described.details.size());
  JsonWriter json(&bytes);
  json.BeginObject();
  json.Key("action");
  json.String(described.action);
  json.Key("actor");
  json.BeginObject();
  json.Key("id");
  json.String(actor.id);
  if (actor.key_name) {
    json.Key("key_name");
    json.String(*actor.key_name);
  }
  json.Key("kind");
  json.String(actor.kind);
  if (!actor.on_behalf_of.empty()) {
    json.Key("on_behalf_of");
    json.String(actor.on_behalf_of);
  }
  json.EndObject();
  json.Key("details");
  json.Raw(described.details);
  json.Key("event_id");
  json.String(event_id);
  json.Key("occurred_at_us");
  json.Int(occurred_at_us);
  json.Key("offset");
  json.Int(position.offset);
  json.Key("org");
  json.String(org);
  json.Key("partition");
  json.Int(position.partition);
  json.Key("prev_hash");
  json.String(Hex(prev_hash));
  json.Key("target");
  json.BeginObject();
  json.Key("id");
  json.String(described.target_id);
  json.Key("type");
  json.String(described.target_type);
  json.EndObject();
  json.EndObject();
  return bytes;
}

// The log time of the partition's last record, from its chain head `head` (one of
// kHeadBytes, or kOldHeadBytes: then from the record it names).
Result<Micros> LastLogTime(std::string_view head, int32_t partition, ViewBatch& batch) {
  if (head.size() == kHeadBytes) return static_cast<Micros>(GetBigEndian64(head.substr(40)));
  const auto offset = static_cast<int64_t>(GetBigEndian64(head.substr(32, 8)));
  auto last = batch.Get(std::string(kRecords) + Pos({partition, offset}));
  KT_RETURN_IF_ERROR(last.status());
  const json record = last->has_value() ? json::parse(**last, nullptr, false) : json();
  if (!record.is_object() || !record["occurred_at_us"].is_number_integer()) {
    return Status::Corruption("audit: the chain head names no well-formed record");
  }
  return record["occurred_at_us"].get<Micros>();
}

// Writes the record (chained to the partition's previous one) and adds its index
// entries to `index` (written by Seal).
Status WriteRecord(const LogPosition& position, std::string_view org, const Actor& actor,
                   const Described& described, std::string_view event_id, Micros occurred_at_us,
                   ViewBatch& batch, PendingIndex& index) {
  // The chain: this record holds the hash of the partition's previous record.
  const std::string head_key = HeadKey(position.partition);
  auto head = batch.Get(head_key);
  KT_RETURN_IF_ERROR(head.status());
  std::string prev_hash(32, '\0');
  Micros log_time = occurred_at_us;
  if (head->has_value()) {
    const std::string_view stored = **head;
    if (stored.size() != kHeadBytes && stored.size() != kOldHeadBytes) {
      return Status::Corruption("audit: malformed chain head");
    }
    prev_hash = stored.substr(0, 32);
    auto last = LastLogTime(stored, position.partition, batch);
    KT_RETURN_IF_ERROR(last.status());
    log_time = std::max(log_time, *last);
  }
  const std::string bytes =
      FormatRecord(position, org, actor, described, event_id, occurred_at_us, prev_hash);
  const Hash hash = Sha256(bytes);
  const std::string pos = Pos(position);
  batch.Put(std::string(kRecords) + pos, bytes);
  std::string new_head(reinterpret_cast<const char*>(hash.data()), hash.size());
  PutBigEndian64(&new_head, static_cast<uint64_t>(position.offset));
  PutBigEndian64(&new_head, static_cast<uint64_t>(log_time));
  batch.Put(head_key, new_head);

  std::string entry;
  PutBigEndian64(&entry, static_cast<uint64_t>(log_time));
  entry += pos;
  index[IndexPrefix('t', org, std::nullopt)] += entry;
  index[IndexPrefix('a', org, actor.id)] += entry;
  index[IndexPrefix('c', org, described.action)] += entry;
  if (described.target_type == "api_key") {
    index[IndexPrefix('k', org, described.target_id)] += entry;
  }
  return Status::Ok();
}

// A record about the log record at `position` itself (skipped, fenced), not its event.
Described AboutLogRecord(std::string_view action, const LogPosition& position) {
  return Described{action, "log_record", fmt::format("{}/{}", position.partition, position.offset),
                   ""};
}

// The event's actor as the trail shows it (a key's name from the name rows).
Result<Actor> ActorOf(const fb::Envelope& event, std::string_view org, ViewBatch& batch) {
  const fb::Actor* who = event.actor();
  Actor actor{.kind = who ? LowerCase(fb::EnumNameActorKind(who->kind())) : std::string("unknown"),
              .id = who ? Str(who->id()) : std::string_view()};
  if (actor.id.size() > 0xffff) return Status::InvalidArgument("audit: actor id too long");
  if (who) actor.on_behalf_of = Str(who->on_behalf_of());
  if (who && who->kind() == fb::ActorKind::Key) {
    auto name = batch.Get(NameKey(org, actor.id));
    KT_RETURN_IF_ERROR(name.status());
    actor.key_name = std::move(*name);
  }
  return actor;
}

}  // namespace

Status AuditProjection::Seal(ViewBatch& batch) {
  for (const auto& [prefix, entries] : pending_index_) {
    // Keyed by the last entry; a row of one entry needs no value (its key holds it).
    const std::string_view last = std::string_view(entries).substr(entries.size() - kSuffixBytes);
    batch.Put(prefix + std::string(last),
              entries.size() == kSuffixBytes ? std::string_view() : std::string_view(entries));
  }
  pending_index_.clear();
  return Status::Ok();
}

void AuditProjection::CanonicalRows(
    std::string_view key, std::string_view value,
    const std::function<void(std::string_view key, std::string_view value)>& emit) {
  if (key.starts_with(kHeads) && value.size() == kHeadBytes) {
    emit(key, value.substr(0, kOldHeadBytes));
    return;
  }
  if (!key.starts_with(kIndex) || key.size() < kIndex.size() + kSuffixBytes ||
      value.size() <= kSuffixBytes || value.size() % kSuffixBytes != 0 ||
      value.substr(value.size() - kSuffixBytes) != key.substr(key.size() - kSuffixBytes)) {
    emit(key, value);
    return;
  }
  std::string row(key.substr(0, key.size() - kSuffixBytes));
  const size_t prefix_size = row.size();
  for (size_t at = 0; at < value.size(); at += kSuffixBytes) {
    row.resize(prefix_size);
    row.append(value.substr(at, kSuffixBytes));
    emit(row, {});
  }
}

std::string AuditProjection::RecordKey(const LogPosition& position) {
  return std::string(kRecords) + Pos(position);
}

Status AuditProjection::Apply(const LogPosition& position, const fb::Envelope& event,
                              ViewBatch& batch) {
  // When keys were used is telemetry, not a change: the key list shows it
  // (last_used_at), the audit trail does not (a record per org every few seconds).
  if (event.payload_type() == fb::Payload::KeysUsed) return Status::Ok();
  auto described = Describe(event);
  KT_RETURN_IF_ERROR(described.status());
  const std::string_view org = Str(event.org());
  if (org.size() > 0xffff || described->target_id.size() > 0xffff) {
    return Status::InvalidArgument("audit: org or target id longer than 65535 bytes");
  }
  auto who = ActorOf(event, org, batch);
  KT_RETURN_IF_ERROR(who.status());
  const Actor& actor = *who;
  if (event.payload_type() == fb::Payload::KeyCreated) {
    batch.Put(NameKey(org, described->target_id), Str(event.payload_as_KeyCreated()->name()));
  }
  if (event.payload_type() == fb::Payload::KeyUpdated &&
      event.payload_as_KeyUpdated()->name_changed()) {  // records name the key as it is called
    batch.Put(NameKey(org, described->target_id), Str(event.payload_as_KeyUpdated()->name()));
  }
  const std::string event_id = event.id() ? events::FormatEventId(*event.id()) : "";
  return WriteRecord(position, org, actor, *described, event_id, event.occurred_at_us(), batch,
                     pending_index_);
}

Status AuditProjection::ApplyFenced(const LogPosition& position, const fb::Envelope& event,
                                    const events::PartitionClaim& current, ViewBatch& batch) {
  const std::string_view org = Str(event.org());
  if (org.size() > 0xffff) return Status::InvalidArgument("audit: org longer than 65535 bytes");
  auto actor = ActorOf(event, org, batch);
  KT_RETURN_IF_ERROR(actor.status());
  Described described = AboutLogRecord("event.fenced", position);
  JsonWriter details(&described.details);
  details.BeginObject();
  details.Key("current_epoch");
  details.Int(current.epoch);
  details.Key("current_node");
  details.String(current.node_id);
  details.Key("payload");
  details.String(fb::EnumNamePayload(event.payload_type()));
  details.Key("writer_epoch");
  details.Int(event.writer_epoch());
  details.EndObject();
  const std::string event_id = event.id() ? events::FormatEventId(*event.id()) : "";
  return WriteRecord(position, org, *actor, described, event_id, event.occurred_at_us(), batch,
                     pending_index_);
}

Status AuditProjection::ApplySkipped(const LogPosition& position, const SkippedRecord& skip,
                                     ViewBatch& batch) {
  if (skip.org.size() > 0xffff || skip.operator_id.size() > 0xffff) {
    return Status::InvalidArgument("audit: org or operator longer than 65535 bytes");
  }
  Described described = AboutLogRecord("projector.skipped", position);
  JsonWriter details(&described.details);
  details.BeginObject();
  details.Key("error");
  details.String(skip.error);
  details.Key("reason");
  details.String(skip.reason);
  details.EndObject();
  const Actor actor{.kind = "operator", .id = skip.operator_id};
  return WriteRecord(position, skip.org, actor, described, "", skip.skipped_at_us, batch,
                     pending_index_);
}

Result<AuditPage> AuditProjection::Query(ViewStore& store, std::string_view org,
                                         const AuditFilter& filter, size_t page_size,
                                         std::string_view page_token, size_t max_examined) {
  std::string after;
  if (!page_token.empty()) {
    auto bytes = Unhex(page_token);
    if (!bytes || bytes->size() != kSuffixBytes) {
      return Status::InvalidArgument("malformed audit page token");
    }
    after = std::move(*bytes);
  }
  AuditPage page;
  std::string last_suffix;
  bool more = false;
  size_t count = 0;
  std::string last_examined;
  Status s = Scan(
      store, org, filter, after,
      [&](std::string_view suffix, model::AuditRecord record) {
        if (page.records.size() == page_size) {
          more = true;
          return false;
        }
        page.records.push_back(std::move(record));
        last_suffix = suffix;
        return true;
      },
      [&](std::string_view suffix) {
        if (count == max_examined) {
          // Enough read for one page: continue after the last row read.
          more = true;
          last_suffix = last_examined;
          return false;
        }
        ++count;
        last_examined = suffix;
        return true;
      });
  KT_RETURN_IF_ERROR(s);
  if (more) page.next_page_token = Hex(last_suffix);
  return page;
}

Status AuditProjection::ForEach(ViewStore& store, std::string_view org, const AuditFilter& filter,
                                const std::function<bool(const model::AuditRecord&)>& visit) {
  return Scan(store, org, filter, "",
              [&](std::string_view, model::AuditRecord record) { return visit(record); });
}

Result<AuditChainReport> AuditProjection::VerifyChain(ViewStore& store) {
  AuditChainReport report;
  struct Link {
    int32_t partition = -1;
    int64_t offset = 0;
    Hash hash{};
  };
  Link previous;                // the last record seen
  std::optional<Link> suspect;  // set when a record's prev_hash did not match
  auto fail = [&](const Link& at, std::string problem) {
    report.ok = false;
    report.partition = at.partition;
    report.offset = at.offset;
    report.problem = std::move(problem);
  };
  // A mismatch at record n (its prev_hash != hash(n-1)) means record n-1 was altered,
  // unless record n's own hash also fails its successor: then record n was.
  auto check_head = [&](const Link& last) -> Status {
    auto head = store.Get(HeadKey(last.partition));
    KT_RETURN_IF_ERROR(head.status());
    const bool matches =
        head->has_value() && ((*head)->size() == kHeadBytes || (*head)->size() == kOldHeadBytes) &&
        std::equal(last.hash.begin(), last.hash.end(), (*head)->begin(),
                   [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); }) &&
        static_cast<int64_t>(GetBigEndian64(std::string_view(**head).substr(32, 8))) == last.offset;
    if (suspect) {
      fail(matches ? *suspect : last,
           "the record's stored bytes do not hash to the prev_hash its successor holds");
    } else if (!matches) {
      fail(last, "the partition's last record does not hash to the stored chain head");
    }
    return Status::Ok();
  };
  Status failed;
  Status scanned = store.Scan(
      kRecords, PrefixEnd(std::string(kRecords)),
      [&](std::string_view key, std::string_view bytes) {
        if (key.size() != kRecords.size() + kPosBytes) {
          failed = Status::Corruption("audit: malformed record key");
          return false;
        }
        Link link;
        link.partition = static_cast<int32_t>(GetBigEndian32(key.substr(kRecords.size(), 4)));
        link.offset = static_cast<int64_t>(GetBigEndian64(key.substr(kRecords.size() + 4)));
        link.hash = Sha256(bytes);
        ++report.records;
        if (link.partition != previous.partition) {
          if (previous.partition >= 0) {
            failed = check_head(previous);
            if (!failed.ok() || !report.ok) return false;
          }
          previous = Link{link.partition, -1, {}};
          suspect.reset();
        }
        const json record = json::parse(bytes, nullptr, false);
        const auto prev_hash = record.is_object() && record["prev_hash"].is_string()
                                   ? Unhex(record["prev_hash"].get<std::string>())
                                   : std::nullopt;
        if (!prev_hash || prev_hash->size() != 32) {
          fail(link, "the record is not a well-formed audit record");
          return false;
        }
        const bool linked =
            std::equal(previous.hash.begin(), previous.hash.end(), prev_hash->begin(),
                       [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); });
        if (suspect) {
          fail(linked ? *suspect : previous,
               "the record's stored bytes do not hash to the prev_hash its successor holds");
          return false;
        }
        if (!linked) {
          if (previous.offset < 0) {
            fail(link, "the partition's first record does not start the chain");
            return false;
          }
          suspect = previous;
        }
        previous = link;
        return true;
      });
  KT_RETURN_IF_ERROR(scanned);
  KT_RETURN_IF_ERROR(failed);
  if (report.ok && previous.partition >= 0) KT_RETURN_IF_ERROR(check_head(previous));
  return report;
}

}  // namespace keytrail::projections
