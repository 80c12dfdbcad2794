// Human-readable output for the client subcommands: aligned tables and field lists
// on stdout, and the one-time token notice. CLI-internal.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace keytrail::cli {

// A JSON value as a table cell: strings as they are, null as `null_text`, arrays
// comma-joined, anything else dumped.
std::string Cell(const nlohmann::json& value, const std::string& null_text = "-");

// Columns padded to their widest cell; the header row in capitals.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// "name:  value" lines, names padded to the longest.
void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields);

// The JSON body, pretty-printed (for -o json).
void PrintJson(const nlohmann::json& body);

// The token on stdout, on its own line, after a warning on stderr that it will not be
// shown again.
void PrintNewToken(const std::string& token);

// The fields of a key object as the API returns it (id, name, group, status, ...).
std::vector<std::pair<std::string, std::string>> KeyFields(const nlohmann::json& key);

}  // namespace keytrail::cli
