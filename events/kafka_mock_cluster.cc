#include "events/kafka_mock_cluster.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>

#include <fmt/format.h>

namespace keytrail::events {
namespace {

// The mock's own chatter (connections opened and closed) is of no use to its users.
void DropLog(const rd_kafka_t*, int, const char*, const char*) {}

}  // namespace

struct KafkaMockCluster::Impl {
  rd_kafka_t* handle = nullptr;  // dedicated to the mock; never produces
  rd_kafka_mock_cluster_t* cluster = nullptr;
  int brokers = 0;
  std::string topic;
  std::string bootstrap_servers;

  ~Impl() {
    if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);
    if (handle != nullptr) rd_kafka_destroy(handle);
  }
};

KafkaMockCluster::KafkaMockCluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaMockCluster::~KafkaMockCluster() = default;

Result<std::unique_ptr<KafkaMockCluster>> KafkaMockCluster::Start(int brokers, std::string topic,
                                                                  int partitions) {
  if (brokers < 1 || partitions < 1 || topic.empty()) {
    return Status::InvalidArgument(
        fmt::format("kafka mock: need brokers >= 1, partitions >= 1 and a topic, not {}, {}, '{}'",
                    brokers, partitions, topic));
  }
  auto impl = std::make_unique<Impl>();
  impl->brokers = brokers;
  impl->topic = std::move(topic);

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, DropLog);
  char errstr[512];
  impl->handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (impl->handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::Internal(fmt::format("kafka mock: cannot create its handle: {}", errstr));
  }
  impl->cluster = rd_kafka_mock_cluster_new(impl->handle, brokers);
  if (impl->cluster == nullptr) {
    return Status::Internal(fmt::format("kafka mock: cannot start {} brokers", brokers));
  }
  const rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(impl->cluster, impl->topic.c_str(),
                                                             partitions, std::min(3, brokers));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Internal(
        fmt::format("kafka mock: cannot create topic {}: {}", impl->topic, rd_kafka_err2str(err)));
  }
  impl->bootstrap_servers = rd_kafka_mock_cluster_bootstraps(impl->cluster);
  return std::unique_ptr<KafkaMockCluster>(new KafkaMockCluster(std::move(impl)));
}

const std::string& KafkaMockCluster::bootstrap_servers() const { return impl_->bootstrap_servers; }

const std::string& KafkaMockCluster::topic() const { return impl_->topic; }

Status KafkaMockCluster::CreateTopic(const std::string& topic, int partitions) {
  const rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
      impl_->cluster, topic.c_str(), partitions, std::min(3, impl_->brokers));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Internal(
        fmt::format("kafka mock: cannot create topic {}: {}", topic, rd_kafka_err2str(err)));
  }
  return Status::Ok();
}

Status KafkaMockCluster::SetBrokersDown(bool down) {
  // Broker ids run from 1 to the broker count.
  for (int32_t id = 1; id <= impl_->brokers; ++id) {
    const rd_kafka_resp_err_t err = down ? rd_kafka_mock_broker_set_down(impl_->cluster, id)
                                         : rd_kafka_mock_broker_set_up(impl_->cluster, id);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Internal(fmt::format("kafka mock: cannot set broker {} {}: {}", id,
                                          down ? "down" : "up", rd_kafka_err2str(err)));
    }
  }
  return Status::Ok();
}

}  // namespace keytrail::events
