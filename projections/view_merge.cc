// MergeRow: the rows that take merge operands, by prefix (only the key view's rows today),
// and ViewBatch::Merge's read-merge-put for stores that do not defer merges.
#include <fmt/format.h>

#include "projections/key_view.h"
#include "projections/view_store.h"

namespace keytrail::projections {

Result<std::string> MergeRow(std::string_view key, std::optional<std::string_view> base,
                             std::span<const std::string_view> operands) {
  if (key.starts_with(KeyViewProjection::kRowPrefix)) {
    return KeyViewProjection::MergeKeyRow(base, operands);
  }
  return Status::Corruption(
      fmt::format("a merge of row {}, which takes none", key.substr(0, key.find('/') + 1)));
}

Status ViewBatch::Merge(std::string_view key, std::string_view operand) {
  auto row = Get(key);
  if (!row.ok()) return row.status();
  std::optional<std::string_view> base;
  if (row->has_value()) base = **row;
  auto merged = MergeRow(key, base, std::span<const std::string_view>(&operand, 1));
  if (!merged.ok()) return merged.status();
  Put(key, *merged);
  return Status::Ok();
}

}  // namespace keytrail::projections
