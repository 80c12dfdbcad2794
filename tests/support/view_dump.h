// A canonical dump of a ViewStore: every row, in key order, hex-encoded, one per line.
// Two stores hold the same views iff their dumps are equal.
#pragma once

#include <string>

#include <fmt/format.h>

#include "projections/view_store.h"

namespace keytrail::testing {

inline std::string Hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

inline std::string DumpViews(projections::ViewStore& store) {
  std::string out;
  Status s = store.Scan("", "", [&](std::string_view key, std::string_view value) {
    out += Hex(key) + " " + Hex(value) + "\n";
    return true;
  });
  if (!s.ok()) return "scan failed: " + s.ToString();
  return out;
}

}  // namespace keytrail::testing
