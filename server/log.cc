#include "server/log.h"

#include <atomic>
#include <memory>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <nlohmann/json.hpp>

namespace keytrail::server {
namespace {

struct Logging {
  std::mutex mu;
  std::shared_ptr<spdlog::logger> logger;
  LogFormat format = LogFormat::kHuman;
  std::atomic<LogLevel> min_level{LogLevel::kInfo};  // mirrors the logger's level
};

Logging& State() {
  static Logging* state = new Logging();  // never destroyed: logging works during exit
  return *state;
}

std::shared_ptr<spdlog::logger> MakeLogger(LogFormat format, LogLevel min_level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("keytrail", sink);
  const char* pattern = format == LogFormat::kJson
                            ? R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})"
                            : "%Y-%m-%dT%H:%M:%S.%fZ %l %v";
  logger->set_formatter(
      std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
  switch (min_level) {
    case LogLevel::kDebug:
      logger->set_level(spdlog::level::debug);
      break;
    case LogLevel::kInfo:
      logger->set_level(spdlog::level::info);
      break;
    case LogLevel::kWarn:
      logger->set_level(spdlog::level::warn);
      break;
    case LogLevel::kError:
      logger->set_level(spdlog::level::err);
      break;
  }
  logger->flush_on(spdlog::level::trace);  // every line: logs must survive a kill
  return logger;
}

std::string JsonString(std::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

spdlog::level::level_enum ToSpd(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

LogField::LogField(std::string_view k, double v)
    : key(k), value(fmt::format("{:.6g}", v)), number(true) {}

bool ParseLogFormat(std::string_view text, LogFormat* format) {
  if (text == "human") {
    *format = LogFormat::kHuman;
    return true;
  }
  if (text == "json") {
    *format = LogFormat::kJson;
    return true;
  }
  return false;
}

void InitLogging(LogFormat format, LogLevel min_level) {
  Logging& state = State();
  std::lock_guard lock(state.mu);
  state.logger = MakeLogger(format, min_level);
  state.format = format;
  state.min_level.store(min_level, std::memory_order_relaxed);
}

bool LogEnabled(LogLevel level) {
  return level >= State().min_level.load(std::memory_order_relaxed);
}

void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  Logging& state = State();
  std::shared_ptr<spdlog::logger> logger;
  LogFormat format;
  {
    std::lock_guard lock(state.mu);
    if (!state.logger) state.logger = MakeLogger(LogFormat::kHuman, LogLevel::kInfo);
    logger = state.logger;
    format = state.format;
  }
  if (!logger->should_log(ToSpd(level))) return;
  std::string line;
  if (format == LogFormat::kJson) {
    line = "\"msg\":" + JsonString(message);
    for (const LogField& f : fields) {
      line += "," + JsonString(f.key) + ":" + (f.number ? f.value : JsonString(f.value));
    }
  } else {
    line.assign(message);
    for (const LogField& f : fields) {
      line += " ";
      line += f.key;
      line += "=";
      line += NeedsQuotes(f.value) ? JsonString(f.value) : f.value;
    }
  }
  logger->log(ToSpd(level), spdlog::string_view_t(line.data(), line.size()));
}

}  // namespace keytrail::server
