#include "events/kafka_client.h"

#include <syslog.h>

#include <fmt/format.h>

namespace keytrail::events::kafka {

void OnLog(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  auto* context = static_cast<ClientContext*>(rd_kafka_opaque(rk));
  if (context == nullptr || level > LOG_WARNING || !context->log) return;
  context->log(level, fmt::format("kafka {}: {}", facility, message));
}

void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* context = static_cast<ClientContext*>(opaque);
  {
    std::lock_guard lock(context->mu);
    context->last_error = reason;
  }
  if (context->error) context->error(static_cast<rd_kafka_resp_err_t>(err), reason);
  // Transport failures are already logged by librdkafka itself.
  if (context->log && err != RD_KAFKA_RESP_ERR__TRANSPORT) {
    context->log(LOG_ERR,
                 fmt::format("kafka error {}: {}",
                             rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason));
  }
}

Status Config::Set(const char* name, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf_, name, value.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    return Status::InvalidArgument(fmt::format("kafka: config {}: {}", name, errstr));
  }
  return Status::Ok();
}

bool TrySet(Config& config, const std::string& name, const std::string& value) {
  char errstr[512];
  return rd_kafka_conf_set(config.get(), name.c_str(), value.c_str(), errstr, sizeof(errstr)) ==
         RD_KAFKA_CONF_OK;
}

Status ApplyProperties(Config& config,
                       const std::vector<std::pair<std::string, std::string>>& properties) {
  for (const auto& [name, value] : properties) {
    if (!TrySet(config, name, value)) {
      return Status::InvalidArgument(
          fmt::format("kafka: librdkafka refuses property '{}' or its value", name));
    }
  }
  return Status::Ok();
}

Result<rd_kafka_t*> Config::NewHandle(rd_kafka_type_t type) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf_, errstr, sizeof(errstr));
  if (rk == nullptr) return Status::Internal(fmt::format("kafka: cannot start: {}", errstr));
  conf_ = nullptr;
  return rk;
}

bool IsPermanent(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
      return true;
    default:
      return false;
  }
}

}  // namespace keytrail::events::kafka
