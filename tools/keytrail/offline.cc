#include "tools/keytrail/offline.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "events/kafka_event_log.h"
#include "events/local_event_log.h"
#include "tools/keytrail/commands.h"

namespace keytrail::cli {

std::string DataOptions::ViewsPath() const {
  return (std::filesystem::path(data_dir) / "views").string();
}

std::string DataOptions::LogPath() const {
  return (std::filesystem::path(data_dir) / "log").string();
}

void AddDataOptions(CLI::App& cmd, DataOptions& options) {
  cmd.add_option("--data-dir", options.data_dir,
                 "the server's data directory: the local log (log/) and the views (views/)")
      ->capture_default_str();
  cmd.add_option("--kafka-brokers", options.kafka_brokers,
                 "read the log from the Kafka topic at these bootstrap servers instead");
  cmd.add_option("--kafka-topic", options.kafka_topic, "Kafka topic")->capture_default_str();
  cmd.add_option("--kafka-timeout-ms", options.kafka_timeout_ms, "bound on each Kafka request")
      ->check(CLI::Range(100, 600'000))
      ->capture_default_str();
  cmd.add_option("--kafka-config", options.kafka_config,
                 "file of librdkafka properties (security.protocol, sasl.*, ssl.*), as for serve");
}

Result<std::unique_ptr<events::EventLog>> OpenLog(const DataOptions& options, bool read_only) {
  if (!options.kafka_brokers.empty()) {
    events::KafkaEventLog::Options kafka;
    kafka.brokers = options.kafka_brokers;
    kafka.topic = options.kafka_topic;
    kafka.timeout = std::chrono::milliseconds(options.kafka_timeout_ms);
    if (!options.kafka_config.empty()) {
      auto properties = events::ReadKafkaProperties(options.kafka_config);
      if (!properties.ok()) return properties.status();
      kafka.properties = std::move(properties).value();
    }
    auto log = events::KafkaEventLog::Open(kafka);
    if (!log.ok()) return log.status();
    return std::unique_ptr<events::EventLog>(std::move(log).value());
  }
  if (!std::filesystem::exists(options.LogPath())) {
    return Status::NotFound(
        fmt::format("no local log at {} (is --data-dir right?)", options.LogPath()));
  }
  auto log = events::LocalEventLog::Open({.path = options.LogPath(), .read_only = read_only});
  if (!log.ok()) return log.status();
  return std::unique_ptr<events::EventLog>(std::move(log).value());
}

int Fail(std::string_view command, const Status& status) {
  fmt::print(stderr, "keytrail {}: {}\n", command, status.message());
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kFailedPrecondition:
    case StatusCode::kCorruption:
      return kExitRejected;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    default:
      return kExitUnavailable;
  }
}

std::string OperatorName() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  if (const char* user = std::getenv("USER"); user != nullptr && *user != '\0') return user;
  return "unknown";
}

ProgressBar::ProgressBar(std::string label)
    : label_(std::move(label)),
      terminal_(::isatty(STDERR_FILENO) == 1),
      last_line_(std::chrono::steady_clock::now()) {}

void ProgressBar::Update(const projections::RebuildProgress& p) {
  const auto now = std::chrono::steady_clock::now();
  const bool done = p.done >= p.total;
  if (!terminal_ && !done && now - last_line_ < std::chrono::seconds(5)) return;
  last_line_ = now;
  constexpr int kWidth = 30;
  const double fraction = p.total == 0 ? 1.0 : static_cast<double>(p.done) / p.total;
  const int filled = static_cast<int>(fraction * kWidth);
  const double rate = p.seconds > 0 ? p.done / p.seconds : 0;
  const std::string line = fmt::format("{} [{}{}] {:3.0f}% {}/{} events, {:.0f} events/s", label_,
                                       std::string(filled, '#'), std::string(kWidth - filled, '.'),
                                       fraction * 100, p.done, p.total, rate);
  if (terminal_) {
    fmt::print(stderr, "\r{}\x1b[K", line);
  } else {
    fmt::print(stderr, "{}\n", line);
  }
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (terminal_ && drawn_) fmt::print(stderr, "\n");
  drawn_ = false;
}

std::string RateText(int64_t events, double seconds) {
  return fmt::format("{} events in {:.2f} s ({:.0f} events/s)", events, seconds,
                     seconds > 0 ? events / seconds : 0.0);
}

}  // namespace keytrail::cli
