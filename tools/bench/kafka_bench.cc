// Kafka log append against librdkafka's mock cluster (3 brokers, in process): 1 and 16
// concurrent appenders, each waiting for its delivery report (acks=all, idempotent).
#include <atomic>
#include <thread>
#include <vector>

#include "events/kafka_event_log.h"
#include "events/kafka_mock_cluster.h"
#include "tests/support/test_events.h"
#include "tools/bench/bench_util.h"
#include "tools/bench/sections.h"

namespace keytrail::bench {
namespace {

double AppendRate(events::EventLog& log, int threads, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> workers;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::string org = "org-" + std::to_string(t);
      for (uint64_t seq = 0; !stop.load(std::memory_order_relaxed); ++seq) {
        const std::vector<std::string> batch = {
            testing::EncodedKeyCreated(org, "k" + std::to_string(seq), seq)};
        if (!log.Append(org, batch).ok()) {
          failed = true;
          return;
        }
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  if (failed) return -1;
  return static_cast<double>(done.load()) / SecondsSince(start);
}

}  // namespace

int RunKafkaAppend(const Args& args) {
  auto cluster = events::KafkaMockCluster::Start(3, "keytrail.events", 8);
  if (!cluster.ok()) {
    fmt::print(stderr, "{}\n", cluster.status().ToString());
    return 1;
  }
  auto log = events::KafkaEventLog::Open({.brokers = (*cluster)->bootstrap_servers()});
  if (!log.ok()) {
    fmt::print(stderr, "{}\n", log.status().ToString());
    return 1;
  }
  // The mock keeps ~100k batches per partition; short runs stay well inside that.
  const double one = AppendRate(**log, 1, args.seconds);
  const double sixteen = AppendRate(**log, 16, args.seconds);
  if (one < 0 || sixteen < 0) {
    fmt::print(stderr, "kafka append failed\n");
    return 1;
  }
  Report("kafka_append", "appends_per_s_1_appender", one, "appends/s");
  Report("kafka_append", "appends_per_s_16_appenders", sixteen, "appends/s");
  Report("kafka_append", "ratio_16_vs_1", sixteen / one, "x");
  return 0;
}

}  // namespace keytrail::bench
