// KafkaWriterGroup: this node's membership in the Kafka consumer group that chooses, for
// each partition of the topic, the one live node that writes it. keytrail adds no
// consensus of its own: Kafka's group protocol assigns partitions (it runs on librdkafka's
// mock cluster too), a node that leaves or stops heartbeating loses its partitions after
// the session timeout, and the survivors get them. Safety does not rest on it: a writer
// that lost a partition without knowing is fenced by the log (events/epoch_fence.h).
//
// The member consumes no records (its partitions are paused); it only serves the group
// protocol from a thread of its own, which also calls the callbacks: on_assigned with the
// partitions this node should now claim, on_revoked with those it must stop writing,
// before they are handed on.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "events/kafka_properties.h"

namespace keytrail::events {

class KafkaWriterGroup {
 public:
  struct Options {
    std::string brokers;
    std::string topic = "keytrail.events";
    std::string group_id = "keytrail.writers";
    std::string member_id;  // this node; becomes the member's client.id
    // How long a node may be silent (crashed, paused, cut off) before the group hands
    // its partitions on. A --kafka-config session.timeout.ms overrides it.
    std::chrono::milliseconds session_timeout{6000};
    KafkaProperties properties;
    std::function<void(std::vector<int32_t> partitions)> on_assigned;
    std::function<void(std::vector<int32_t> partitions)> on_revoked;
    std::function<void(int severity, std::string_view message)> log;
  };

  // Joins the group and starts serving it. Errors: kInvalidArgument (options or a
  // property), kInternal (librdkafka refused to start the member).
  static Result<std::unique_ptr<KafkaWriterGroup>> Join(Options options);
  // Leaves the group (on_revoked is called for what this node held), then stops.
  ~KafkaWriterGroup();
  KafkaWriterGroup(const KafkaWriterGroup&) = delete;
  KafkaWriterGroup& operator=(const KafkaWriterGroup&) = delete;

  struct Impl;

 private:
  explicit KafkaWriterGroup(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keytrail::events
