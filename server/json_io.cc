#include "server/json_io.h"

#include <algorithm>

#include <fmt/format.h>

#include "server/problem.h"
#include "server/wire_format.h"

namespace keytrail::server {

using nlohmann::json;

BodyReader::BodyReader(std::string_view body, std::initializer_list<std::string_view> allowed,
                       bool empty_ok) {
  const bool blank = std::all_of(body.begin(), body.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  });
  if (blank) {
    if (empty_ok) {
      json_ = json::object();
    } else {
      Fail("the request body must be a JSON object");
    }
    return;
  }
  json_ = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json_.is_discarded()) {
    Fail("the request body is not valid JSON");
  } else if (!json_.is_object()) {
    Fail("the request body must be a JSON object");
  } else {
    for (const auto& item : json_.items()) {
      if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
        Fail(fmt::format("unknown field '{}'", item.key()));
        break;
      }
    }
  }
}

HttpResponse BodyReader::problem() const { return Problem(400, "invalid_request", error_); }

void BodyReader::Fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
}

const json* BodyReader::Member(std::string_view name, bool required) {
  if (!ok()) return nullptr;
  auto it = json_.find(name);
  if (it == json_.end() || it->is_null()) {
    if (required) Fail(fmt::format("field '{}' is required", name));
    return nullptr;
  }
  return &*it;
}

std::optional<std::string> BodyReader::String(std::string_view name, bool required) {
  const json* member = Member(name, required);
  if (member == nullptr) return std::nullopt;
  if (!member->is_string()) {
    Fail(fmt::format("field '{}' must be a string", name));
    return std::nullopt;
  }
  return member->get<std::string>();
}

std::optional<std::vector<std::string>> BodyReader::StringArray(std::string_view name,
                                                                bool required) {
  const json* member = Member(name, required);
  if (member == nullptr) return std::nullopt;
  if (!member->is_array()) {
    Fail(fmt::format("field '{}' must be an array of strings", name));
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const json& element : *member) {
    if (!element.is_string()) {
      Fail(fmt::format("field '{}' must be an array of strings", name));
      return std::nullopt;
    }
    out.push_back(element.get<std::string>());
  }
  return out;
}

json TimeOrNull(Micros t) { return t == 0 ? json(nullptr) : json(FormatRfc3339(t)); }

json RulesToJson(std::span<const domain::Rule> rules) {
  json out = json::array();
  for (const domain::Rule& rule : rules) {
    json one = {{"role", domain::RoleName(rule.role)}};
    if (rule.scoped()) one["resources"] = rule.resources;
    out.push_back(std::move(one));
  }
  return out;
}

json KeyToJson(const model::KeyRecord& key, Micros now) {
  return json{{"id", FormatKeyId(key.key_id)},
              {"name", key.name},
              {"group", key.group_id},
              {"created_by", key.created_by},
              {"created_at", FormatRfc3339(key.created_at_us)},
              {"expires_at", TimeOrNull(key.expires_at_us)},
              {"status", std::string(DisplayStatus(key, now))},
              {"hint", key.hint},
              {"permissions", key.permissions},
              {"last_rotated_at", TimeOrNull(key.last_rotated_at_us)},
              {"last_used_at", TimeOrNull(key.last_used_at_us)},
              {"description", key.description}};
}

HttpResponse JsonResponse(int status, const json& body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return response;
}

}  // namespace keytrail::server
