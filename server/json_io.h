// JSON in and out for the API handlers (nlohmann::json). Server-internal: included by
// server/*.cc only, so nlohmann stays out of every other module.
#pragma once

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "engine/domain/roles.h"
#include "model/keys.h"
#include "server/http.h"

namespace keytrail::server {

// Strict reader of a request body that must be one JSON object. Any problem (not JSON,
// not an object, a member not in `allowed`, a member of the wrong type, a required
// member missing) is recorded as the first error, and problem() answers it with 400
// code "invalid_request".
class BodyReader {
 public:
  // An empty body reads as {} when `empty_ok`.
  BodyReader(std::string_view body, std::initializer_list<std::string_view> allowed,
             bool empty_ok = false);

  bool ok() const { return error_.empty(); }
  HttpResponse problem() const;

  // A string member; nullopt if absent (an error if required) or of another type (an
  // error).
  std::optional<std::string> String(std::string_view name, bool required);
  // An array of strings; same rules.
  std::optional<std::vector<std::string>> StringArray(std::string_view name, bool required);
  // Any member, for shapes the helpers above do not cover; nullptr if absent (an error if
  // required). Fail records a shape error found by the caller.
  const nlohmann::json* Member(std::string_view name, bool required);
  void Fail(std::string message);

 private:
  nlohmann::json json_;
  std::string error_;
};

// A key as the API shows it: id, name, group, created_by, created_at, expires_at (null
// = never), status (see DisplayStatus), hint, permissions, last_rotated_at (null =
// never rotated), last_used_at (to the minute; null = no use seen).
nlohmann::json KeyToJson(const model::KeyRecord& key, Micros now);

// Rules as the API shows them: [{role, resources}], resources only on scoped rules.
nlohmann::json RulesToJson(std::span<const domain::Rule> rules);

// RFC 3339, or null for 0.
nlohmann::json TimeOrNull(Micros t);

HttpResponse JsonResponse(int status, const nlohmann::json& body);

}  // namespace keytrail::server
