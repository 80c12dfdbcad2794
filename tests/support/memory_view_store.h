// MemoryViewStore: a ViewStore held in memory (an ordered map), for tests of the
// projections and the engine that do not need RocksDB. Commits are atomic under one
// lock, like the RocksDB store's. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>

#include "projections/view_store.h"

namespace keytrail::testing {

class MemoryViewStore final : public projections::ViewStore {
 public:
  std::unique_ptr<projections::ViewBatch> NewBatch() override;
  Status Commit(projections::ViewBatch& batch) override;
  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Scan(std::string_view begin, std::string_view end,
              const projections::RowVisitor& visit) override;

  // Every row, for comparing two stores.
  std::map<std::string, std::string, std::less<>> Rows() const;

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, std::string, std::less<>> rows_;  // guarded by mu_
};

}  // namespace keytrail::testing
