#include "projections/key_view.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "base/big_endian.h"
#include "events/codec.h"
#include "projections/row_key.h"
#include "schemas/views_generated.h"

namespace keytrail::projections {
namespace {

constexpr std::string_view kKeyRows = "key/";
constexpr std::string_view kGroupIndex = "kgrp/";
constexpr std::string_view kCreatorIndex = "kcre/";
constexpr std::string_view kGroupRows = "grp/";
constexpr size_t kMaxComponent = 0xffff;
constexpr size_t kIdBytes = sizeof(KeyId::bytes);

// --- row keys -------------------------------------------------------------------------

void PutId(std::string* out, const KeyId& id) {
  out->append(reinterpret_cast<const char*>(id.bytes.data()), kIdBytes);
}

// Takes the id off *in, which must hold exactly the id.
bool GetLastId(std::string_view in, KeyId* id) {
  if (in.size() != kIdBytes) return false;
  std::memcpy(id->bytes.data(), in.data(), kIdBytes);
  return true;
}

std::string Prefixed(std::string_view prefix, std::string_view a) {
  std::string key(prefix);
  PutComponent(&key, a);
  return key;
}

std::string Prefixed(std::string_view prefix, std::string_view a, std::string_view b) {
  std::string key = Prefixed(prefix, a);
  PutComponent(&key, b);
  return key;
}

std::string WithId(std::string key, const KeyId& id) {
  PutId(&key, id);
  return key;
}

std::string KeyRowKey(std::string_view org, const KeyId& id) {
  return WithId(Prefixed(kKeyRows, org), id);
}

// The smallest key greater than every key that starts with `prefix` ("" = none).
// --- rows -----------------------------------------------------------------------------

fb::Sha256 ToFb(const SecretHash& hash) {
  return fb::Sha256(flatbuffers::span<const uint8_t, 32>(hash));
}

void FromFb(const fb::Sha256* in, SecretHash* out) {
  if (in != nullptr) std::memcpy(out->data(), in->bytes()->Data(), out->size());
}

std::string Str(const flatbuffers::String* s) { return s == nullptr ? std::string() : s->str(); }

std::string EncodeRow(const KeyRecord& r) {
  flatbuffers::FlatBufferBuilder b(512);
  const auto org = b.CreateString(r.org);
  const auto name = b.CreateString(r.name);
  const auto group = b.CreateString(r.group_id);
  const auto hint = b.CreateString(r.hint);
  const auto created_by = b.CreateString(r.created_by);
  const auto permissions = b.CreateVectorOfStrings(r.permissions);
  const auto reason = b.CreateString(r.revoked_reason);
  const auto suspended_reason = b.CreateString(r.suspended_reason);
  const auto description = b.CreateString(r.description);
  const fb::KeyIdBytes id(flatbuffers::span<const uint8_t, kIdBytes>(r.key_id.bytes));
  const fb::Sha256 hash = ToFb(r.secret_hash);
  const fb::Sha256 previous = ToFb(r.previous_hash);
  fb::KeyRowBuilder row(b);
  row.add_org(org);
  row.add_key_id(&id);
  row.add_name(name);
  row.add_group_id(group);
  row.add_secret_hash(&hash);
  row.add_previous_hash(&previous);
  row.add_previous_valid_until_us(r.previous_valid_until_us);
  row.add_hint(hint);
  row.add_created_at_us(r.created_at_us);
  row.add_created_by(created_by);
  row.add_expires_at_us(r.expires_at_us);
  row.add_permissions(permissions);
  row.add_status(static_cast<fb::KeyStatus>(r.status));
  row.add_revoked_reason(reason);
  row.add_last_rotated_at_us(r.last_rotated_at_us);
  row.add_version(r.version);
  row.add_last_used_at_us(r.last_used_at_us);
  if (!r.suspended_reason.empty()) row.add_suspended_reason(suspended_reason);
  if (!r.description.empty()) row.add_description(description);
  if (r.retired_at_us != 0) row.add_retired_at_us(r.retired_at_us);
  b.FinishSizePrefixed(row.Finish(), fb::KeyRowIdentifier());
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

// REQUIRES: bytes.data() is 8-byte aligned (copy scan values into a std::string first).
Result<KeyRecord> DecodeRow(std::string_view bytes) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < 3 * sizeof(flatbuffers::uoffset_t) ||
      flatbuffers::GetPrefixedSize(data) != bytes.size() - sizeof(flatbuffers::uoffset_t) ||
      !fb::SizePrefixedKeyRowBufferHasIdentifier(data)) {
    return Status::Corruption("key row is not a KeyRow");
  }
  flatbuffers::Verifier verifier(data, bytes.size());
  if (!fb::VerifySizePrefixedKeyRowBuffer(verifier)) {
    return Status::Corruption("key row fails verification");
  }
  const fb::KeyRow* row = fb::GetSizePrefixedKeyRow(data);
  if (row->org() == nullptr || row->key_id() == nullptr ||
      static_cast<uint8_t>(row->status()) > static_cast<uint8_t>(fb::KeyStatus::MAX)) {
    return Status::Corruption("key row lacks its org or id, or has an unknown status");
  }
  KeyRecord r;
  r.org = row->org()->str();
  std::memcpy(r.key_id.bytes.data(), row->key_id()->bytes()->Data(), kIdBytes);
  r.name = Str(row->name());
  r.group_id = Str(row->group_id());
  FromFb(row->secret_hash(), &r.secret_hash);
  FromFb(row->previous_hash(), &r.previous_hash);
  r.previous_valid_until_us = row->previous_valid_until_us();
  r.hint = Str(row->hint());
  r.created_at_us = row->created_at_us();
  r.created_by = Str(row->created_by());
  r.expires_at_us = row->expires_at_us();
  if (row->permissions() != nullptr) {
    for (const flatbuffers::String* p : *row->permissions()) r.permissions.push_back(Str(p));
  }
  r.status = static_cast<KeyStatus>(row->status());
  r.revoked_reason = Str(row->revoked_reason());
  r.last_rotated_at_us = row->last_rotated_at_us();
  r.version = row->version();
  r.last_used_at_us = row->last_used_at_us();
  r.suspended_reason = Str(row->suspended_reason());
  r.description = Str(row->description());
  r.retired_at_us = row->retired_at_us();
  return r;
}

// --- merge operands (KeyViewProjection::MergeKeyRow) ----------------------------------

// What a key event that needs nothing of the row changes; see the header for the bytes.
struct RowChange {
  static constexpr uint8_t kNotice = 5;  // KeyExpiringSoon: only the version moves
  static constexpr uint8_t kRotate = static_cast<uint8_t>(model::StatusChange::kRotate);
  static constexpr size_t kFixedBytes = 1 + 8 + 8;
  static constexpr size_t kRotationBytes = 32 + 8;  // before the hint

  uint8_t kind = kNotice;  // a model::StatusChange, or kNotice
  uint64_t version = 0;
  Micros at_us = 0;
  std::string_view reason;  // status changes
  // kRotate
  SecretHash hash{};
  Micros previous_valid_until_us = 0;
  std::string_view hint;

  std::string Encode() const {
    std::string out;
    out.reserve(kFixedBytes + kRotationBytes + reason.size() + hint.size());
    out.push_back(static_cast<char>(kind));
    PutBigEndian64(&out, version);
    PutBigEndian64(&out, static_cast<uint64_t>(at_us));
    if (kind == kRotate) {
      out.append(reinterpret_cast<const char*>(hash.data()), hash.size());
      PutBigEndian64(&out, static_cast<uint64_t>(previous_valid_until_us));
      out.append(hint);
    } else {
      out.append(reason);
    }
    return out;
  }

  static Result<RowChange> Decode(std::string_view bytes) {
    if (bytes.size() < kFixedBytes || bytes[0] < 1 || bytes[0] > kRotate ||
        (bytes[0] == kRotate && bytes.size() < kFixedBytes + kRotationBytes)) {
      return Status::Corruption("key row merge operand does not decode");
    }
    RowChange c;
    c.kind = static_cast<uint8_t>(bytes[0]);
    c.version = GetBigEndian64(bytes.substr(1));
    c.at_us = static_cast<Micros>(GetBigEndian64(bytes.substr(9)));
    std::string_view rest = bytes.substr(kFixedBytes);
    if (c.kind == kRotate) {
      std::memcpy(c.hash.data(), rest.data(), c.hash.size());
      c.previous_valid_until_us = static_cast<Micros>(GetBigEndian64(rest.substr(32)));
      c.hint = rest.substr(kRotationBytes);
    } else {
      c.reason = rest;
    }
    return c;
  }

  // What the event does to `r`.
  void ApplyTo(KeyRecord& r) const {
    if (kind == kRotate) {
      r.previous_hash = r.secret_hash;
      r.secret_hash = hash;
      r.previous_valid_until_us = previous_valid_until_us;
      r.hint = std::string(hint);
      r.last_rotated_at_us = at_us;
    } else if (kind != kNotice) {
      const auto change = static_cast<model::StatusChange>(kind);
      const bool was_live = model::IsLive(r.status);
      r.status = model::StatusAfter(r.status, change);
      if (was_live && !model::IsLive(r.status)) r.retired_at_us = at_us;
      switch (change) {
        case model::StatusChange::kRevoke:
          r.revoked_reason = std::string(reason);
          r.suspended_reason.clear();
          break;
        case model::StatusChange::kSuspend:
          r.suspended_reason = std::string(reason);
          break;
        case model::StatusChange::kExpire:
        case model::StatusChange::kResume:
          r.suspended_reason.clear();
          break;
        case model::StatusChange::kRotate:
          break;
      }
    }
    r.version = version;
  }
};

// The row change of a status event, a KeyRotated (with its hash) or a KeyExpiringSoon;
// nullopt for other events.
std::optional<RowChange> RowChangeOf(const fb::Envelope& event) {
  RowChange c;
  c.version = event.aggregate_version();
  c.at_us = event.occurred_at_us();
  auto set = [&](model::StatusChange kind, const flatbuffers::String* reason) {
    c.kind = static_cast<uint8_t>(kind);
    if (reason != nullptr) c.reason = reason->string_view();
    return c;
  };
  switch (event.payload_type()) {
    case fb::Payload::KeyRevoked:
      return set(model::StatusChange::kRevoke, event.payload_as_KeyRevoked()->reason());
    case fb::Payload::KeyExpired:
      return set(model::StatusChange::kExpire, nullptr);
    case fb::Payload::KeySuspended:
      return set(model::StatusChange::kSuspend, event.payload_as_KeySuspended()->reason());
    case fb::Payload::KeyResumed:
      return set(model::StatusChange::kResume, nullptr);
    case fb::Payload::KeyExpiringSoon:
      return c;  // kNotice
    case fb::Payload::KeyRotated: {
      const fb::KeyRotated& p = *event.payload_as_KeyRotated();
      if (p.secret_hash() == nullptr) return std::nullopt;
      c.kind = RowChange::kRotate;
      FromFb(p.secret_hash(), &c.hash);
      c.previous_valid_until_us = p.previous_valid_until_us();
      if (p.hint() != nullptr) c.hint = p.hint()->string_view();
      return c;
    }
    default:
      return std::nullopt;
  }
}

// --- events ---------------------------------------------------------------------------

// Whether a key row read back holds no key: absent, or empty (what a status change merged
// into no row leaves; MergeKeyRow).
bool IsNoKey(const std::optional<std::string>& row) { return !row.has_value() || row->empty(); }

Status KeyNotInView(const fb::Envelope& event, const KeyId& id, std::string_view org) {
  return Status::Corruption(fmt::format("{} for key {} of org {}, which the view lacks",
                                        events::PayloadName(event.payload_type()), FormatKeyId(id),
                                        org));
}

Result<KeyId> EventKeyId(const flatbuffers::String* text) {
  std::optional<KeyId> id;
  if (text != nullptr) id = ParseKeyId(text->string_view());
  if (!id.has_value()) return Status::Corruption("event's key_id is not a key id");
  return *id;
}

Status CheckComponent(std::string_view what, std::string_view value) {
  if (value.size() <= kMaxComponent) return Status::Ok();
  return Status::Corruption(fmt::format("{} longer than {} bytes", what, kMaxComponent));
}

const flatbuffers::String* ChangedKeyId(const fb::Envelope& event) {
  switch (event.payload_type()) {
    case fb::Payload::KeyRotated:
      return event.payload_as_KeyRotated()->key_id();
    case fb::Payload::KeyRevoked:
      return event.payload_as_KeyRevoked()->key_id();
    case fb::Payload::KeyExpired:
      return event.payload_as_KeyExpired()->key_id();
    case fb::Payload::KeyGroupChanged:
      return event.payload_as_KeyGroupChanged()->key_id();
    case fb::Payload::KeySuspended:
      return event.payload_as_KeySuspended()->key_id();
    case fb::Payload::KeyResumed:
      return event.payload_as_KeyResumed()->key_id();
    case fb::Payload::KeyUpdated:
      return event.payload_as_KeyUpdated()->key_id();
    case fb::Payload::KeyExpiringSoon:
      return event.payload_as_KeyExpiringSoon()->key_id();
    default:
      return nullptr;
  }
}

bool ContainsIgnoringCase(std::string_view text, std::string_view part) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return std::search(text.begin(), text.end(), part.begin(), part.end(),
                     [&](char a, char b) { return lower(a) == lower(b); }) != text.end();
}

bool Matches(const KeyRecord& r, const KeyFilter& f) {
  if (f.group.has_value() && r.group_id != *f.group) return false;
  if (f.created_by.has_value() && r.created_by != *f.created_by) return false;
  if (f.status.has_value() && model::StatusAt(r, f.now) != *f.status) return false;
  if (f.expires_before_us.has_value() &&
      (r.expires_at_us == 0 || r.expires_at_us >= *f.expires_before_us)) {
    return false;
  }
  if (f.never_expires.has_value() && (r.expires_at_us == 0) != *f.never_expires) return false;
  if (f.not_rotated_since_us.has_value() &&
      std::max(r.created_at_us, r.last_rotated_at_us) >= *f.not_rotated_since_us) {
    return false;
  }
  if (f.used_before_us.has_value() && r.last_used_at_us >= *f.used_before_us) return false;
  if (f.never_used.has_value() && (r.last_used_at_us == 0) != *f.never_used) return false;
  if (f.idle_before_us.has_value() &&
      std::max(r.created_at_us, r.last_used_at_us) >= *f.idle_before_us) {
    return false;
  }
  if (!f.name_contains.empty() && !ContainsIgnoringCase(r.name, f.name_contains)) return false;
  if (f.breaks_policy.has_value()) {
    const auto& p = *f.breaks_policy;
    const bool never = r.expires_at_us == 0;
    const bool breaks = (never && (p.require_expiry || p.max_lifetime > 0)) ||
                        (!never && p.max_lifetime > 0 && r.expires_at_us - f.now > p.max_lifetime);
    if (!breaks) return false;
  }
  return true;
}

}  // namespace

// --- Apply ----------------------------------------------------------------------------

Status KeyViewProjection::Apply(const LogPosition&, const fb::Envelope& event, ViewBatch& batch) {
  switch (event.payload_type()) {
    case fb::Payload::KeyCreated:
      return ApplyKeyCreated(event, batch);
    case fb::Payload::KeyGroupChanged:
    case fb::Payload::KeyUpdated:
      return ApplyKeyChange(event, batch);
    case fb::Payload::KeyRotated:
    case fb::Payload::KeyRevoked:
    case fb::Payload::KeyExpired:
    case fb::Payload::KeySuspended:
    case fb::Payload::KeyResumed:
    case fb::Payload::KeyExpiringSoon:
      return ApplyStatusChange(event, batch);
    case fb::Payload::GroupCreated:
      return ApplyGroup(event, event.payload_as_GroupCreated()->group_id(), true, batch);
    case fb::Payload::GroupDeleted:
      return ApplyGroup(event, event.payload_as_GroupDeleted()->group_id(), false, batch);
    case fb::Payload::KeysUsed:
      return ApplyKeysUsed(event, batch);
    default:
      return Status::Ok();
  }
}

// Only the rows: verification does not care when a key was used (no Buffer).
Status KeyViewProjection::ApplyKeysUsed(const fb::Envelope& event, ViewBatch& batch) {
  const auto* uses = event.payload_as_KeysUsed()->uses();
  if (uses == nullptr) return Status::Ok();
  const std::string_view org = event.org()->string_view();
  KT_RETURN_IF_ERROR(CheckComponent("org", org));
  for (const fb::KeyUsed* use : *uses) {
    auto id = EventKeyId(use->key_id());
    if (!id.ok()) return id.status();
    const std::string row_key = KeyRowKey(org, *id);
    auto row = batch.Get(row_key);
    if (!row.ok()) return row.status();
    if (IsNoKey(*row)) continue;  // Decide names existing keys only; nothing to note
    auto decoded = DecodeRow(**row);
    if (!decoded.ok()) return decoded.status();
    if (use->used_at_us() <= decoded->last_used_at_us) continue;
    decoded->last_used_at_us = use->used_at_us();
    batch.Put(row_key, EncodeRow(*decoded));
  }
  return Status::Ok();
}

Result<KeyRecord> KeyViewProjection::RecordOfCreated(const fb::Envelope& event) {
  const fb::KeyCreated* created = event.payload_as_KeyCreated();
  if (created == nullptr) return Status::InvalidArgument("not a KeyCreated event");
  const fb::KeyCreated& p = *created;
  auto id = EventKeyId(p.key_id());
  if (!id.ok()) return id.status();
  KeyRecord r;
  r.org = event.org()->str();
  r.key_id = *id;
  r.name = Str(p.name());
  r.group_id = Str(p.group_id());
  FromFb(p.secret_hash(), &r.secret_hash);
  r.hint = Str(p.hint());
  r.created_at_us = event.occurred_at_us();
  r.created_by = Str(p.created_by());
  r.expires_at_us = p.expires_at_us();
  if (p.permissions() != nullptr) {
    for (const flatbuffers::String* s : *p.permissions()) r.permissions.push_back(Str(s));
  }
  r.version = event.aggregate_version();
  KT_RETURN_IF_ERROR(CheckComponent("org", r.org));
  KT_RETURN_IF_ERROR(CheckComponent("group id", r.group_id));
  KT_RETURN_IF_ERROR(CheckComponent("creator", r.created_by));
  if (r.expires_at_us < 0) return Status::Corruption("KeyCreated with a negative expiry");
  return r;
}

Status KeyViewProjection::ApplyKeyCreated(const fb::Envelope& event, ViewBatch& batch) {
  auto created = RecordOfCreated(event);
  if (!created.ok()) return created.status();
  const KeyRecord& r = *created;
  // Not read first: a key id is new (128 random bits), and a writer refuses to fold a
  // second KeyCreated of an id its state has (domain::Evolve), so none reaches the log.
  batch.Put(KeyRowKey(r.org, r.key_id), EncodeRow(r));
  batch.Put(WithId(Prefixed(kGroupIndex, r.org, r.group_id), r.key_id), "");
  batch.Put(WithId(Prefixed(kCreatorIndex, r.org, r.created_by), r.key_id), "");
  Buffer(r);
  return Status::Ok();
}

Status KeyViewProjection::ApplyKeyChange(const fb::Envelope& event, ViewBatch& batch) {
  auto id = EventKeyId(ChangedKeyId(event));
  if (!id.ok()) return id.status();
  const std::string_view org = event.org()->string_view();
  KT_RETURN_IF_ERROR(CheckComponent("org", org));
  const std::string row_key = KeyRowKey(org, *id);
  auto row = batch.Get(row_key);
  if (!row.ok()) return row.status();
  if (IsNoKey(*row)) return KeyNotInView(event, *id, org);
  auto decoded = DecodeRow(**row);
  if (!decoded.ok()) return decoded.status();
  KeyRecord& r = *decoded;
  const std::string group_before = r.group_id;
  if (Status applied = ApplyToRecord(event, r); !applied.ok()) {
    return applied.code() == StatusCode::kInvalidArgument
               ? Status::Internal("ApplyKeyChange: not a key change it reads the row for")
               : applied;
  }
  if (r.group_id != group_before) {  // the group index moves with the row (KeyGroupChanged)
    batch.Delete(WithId(Prefixed(kGroupIndex, org, group_before), r.key_id));
    batch.Put(WithId(Prefixed(kGroupIndex, org, r.group_id), r.key_id), "");
  }
  batch.Put(row_key, EncodeRow(r));
  Buffer(r);
  return Status::Ok();
}

Status KeyViewProjection::ApplyToRecord(const fb::Envelope& event, KeyRecord& r) {
  switch (event.payload_type()) {
    case fb::Payload::KeyRotated: {
      const std::optional<RowChange> rotation = RowChangeOf(event);
      if (!rotation) return Status::Corruption("KeyRotated without a hash");
      rotation->ApplyTo(r);
      break;
    }
    case fb::Payload::KeyUpdated: {
      const fb::KeyUpdated& p = *event.payload_as_KeyUpdated();
      if (p.name_changed()) r.name = Str(p.name());
      if (p.description_changed()) r.description = Str(p.description());
      if (p.expires_changed()) {
        if (p.expires_at_us() < 0) return Status::Corruption("KeyUpdated with a negative expiry");
        r.expires_at_us = p.expires_at_us();
      }
      break;
    }
    case fb::Payload::KeyGroupChanged: {
      const std::string group = Str(event.payload_as_KeyGroupChanged()->group_id());
      KT_RETURN_IF_ERROR(CheckComponent("group id", group));
      r.group_id = group;
      break;
    }
    default:
      return Status::InvalidArgument("not a key change applied to the key's row in place");
  }
  r.version = event.aggregate_version();
  return Status::Ok();
}

Status KeyViewProjection::ApplyGroup(const fb::Envelope& event, const flatbuffers::String* group_id,
                                     bool exists, ViewBatch& batch) {
  if (group_id == nullptr) return Status::Corruption("group event without a group id");
  const std::string_view org = event.org()->string_view();
  const std::string_view group = group_id->string_view();
  KT_RETURN_IF_ERROR(CheckComponent("org", org));
  KT_RETURN_IF_ERROR(CheckComponent("group id", group));
  batch.Put(Prefixed(kGroupRows, org, group), exists ? "1" : "0");
  if (listener_.on_groups)
    pending_groups_.push_back({std::string(org), std::string(group), !exists});
  return Status::Ok();
}

// The row is merged, not read (an expiry burst reads no rows): unlike the other key
// events, one for a key the view has no row of is not refused here (MergeKeyRow).
Status KeyViewProjection::ApplyStatusChange(const fb::Envelope& event, ViewBatch& batch) {
  auto id = EventKeyId(ChangedKeyId(event));
  if (!id.ok()) return id.status();
  const std::string_view org = event.org()->string_view();
  KT_RETURN_IF_ERROR(CheckComponent("org", org));
  const std::optional<RowChange> change = RowChangeOf(event);
  if (!change) {
    return event.payload_type() == fb::Payload::KeyRotated
               ? Status::Corruption("KeyRotated without a hash")
               : Status::Internal("ApplyStatusChange: not a status change");
  }
  KT_RETURN_IF_ERROR(batch.Merge(KeyRowKey(org, *id), change->Encode()));
  if (change->kind != RowChange::kNotice) {
    Buffer({.key_id = *id,
            .change = static_cast<model::StatusChange>(change->kind),
            .at_us = change->at_us,
            .hash = change->hash,
            .previous_valid_until_us = change->previous_valid_until_us});
  }
  return Status::Ok();
}

Result<std::string> KeyViewProjection::MergeKeyRow(std::optional<std::string_view> base,
                                                   std::span<const std::string_view> operands) {
  if (!base || base->empty()) return std::string();  // no key: nothing to change
  const std::string aligned(*base);                  // DecodeRow needs 8-byte alignment
  auto record = DecodeRow(aligned);
  if (!record.ok()) return record.status();
  for (std::string_view operand : operands) {
    auto change = RowChange::Decode(operand);
    if (!change.ok()) return change.status();
    change->ApplyTo(*record);
  }
  return EncodeRow(*record);
}

void KeyViewProjection::Buffer(const KeyRecord& record) {
  if (!listener_.on_keys) return;
  pending_keys_.push_back(record);
  if (pending_runs_.empty() || pending_runs_.back().status_changes) pending_runs_.push_back({});
  ++pending_runs_.back().count;
}

void KeyViewProjection::Buffer(const model::KeyStatusChange& change) {
  if (!listener_.on_status_changes) return;
  pending_status_changes_.push_back(change);
  if (pending_runs_.empty() || !pending_runs_.back().status_changes) {
    pending_runs_.push_back({.status_changes = true});
  }
  ++pending_runs_.back().count;
}

void KeyViewProjection::Committed() {
  if (!pending_groups_.empty()) listener_.on_groups(pending_groups_);
  std::span<const KeyRecord> keys = pending_keys_;
  std::span<const model::KeyStatusChange> changes = pending_status_changes_;
  for (const PendingRun& run : pending_runs_) {
    if (run.status_changes) {
      listener_.on_status_changes(changes.first(run.count));
      changes = changes.subspan(run.count);
    } else {
      listener_.on_keys(keys.first(run.count));
      keys = keys.subspan(run.count);
    }
  }
  Aborted();
}

void KeyViewProjection::Aborted() {
  pending_groups_.clear();
  pending_keys_.clear();
  pending_status_changes_.clear();
  pending_runs_.clear();
}

// --- reads ----------------------------------------------------------------------------

Result<std::optional<KeyRecord>> KeyViewProjection::GetKey(ViewStore& store, std::string_view org,
                                                           const KeyId& key_id) {
  if (org.size() > kMaxComponent) return std::optional<KeyRecord>();
  auto row = store.Get(KeyRowKey(org, key_id));
  if (!row.ok()) return row.status();
  if (IsNoKey(*row)) return std::optional<KeyRecord>();
  auto record = DecodeRow(**row);
  if (!record.ok()) return record.status();
  return std::optional<KeyRecord>(std::move(record).value());
}

namespace {

// The rows of the narrowest index for `filter`: the group index if it names a group, else
// the creator index if it names a creator, else the org's key rows. Each row ends with
// the key id.
std::string IndexPrefix(std::string_view org, const KeyFilter& filter) {
  if (filter.group.has_value()) return Prefixed(kGroupIndex, org, *filter.group);
  if (filter.created_by.has_value()) return Prefixed(kCreatorIndex, org, *filter.created_by);
  return Prefixed(kKeyRows, org);
}

// One field's place in a KeyOrder: a number, or a name.
struct SortValue {
  Micros number = 0;
  std::string name;
  friend auto operator<=>(const SortValue&, const SortValue&) = default;
};

SortValue SortValueOf(const KeyRecord& r, model::KeyOrder::Field field) {
  using Field = model::KeyOrder::Field;
  switch (field) {
    case Field::kName: {  // ignoring ASCII case, as people read a list
      std::string folded = r.name;
      for (char& c : folded) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      return {0, std::move(folded)};
    }
    case Field::kCreatedAt:
      return {r.created_at_us, {}};
    case Field::kExpiresAt:  // never expiring: after every expiry
      return {r.expires_at_us == 0 ? std::numeric_limits<Micros>::max() : r.expires_at_us, {}};
    case Field::kLastUsedAt:  // never used: before every use
      return {r.last_used_at_us, {}};
    case Field::kId:
      break;
  }
  return {};
}

char FieldTag(model::KeyOrder::Field field) {
  using Field = model::KeyOrder::Field;
  switch (field) {
    case Field::kName:
      return 'n';
    case Field::kCreatedAt:
      return 'c';
    case Field::kExpiresAt:
      return 'e';
    case Field::kLastUsedAt:
      return 'u';
    case Field::kId:
      break;
  }
  return 'i';
}

// A sorted list's page token: "<field><a|d>.<value>.<key id>", the value a decimal
// number or a name in hex, so any name fits.
std::string SortToken(const model::KeyOrder& order, const SortValue& value, const KeyId& id) {
  std::string text;
  if (order.field == model::KeyOrder::Field::kName) {
    for (unsigned char c : value.name) text += fmt::format("{:02x}", c);
  } else {
    text = std::to_string(value.number);
  }
  return fmt::format("{}{}.{}.{}", FieldTag(order.field), order.descending ? 'd' : 'a', text,
                     FormatKeyId(id));
}

std::optional<std::pair<SortValue, KeyId>> ParseSortToken(const model::KeyOrder& order,
                                                          std::string_view token) {
  const size_t first = token.find('.');
  const size_t last = token.rfind('.');
  if (first != 2 || last == first || token[0] != FieldTag(order.field) ||
      token[1] != (order.descending ? 'd' : 'a')) {
    return std::nullopt;
  }
  auto id = ParseKeyId(token.substr(last + 1));
  if (!id) return std::nullopt;
  const std::string_view text = token.substr(first + 1, last - first - 1);
  SortValue value;
  if (order.field == model::KeyOrder::Field::kName) {
    if (text.size() % 2 != 0 || text.size() > 2 * kMaxComponent) return std::nullopt;
    for (size_t i = 0; i < text.size(); i += 2) {
      unsigned byte = 0;
      auto [end, ec] = std::from_chars(text.data() + i, text.data() + i + 2, byte, 16);
      if (ec != std::errc() || end != text.data() + i + 2) return std::nullopt;
      value.name.push_back(static_cast<char>(byte));
    }
  } else {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value.number);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  }
  return std::pair{std::move(value), *id};
}

}  // namespace

Status KeyViewProjection::ScanMatching(ViewStore& store, std::string_view org,
                                       const KeyFilter& filter, std::optional<KeyId> after,
                                       const std::function<bool(KeyRecord, bool matches)>& visit) {
  const std::string prefix = IndexPrefix(org, filter);
  const bool main_rows = !filter.group.has_value() && !filter.created_by.has_value();
  std::string begin = prefix;
  if (after.has_value()) {
    PutId(&begin, *after);
    begin.push_back('\0');  // the least key after the token's own row
  }
  Status failed;
  std::string aligned;  // scan values carry no alignment guarantee; rows need 8 bytes
  Status s =
      store.Scan(begin, PrefixEnd(prefix), [&](std::string_view key, std::string_view value) {
        KeyId id;
        if (!GetLastId(key.substr(prefix.size()), &id)) {
          failed = Status::Corruption("key view: malformed index row");
          return false;
        }
        if (main_rows) {
          if (value.empty()) return true;  // no key (IsNoKey)
          aligned.assign(value);
          auto decoded = DecodeRow(aligned);
          if (!decoded.ok()) {
            failed = decoded.status();
            return false;
          }
          const bool matches = Matches(*decoded, filter);
          return visit(std::move(decoded).value(), matches);
        }
        auto got = GetKey(store, org, id);
        if (!got.ok()) {
          failed = got.status();
          return false;
        }
        // A row moved or created since the scan began may be missing or no longer match;
        // the filters are checked against the row itself.
        if (!got->has_value()) return true;
        const bool matches = Matches(**got, filter);
        return visit(std::move(**got), matches);
      });
  KT_RETURN_IF_ERROR(s);
  return failed;
}

Result<KeyPage> KeyViewProjection::ListKeys(ViewStore& store, std::string_view org,
                                            const KeyFilter& filter, size_t page_size,
                                            std::string_view page_token,
                                            const model::KeyOrder& order) {
  if (page_size == 0 || page_size > kMaxPageSize) {
    return Status::InvalidArgument(fmt::format("page size must be 1..{}", kMaxPageSize));
  }
  if (order.field != model::KeyOrder::Field::kId || order.descending) {
    return ListKeysSorted(store, org, filter, page_size, page_token, order);
  }
  std::optional<KeyId> after;
  if (!page_token.empty()) {
    after = ParseKeyId(page_token);
    if (!after.has_value()) return Status::InvalidArgument("malformed page token");
  }
  KeyPage page;
  if (org.size() > kMaxComponent || (filter.group && filter.group->size() > kMaxComponent) ||
      (filter.created_by && filter.created_by->size() > kMaxComponent)) {
    return page;  // no such rows
  }
  bool more = false;
  size_t scanned = 0;
  KeyId last_read;  // the token of a page cut short by kMaxRowsScannedPerPage
  bool cut_short = false;
  KT_RETURN_IF_ERROR(ScanMatching(store, org, filter, after, [&](KeyRecord record, bool matches) {
    last_read = record.key_id;
    if (matches) {
      if (page.keys.size() == page_size) {
        more = true;
        return false;
      }
      page.keys.push_back(std::move(record));
    }
    if (++scanned == kMaxRowsScannedPerPage) {
      cut_short = true;
      return false;
    }
    return true;
  }));
  if (more) page.next_page_token = FormatKeyId(page.keys.back().key_id);
  if (cut_short) page.next_page_token = FormatKeyId(last_read);
  return page;
}

Result<KeyPage> KeyViewProjection::ListKeysSorted(ViewStore& store, std::string_view org,
                                                  const KeyFilter& filter, size_t page_size,
                                                  std::string_view page_token,
                                                  const model::KeyOrder& order) {
  std::optional<std::pair<SortValue, KeyId>> after;
  if (!page_token.empty()) {
    after = ParseSortToken(order, page_token);
    if (!after) return Status::InvalidArgument("malformed page token");
  }
  KeyPage page;
  if (org.size() > kMaxComponent || (filter.group && filter.group->size() > kMaxComponent) ||
      (filter.created_by && filter.created_by->size() > kMaxComponent)) {
    return page;  // no such rows
  }
  // Every matching row after the token is a candidate; the page_size + 1 first in the
  // order are kept in a heap whose top is the last of them.
  using Entry = std::pair<SortValue, KeyRecord>;
  auto before = [&order](const SortValue& av, const KeyId& a, const SortValue& bv, const KeyId& b) {
    if (av != bv) return order.descending ? bv < av : av < bv;
    return order.descending ? b < a : a < b;
  };
  auto heap_less = [&](const Entry& a, const Entry& b) {
    return before(a.first, a.second.key_id, b.first, b.second.key_id);
  };
  std::vector<Entry> kept;
  size_t scanned = 0;
  bool too_many = false;
  KT_RETURN_IF_ERROR(
      ScanMatching(store, org, filter, std::nullopt, [&](KeyRecord record, bool matches) {
        if (++scanned > kMaxRowsSorted) {
          too_many = true;
          return false;
        }
        if (!matches) return true;
        SortValue value = SortValueOf(record, order.field);
        if (after && !before(after->first, after->second, value, record.key_id)) {
          return true;  // on an earlier page
        }
        kept.emplace_back(std::move(value), std::move(record));
        std::push_heap(kept.begin(), kept.end(), heap_less);
        if (kept.size() > page_size + 1) {
          std::pop_heap(kept.begin(), kept.end(), heap_less);
          kept.pop_back();
        }
        return true;
      }));
  if (too_many) {
    return Status::InvalidArgument(
        fmt::format("more than {} keys to sort: narrow the list with filters (group, "
                    "created_by) or list in key id order",
                    kMaxRowsSorted));
  }
  std::sort_heap(kept.begin(), kept.end(), heap_less);
  const bool more = kept.size() > page_size;
  if (more) kept.pop_back();
  for (auto& [value, record] : kept) page.keys.push_back(std::move(record));
  if (more) {
    const KeyRecord& last = page.keys.back();
    page.next_page_token = SortToken(order, SortValueOf(last, order.field), last.key_id);
  }
  return page;
}

Status KeyViewProjection::ForEachKey(ViewStore& store,
                                     const std::function<bool(const KeyRecord&)>& visit) {
  Status failed;
  std::string aligned;
  Status s = store.Scan(kKeyRows, PrefixEnd(std::string(kKeyRows)),
                        [&](std::string_view, std::string_view value) {
                          if (value.empty()) return true;  // no key (IsNoKey)
                          aligned.assign(value);
                          auto record = DecodeRow(aligned);
                          if (!record.ok()) {
                            failed = record.status();
                            return false;
                          }
                          return visit(*record);
                        });
  KT_RETURN_IF_ERROR(s);
  return failed;
}

Status KeyViewProjection::ForEachGroup(
    ViewStore& store,
    const std::function<bool(std::string_view org, std::string_view group, bool exists)>& visit) {
  Status failed;
  Status s = store.Scan(kGroupRows, PrefixEnd(std::string(kGroupRows)),
                        [&](std::string_view key, std::string_view value) {
                          std::string_view rest = key.substr(kGroupRows.size());
                          std::string_view org, group;
                          if (!GetComponent(&rest, &org) || !GetComponent(&rest, &group) ||
                              !rest.empty() || (value != "1" && value != "0")) {
                            failed = Status::Corruption("key view: malformed group row");
                            return false;
                          }
                          return visit(org, group, value == "1");
                        });
  KT_RETURN_IF_ERROR(s);
  return failed;
}

Result<bool> KeyViewProjection::GroupExists(ViewStore& store, std::string_view org,
                                            std::string_view group) {
  if (org.size() > kMaxComponent || group.size() > kMaxComponent) return false;
  auto row = store.Get(Prefixed(kGroupRows, org, group));
  if (!row.ok()) return row.status();
  return row->has_value() && **row == "1";
}

}  // namespace keytrail::projections
