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
};

}  // namespace keytrail::projections
