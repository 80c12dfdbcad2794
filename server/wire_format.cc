#include "server/wire_format.h"

#include <chrono>

#include <fmt/format.h>

#include "engine/domain/commands.h"

namespace keytrail::server {
namespace {

// Appends `value` as exactly `width` decimal digits (a verify answer's expires_at is
// written per request: fmt::format_to through a back_inserter cost more than the rest of
// the answer). REQUIRES: 0 <= value < 10^width, width <= 8.
void AppendDigits(int64_t value, int width, std::string* out) {
  char digits[8];
  for (int i = width - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out->append(digits, static_cast<size_t>(width));
}

}  // namespace

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
  const int year = static_cast<int>(date.year());
  if (year >= 0 && year <= 9999) {
    AppendDigits(year, 4, out);
  } else {
    fmt::format_to(std::back_inserter(*out), "{:04}", year);
  }
  out->push_back('-');
  AppendDigits(static_cast<unsigned>(date.month()), 2, out);
  out->push_back('-');
  AppendDigits(static_cast<unsigned>(date.day()), 2, out);
  out->push_back('T');
  AppendDigits(h, 2, out);
  out->push_back(':');
  AppendDigits(m, 2, out);
  out->push_back(':');
  AppendDigits(s, 2, out);
  if (micros != 0) {
    out->push_back('.');
    AppendDigits(micros, 6, out);
  }
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
