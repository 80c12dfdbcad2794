// KafkaProperties: librdkafka properties a user passes to every Kafka client keytrail
// makes (keytrail serve --kafka-config FILE): security.protocol, sasl.*, ssl.*, timeouts.
// A file holds one "name=value" per line; blank lines and lines starting with '#' are
// skipped. Values are never logged or put in an error message (sasl.password lives here).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace keytrail::events {

using KafkaProperties = std::vector<std::pair<std::string, std::string>>;

// Reads and checks `path`: every name must be a property librdkafka knows, with a value
// it accepts, and none of those keytrail sets itself for correctness (acks,
// enable.idempotence, bootstrap.servers, group.id, enable.auto.commit, auto.offset.reset,
// ...). kInvalidArgument naming the line and the property (never the value); kNotFound
// / kIoError if the file cannot be read.
Result<KafkaProperties> ReadKafkaProperties(const std::string& path);

}  // namespace keytrail::events
