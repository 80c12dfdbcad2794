// What the operator subcommands (log dump, rebuild, check, projector skip) share: where
// the log and the views are, opening them with clear errors, exit codes, and the
// progress bar. CLI-internal.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "events/event_log.h"
#include "projections/rebuild.h"
#include "projections/view_store.h"

namespace CLI {
class App;
}

namespace keytrail::cli {

// The log and views of one keytrail installation, as `keytrail serve` lays them out:
// <data_dir>/log (the local log, unless kafka_brokers is set) and <data_dir>/views.
struct DataOptions {
  std::string data_dir = "./var/keytrail";
  std::string kafka_brokers;
  std::string kafka_topic = "keytrail.events";
  int kafka_timeout_ms = 10'000;
  std::string kafka_config;  // librdkafka properties file, as for keytrail serve

  std::string ViewsPath() const;
  std::string LogPath() const;
};

// Registers --data-dir, --kafka-brokers, --kafka-topic, --kafka-timeout-ms, --kafka-config.
void AddDataOptions(CLI::App& cmd, DataOptions& options);

// Opens the local log (read_only: as a snapshot, without its lock, so that it works
// while a server runs) or the Kafka topic.
Result<std::unique_ptr<events::EventLog>> OpenLog(const DataOptions& options, bool read_only);

// Prints "keytrail <command>: <message>" on stderr and returns the exit code for
// `status`: 1 for a refusal or a finding (kFailedPrecondition, kCorruption), 2 for
// kInvalidArgument, 3 for everything that could not be reached or read.
int Fail(std::string_view command, const Status& status);

// The OS user running the tool, for the audit trail ("unknown" if none).
std::string OperatorName();

// A progress bar on stderr for rebuilds: redrawn in place on a terminal, one line every
// few seconds otherwise (logs, tests).
class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  void Update(const projections::RebuildProgress& progress);
  // Ends the bar's line.
  void Finish();

 private:
  std::string label_;
  bool terminal_;
  std::chrono::steady_clock::time_point last_line_;
  bool drawn_ = false;
};

// "1234567 events in 2.5 s (493827 events/s)".
std::string RateText(int64_t events, double seconds);

}  // namespace keytrail::cli
