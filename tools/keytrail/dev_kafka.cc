// keytrail dev-kafka: starts librdkafka's mock cluster on loopback, creates the topic,
// prints the bootstrap servers and runs until SIGINT or SIGTERM. Lets users try Kafka
// mode without installing Kafka. See events/kafka_mock_cluster.h for the mock's limits.
#include <signal.h>

#include <fstream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "events/kafka_mock_cluster.h"
#include "tools/keytrail/commands.h"

namespace keytrail::cli {
namespace {

struct DevKafkaOptions {
  int brokers = 3;
  int partitions = 8;
  std::string topic = "keytrail.events";
  std::string credentials_topic = "keytrail.credentials";
  std::string bootstrap_file;
};

int RunDevKafka(const DevKafkaOptions& options) {
  // Block the stop signals before any librdkafka thread starts, so only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGUSR1);
  sigaddset(&stop_signals, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto cluster =
      events::KafkaMockCluster::Start(options.brokers, options.topic, options.partitions);
  if (!cluster.ok()) {
    fmt::print(stderr, "keytrail dev-kafka: {}\n", cluster.status().ToString());
    return kExitUnavailable;
  }
  // Members' password and session hashes (keytrail serve --kafka-credentials-topic).
  if (Status s = (*cluster)->CreateTopic(options.credentials_topic, options.partitions); !s.ok()) {
    fmt::print(stderr, "keytrail dev-kafka: {}\n", s.ToString());
    return kExitUnavailable;
  }
  const std::string& servers = (*cluster)->bootstrap_servers();
  if (!options.bootstrap_file.empty()) {
    std::ofstream out(options.bootstrap_file, std::ios::trunc);
    out << servers << "\n";
    if (!out.good()) {
      fmt::print(stderr, "keytrail dev-kafka: cannot write {}\n", options.bootstrap_file);
      return kExitUnavailable;
    }
  }
  fmt::print("{}\n", servers);
  fmt::print(
      stderr,
      "keytrail dev-kafka: mock Kafka cluster ({} brokers, topics {} and {} with {} partitions) "
      "at {}\n"
      "  use: keytrail serve --kafka-brokers {}\n"
      "  in-memory only; transactions are not enforced; ~5 MiB / 100k batches kept per "
      "partition. Ctrl-C stops it; SIGUSR1 takes every broker down (connections "
      "refused, data kept), SIGUSR2 brings them back.\n",
      options.brokers, options.topic, options.credentials_topic, options.partitions, servers,
      servers);
  std::fflush(stdout);
  int signal = 0;
  while (sigwait(&stop_signals, &signal) == 0 && (signal == SIGUSR1 || signal == SIGUSR2)) {
    // An outage on demand, for trying keytrail's behaviour while Kafka is down.
    const bool down = signal == SIGUSR1;
    const Status status = (*cluster)->SetBrokersDown(down);
    fmt::print(stderr, "keytrail dev-kafka: brokers {}{}\n", down ? "down" : "up",
               status.ok() ? "" : " failed: " + status.ToString());
  }
  fmt::print(stderr, "keytrail dev-kafka: stopping\n");
  return kExitOk;
}

}  // namespace

void AddDevKafka(CLI::App& app, int* rc) {
  auto options = std::make_shared<DevKafkaOptions>();
  CLI::App* cmd = app.add_subcommand(
      "dev-kafka", "Run a mock Kafka cluster on loopback (for development; in memory only)");
  cmd->add_option("--brokers", options->brokers, "number of mock brokers")
      ->check(CLI::Range(1, 9))
      ->capture_default_str();
  cmd->add_option("--partitions", options->partitions, "partitions of the topic")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--topic", options->topic, "topic to create")->capture_default_str();
  cmd->add_option("--credentials-topic", options->credentials_topic,
                  "the second topic to create: members' password and session hashes")
      ->capture_default_str();
  cmd->add_option("--bootstrap-file", options->bootstrap_file,
                  "also write the bootstrap servers to this file");
  cmd->callback([options, rc] { *rc = RunDevKafka(*options); });
}

}  // namespace keytrail::cli
