// ViewSet: the projections keytrail keeps, in the order they are applied: the key view,
// then the audit trail. The one place that lists them, so that the engine (one set per
// partition writer), `keytrail rebuild` and `keytrail check` always fold the log the same
// way; a new view is added here and nowhere else.
//
// A set is driven by one projector at a time (projections buffer per-run state); it owns
// its projections and must outlive the projector that borrows them.
#pragma once

#include <vector>

#include "projections/audit_projection.h"
#include "projections/key_view.h"
#include "projections/projection.h"

namespace keytrail::projections {

class ViewSet {
 public:
  ViewSet() = default;
  // `key_view_listener` hears the key view's committed changes (the verify index).
  explicit ViewSet(KeyViewListener key_view_listener) : key_view_(std::move(key_view_listener)) {}
  ViewSet(const ViewSet&) = delete;
  ViewSet& operator=(const ViewSet&) = delete;

  // The projections, in application order, for a Projector.
  std::vector<Projection*> projections() { return {&key_view_, &audit_}; }

 private:
  KeyViewProjection key_view_;
  AuditProjection audit_;
};

}  // namespace keytrail::projections
