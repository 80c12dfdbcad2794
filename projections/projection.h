// Projection: folds events into rows of a ViewStore.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/status.h"
#include "projections/view_store.h"
#include "schemas/events_generated.h"

namespace keytrail::projections {

// Where an event sits in the log.
struct LogPosition {
  int32_t partition = 0;
  int64_t offset = 0;
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

  // The batch holding every Apply since the last Committed/Aborted call is now durable
  // in the store. For in-memory state derived from committed rows only (e.g. the verify
  // index): act on what Apply buffered, never on what it merely wrote.
  virtual void Committed() {}
  // That batch was dropped (a projection refused an event, or the commit failed):
  // discard whatever Apply buffered.
  virtual void Aborted() {}
};

}  // namespace keytrail::projections
