#include "events/kafka_writer_group.h"

#include <atomic>
#include <thread>

#include <fmt/format.h>

#include "events/kafka_client.h"

namespace keytrail::events {
namespace {

using kafka::ClientContext;
using kafka::Config;

// How long one poll of the group waits: bounds how fast the member leaves when stopped.
constexpr int kPollMs = 100;

std::vector<int32_t> PartitionsOf(const rd_kafka_topic_partition_list_t* list) {
  std::vector<int32_t> out;
  for (int i = 0; list != nullptr && i < list->cnt; ++i) out.push_back(list->elems[i].partition);
  return out;
}

}  // namespace

struct KafkaWriterGroup::Impl {
  Options options;
  std::unique_ptr<ClientContext> context;  // outlives consumer
  rd_kafka_t* consumer = nullptr;
  std::atomic<bool> stop{false};
  std::thread poller;

  ~Impl() {
    if (poller.joinable()) {
      stop.store(true);
      poller.join();
    }
    if (consumer == nullptr) return;
    rd_kafka_consumer_close(consumer);  // leaves the group: the rebalance callback revokes
    rd_kafka_destroy(consumer);
  }

  // Called by librdkafka from rd_kafka_consumer_poll / close, on the poller thread.
  void Rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      rd_kafka_assign(consumer, partitions);
      // A member that reads nothing: only the assignment matters.
      rd_kafka_pause_partitions(consumer, partitions);
      if (options.on_assigned) options.on_assigned(PartitionsOf(partitions));
    } else {
      // Revoked (or lost): stop writing before anyone else is given the partitions.
      if (options.on_revoked) options.on_revoked(PartitionsOf(partitions));
      rd_kafka_assign(consumer, nullptr);
    }
  }
};

namespace {

void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                 rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  static_cast<ClientContext*>(opaque)->rebalance(err, partitions);
}

}  // namespace

KafkaWriterGroup::KafkaWriterGroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaWriterGroup::~KafkaWriterGroup() = default;

Result<std::unique_ptr<KafkaWriterGroup>> KafkaWriterGroup::Join(Options options) {
  if (options.brokers.empty()) return Status::InvalidArgument("kafka: no brokers given");
  if (options.member_id.empty()) return Status::InvalidArgument("kafka: no member id given");
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->context = std::make_unique<ClientContext>();
  impl->context->log = impl->options.log;
  const Options& o = impl->options;

  Config config;
  KT_RETURN_IF_ERROR(config.Set("bootstrap.servers", o.brokers));
  KT_RETURN_IF_ERROR(config.Set("client.id", o.member_id));
  KT_RETURN_IF_ERROR(config.Set("group.id", o.group_id));
  KT_RETURN_IF_ERROR(config.Set("enable.auto.commit", "false"));
  KT_RETURN_IF_ERROR(config.Set("enable.auto.offset.store", "false"));
  KT_RETURN_IF_ERROR(config.Set("session.timeout.ms", std::to_string(o.session_timeout.count())));
  KT_RETURN_IF_ERROR(config.Set("heartbeat.interval.ms", std::to_string(std::max<int64_t>(
                                                             100, o.session_timeout.count() / 6))));
  KT_RETURN_IF_ERROR(config.Set("reconnect.backoff.max.ms", "1000"));
  KT_RETURN_IF_ERROR(kafka::ApplyProperties(config, o.properties));
  rd_kafka_conf_set_opaque(config.get(), impl->context.get());
  rd_kafka_conf_set_log_cb(config.get(), kafka::OnLog);
  rd_kafka_conf_set_error_cb(config.get(), kafka::OnError);
  rd_kafka_conf_set_rebalance_cb(config.get(), OnRebalance);
  Impl* raw = impl.get();
  impl->context->rebalance = [raw](rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t* partitions) {
    raw->Rebalance(err, partitions);
  };
  auto consumer = config.NewHandle(RD_KAFKA_CONSUMER);
  if (!consumer.ok()) return consumer.status();
  impl->consumer = *consumer;
  rd_kafka_poll_set_consumer(impl->consumer);

  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, o.topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t err = rd_kafka_subscribe(impl->consumer, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Internal(
        fmt::format("kafka: cannot join group {}: {}", o.group_id, rd_kafka_err2str(err)));
  }
  impl->poller = std::thread([raw] {
    while (!raw->stop.load()) {
      rd_kafka_message_t* message = rd_kafka_consumer_poll(raw->consumer, kPollMs);
      if (message != nullptr) rd_kafka_message_destroy(message);  // errors are logged
    }
  });
  return std::unique_ptr<KafkaWriterGroup>(new KafkaWriterGroup(std::move(impl)));
}

}  // namespace keytrail::events
