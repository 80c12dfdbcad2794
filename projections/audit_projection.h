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
// Rows (c(x) as in row_key.h; pos = partition 4 bytes BE ‖ offset 8 bytes BE; an entry =
// log time 8 bytes BE ‖ pos):
//   "aud/r/" ‖ pos                           -> record
//   "aud/h/" ‖ partition (4 BE)              -> SHA-256 of the last record ‖ its offset (8 BE)
//                                               ‖ its log time (8 BE)
//   "aud/n/" ‖ c(org) ‖ c(key id)            -> the key's name (for actor.key_name)
//   "aud/i/" ‖ index ‖ c(org) [‖ c(value)] ‖ entry -> entries
// with index 't' (every record of the org), 'k' (target key), 'a' (actor id),
// 'c' (action).
//
// A record's log time is its occurred_at, or the log time of the partition's previous
// record if that is later (a writer whose clock ran behind): it never decreases along a
// partition, and an org's records all sit in one partition, so ordering an org's entries by
// (log time, pos) is ordering them as the log holds them. Queries list records in that
// order and apply their time range to log times (which differ from occurred_at only after
// a clock ran backwards).
//
// Index rows are packed: a projector run (Seal) writes one row per index value it touched,
// holding that run's entries in order (20 bytes each), keyed by its last entry. Runs follow
// each other in log order, so an index value's rows never overlap and a seek to an entry
// lands on the row that holds it or the first after it. A run of 10,000 events writes a
// handful of 't', 'a' and 'c' rows instead of 30,000. An index row with an empty value
// (written before packing) holds the one entry of its key. A chain head of 40 bytes
// (before log times) has no log time: the record it names gives it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
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

  // One page of the org's records matching `filter`, in log order (by log time, then log
  // position; see above), continuing after `page_token` (from a previous page of the same
  // query). Records appended later sort after those already listed, so paging is stable
  // under writes. `filter.from` and `filter.to` apply to log times.
  // A page examines at most `max_examined` index entries: filters that the chosen index
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

  // Calls `emit` with the rows a stored row stands for when two stores are compared
  // (projections/view_compare.h): for an index row of several well-formed entries, one
  // row per entry (the row's prefix ‖ the entry, empty value, as a row of one entry is
  // written); for a chain head, its hash ‖ offset (the log time it also holds follows
  // from the records, and a head written before log times has none); any other row as
  // it is. Stores whose runs ended at other offsets pack the same entries into other
  // rows, and stores written before log times hold shorter heads: this way they agree.
  static void CanonicalRows(
      std::string_view key, std::string_view value,
      const std::function<void(std::string_view key, std::string_view value)>& emit);

  // Writes the run's index entries, one row per index value (see above).
  Status Seal(ViewBatch& batch) override;
  // Both forget the run's entries (Seal wrote them into the batch, or the run was dropped).
  void Committed() override { pending_index_.clear(); }
  void Aborted() override { pending_index_.clear(); }

 private:
  // The run's index entries so far, by index row prefix: entries appended in log order.
  std::unordered_map<std::string, std::string> pending_index_;
};

}  // namespace keytrail::projections
