// Queries: the engine's read side, the one way server/ (and every other caller above the
// engine) reads state. Answers are typed values (model/, domain/); nothing here hands out
// the view store or stored bytes to parse.
//
// Live answers come from the views, which hold every acknowledged command (a writer
// answers only after its views commit). Point-in-time answers fold the org's events up
// to T with the domain's own Evolve, so "then" and "now" are one fold: the views'
// indexes only find which offsets to read, the events themselves are read from the log.
//
// Thread-safe: any number of threads may call anything concurrently with the writers.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "engine/domain/org_state.h"
#include "keys/key_material.h"
#include "model/audit.h"
#include "model/keys.h"

namespace keytrail {
namespace events {
class EventLog;
}  // namespace events
namespace projections {
class ViewStore;
}  // namespace projections

class Queries {
 public:
  static constexpr size_t kMaxKeyPageSize = 1000;
  static constexpr size_t kMaxAuditPageSize = 1000;

  // Borrows the log and the views; both must outlive this object.
  Queries(events::EventLog& log, projections::ViewStore& views) : log_(log), views_(views) {}
  Queries(const Queries&) = delete;
  Queries& operator=(const Queries&) = delete;

  // The key as the views hold it now, or nullopt if `org` has no such key.
  Result<std::optional<model::KeyRecord>> GetKey(std::string_view org, const KeyId& id) const;

  // The key as a CreateKey command made it, from its KeyCreated event (the first of
  // CommandOutcome::events): what GetKey returns until the key's next event, without
  // reading the views. Errors: kInvalidArgument if `event` is not an encoded KeyCreated.
  static Result<model::KeyRecord> CreatedKey(std::string_view event);
  // The key `before` (as GetKey returned it) after `events` (CommandOutcome::events of a
  // command on it: rotated, updated, group changed), as the key view applies them;
  // nullopt if another event of the key came between (the first one's version is not the
  // next after before's): then read it with GetKey. What KeysUsed changes (last_used_at,
  // which moves no version) is as `before` had it. Errors: kInvalidArgument for events
  // that do not decode, are not of this key or are not such changes.
  static Result<std::optional<model::KeyRecord>> KeyAfter(model::KeyRecord before,
                                                          std::span<const std::string> events);

  // One page of `org`'s keys matching `filter`, in `order` (key id by default), after
  // `page_token` (empty: from the first; else a token this returned for the same order).
  // In key id order a page reads a bounded number of rows: a rarely matching filter may
  // get a short page with a token to continue; in another order every key of the
  // narrowest index is examined (projections/key_view.h). kInvalidArgument for a page
  // size outside 1..kMaxKeyPageSize, a foreign token, or too many keys to sort.
  Result<model::KeyPage> ListKeys(std::string_view org, const model::KeyFilter& filter,
                                  size_t page_size, std::string_view page_token,
                                  const model::KeyOrder& order = {}) const;

  // One page of `org`'s audit records matching `filter`, in (time, log position) order,
  // after `page_token`. Records appended later sort after those already listed, so
  // paging is stable under writes. kInvalidArgument for a malformed token or a page size
  // outside 1..kMaxAuditPageSize.
  Result<model::AuditPage> AuditPage(std::string_view org, const model::AuditFilter& filter,
                                     size_t page_size, std::string_view page_token) const;

  // Every audit record of the key `key_id` of `org`, in log order.
  Result<std::vector<model::AuditRecord>> KeyHistory(std::string_view org,
                                                     std::string_view key_id) const;

  // Recomputes every partition's audit hash chain and compares it with the stored one.
  Result<model::AuditChainReport> VerifyAuditChain() const;

  // Whether `org` was ever created.
  Result<bool> OrgExists(std::string_view org) const;

  // The key `key_id` of `org` as it was at `t` (inclusive): name, group, expiry, status
  // and creator as Evolve folds them from the key's events up to t, with the display
  // facts those events carry (hint, permissions, creation and rotation times, revoke
  // reason). Status is by event only (revoked, expired); expiry by time is the caller's
  // to apply, as for live keys. nullopt if the key did not exist yet. No secret hash.
  Result<std::optional<model::KeyRecord>> KeyAsOf(std::string_view org, std::string_view key_id,
                                                  Micros t) const;

  // The groups (with their rules) and members of `org` as they were at `t` (inclusive),
  // folded by Evolve from the org's group and member events up to t.
  Result<domain::GroupDirectory> DirectoryAsOf(std::string_view org, Micros t) const;

 private:
  // Reads the events of `org` at `offsets` from the log, verified, and visits them in
  // offset order.
  Status ReadEvents(std::string_view org, std::vector<int64_t> offsets,
                    const std::function<Status(const fb::Envelope&)>& visit) const;
  // Offsets of `org`'s group and member events up to `t`, appended to `offsets`.
  Status DirectoryOffsets(std::string_view org, Micros t, std::vector<int64_t>& offsets) const;

  events::EventLog& log_;
  projections::ViewStore& views_;
};

}  // namespace keytrail
