// KafkaMockCluster: librdkafka's built-in mock Kafka cluster (rdkafka_mock.h), for
// development and tests. It is a real Kafka protocol endpoint on loopback, so
// KafkaEventLog and independent clients (kcat, confluent-kafka) can all use it.
//
// Limits of the mock in librdkafka 2.0.2, so never rely on them:
//  - transactions are accepted but not enforced, offsets sent in a transaction are
//    dropped, and there is no producer fencing;
//  - each partition keeps at most ~5 MiB / 100k batches (older data is dropped);
//  - replicas exist only in metadata: each partition's data is one in-memory log, so
//    acks=all proves nothing about replication, and everything is gone on destruction;
//  - it creates any unknown topic a client asks about by name (KafkaEventLog::Open asks
//    for all topics, so it still reports a missing topic);
//  - control calls (SetBrokersDown, destruction) are synchronous but were seen to take
//    up to ~1 s each.
//
// Thread-safe. Clients must be destroyed before the cluster, or they will see their
// brokers vanish.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"

namespace keytrail::events {

class KafkaMockCluster {
 public:
  // Starts `brokers` brokers on loopback (ephemeral ports) and creates `topic` with
  // `partitions` partitions and replication factor min(3, brokers).
  // Errors: kInvalidArgument (brokers or partitions < 1, empty topic), kInternal (the
  // mock could not start).
  static Result<std::unique_ptr<KafkaMockCluster>> Start(int brokers = 3,
                                                         std::string topic = "keytrail.events",
                                                         int partitions = 8);
  ~KafkaMockCluster();
  KafkaMockCluster(const KafkaMockCluster&) = delete;
  KafkaMockCluster& operator=(const KafkaMockCluster&) = delete;

  // The brokers' "host:port,host:port,..." list, for bootstrap.servers.
  const std::string& bootstrap_servers() const;
  const std::string& topic() const;
  // Creates one more topic (e.g. keytrail.credentials).
  Status CreateTopic(const std::string& topic, int partitions);

  // down = true closes every broker's connections and refuses new ones (no leader
  // change); down = false lets them accept connections again.
  Status SetBrokersDown(bool down);

  struct Impl;

 private:
  explicit KafkaMockCluster(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keytrail::events
