// KeyViewProjection: every key's current state, indexed by org, group and creator, plus
// which groups exist. The engine reads it to list and show keys, and the verify index
// (engine/verify_index.h) is rebuilt from it and kept in step with it through the
// listener. (No index by expiry: the scheduler's timers live in the writers' memory,
// derived from the state they fold from the log; see engine/timer_queue.h.)
//
// Rows. c(x) = len16(x) ‖ x (2-byte big-endian length), so distinct (org, group, ...)
// tuples never share a key; `id` is the key id's 16 raw bytes, so rows sort by key id.
//   "key/"  ‖ c(org) ‖ id                          -> KeyRow (schemas/views.fbs)
//   "kgrp/" ‖ c(org) ‖ c(group) ‖ id               -> ""
//   "kcre/" ‖ c(org) ‖ c(created_by) ‖ id          -> ""
//   "grp/"  ‖ c(org) ‖ c(group)                    -> "1" exists, "0" deleted
// This projection owns all four prefixes.
//
// Events (conventions of the domain code that writes them): the payload's key_id is
// FormatKeyId(id); created_at = occurred_at of KeyCreated; last_rotated_at = occurred_at
// of the latest KeyRotated; version = aggregate_version of the key's latest event.
//   KeyCreated       key/, kgrp/, kcre/
//   KeyRotated       previous hash := current hash, current := new; hint; grace deadline
//   KeyRevoked       status Revoked (+ reason), retired_at
//   KeyExpired       status Expired, retired_at. Revoked stays Revoked.
//   KeySuspended     status Suspended (+ reason);  KeyResumed  status Active
//   KeyGroupChanged  group; kgrp/ row moved (from the row's group, not the event's)
//   GroupCreated     grp/ "1";  GroupDeleted  grp/ "0"
//   anything else    ignored
// KeyRotated, the status events above and KeyExpiringSoon (only the version moves) need
// nothing from the key's row, so they are written as merge operands of it
// (ViewBatch::Merge, MergeKeyRow), which RocksDB applies when the row is read or
// compacted: an expiry burst or a run of rotations reads no rows. An operand is
//   kind (1 byte: model::StatusChange, or 5 for KeyExpiringSoon) ‖ version (8) ‖
//   occurred_at (8) ‖ reason (the rest), integers big-endian; for kRotate (6) the rest is
//   the new hash (32) ‖ previous_valid_until (8) ‖ hint.
// An empty key row is no key (a status event or rotation merged into no row leaves one: the key
// view does not read the row to refuse it; in the engine the writers' fold of the same run refuses
// an event for an unknown key). Refused with kCorruption, which halts the projector: a key event
// other than those whose key has no row, a key_id that is not a key id's text form, a KeyRotated
// without a hash, a negative expiry, an org/group/creator longer than 65535 bytes. (A second
// KeyCreated for one id is the writers' to refuse: the view does not read for it.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "keys/key_material.h"
#include "model/keys.h"
#include "projections/projection.h"

namespace keytrail::projections {

using model::KeyFilter;
using model::KeyPage;
using model::KeyRecord;
using model::KeyStatus;

// A group's existence changed by a committed event.
struct GroupChange {
  std::string org;
  std::string group;
  bool deleted = false;
};

// Receives the view's committed changes; see KeyViewProjection::Committed. Either
// callback may be empty.
struct KeyViewListener {
  // The state after each committed key event whose row is read and written (KeyCreated,
  // KeyUpdated, KeyGroupChanged), and the changes of those whose rows are merged without
  // being read (KeyRevoked, KeyExpired, KeySuspended, KeyResumed, KeyRotated), together in
  // log order: calls alternate between
  // the two as the run does (a key changed twice in one run appears twice, latest last).
  std::function<void(std::span<const KeyRecord> keys)> on_keys;
  std::function<void(std::span<const model::KeyStatusChange> changes)> on_status_changes;
  // Group existence changes of the same run, in log order; delivered before the keys.
  std::function<void(std::span<const GroupChange> groups)> on_groups;
};

// Not thread-safe (one projector thread drives it). The static readers are thread-safe
// as far as the ViewStore is, and see only committed rows.
class KeyViewProjection final : public Projection {
 public:
  KeyViewProjection() = default;
  // `listener` is called from Committed() with what the committed run changed.
  explicit KeyViewProjection(KeyViewListener listener) : listener_(std::move(listener)) {}
  KeyViewProjection(const KeyViewProjection&) = delete;
  KeyViewProjection& operator=(const KeyViewProjection&) = delete;

  static constexpr std::string_view kRowPrefix = "key/";
  std::string_view prefix() const override { return kRowPrefix; }
  Status Apply(const LogPosition& position, const fb::Envelope& event, ViewBatch& batch) override;
  // Hands what Apply buffered since the last call to the listener, then forgets it.
  void Committed() override;
  // Forgets what Apply buffered; the listener hears nothing of it.
  void Aborted() override;

  // MergeRow for a key row (ViewBatch::Merge): `base` with the status changes and
  // rotations `operands` hold applied, in order. Without a base (or an empty one): an empty
  // row, which every reader takes for no key. Errors: kCorruption for an operand or row
  // that does not decode (the RocksDB store then keeps an empty row: no key, never the
  // key's state before a change it could not apply).
  static Result<std::string> MergeKeyRow(std::optional<std::string_view> base,
                                         std::span<const std::string_view> operands);

  // The key as the KeyCreated `event` makes it: the row the view writes for it, which
  // holds until the key's next event. Errors: kInvalidArgument if `event` is not a
  // KeyCreated, kCorruption for one the view would refuse.
  static Result<KeyRecord> RecordOfCreated(const fb::Envelope& event);
  // Applies to `record` the change `event` makes to its row (KeyRotated, KeyUpdated,
  // KeyGroupChanged), version included. Errors: kInvalidArgument for another event,
  // kCorruption for one the view would refuse.
  static Status ApplyToRecord(const fb::Envelope& event, KeyRecord& record);

  static constexpr size_t kMaxPageSize = 1000;
  static constexpr size_t kMaxRowsScannedPerPage = 10'000;
  static constexpr size_t kMaxRowsSorted = 100'000;

  // The key, or nullopt if the view has none. Errors: the store's, or kCorruption for a
  // row that does not verify.
  static Result<std::optional<KeyRecord>> GetKey(ViewStore& store, std::string_view org,
                                                 const KeyId& key_id);

  // One page of `org`'s keys matching `filter`, ordered by key id, starting after the
  // key named by `page_token` (empty: from the first). The token is the text form of the
  // last key returned (or read), so a page is stable under concurrent inserts: a key
  // created meanwhile shows up on a later page iff its id sorts after the token. Uses the
  // group index if filter.group is set, else the creator index if filter.created_by is
  // set, else scans the org's keys; the status and expiry filters are checked per row. A
  // page reads at most kMaxRowsScannedPerPage rows: a rarely matching filter gets a short
  // (even empty) page whose token continues the scan.
  // Errors: kInvalidArgument if page_size is not 1..kMaxPageSize or the token is not one
  // this function returned; the store's; kCorruption.
  //
  // With another `order` (a field, or descending): the page of the matching keys after
  // the token's place in that order (ties by key id), whose token names the place of its
  // last key. Such a page examines every key of the narrowest index (at most
  // kMaxRowsSorted, else kInvalidArgument), keeping only page_size + 1 at a time.
  static Result<KeyPage> ListKeys(ViewStore& store, std::string_view org, const KeyFilter& filter,
                                  size_t page_size, std::string_view page_token,
                                  const model::KeyOrder& order = {});

  // Calls `visit` for every key of every org, in (org, key id) order, until it returns
  // false.
  static Status ForEachKey(ViewStore& store, const std::function<bool(const KeyRecord&)>& visit);

  // Calls `visit` for every group that was ever created, with whether it still exists,
  // until it returns false.
  static Status ForEachGroup(
      ViewStore& store,
      const std::function<bool(std::string_view org, std::string_view group, bool exists)>& visit);

  // True iff a GroupCreated for (org, group) was seen and no GroupDeleted after it.
  static Result<bool> GroupExists(ViewStore& store, std::string_view org, std::string_view group);

 private:
  // Visits the rows of the narrowest index for `filter` after key `after` (all if
  // nullopt), in key id order, with whether each matches, until `visit` returns false.
  static Status ScanMatching(ViewStore& store, std::string_view org, const KeyFilter& filter,
                             std::optional<KeyId> after,
                             const std::function<bool(KeyRecord, bool matches)>& visit);
  static Result<KeyPage> ListKeysSorted(ViewStore& store, std::string_view org,
                                        const KeyFilter& filter, size_t page_size,
                                        std::string_view page_token, const model::KeyOrder& order);
  Status ApplyKeyCreated(const fb::Envelope& event, ViewBatch& batch);
  Status ApplyKeyChange(const fb::Envelope& event, ViewBatch& batch);
  Status ApplyKeysUsed(const fb::Envelope& event, ViewBatch& batch);
  Status ApplyGroup(const fb::Envelope& event, const flatbuffers::String* group_id, bool exists,
                    ViewBatch& batch);
  Status ApplyStatusChange(const fb::Envelope& event, ViewBatch& batch);
  void Buffer(const KeyRecord& record);
  void Buffer(const model::KeyStatusChange& change);

  KeyViewListener listener_;
  std::vector<KeyRecord> pending_keys_;
  std::vector<model::KeyStatusChange> pending_status_changes_;
  // The pending keys and status changes in log order: runs of one or the other.
  struct PendingRun {
    bool status_changes = false;
    size_t count = 0;
  };
  std::vector<PendingRun> pending_runs_;
  std::vector<GroupChange> pending_groups_;
};

}  // namespace keytrail::projections
