// HistoryProjection: every event of every aggregate (org, group, member, key), in log
// order, so "the history of key X" is one prefix scan.
//
// Rows (prefix "hist/"):
//   "hist/" ‖ len16(org) ‖ org ‖ len16(aggregate) ‖ aggregate ‖ offset (8 bytes, BE)
//     -> payload type (1 byte) ‖ occurred_at_us (8 bytes, BE)
// An org lives in one partition, so the offset alone orders an aggregate's events.
#pragma once

#include <string>
#include <vector>

#include "projections/projection.h"

namespace keytrail::projections {

class HistoryProjection final : public Projection {
 public:
  std::string_view prefix() const override { return "hist/"; }
  Status Apply(const LogPosition& position, const fb::Envelope& event, ViewBatch& batch) override;

  struct Entry {
    int64_t offset = 0;
    fb::Payload type = fb::Payload::NONE;
    int64_t occurred_at_us = 0;
  };
  // The events of one aggregate, oldest first.
  static Result<std::vector<Entry>> Read(ViewStore& store, std::string_view org,
                                         std::string_view aggregate_id);
};

}  // namespace keytrail::projections
