// A projection for tests that makes double application visible: it keeps a per-org
// count of applied events (read-modify-write through the batch) and a row per event.
#pragma once

#include <string>

#include "base/big_endian.h"
#include "projections/projection.h"

namespace keytrail::testing {

class CountingProjection final : public projections::Projection {
 public:
  std::string_view prefix() const override { return "count/"; }
  Status Apply(const projections::LogPosition& position, const fb::Envelope& event,
               projections::ViewBatch& batch) override {
    const std::string key = "count/" + event.org()->str();
    auto current = batch.Get(key);
    if (!current.ok()) return current.status();
    uint64_t count = current->has_value() ? GetBigEndian64(**current) : 0;
    std::string value;
    PutBigEndian64(&value, count + 1);
    batch.Put(key, value);
    return Status::Ok();
  }
};

}  // namespace keytrail::testing
