#include "projections/view_compare.h"

#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/hex.h"
#include "projections/audit_projection.h"

namespace keytrail::projections {
namespace {

constexpr size_t kChunkRows = 4096;

using Row = std::pair<std::string, std::string>;

// Appends the canonical rows `key` stands for (AuditProjection::CanonicalRows).
void AddCanonical(std::string_view key, std::string_view value, std::vector<Row>& rows) {
  AuditProjection::CanonicalRows(
      key, value, [&](std::string_view k, std::string_view v) { rows.emplace_back(k, v); });
}

// The canonical rows of the stored rows with key >= begin, until they number at least
// kChunkRows (a packed row adds all of its entries); `*last_key` is the last stored key
// read, `*more` whether rows remain after it.
Result<std::vector<Row>> ReadChunk(ViewStore& store, const std::string& begin,
                                   std::string* last_key, bool* more) {
  std::vector<Row> rows;
  *more = false;
  Status s = store.Scan(begin, "", [&](std::string_view key, std::string_view value) {
    AddCanonical(key, value, rows);
    *last_key = key;
    *more = rows.size() >= kChunkRows;
    return !*more;
  });
  KT_RETURN_IF_ERROR(s);
  return rows;
}

// A cursor over a store's canonical rows in key order, reading a chunk at a time.
class Cursor {
 public:
  explicit Cursor(ViewStore& store) : store_(store) {}

  // The current row, or nullptr at the end.
  Result<const Row*> Current() {
    if (index_ == rows_.size() && !exhausted_) {
      std::string begin;
      if (!last_key_.empty()) begin = last_key_ + std::string(1, '\0');
      bool more = false;
      auto chunk = ReadChunk(store_, begin, &last_key_, &more);
      if (!chunk.ok()) return chunk.status();
      rows_ = std::move(chunk).value();
      index_ = 0;
      exhausted_ = !more;
      if (rows_.empty()) return static_cast<const Row*>(nullptr);
    }
    if (index_ == rows_.size()) return static_cast<const Row*>(nullptr);
    return &rows_[index_];
  }
  void Advance() { ++index_; }

 private:
  ViewStore& store_;
  std::vector<Row> rows_;
  std::string last_key_;  // the last stored row read
  size_t index_ = 0;
  bool exhausted_ = false;
};

}  // namespace

std::string ViewDifference::Describe(std::string_view first, std::string_view second) const {
  switch (kind) {
    case Kind::kOnlyInFirst:
      return fmt::format("row {} is only in {}", HexEncode(key), first);
    case Kind::kOnlyInSecond:
      return fmt::format("row {} is only in {}", HexEncode(key), second);
    case Kind::kValuesDiffer:
      break;
  }
  return fmt::format("row {} has different values in {} and {}", HexEncode(key), first, second);
}

Result<std::optional<ViewDifference>> FirstDifference(ViewStore& first, ViewStore& second) {
  Cursor a(first), b(second);
  while (true) {
    auto row_a = a.Current();
    if (!row_a.ok()) return row_a.status();
    auto row_b = b.Current();
    if (!row_b.ok()) return row_b.status();
    const Row* x = *row_a;
    const Row* y = *row_b;
    if (x == nullptr && y == nullptr) return std::optional<ViewDifference>();
    if (y == nullptr || (x != nullptr && x->first < y->first)) {
      return std::optional<ViewDifference>({ViewDifference::Kind::kOnlyInFirst, x->first});
    }
    if (x == nullptr || y->first < x->first) {
      return std::optional<ViewDifference>({ViewDifference::Kind::kOnlyInSecond, y->first});
    }
    if (x->second != y->second) {
      return std::optional<ViewDifference>({ViewDifference::Kind::kValuesDiffer, x->first});
    }
    a.Advance();
    b.Advance();
  }
}

std::string DumpViews(ViewStore& store) {
  std::string out;
  std::vector<Row> rows;
  Status s = store.Scan("", "", [&](std::string_view key, std::string_view value) {
    AddCanonical(key, value, rows);
    return true;
  });
  for (const auto& [key, value] : rows) out += HexEncode(key) + " " + HexEncode(value) + "\n";
  if (!s.ok()) return "scan failed: " + s.ToString();
  return out;
}

}  // namespace keytrail::projections
