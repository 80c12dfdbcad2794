#include "tests/support/memory_view_store.h"

#include <mutex>
#include <optional>
#include <vector>

namespace keytrail::testing {
namespace {

class MemoryViewBatch final : public projections::ViewBatch {
 public:
  explicit MemoryViewBatch(MemoryViewStore& store) : store_(store) {}

  void Put(std::string_view key, std::string_view value) override {
    writes_[std::string(key)] = std::string(value);
    ++count_;
  }
  void Delete(std::string_view key) override {
    writes_[std::string(key)] = std::nullopt;
    ++count_;
  }
  Result<std::optional<std::string>> Get(std::string_view key) override {
    if (auto it = writes_.find(key); it != writes_.end()) return it->second;
    return store_.Get(key);
  }
  size_t Count() const override { return count_; }

  MemoryViewStore* store() const { return &store_; }
  const std::map<std::string, std::optional<std::string>, std::less<>>& writes() const {
    return writes_;
  }

 private:
  MemoryViewStore& store_;
  std::map<std::string, std::optional<std::string>, std::less<>> writes_;
  size_t count_ = 0;
};

}  // namespace

std::unique_ptr<projections::ViewBatch> MemoryViewStore::NewBatch() {
  return std::make_unique<MemoryViewBatch>(*this);
}

Status MemoryViewStore::Commit(projections::ViewBatch& batch) {
  auto* mine = dynamic_cast<MemoryViewBatch*>(&batch);
  if (mine == nullptr || mine->store() != this) {
    return Status::InvalidArgument("the batch is not from this store");
  }
  std::unique_lock lock(mu_);
  for (const auto& [key, value] : mine->writes()) {
    if (value) {
      rows_[key] = *value;
    } else {
      rows_.erase(key);
    }
  }
  return Status::Ok();
}

Result<std::optional<std::string>> MemoryViewStore::Get(std::string_view key) {
  std::shared_lock lock(mu_);
  auto it = rows_.find(key);
  if (it == rows_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status MemoryViewStore::Scan(std::string_view begin, std::string_view end,
                             const projections::RowVisitor& visit) {
  // Copied out first, so a visitor may read the store (as the projections' readers do).
  std::vector<std::pair<std::string, std::string>> rows;
  {
    std::shared_lock lock(mu_);
    auto last = end.empty() ? rows_.end() : rows_.lower_bound(end);
    for (auto it = rows_.lower_bound(begin); it != last; ++it) rows.emplace_back(*it);
  }
  for (const auto& [key, value] : rows) {
    if (!visit(key, value)) break;
  }
  return Status::Ok();
}

std::map<std::string, std::string, std::less<>> MemoryViewStore::Rows() const {
  std::shared_lock lock(mu_);
  return rows_;
}

}  // namespace keytrail::testing
