// Structured logging for keytrail serve: one line per event on stderr, human-readable
// ("2026-01-01T00:00:00.000000Z info request method=GET status=200") or JSON Lines
// ({"time":...,"level":"info","msg":"request","method":"GET","status":200}).
//
// Fields are plain text or numbers; there is no conversion from Secret, so key material
// cannot be passed in by accident. Log key ids and hints only.
//
// Thread-safe. Before InitLogging, lines are written in the human format at info level.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace keytrail::server {

// How lines are written, and which are written.
enum class LogFormat { kHuman, kJson };
enum class LogLevel { kDebug, kInfo, kWarn, kError };

// "human" / "json"; false for anything else.
bool ParseLogFormat(std::string_view text, LogFormat* format);

// One key=value pair of a log line.
struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename Int, typename = std::enable_if_t<std::is_integral_v<Int>>>
  LogField(std::string_view k, Int v) : key(k), value(std::to_string(v)), number(true) {}
  LogField(std::string_view k, double v);

  std::string_view key;
  std::string value;
  bool number = false;  // written unquoted in JSON
};

void InitLogging(LogFormat format, LogLevel min_level = LogLevel::kInfo);
// Whether a line at `level` would be written: one atomic load, so that a hot path can
// skip building its fields (Log checks again).
bool LogEnabled(LogLevel level);
void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

}  // namespace keytrail::server
