#include "tools/keytrail/client/output.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include <fmt/format.h>

namespace keytrail::cli {

std::string Cell(const nlohmann::json& value, const std::string& null_text) {
  if (value.is_null()) return null_text;
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    std::string out;
    for (const auto& item : value) {
      if (!out.empty()) out += ",";
      out += Cell(item, null_text);
    }
    return out.empty() ? "-" : out;
  }
  return value.dump();
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size());
  for (size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  auto print_row = [&](const std::vector<std::string>& row, bool upper) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      std::string cell = row[i];
      if (upper) std::transform(cell.begin(), cell.end(), cell.begin(), ::toupper);
      line += i + 1 == row.size() ? cell : fmt::format("{:<{}}  ", cell, widths[i]);
    }
    fmt::print("{}\n", line);
  };
  print_row(header, true);
  for (const auto& row : rows) print_row(row, false);
}

void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [name, value] : fields) width = std::max(width, name.size() + 1);
  for (const auto& [name, value] : fields) {
    fmt::print("{:<{}} {}\n", name + ":", width, value);
  }
}

void PrintJson(const nlohmann::json& body) { fmt::print("{}\n", body.dump(2)); }

void PrintNewToken(const std::string& token) {
  std::fflush(stdout);
  fmt::print(stderr,
             "WARNING: this is the only time the token is shown; keytrail keeps only its hash. "
             "Store it now.\n");
  fmt::print("{}\n", token);
}

std::vector<std::pair<std::string, std::string>> KeyFields(const nlohmann::json& key) {
  auto field = [&](const char* name, const std::string& null_text = "-") {
    return std::pair<std::string, std::string>(
        name, Cell(key.contains(name) ? key[name] : nlohmann::json(), null_text));
  };
  return {field("id"),         field("name"),        field("group"),
          field("status"),     field("permissions"), field("expires_at", "never"),
          field("created_by"), field("created_at"),  field("last_rotated_at", "never"),
          field("hint")};
}

}  // namespace keytrail::cli
