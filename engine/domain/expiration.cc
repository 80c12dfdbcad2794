#include <charconv>
#include <chrono>

#include "engine/domain/commands.h"

namespace keytrail::domain {
namespace {

using std::chrono::days;
using std::chrono::sys_days;
using std::chrono::year_month_day;

// Reads exactly `width` digits at `pos`; false if they are not all digits.
bool Digits(std::string_view text, size_t pos, size_t width, int* out) {
  if (pos + width > text.size()) return false;
  int value = 0;
  for (size_t i = pos; i < pos + width; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + (text[i] - '0');
  }
  *out = value;
  return true;
}

std::optional<Micros> ParseRfc3339(std::string_view t) {
  int y, mo, d, h, mi, s;
  if (!Digits(t, 0, 4, &y) || t.size() < 20 || t[4] != '-' || !Digits(t, 5, 2, &mo) ||
      t[7] != '-' || !Digits(t, 8, 2, &d) || (t[10] != 'T' && t[10] != 't') ||
      !Digits(t, 11, 2, &h) || t[13] != ':' || !Digits(t, 14, 2, &mi) || t[16] != ':' ||
      !Digits(t, 17, 2, &s)) {
    return std::nullopt;
  }
  const year_month_day date{std::chrono::year(y), std::chrono::month(mo), std::chrono::day(d)};
  if (!date.ok() || h > 23 || mi > 59 || s > 59) return std::nullopt;
  size_t pos = 19;
  Micros fraction = 0;
  if (pos < t.size() && t[pos] == '.') {
    size_t digits = 0;
    for (++pos; pos < t.size() && t[pos] >= '0' && t[pos] <= '9'; ++pos, ++digits) {
      if (digits < 6) fraction = fraction * 10 + (t[pos] - '0');
    }
    if (digits == 0 || digits > 9) return std::nullopt;
    for (size_t i = digits; i < 6; ++i) fraction *= 10;
  }
  Micros offset = 0;
  if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z') && pos + 1 == t.size()) {
    offset = 0;
  } else if (pos + 6 == t.size() && (t[pos] == '+' || t[pos] == '-') && t[pos + 3] == ':') {
    int oh, om;
    if (!Digits(t, pos + 1, 2, &oh) || !Digits(t, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = (oh * 3600 + om * 60) * kMicrosPerSecond * (t[pos] == '+' ? 1 : -1);
  } else {
    return std::nullopt;
  }
  const Micros day_micros = sys_days(date).time_since_epoch().count() * kMicrosPerDay;
  const Micros at = day_micros + ((h * 3600 + mi * 60 + s) * kMicrosPerSecond) + fraction - offset;
  // An offset can move an instant out of RFC 3339's years (0000-01-01T00:00:00+05:30 is
  // in year -1 in UTC), where it could not be written back: refuse it (found by
  // tests/fuzz/time_fuzz.cc).
  constexpr Micros kFirst = -62167219200LL * kMicrosPerSecond;  // 0000-01-01T00:00:00Z
  constexpr Micros kLast =
      253402300799LL * kMicrosPerSecond + 999999;  // 9999-12-31T23:59:59.999999Z
  if (at < kFirst || at > kLast) return std::nullopt;
  return at;
}

Micros AddMonths(Micros now, int months) {
  const Micros day_count =
      now >= 0 ? now / kMicrosPerDay : (now - kMicrosPerDay + 1) / kMicrosPerDay;
  const Micros time_of_day = now - day_count * kMicrosPerDay;
  year_month_day date{sys_days(days(day_count))};
  date += std::chrono::months(months);
  if (!date.ok()) date = date.year() / date.month() / std::chrono::last;  // e.g. Aug 31 + 6m
  return sys_days(date).time_since_epoch().count() * kMicrosPerDay + time_of_day;
}

}  // namespace

std::optional<Expiration> ParseExpiration(std::string_view text) {
  if (text == "never") return Expiration::Never();
  if (text == "30d") return Expiration{Expiration::Kind::k30Days, 0};
  if (text == "6m") return Expiration{Expiration::Kind::k6Months, 0};
  if (text == "1y") return Expiration{Expiration::Kind::k1Year, 0};
  auto at = ParseRfc3339(text);
  if (!at) return std::nullopt;
  return Expiration::At(*at);
}

Micros ResolveExpiration(const Expiration& expiration, Micros now) {
  switch (expiration.kind) {
    case Expiration::Kind::kNever:
      return 0;
    case Expiration::Kind::k30Days:
      return now + 30 * kMicrosPerDay;
    case Expiration::Kind::k6Months:
      return AddMonths(now, 6);
    case Expiration::Kind::k1Year:
      return AddMonths(now, 12);
    case Expiration::Kind::kAt:
      return expiration.at;
  }
  return 0;
}

}  // namespace keytrail::domain
