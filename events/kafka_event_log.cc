#include "events/kafka_event_log.h"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "events/codec.h"
#include "events/event_id.h"
#include "events/kafka_client.h"
#include "events/log_breaker.h"

namespace keytrail::events {
namespace {

using kafka::ClientContext;
using kafka::Config;
using kafka::IsPermanent;
using kafka::OnError;
using kafka::OnLog;
using kafka::TimeoutMs;

using SteadyClock = std::chrono::steady_clock;

// librdkafka guarantees a delivery report within message.timeout.ms; Append waits this
// much longer before it gives up, so a library bug cannot hang a command forever.
constexpr std::chrono::seconds kReportSlack{5};
// Valid RFC 3339 years are 0000..9999.
constexpr int64_t kMinRfc3339Seconds = -62167219200;  // 0000-01-01T00:00:00Z
constexpr int64_t kMaxRfc3339Seconds = 253402300799;  // 9999-12-31T23:59:59Z

Status ProducerError(rd_kafka_t* producer, rd_kafka_resp_err_t err, std::string_view what) {
  std::string reason = rd_kafka_err2str(err);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[512] = "";
    const rd_kafka_resp_err_t cause = rd_kafka_fatal_error(producer, fatal, sizeof(fatal));
    reason = fmt::format("fatal producer error {}: {}", rd_kafka_err2name(cause), fatal);
  }
  std::string message = fmt::format("kafka: {}: {} ({})", what, reason, rd_kafka_err2name(err));
  if (IsPermanent(err)) return Status::Internal(std::move(message));
  return Status::Unavailable(std::move(message));
}

// RFC 3339 UTC with microseconds, e.g. "2026-01-01T00:00:00.123456Z".
Result<std::string> FormatCloudEventTime(int64_t unix_micros) {
  int64_t seconds = unix_micros / 1000000;
  int64_t micros = unix_micros % 1000000;
  if (micros < 0) {
    micros += 1000000;
    --seconds;
  }
  if (seconds < kMinRfc3339Seconds || seconds > kMaxRfc3339Seconds) {
    return Status::InvalidArgument(
        fmt::format("occurred_at_us {} is outside RFC 3339's years 0000..9999", unix_micros));
  }
  const time_t t = static_cast<time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) {
    return Status::InvalidArgument(fmt::format("occurred_at_us {} is not a date", unix_micros));
  }
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
}

// Owns librdkafka header lists until produce takes them.
class HeaderLists {
 public:
  explicit HeaderLists(size_t n) : lists_(n, nullptr) {}
  ~HeaderLists() {
    for (rd_kafka_headers_t* h : lists_) {
      if (h != nullptr) rd_kafka_headers_destroy(h);
    }
  }
  HeaderLists(const HeaderLists&) = delete;
  HeaderLists& operator=(const HeaderLists&) = delete;

  rd_kafka_headers_t*& operator[](size_t i) { return lists_[i]; }

 private:
  std::vector<rd_kafka_headers_t*> lists_;
};

void AddHeader(rd_kafka_headers_t* headers, const char* name, std::string_view value) {
  rd_kafka_header_add(headers, name, -1, value.data(), static_cast<ssize_t>(value.size()));
}

// The CloudEvents binary-mode headers of one encoded envelope of `org`.
Result<rd_kafka_headers_t*> CloudEventHeaders(std::string_view org, std::string_view event,
                                              const std::string& source) {
  auto envelope = Decode(event);
  if (!envelope.ok()) return envelope.status();
  const fb::Envelope* e = *envelope;
  if (e->org()->string_view() != org) {
    return Status::InvalidArgument("event belongs to another org than the one appended to");
  }
  auto time = FormatCloudEventTime(e->occurred_at_us());
  if (!time.ok()) return time.status();
  rd_kafka_headers_t* headers = rd_kafka_headers_new(8);
  AddHeader(headers, "ce_specversion", "1.0");
  AddHeader(headers, "ce_id", FormatEventId(*e->id()));
  AddHeader(headers, "ce_type", CloudEventType(e->payload_type()));
  AddHeader(headers, "ce_source", source);
  AddHeader(headers, "ce_time", *time);
  AddHeader(headers, "ce_subject", e->aggregate_id()->string_view());
  AddHeader(headers, "ce_dataschema", CloudEventDataSchema(e->schema_version()));
  AddHeader(headers, "content-type", "application/x-flatbuffers");
  return headers;
}

// The completion state of one Append. Each record's message opaque points at its Slot.
// The state keeps itself alive (`self`) while any record is in flight, so a delivery
// report that arrives after Append gave up waiting still lands in valid memory.
struct AppendState {
  struct Slot {
    AppendState* state = nullptr;
    int64_t offset = -1;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  };

  explicit AppendState(size_t n) : slots(n) {
    for (Slot& s : slots) s.state = this;
  }

  std::mutex mu;
  std::condition_variable all_reported;
  // Records in flight, plus one while the appender is still producing; guarded by mu.
  size_t outstanding = 1;
  std::vector<Slot> slots;            // written under mu
  std::shared_ptr<AppendState> self;  // set while outstanding > 0; guarded by mu
};

// Drops one in-flight count. Called with state->mu held; the returned pointer must be
// released only after mu is, since it may hold the last reference to the state.
[[nodiscard]] std::shared_ptr<AppendState> ReleaseOne(AppendState* state) {
  if (--state->outstanding > 0) return nullptr;
  state->all_reported.notify_all();
  return std::move(state->self);
}

void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque) {
  auto* slot = static_cast<AppendState::Slot*>(message->_private);
  if (slot == nullptr) return;
  AppendState* state = slot->state;
  std::shared_ptr<AppendState> keep;  // destroyed after the lock below is released
  std::lock_guard lock(state->mu);
  slot->err = message->err;
  slot->offset = message->offset;
  keep = ReleaseOne(state);
}

}  // namespace

struct KafkaEventLog::Impl {
  Options options;
  int32_t partitions = 0;
  std::unique_ptr<ClientContext> context;  // outlives producer
  rd_kafka_t* producer = nullptr;
  rd_kafka_topic_t* topic = nullptr;
  // Held while one Append enqueues its records, so they are contiguous in the partition.
  std::mutex produce_mu;
  std::atomic<bool> stop{false};
  std::thread poller;  // serves delivery reports and callbacks; probes while the breaker is open
  LogBreaker breaker;

  // The poller's loop: serve callbacks; while the breaker is open, ask a broker for the
  // topic's metadata every half second, and close it when one answers.
  void Poll() {
    auto last_probe = SteadyClock::now();
    while (!stop.load()) {
      rd_kafka_poll(producer, breaker.Reachable() ? 1000 : 100);
      if (breaker.Reachable() || SteadyClock::now() - last_probe < std::chrono::milliseconds(500)) {
        continue;
      }
      last_probe = SteadyClock::now();
      const rd_kafka_metadata_t* metadata = nullptr;
      if (rd_kafka_metadata(producer, /*all_topics=*/0, nullptr, &metadata, 500) ==
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(metadata);
        breaker.Close();
      }
    }
  }

  ~Impl() {
    if (poller.joinable()) {
      stop.store(true);
      rd_kafka_queue_t* main_queue = rd_kafka_queue_get_main(producer);
      rd_kafka_queue_yield(main_queue);  // wakes the poller at once
      rd_kafka_queue_destroy(main_queue);
      poller.join();
    }
    if (producer == nullptr) return;
    // Deliver what is still queued (its reports land in states kept alive by `self`),
    // then fail the rest so that every report is served before the handle goes away.
    rd_kafka_flush(producer, TimeoutMs(options.timeout));
    rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(producer, 1000);
    if (topic != nullptr) rd_kafka_topic_destroy(topic);
    rd_kafka_destroy(producer);
  }

  Status Produce(std::string_view org, int32_t partition, const std::string& event,
                 rd_kafka_headers_t*& headers, AppendState::Slot* slot,
                 SteadyClock::time_point deadline);
};

// Enqueues one record. On success librdkafka owns `headers` and it is set to null.
Status KafkaEventLog::Impl::Produce(std::string_view org, int32_t partition,
                                    const std::string& event, rd_kafka_headers_t*& headers,
                                    AppendState::Slot* slot, SteadyClock::time_point deadline) {
  while (true) {
    const rd_kafka_resp_err_t err =
        rd_kafka_producev(producer, RD_KAFKA_V_RKT(topic), RD_KAFKA_V_PARTITION(partition),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_VALUE(const_cast<char*>(event.data()), event.size()),
                          RD_KAFKA_V_KEY(org.data(), org.size()), RD_KAFKA_V_HEADERS(headers),
                          RD_KAFKA_V_OPAQUE(slot), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      headers = nullptr;
      return Status::Ok();
    }
    // A full local queue drains as the poller serves reports; wait for room.
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || SteadyClock::now() >= deadline) {
      return ProducerError(producer, err,
                           fmt::format("produce to {}/{}", options.topic, partition));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

KafkaEventLog::KafkaEventLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaEventLog::~KafkaEventLog() = default;

Result<std::unique_ptr<KafkaEventLog>> KafkaEventLog::Open(const Options& options) {
  if (options.brokers.empty()) return Status::InvalidArgument("kafka: no brokers given");
  if (options.topic.empty()) return Status::InvalidArgument("kafka: no topic given");
  if (options.timeout.count() <= 0 || options.timeout.count() > INT32_MAX) {
    return Status::InvalidArgument(
        fmt::format("kafka: timeout must be 1..{} ms, not {}", INT32_MAX, options.timeout.count()));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->context = std::make_unique<ClientContext>();
  impl->context->log = options.log;

  Config config;
  const int timeout_ms = TimeoutMs(options.timeout);
  KT_RETURN_IF_ERROR(config.Set("bootstrap.servers", options.brokers));
  KT_RETURN_IF_ERROR(config.Set("client.id", "keytrail"));
  KT_RETURN_IF_ERROR(config.Set("enable.idempotence", "true"));
  KT_RETURN_IF_ERROR(config.Set("acks", "all"));
  KT_RETURN_IF_ERROR(config.Set("linger.ms", "0"));
  KT_RETURN_IF_ERROR(config.Set("message.timeout.ms", std::to_string(timeout_ms)));
  KT_RETURN_IF_ERROR(config.Set("allow.auto.create.topics", "false"));
  // Reconnect to a broker that came back within a second, not librdkafka's default 10 s.
  KT_RETURN_IF_ERROR(config.Set("reconnect.backoff.max.ms", "1000"));
  KT_RETURN_IF_ERROR(ApplyProperties(config, options.properties));
  rd_kafka_conf_set_opaque(config.get(), impl->context.get());
  rd_kafka_conf_set_log_cb(config.get(), OnLog);
  rd_kafka_conf_set_error_cb(config.get(), OnError);
  rd_kafka_conf_set_dr_msg_cb(config.get(), OnDelivery);
  auto producer = config.NewHandle(RD_KAFKA_PRODUCER);
  if (!producer.ok()) return producer.status();
  impl->producer = *producer;
  Impl* raw = impl.get();
  impl->context->error = [raw](rd_kafka_resp_err_t err, std::string_view reason) {
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
      raw->breaker.Open(
          fmt::format("kafka: every broker of {} is down ({})", raw->options.brokers, reason));
    }
  };
  impl->poller = std::thread([raw] { raw->Poll(); });

  // Metadata of all topics: asking for the topic by name could auto-create it.
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(impl->producer, /*all_topics=*/1, nullptr, &metadata, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::string last_error;
    {
      std::lock_guard lock(impl->context->mu);
      last_error = impl->context->last_error;
    }
    return Status::Unavailable(fmt::format(
        "kafka: no broker of {} answered within {} ms: {}{}", options.brokers, timeout_ms,
        rd_kafka_err2str(err), last_error.empty() ? "" : " (last error: " + last_error + ")"));
  }
  std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)> owned(
      metadata, rd_kafka_metadata_destroy);
  Status status = Status::NotFound(
      fmt::format("kafka: topic {} not found on {}", options.topic, options.brokers));
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = metadata->topics[i];
    if (options.topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt > 0) {
      impl->partitions = t.partition_cnt;
      status = Status::Ok();
    } else if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR &&
               t.err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      status =
          ProducerError(impl->producer, t.err, fmt::format("metadata of topic {}", options.topic));
    }
  }
  KT_RETURN_IF_ERROR(status);
  impl->topic = rd_kafka_topic_new(impl->producer, options.topic.c_str(), nullptr);
  if (impl->topic == nullptr) {
    return Status::InvalidArgument(fmt::format("kafka: bad topic name {}: {}", options.topic,
                                               rd_kafka_err2str(rd_kafka_last_error())));
  }
  return std::unique_ptr<KafkaEventLog>(new KafkaEventLog(std::move(impl)));
}

int32_t KafkaEventLog::PartitionCount() const { return impl_->partitions; }

Result<std::vector<int64_t>> KafkaEventLog::Append(std::string_view org,
                                                   std::span<const std::string> events) {
  auto appended = Produce(org, events);
  if (appended.ok()) {
    impl_->breaker.Close();
  } else if (appended.status().code() == StatusCode::kUnavailable) {
    impl_->breaker.Open(appended.status().message());
  }
  return appended;
}

LogReachability KafkaEventLog::Reachability() const { return impl_->breaker.Get(); }

Result<std::vector<int64_t>> KafkaEventLog::Produce(std::string_view org,
                                                    std::span<const std::string> events) {
  if (events.empty()) return std::vector<int64_t>{};
  HeaderLists headers(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    if (!impl_->options.envelopes) {
      headers[i] = rd_kafka_headers_new(1);
      AddHeader(headers[i], "content-type", "application/x-flatbuffers");
      continue;
    }
    auto h = CloudEventHeaders(org, events[i], impl_->options.source);
    if (!h.ok()) {
      return Status::InvalidArgument(fmt::format("kafka: event {} of {} not appended: {}", i,
                                                 events.size(), h.status().message()));
    }
    headers[i] = *h;
  }

  const int32_t partition = PartitionFor(org);
  auto state = std::make_shared<AppendState>(events.size());
  state->self = state;
  Status produce_status;
  size_t produced = 0;
  {
    std::lock_guard produce_lock(impl_->produce_mu);
    const SteadyClock::time_point deadline = SteadyClock::now() + impl_->options.timeout;
    for (; produced < events.size(); ++produced) {
      {
        std::lock_guard lock(state->mu);
        ++state->outstanding;
      }
      produce_status = impl_->Produce(org, partition, events[produced], headers[produced],
                                      &state->slots[produced], deadline);
      if (!produce_status.ok()) {
        std::lock_guard lock(state->mu);
        --state->outstanding;  // never enqueued, so no report will come
        break;
      }
    }
  }

  std::shared_ptr<AppendState> keep;  // released after the lock below
  std::unique_lock lock(state->mu);
  keep = ReleaseOne(state.get());  // the appender's own count
  const bool reported = state->all_reported.wait_for(lock, impl_->options.timeout + kReportSlack,
                                                     [&] { return state->outstanding == 0; });
  if (!reported) {
    return Status::Unavailable(fmt::format(
        "kafka: no delivery report for {} of {} records to {}/{} within {} ms", state->outstanding,
        produced, impl_->options.topic, partition,
        std::chrono::duration_cast<std::chrono::milliseconds>(impl_->options.timeout + kReportSlack)
            .count()));
  }
  std::vector<int64_t> offsets;
  offsets.reserve(produced);
  for (size_t i = 0; i < produced; ++i) {
    const AppendState::Slot& slot = state->slots[i];
    if (slot.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return ProducerError(impl_->producer, slot.err,
                           fmt::format("record {} of {} to {}/{} not delivered", i, events.size(),
                                       impl_->options.topic, partition));
    }
    offsets.push_back(slot.offset);
  }
  if (!produce_status.ok()) return produce_status;
  return offsets;
}

Result<int64_t> KafkaEventLog::EndOffset(int32_t partition) {
  if (partition < 0 || partition >= impl_->partitions) {
    return Status::InvalidArgument(fmt::format("kafka: no partition {}", partition));
  }
  // rd_kafka_query_watermark_offsets would be the obvious call, but in librdkafka 2.0.2
  // it ignores its timeout while the leader is unreachable. A ListOffsets query for
  // "latest" (timestamp -1) through offsets_for_times is bounded, and without
  // transactions its answer is the high watermark.
  rd_kafka_topic_partition_list_t* query = rd_kafka_topic_partition_list_new(1);
  std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)>
      owned(query, rd_kafka_topic_partition_list_destroy);
  rd_kafka_topic_partition_t* entry =
      rd_kafka_topic_partition_list_add(query, impl_->options.topic.c_str(), partition);
  entry->offset = RD_KAFKA_OFFSET_END;
  rd_kafka_resp_err_t err =
      rd_kafka_offsets_for_times(impl_->producer, query, TimeoutMs(impl_->options.timeout));
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = entry->err;
  const std::string what = fmt::format("end offset of {}/{}", impl_->options.topic, partition);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return ProducerError(impl_->producer, err, what);
  // A query that timed out leaves the entry untouched.
  if (entry->offset < 0) {
    return Status::Unavailable(
        fmt::format("kafka: {}: no answer within {} ms", what, impl_->options.timeout.count()));
  }
  return entry->offset;
}

Result<std::unique_ptr<LogReader>> KafkaEventLog::OpenReader(int32_t partition, int64_t offset) {
  if (partition < 0 || partition >= impl_->partitions) {
    return Status::InvalidArgument(fmt::format("kafka: no partition {}", partition));
  }
  if (offset < 0) return Status::InvalidArgument("kafka: negative offset");
  return kafka::OpenReader(impl_->options.brokers, impl_->options.topic, impl_->options.properties,
                           impl_->options.log, partition, offset);
}

}  // namespace keytrail::events
