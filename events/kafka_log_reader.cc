#include <unistd.h>

#include <atomic>
#include <utility>

#include <fmt/format.h>

#include "events/kafka_client.h"

namespace keytrail::events::kafka {
namespace {

using SteadyClock = std::chrono::steady_clock;

// librdkafka needs a group id to assign partitions, though this reader never joins the
// group nor commits: a unique throwaway one.
std::string ReaderGroupId() {
  static std::atomic<uint64_t> counter{0};
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return fmt::format("keytrail-reader-{}-{}-{}", getpid(),
                     std::chrono::duration_cast<std::chrono::microseconds>(now).count(),
                     counter.fetch_add(1));
}

class KafkaLogReader final : public LogReader {
 public:
  KafkaLogReader(std::unique_ptr<ClientContext> context, rd_kafka_t* consumer, std::string topic,
                 int32_t partition, int64_t offset)
      : context_(std::move(context)),
        consumer_(consumer),
        queue_(rd_kafka_queue_get_consumer(consumer)),
        topic_(std::move(topic)),
        partition_(partition),
        position_(offset) {}

  ~KafkaLogReader() override {
    if (queue_ != nullptr) rd_kafka_queue_destroy(queue_);
    // Nothing to commit and no group membership to leave: skip the consumer close.
    rd_kafka_destroy_flags(consumer_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }

  Result<std::vector<LogRecord>> Next(size_t max_records, std::chrono::milliseconds wait) override {
    if (!pending_.ok()) return std::exchange(pending_, Status::Ok());
    std::vector<LogRecord> out;
    const SteadyClock::time_point deadline = SteadyClock::now() + wait;
    while (out.size() < max_records) {
      int timeout_ms = 0;
      if (out.empty()) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
        timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
      }
      rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, timeout_ms);
      if (message == nullptr) {
        if (!out.empty() || SteadyClock::now() >= deadline || woken_.exchange(false)) break;
        continue;
      }
      std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> owned(
          message, rd_kafka_message_destroy);
      if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        Status error = ConsumerError(*message);
        if (out.empty()) return error;
        pending_ = std::move(error);  // hand out what was read first
        break;
      }
      if (message->partition != partition_ || message->offset < position_) {
        return Status::Corruption(
            fmt::format("kafka: reader of {}/{} at offset {} got record {}/{}", topic_, partition_,
                        position_, message->partition, message->offset));
      }
      LogRecord record;
      record.partition = partition_;
      record.offset = message->offset;
      if (message->key != nullptr) {
        record.key.assign(static_cast<const char*>(message->key), message->key_len);
      }
      if (message->payload != nullptr) {
        record.value.assign(static_cast<const char*>(message->payload), message->len);
      }
      position_ = message->offset + 1;
      out.push_back(std::move(record));
    }
    return out;
  }

  void Wake() override {
    woken_.store(true);
    if (queue_ != nullptr) rd_kafka_queue_yield(queue_);  // a blocked consumer_poll returns
  }

 private:
  Status ConsumerError(const rd_kafka_message_t& message) const {
    const std::string message_text =
        fmt::format("kafka: reading {}/{} at offset {}: {} ({})", topic_, partition_, position_,
                    rd_kafka_message_errstr(&message), rd_kafka_err2name(message.err));
    switch (message.err) {
      case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
      case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
        return Status::InvalidArgument(message_text);
      case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
      case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return Status::NotFound(message_text);
      default:
        return IsPermanent(message.err) ? Status::Internal(message_text)
                                        : Status::Unavailable(message_text);
    }
  }

  const std::unique_ptr<ClientContext> context_;  // outlives consumer_
  rd_kafka_t* const consumer_;
  rd_kafka_queue_t* const queue_;  // the consumer's queue, which consumer_poll serves; may be null
  const std::string topic_;
  const int32_t partition_;
  int64_t position_;
  Status pending_;
  std::atomic<bool> woken_{false};
};

}  // namespace

Result<std::unique_ptr<LogReader>> OpenReader(
    const std::string& brokers, const std::string& topic,
    const std::vector<std::pair<std::string, std::string>>& properties,
    const std::function<void(int, std::string_view)>& log, int32_t partition, int64_t offset) {
  auto context = std::make_unique<ClientContext>();
  context->log = log;

  Config config;
  KT_RETURN_IF_ERROR(config.Set("bootstrap.servers", brokers));
  KT_RETURN_IF_ERROR(config.Set("client.id", "keytrail-reader"));
  KT_RETURN_IF_ERROR(config.Set("group.id", ReaderGroupId()));
  KT_RETURN_IF_ERROR(config.Set("enable.auto.commit", "false"));
  KT_RETURN_IF_ERROR(config.Set("enable.auto.offset.store", "false"));
  KT_RETURN_IF_ERROR(config.Set("enable.partition.eof", "false"));
  // Never jump silently: a position outside the retained offsets is an error.
  KT_RETURN_IF_ERROR(config.Set("auto.offset.reset", "error"));
  // A reader at the end sees a new record within this many ms (a broker that answers a
  // fetch as soon as data arrives, as Kafka does, makes it sooner; the mock cluster waits
  // the whole time). Every write is read back before it is acknowledged, so this bounds
  // write latency too. --kafka-config may change it.
  KT_RETURN_IF_ERROR(config.Set("fetch.wait.max.ms", "10"));
  KT_RETURN_IF_ERROR(config.Set("reconnect.backoff.max.ms", "1000"));
  KT_RETURN_IF_ERROR(ApplyProperties(config, properties));
  // Errors come back from consumer_poll (see Next), so no error_cb here.
  rd_kafka_conf_set_opaque(config.get(), context.get());
  rd_kafka_conf_set_log_cb(config.get(), OnLog);
  auto consumer = config.NewHandle(RD_KAFKA_CONSUMER);
  if (!consumer.ok()) return consumer.status();
  // From here the reader owns the handle and destroys it on every path.
  auto reader =
      std::make_unique<KafkaLogReader>(std::move(context), *consumer, topic, partition, offset);
  rd_kafka_poll_set_consumer(*consumer);
  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(assignment, topic.c_str(), partition)->offset = offset;
  const rd_kafka_resp_err_t err = rd_kafka_assign(*consumer, assignment);
  rd_kafka_topic_partition_list_destroy(assignment);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Internal(fmt::format("kafka: assign {}/{} at offset {}: {}", topic, partition,
                                        offset, rd_kafka_err2str(err)));
  }
  return std::unique_ptr<LogReader>(std::move(reader));
}

}  // namespace keytrail::events::kafka
