#include "server/wire_format.h"

#include <chrono>

#include <fmt/format.h>

#include "engine/domain/commands.h"

namespace keytrail::server {

std::string FormatRfc3339(Micros t) {
  std::string out;
  AppendRfc3339(t, &out);
  return out;
}

void AppendRfc3339(Micros t, std::string* out) {
  using namespace std::chrono;
  const Micros day_count =
      t >= 0 ? t / domain::kMicrosPerDay : (t - domain::kMicrosPerDay + 1) / domain::kMicrosPerDay;
  Micros rest = t - day_count * domain::kMicrosPerDay;
  const year_month_day date{sys_days(days(day_count))};
  const int64_t micros = rest % domain::kMicrosPerSecond;
  int64_t seconds = rest / domain::kMicrosPerSecond;
  const int h = static_cast<int>(seconds / 3600), m = static_cast<int>(seconds / 60 % 60),
            s = static_cast<int>(seconds % 60);
  auto text = std::back_inserter(*out);
  fmt::format_to(text, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(date.year()),
                 static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()), h, m, s);
  if (micros != 0) fmt::format_to(text, ".{:06}", micros);
  out->push_back('Z');
}

std::optional<Micros> ParseRfc3339Time(std::string_view text) {
  auto expiration = domain::ParseExpiration(text);
  if (!expiration || expiration->kind != domain::Expiration::Kind::kAt) return std::nullopt;
  return expiration->at;
}

std::optional<Micros> ParseDuration(std::string_view text) {
  constexpr Micros kMaxHours = 100000;
  if (text.empty()) return std::nullopt;
  Micros total = 0;
  size_t i = 0;
  while (i < text.size()) {
    Micros value = 0;
    const size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value = value * 10 + (text[i] - '0');
      if (value > kMaxHours * 3600) return std::nullopt;
      ++i;
    }
    if (i == start || i == text.size()) return std::nullopt;
    Micros unit = 0;
    switch (text[i]) {
      case 'h':
        unit = 3600 * domain::kMicrosPerSecond;
        break;
      case 'm':
        unit = 60 * domain::kMicrosPerSecond;
        break;
      case 's':
        unit = domain::kMicrosPerSecond;
        break;
      default:
        return std::nullopt;
    }
    ++i;
    total += value * unit;
    if (total > kMaxHours * 3600 * domain::kMicrosPerSecond) return std::nullopt;
  }
  return total;
}

std::string_view DisplayStatus(const model::KeyRecord& key, Micros now) {
  switch (model::StatusAt(key, now)) {
    case model::KeyStatus::kRevoked:
      return "revoked";
    case model::KeyStatus::kExpired:
      return "expired";
    case model::KeyStatus::kSuspended:
      return "suspended";
    case model::KeyStatus::kActive:
      break;
  }
  return "active";
}

std::optional<size_t> ParsePageSize(std::string_view text, size_t max) {
  if (text.empty() || text.size() > 4) return std::nullopt;
  size_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<size_t>(c - '0');
  }
  if (value == 0 || value > max) return std::nullopt;
  return value;
}

}  // namespace keytrail::server
