#include "engine/queries.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "events/codec.h"
#include "events/event_log.h"
#include "projections/audit_projection.h"
#include "projections/key_view.h"

namespace keytrail {
namespace {

using projections::AuditProjection;
using projections::KeyViewProjection;

static_assert(Queries::kMaxKeyPageSize == KeyViewProjection::kMaxPageSize);
static_assert(Queries::kMaxAuditPageSize == AuditProjection::kMaxPageSize);

// How long a point-in-time read waits for a record the log already holds.
constexpr std::chrono::milliseconds kReadWait{5000};

// The audit actions of the events that change an org's groups and members.
constexpr std::string_view kDirectoryActions[] = {"group.created", "group.rules_updated",
                                                  "group.deleted", "member.groups_updated"};

std::string Str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

// The display facts of a key event that OrgState does not keep (it holds only what
// Decide needs).
void NoteFacts(const fb::Envelope& event, model::KeyRecord& key) {
  switch (event.payload_type()) {
    case fb::Payload::KeyCreated: {
      const auto* p = event.payload_as_KeyCreated();
      key.created_at_us = event.occurred_at_us();
      key.hint = Str(p->hint());
      key.permissions.clear();
      if (p->permissions() != nullptr) {
        for (const flatbuffers::String* permission : *p->permissions()) {
          key.permissions.push_back(Str(permission));
        }
      }
      break;
    }
    case fb::Payload::KeyRotated: {
      const auto* p = event.payload_as_KeyRotated();
      key.hint = Str(p->hint());
      key.last_rotated_at_us = event.occurred_at_us();
      key.previous_valid_until_us = p->previous_valid_until_us();
      break;
    }
    case fb::Payload::KeyRevoked:
      key.revoked_reason = Str(event.payload_as_KeyRevoked()->reason());
      break;
    case fb::Payload::KeyUpdated:
      if (event.payload_as_KeyUpdated()->description_changed()) {
        key.description = Str(event.payload_as_KeyUpdated()->description());
      }
      break;
    default:
      break;
  }
}

model::KeyStatus ModelStatus(domain::KeyStatus status) {
  switch (status) {
    case domain::KeyStatus::kRevoked:
      return model::KeyStatus::kRevoked;
    case domain::KeyStatus::kExpired:
      return model::KeyStatus::kExpired;
    case domain::KeyStatus::kActive:
      break;
  }
  return model::KeyStatus::kActive;
}

}  // namespace

Result<std::optional<model::KeyRecord>> Queries::GetKey(std::string_view org,
                                                        const KeyId& id) const {
  return KeyViewProjection::GetKey(views_, org, id);
}

Result<model::KeyRecord> Queries::CreatedKey(std::string_view event) {
  auto decoded = events::Decode(event);
  if (!decoded.ok()) return Status::InvalidArgument(decoded.status().message());
  return KeyViewProjection::RecordOfCreated(**decoded);
}

Result<std::optional<model::KeyRecord>> Queries::KeyAfter(model::KeyRecord before,
                                                          std::span<const std::string> events) {
  uint64_t version = before.version;
  for (const std::string& bytes : events) {
    auto decoded = events::Decode(bytes);
    if (!decoded.ok()) return Status::InvalidArgument(decoded.status().message());
    const fb::Envelope& event = **decoded;
    if (Str(event.org()) != before.org || Str(event.aggregate_id()) != FormatKeyId(before.key_id)) {
      return Status::InvalidArgument("an event of another key");
    }
    if (event.aggregate_version() != version + 1) return std::optional<model::KeyRecord>();
    KT_RETURN_IF_ERROR(KeyViewProjection::ApplyToRecord(event, before));
    version = before.version;
  }
  return std::optional<model::KeyRecord>(std::move(before));
}

Result<model::KeyPage> Queries::ListKeys(std::string_view org, const model::KeyFilter& filter,
                                         size_t page_size, std::string_view page_token,
                                         const model::KeyOrder& order) const {
  return KeyViewProjection::ListKeys(views_, org, filter, page_size, page_token, order);
}

Result<model::AuditPage> Queries::AuditPage(std::string_view org, const model::AuditFilter& filter,
                                            size_t page_size, std::string_view page_token) const {
  if (page_size == 0 || page_size > kMaxAuditPageSize) {
    return Status::InvalidArgument(fmt::format("page size must be 1..{}", kMaxAuditPageSize));
  }
  return AuditProjection::Query(views_, org, filter, page_size, page_token);
}

Result<std::vector<model::AuditRecord>> Queries::KeyHistory(std::string_view org,
                                                            std::string_view key_id) const {
  std::vector<model::AuditRecord> records;
  KT_RETURN_IF_ERROR(AuditProjection::ForEach(views_, org, {.key = std::string(key_id)},
                                              [&](const model::AuditRecord& record) {
                                                records.push_back(record);
                                                return true;
                                              }));
  // The index orders by log time, then log position: log order already, except among
  // records of views written before log times (docs/audit.md); the position is the truth.
  std::stable_sort(records.begin(), records.end(),
                   [](const auto& a, const auto& b) { return a.offset < b.offset; });
  return records;
}

Result<model::AuditChainReport> Queries::VerifyAuditChain() const {
  return AuditProjection::VerifyChain(views_);
}

Result<bool> Queries::OrgExists(std::string_view org) const {
  auto created = AuditProjection::Query(views_, org, {.action = "org.created"}, 1, "");
  if (!created.ok()) return created.status();
  return !created->records.empty();
}

Status Queries::ReadEvents(std::string_view org, std::vector<int64_t> offsets,
                           const std::function<Status(const fb::Envelope&)>& visit) const {
  std::sort(offsets.begin(), offsets.end());
  offsets.erase(std::unique(offsets.begin(), offsets.end()), offsets.end());
  const int32_t partition = log_.PartitionFor(org);
  size_t i = 0;
  while (i < offsets.size()) {
    // One reader per run of consecutive offsets.
    size_t run = 1;
    while (i + run < offsets.size() && offsets[i + run] == offsets[i] + int64_t(run)) ++run;
    auto reader = log_.OpenReader(partition, offsets[i]);
    if (!reader.ok()) return reader.status();
    size_t read = 0;
    while (read < run) {
      auto records = (*reader)->Next(run - read, kReadWait);
      if (!records.ok()) return records.status();
      if (records->empty()) {
        return Status::Unavailable(
            fmt::format("log record {}/{} not readable in time", partition, offsets[i + read]));
      }
      for (const events::LogRecord& record : *records) {
        if (read == run) break;
        if (record.offset != offsets[i + read]) {
          return Status::Corruption(
              fmt::format("log returned offset {} for {}", record.offset, offsets[i + read]));
        }
        auto event = events::Decode(record.value);
        if (!event.ok()) return event.status();
        if ((*event)->org() == nullptr || (*event)->org()->string_view() != org) {
          return Status::Corruption(
              fmt::format("log record {}/{} is not of org '{}'", partition, record.offset, org));
        }
        KT_RETURN_IF_ERROR(visit(**event));
        ++read;
      }
    }
    i += run;
  }
  return Status::Ok();
}

Status Queries::DirectoryOffsets(std::string_view org, Micros t,
                                 std::vector<int64_t>& offsets) const {
  for (std::string_view action : kDirectoryActions) {
    KT_RETURN_IF_ERROR(AuditProjection::ForEach(views_, org,
                                                {.action = std::string(action), .to = t + 1},
                                                [&](const model::AuditRecord& record) {
                                                  offsets.push_back(record.offset);
                                                  return true;
                                                }));
  }
  return Status::Ok();
}

Result<std::optional<model::KeyRecord>> Queries::KeyAsOf(std::string_view org,
                                                         std::string_view key_id, Micros t) const {
  const std::optional<KeyId> id = ParseKeyId(key_id);
  if (!id) return std::optional<model::KeyRecord>();
  std::vector<int64_t> offsets;
  KT_RETURN_IF_ERROR(AuditProjection::ForEach(views_, org,
                                              {.key = std::string(key_id), .to = t + 1},
                                              [&](const model::AuditRecord& record) {
                                                offsets.push_back(record.offset);
                                                return true;
                                              }));
  if (offsets.empty()) return std::optional<model::KeyRecord>();

  domain::OrgState state;
  state.id = std::string(org);
  model::KeyRecord key;
  KT_RETURN_IF_ERROR(ReadEvents(org, std::move(offsets), [&](const fb::Envelope& event) {
    KT_RETURN_IF_ERROR(domain::Evolve(state, event));
    NoteFacts(event, key);
    return Status::Ok();
  }));
  const domain::KeyState* folded = state.FindKey(*id);
  if (folded == nullptr) return std::optional<model::KeyRecord>();
  key.org = std::string(org);
  key.key_id = folded->id;
  key.name = std::string(state.keys.NameOf(*folded));
  key.group_id = std::string(state.GroupOf(*folded));
  key.created_by = std::string(state.CreatorOf(*folded));
  key.expires_at_us = folded->expires_at;
  key.status = ModelStatus(folded->status);
  if (folded->suspended && key.status == model::KeyStatus::kActive) {
    key.status = model::KeyStatus::kSuspended;
  }
  key.version = folded->version;
  return std::optional<model::KeyRecord>(std::move(key));
}

Result<domain::GroupDirectory> Queries::DirectoryAsOf(std::string_view org, Micros t) const {
  std::vector<int64_t> offsets;
  KT_RETURN_IF_ERROR(DirectoryOffsets(org, t, offsets));
  domain::OrgState state;
  state.id = std::string(org);
  KT_RETURN_IF_ERROR(ReadEvents(org, std::move(offsets), [&](const fb::Envelope& event) {
    return domain::Evolve(state, event);
  }));
  return domain::GroupDirectory(std::move(state));
}

}  // namespace keytrail
