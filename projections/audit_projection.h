// AuditProjection: one audit record per event, hash-chained per partition, indexed for
// compliance queries.
//
// A record is a JSON object (keys sorted, no whitespace: the bytes nlohmann::json's dump()
// prints, written directly by JsonWriter), never holding a secret:
//   {"action": "api_key.created", "actor": {"kind": "key", "id": ..., "key_name": ...,
//    "on_behalf_of": ...}, "details": {...}, "event_id": ..., "occurred_at_us": ...,
//    "offset": ..., "org": ..., "partition": ..., "prev_hash": "<64 hex>",
//    "target": {"type": "api_key" | "group" | "member" | "org", "id": ...}}
// `prev_hash` is the SHA-256 of the previous record's stored bytes in the same partition
// (64 zeros for the first), so changing, removing or reordering any stored record breaks
// the chain at that record (VerifyChain).
//
// An event the epoch fence refused (events/epoch_fence.h: written by a writer that had
// lost its partition) gets a record instead of its own: action "event.fenced", the
// event's actor, target {"type": "log_record", "id": "<partition>/<offset>"}, details
// {current_epoch, current_node, payload, writer_epoch}. A WriterClaimed is
// "writer.claimed", target {"type": "partition", "id": "<partition>"}, details
// {advertise_url, epoch, node_id}, under the claim's reserved record key as its org.
//
// A record an operator skipped (Projector::Skip) gets a record too, so the trail stays
// complete (one record per log offset) and the chain unbroken: action
// "projector.skipped", actor {"kind": "operator", "id": <OS user>}, target
// {"type": "log_record", "id": "<partition>/<offset>"}, details {reason, error},
// occurred_at_us = the time of the skip, org = the record's log key, no event_id.
//
// Rows (c(x) as in row_key.h; time = occurred_at_us, 8 bytes BE; pos = partition 4 bytes
// BE ‖ offset 8 bytes BE):
//   "aud/r/" ‖ pos                                  -> record
//   "aud/h/" ‖ partition (4 BE)                     -> SHA-256 of the last record ‖ offset
//   "aud/n/" ‖ c(org) ‖ c(key id)                   -> the key's name (for actor.key_name)
//   "aud/i/" ‖ index ‖ c(org) [‖ c(value)] ‖ time ‖ pos -> ""
// with index 't' (every record of the org), 'k' (target key), 'a' (actor id),
// 'c' (action).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "model/audit.h"
#include "projections/projection.h"

namespace keytrail::projections {

using model::AuditChainReport;
using model::AuditFilter;
using model::AuditPage;
using model::AuditRecord;

class AuditProjection final : public Projection {
 public:
  static constexpr size_t kMaxPageSize = 1000;

  std::string_view prefix() const override { return "aud/"; }
  Status Apply(const LogPosition& position, const fb::Envelope& event, ViewBatch& batch) override;
  Status ApplySkipped(const LogPosition& position, const SkippedRecord& skip,
                      ViewBatch& batch) override;
  Status ApplyFenced(const LogPosition& position, const fb::Envelope& event,
                     const events::PartitionClaim& current, ViewBatch& batch) override;

  // One page of the org's records matching `filter`, in (time, log position) order,
  // continuing after `page_token` (from a previous page of the same query). Records
  // appended later sort after those already listed, so paging is stable under writes.
  // A page examines at most `max_examined` index rows: filters that the chosen index
  // does not apply (actor and action together) may match rarely, and then a page comes
  // back short, even empty, with a token that continues the scan.
  // kInvalidArgument for a malformed token.
  static constexpr size_t kMaxRowsExaminedPerPage = 10'000;
  static Result<AuditPage> Query(ViewStore& store, std::string_view org, const AuditFilter& filter,
                                 size_t page_size, std::string_view page_token,
                                 size_t max_examined = kMaxRowsExaminedPerPage);

  // Every matching record in order, without holding them all; `visit` returns false to
  // stop.
  static Status ForEach(ViewStore& store, std::string_view org, const AuditFilter& filter,
                        const std::function<bool(const AuditRecord& record)>& visit);

  // Recomputes every partition's chain and compares it with each record's prev_hash and
  // the stored chain heads.
  static Result<AuditChainReport> VerifyChain(ViewStore& store);

  // The stored row key of the record at `position` (for tests and operator tools).
  static std::string RecordKey(const LogPosition& position);
};

}  // namespace keytrail::projections
