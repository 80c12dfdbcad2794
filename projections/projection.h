// Projection: folds events into rows of a ViewStore.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/status.h"
#include "events/epoch_fence.h"
#include "projections/view_store.h"
#include "schemas/events_generated.h"

namespace keytrail::projections {

// Where an event sits in the log.
struct LogPosition {
  int32_t partition = 0;
  int64_t offset = 0;
};

// A log record an operator skipped (`keytrail projector skip`, Projector::Skip): it
// failed to decode or a projection refused it, and the operator chose to move on. Stored
// with the views (see projector.h), so every later replay passes the record the same way.
struct SkippedRecord {
  std::string org;          // the record's log key (the org it was written for); may be empty
  std::string reason;       // the operator's words
  std::string error;        // why the record could not be applied
  std::string operator_id;  // who skipped it (the OS user running the tool)
  Micros skipped_at_us = 0;

  friend bool operator==(const SkippedRecord&, const SkippedRecord&) = default;
};

// One view. Apply must be deterministic: its writes may depend only on the event, its
// position and rows already in the store or batch, so replaying the log from offset 0
// always rebuilds the same rows. Each projection owns the key prefix it names and
// writes no other keys.
class Projection {
 public:
  virtual ~Projection() = default;
  // A short, stable name, also its key prefix (e.g. "hist/").
  virtual std::string_view prefix() const = 0;
  // Adds the rows implied by `event` to `batch`. A non-OK status halts the projector.
  virtual Status Apply(const LogPosition& position, const fb::Envelope& event,
                       ViewBatch& batch) = 0;

  // The record at `position` was skipped (see SkippedRecord) instead of applied. Must be
  // as deterministic as Apply. Default: writes nothing.
  virtual Status ApplySkipped(const LogPosition& position, const SkippedRecord& skip,
                              ViewBatch& batch) {
    return Status::Ok();
  }

  // The event at `position` was fenced (events/epoch_fence.h): it does not carry the
  // current epoch (`current`'s), or it is a claim that lost a race, so it changes no
  // state. Must be as deterministic as Apply. Default: writes nothing.
  virtual Status ApplyFenced(const LogPosition& position, const fb::Envelope& event,
                             const events::PartitionClaim& current, ViewBatch& batch) {
    return Status::Ok();
  }

  // The run's last Apply, ApplySkipped or ApplyFenced was made: adds the rows a projection
  // builds from the whole run rather than per event (the audit trail packs a run's index
  // entries into one row per index value). Called once per run, before its commit; the
  // run may still be aborted after it. Default: writes nothing.
  virtual Status Seal(ViewBatch& batch) { return Status::Ok(); }

  // The batch holding every Apply since the last Committed/Aborted call is now durable
  // in the store. For in-memory state derived from committed rows only (e.g. the verify
  // index): act on what Apply buffered, never on what it merely wrote.
  virtual void Committed() {}
  // That batch was dropped (a projection refused an event, or the commit failed):
  // discard whatever Apply buffered.
  virtual void Aborted() {}
};

}  // namespace keytrail::projections
