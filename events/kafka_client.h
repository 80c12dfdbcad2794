// Internal to the Kafka adapter (keytrail_events_kafka): what the producer side
// (kafka_event_log.cc) and the reader side (kafka_log_reader.cc) share. librdkafka types
// are fine here: only the adapter's .cc files include this header.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "events/event_log.h"

namespace keytrail::events::kafka {

// What a librdkafka handle reports through its callbacks. Reached via rd_kafka_opaque(),
// so it must outlive the handle.
struct ClientContext {
  std::function<void(int, std::string_view)> log;
  // A group member's rebalance callback (kafka_writer_group.cc); empty elsewhere.
  std::function<void(rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*)> rebalance;
  // Every error librdkafka reports (from its threads); empty = none.
  std::function<void(rd_kafka_resp_err_t, std::string_view)> error;
  std::mutex mu;
  std::string last_error;  // guarded by mu
};

// librdkafka callbacks; their opaque is a ClientContext.
void OnLog(const rd_kafka_t* rk, int level, const char* facility, const char* message);
void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque);

// An rd_kafka_conf_t until rd_kafka_new takes it.
class Config {
 public:
  Config() : conf_(rd_kafka_conf_new()) {}
  ~Config() {
    if (conf_ != nullptr) rd_kafka_conf_destroy(conf_);
  }
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;

  Status Set(const char* name, const std::string& value);

  rd_kafka_conf_t* get() { return conf_; }

  // Creates the handle. On success the handle owns the configuration.
  Result<rd_kafka_t*> NewHandle(rd_kafka_type_t type);

 private:
  rd_kafka_conf_t* conf_;
};

inline int TimeoutMs(std::chrono::milliseconds timeout) {
  return static_cast<int>(timeout.count());
}

// Sets a user's property; false if librdkafka refuses it (the reason is not returned: it
// may quote the value, and values may be secrets).
bool TrySet(Config& config, const std::string& name, const std::string& value);

// Applies user properties after keytrail's own; kInvalidArgument naming the first
// refused property (never its value).
Status ApplyProperties(Config& config,
                       const std::vector<std::pair<std::string, std::string>>& properties);

// Errors that retrying cannot cure; everything else (timeouts, lost leaders, transport
// failures) is a dependency being unavailable.
bool IsPermanent(rd_kafka_resp_err_t err);

// A reader of one partition of `topic`, positioned at `offset`, with its own consumer
// (explicit assignment; no group offsets are committed). `log` as in KafkaEventLog.
Result<std::unique_ptr<LogReader>> OpenReader(
    const std::string& brokers, const std::string& topic,
    const std::vector<std::pair<std::string, std::string>>& properties,
    const std::function<void(int, std::string_view)>& log, int32_t partition, int64_t offset);

}  // namespace keytrail::events::kafka
