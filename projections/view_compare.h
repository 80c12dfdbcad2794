// Canonical comparison of two view stores: every row, in key order. Two stores hold the
// same views iff they have the same canonical rows with the same values
// (AuditProjection::CanonicalRows): a packed audit index row counts as the one-entry rows
// of its entries, since where a projector's runs ended decides how entries are packed, not
// what they are, and an audit chain head as its hash and offset. `keytrail
// check` compares the live views with a fresh rebuild this way; tests use DumpViews.
#pragma once

#include <optional>
#include <string>

#include "base/status.h"
#include "projections/view_store.h"

namespace keytrail::projections {

// The first row (in key order) where two stores differ. Says only which key and how:
// views hold hashes, never secrets, but reports carry keys only all the same.
struct ViewDifference {
  enum class Kind { kOnlyInFirst, kOnlyInSecond, kValuesDiffer };
  Kind kind = Kind::kValuesDiffer;
  std::string key;  // the row key's bytes

  // e.g. "row 6175642f72... is only in the live views" with `first`/`second` naming the
  // stores.
  std::string Describe(std::string_view first, std::string_view second) const;
};

// Walks both stores in key order, a bounded chunk at a time (memory does not grow with
// the stores). nullopt if they are equal. Each store must not change meanwhile.
Result<std::optional<ViewDifference>> FirstDifference(ViewStore& first, ViewStore& second);

// Every canonical row as "<hex key> <hex value>\n", in key order: a canonical text dump, for tests
// and small stores (it holds the whole store in memory).
std::string DumpViews(ViewStore& store);

}  // namespace keytrail::projections
