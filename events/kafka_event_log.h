// KafkaEventLog: the EventLog on an Apache Kafka topic, through librdkafka.
//
// Placement: every record of `org` goes to partition PartitionFor(org) (Kafka's Java
// default partitioner, chosen explicitly rather than left to the client) with record
// key = org, so one org's events are totally ordered in one partition and any Kafka
// client keyed by org agrees on placement. The partition count is read once, at Open;
// adding partitions to the topic later would move orgs, so it must never be done.
//
// Durability: an idempotent producer with acks=all. Append returns only after every
// record's delivery report has arrived; records queued while a produce request is in
// flight go out together in the next one (linger.ms=0: no added wait), which is Kafka's
// form of group commit. The records of one Append are
// enqueued together, so they are contiguous in the partition.
//
// Interoperability: every record carries CloudEvents binary-mode headers (ce_specversion,
// ce_id, ce_type, ce_source, ce_time, ce_subject = aggregate id, content-type =
// application/x-flatbuffers), derived from the envelope, so any Kafka client can route
// events without keytrail's code.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "events/event_log.h"
#include "events/kafka_properties.h"

namespace keytrail::events {

class KafkaEventLog final : public EventLog {
 public:
  struct Options {
    std::string brokers;                       // bootstrap servers, e.g. "127.0.0.1:9092"
    std::string topic = "keytrail.events";     // must exist; never auto-created
    std::string source = "/keytrail";          // CloudEvents ce_source
    std::chrono::milliseconds timeout{10000};  // bound on metadata, delivery and offset queries
    // Receives librdkafka's warnings and errors (syslog severity <= 4, i.e. LOG_WARNING),
    // from librdkafka's own threads, so it must be thread-safe. Empty = dropped. The
    // messages never contain record payloads.
    std::function<void(int severity, std::string_view message)> log;
    // librdkafka properties for every client this log makes (producer and readers),
    // applied after keytrail's own: security.protocol, sasl.*, ssl.*, timeouts.
    KafkaProperties properties;
    // Records are keytrail event envelopes, checked and given CloudEvents headers. Off
    // for a stream of other records (the credentials stream): appended as they are.
    bool envelopes = true;
  };

  // Connects and reads the topic's partition count, within options.timeout.
  // Errors: kInvalidArgument (bad options), kUnavailable (no broker answered in time; the
  // message names the brokers), kNotFound (the topic does not exist), kInternal
  // (librdkafka refused to start).
  static Result<std::unique_ptr<KafkaEventLog>> Open(const Options& options);

  // Waits up to options.timeout for records still in flight, then drops the rest.
  // REQUIRES: no Append is running.
  ~KafkaEventLog() override;

  int32_t PartitionCount() const override;

  // Returns within about options.timeout even while brokers are down.
  // Errors: kInvalidArgument (an event does not decode, belongs to another org, or has an
  // occurred_at_us outside RFC 3339's years; nothing is produced then), kUnavailable (a
  // record was not acknowledged within options.timeout: brokers down, leader lost; retry
  // later), kInternal (a non-retriable producer failure, e.g. the idempotent producer was
  // fenced or a record is too large). On error a prefix of the batch may have been
  // written (see EventLog::Append).
  Result<std::vector<int64_t>> Append(std::string_view org,
                                      std::span<const std::string> events) override;

  // The partition's high watermark, within options.timeout.
  // Errors: kInvalidArgument (no such partition), kUnavailable.
  Result<int64_t> EndOffset(int32_t partition) override;

  // Each reader owns its own consumer, assigned to the partition at `offset` (it carries a
  // throwaway group id, which librdkafka's assign needs, but never joins a group or
  // commits offsets), so it may outlive the log. Next() errors: kUnavailable (a consumer
  // error such as a lost connection; call Next again, the position did not move),
  // kInvalidArgument (the position is outside the partition's offsets: unlike the local
  // log, a reader opened past the end fails instead of waiting), kNotFound (the topic or
  // partition vanished). A failure never skips records.
  Result<std::unique_ptr<LogReader>> OpenReader(int32_t partition, int64_t offset) override;

  // The breaker (events/log_breaker.h): open once librdkafka reports every broker down or
  // an append times out; closed by the next append that succeeds or by the probe the
  // producer's thread runs every half second while it is open (a metadata request).
  LogReachability Reachability() const override;

  struct Impl;

 private:
  explicit KafkaEventLog(std::unique_ptr<Impl> impl);
  Result<std::vector<int64_t>> Produce(std::string_view org, std::span<const std::string> events);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keytrail::events
