#include "events/kafka_properties.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "events/kafka_client.h"

namespace keytrail::events {
namespace {

// Set by keytrail for its guarantees (durability, placement, group membership).
constexpr std::string_view kReserved[] = {"acks",
                                          "enable.idempotence",
                                          "bootstrap.servers",
                                          "metadata.broker.list",
                                          "group.id",
                                          "enable.auto.commit",
                                          "enable.auto.offset.store",
                                          "auto.offset.reset",
                                          "client.id",
                                          "enable.partition.eof",
                                          "partition.assignment.strategy"};

std::string Trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return "";
  const size_t last = text.find_last_not_of(" \t\r");
  return std::string(text.substr(first, last - first + 1));
}

}  // namespace

Result<KafkaProperties> ReadKafkaProperties(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return errno == ENOENT
               ? Status::NotFound(fmt::format("--kafka-config {}: no such file", path))
               : Status::IoError(fmt::format("--kafka-config {}: {}", path, std::strerror(errno)));
  }
  KafkaProperties properties;
  kafka::Config scratch;  // every property is tried here, so a bad one fails the start
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string text = Trim(line);
    if (text.empty() || text[0] == '#') continue;
    const size_t equals = text.find('=');
    if (equals == std::string::npos || equals == 0) {
      return Status::InvalidArgument(
          fmt::format("--kafka-config {} line {}: expected name=value", path, number));
    }
    std::string name = Trim(std::string_view(text).substr(0, equals));
    std::string value = Trim(std::string_view(text).substr(equals + 1));
    if (std::find(std::begin(kReserved), std::end(kReserved), name) != std::end(kReserved)) {
      return Status::InvalidArgument(
          fmt::format("--kafka-config {} line {}: keytrail sets '{}' itself", path, number, name));
    }
    if (!kafka::TrySet(scratch, name, value)) {
      return Status::InvalidArgument(
          fmt::format("--kafka-config {} line {}: librdkafka refuses property '{}' or its value",
                      path, number, name));
    }
    properties.emplace_back(std::move(name), std::move(value));
  }
  return properties;
}

}  // namespace keytrail::events
