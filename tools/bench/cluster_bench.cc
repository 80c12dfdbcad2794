// Several nodes on one Kafka cluster (librdkafka's mock, 3 brokers, in process): three
// engines, each with its own Kafka clients, RocksDB views and verify index, as three
// `keytrail serve` processes have. Node 0 writes every partition (claimed through
// Engine::Claim: the consumer group only chooses who claims, so it is not on this path).
//
// propagation: the time from a revoke acknowledged on the writer to verify refusing the
// key on each other node (and from a create acknowledged to verify accepting it), p50 /
// p99 / max over many keys; each key is one sample per other node.
#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "events/kafka_event_log.h"
#include "events/kafka_mock_cluster.h"
#include "projections/view_store.h"
#include "tests/support/temp_dir.h"
#include "tools/bench/bench_util.h"
#include "tools/bench/sections.h"

namespace keytrail::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kNodes = 3;
constexpr int32_t kPartitions = 8;

struct Node {
  std::unique_ptr<events::KafkaEventLog> log;
  std::unique_ptr<projections::ViewStore> views;
  std::unique_ptr<Engine> engine;
};

Result<Node> StartNode(const std::string& brokers, const std::string& dir, int id) {
  Node node;
  auto log = events::KafkaEventLog::Open({.brokers = brokers});
  KT_RETURN_IF_ERROR(log.status());
  node.log = std::move(log).value();
  auto views = projections::OpenRocksViewStore(dir + "/views-" + std::to_string(id));
  KT_RETURN_IF_ERROR(views.status());
  node.views = std::move(views).value();
  Engine::Options options;
  options.follow_log = true;
  options.node_id = "node-" + std::to_string(id);
  options.advertise_url = "http://127.0.0.1:0";
  options.domain.max_active_keys = 1'000'000;
  auto engine = Engine::Start(*node.log, *node.views, SystemClock::Instance(), options);
  KT_RETURN_IF_ERROR(engine.status());
  node.engine = std::move(engine).value();
  return node;
}

// Microseconds until `done` holds (polled without sleeping), or -1 after 10 s.
template <typename Fn>
double MicrosUntil(Clock::time_point start, Fn done) {
  while (!done()) {
    if (Clock::now() - start > std::chrono::seconds(10)) return -1;
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

double Quantile(std::vector<double> samples, double q) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  return samples[std::min(samples.size() - 1, static_cast<size_t>(q * samples.size()))];
}

void ReportLatencies(const std::string& metric, const std::vector<double>& micros) {
  Report("propagation", metric + "_p50_us", Quantile(micros, 0.5), "us");
  Report("propagation", metric + "_p99_us", Quantile(micros, 0.99), "us");
  Report("propagation", metric + "_max_us", Quantile(micros, 1.0), "us");
}

}  // namespace

int RunPropagation(const Args& args) {
  auto cluster = events::KafkaMockCluster::Start(3, "keytrail.events", kPartitions);
  if (!cluster.ok()) {
    fmt::print(stderr, "{}\n", cluster.status().ToString());
    return 1;
  }
  testing::TempDir dir;
  std::vector<Node> nodes;
  for (int i = 0; i < kNodes; ++i) {
    auto node = StartNode((*cluster)->bootstrap_servers(), dir.path(), i);
    if (!node.ok()) {
      fmt::print(stderr, "{}\n", node.status().ToString());
      return 1;
    }
    nodes.push_back(std::move(node).value());
  }
  Engine& writer = *nodes[0].engine;
  std::vector<int32_t> all;
  for (int32_t p = 0; p < kPartitions; ++p) all.push_back(p);
  writer.Claim(all);
  const auto claimed = Clock::now();
  while (writer.WriterOf("acme").self == false ||
         std::any_of(all.begin(), all.end(),
                     [&](int32_t p) { return !writer.writer_health()[p].writing; })) {
    if (Clock::now() - claimed > std::chrono::seconds(20)) {
      fmt::print(stderr, "propagation: the claims never held\n");
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const domain::CommandContext admin{.org = "acme", .actor_id = "bench", .authorize = false};
  if (!writer.Execute(admin, domain::CreateOrg{"acme"}).ok() ||
      !writer.Execute(admin, domain::CreateGroup{"ci", "", ""}).ok()) {
    fmt::print(stderr, "propagation: set-up failed\n");
    return 1;
  }
  std::vector<double> created, revoked, acked;
  const auto start = Clock::now();
  for (int n = 0; SecondsSince(start) < args.seconds * 4 || n < 50; ++n) {
    auto key = writer.CreateKey(admin, {.name = "key-" + std::to_string(n), .group = "ci"});
    if (!key.ok() || !key->token) {
      fmt::print(stderr, "propagation: create failed\n");
      return 1;
    }
    const std::string token(key->token->reveal());
    auto t0 = Clock::now();
    for (int i = 1; i < kNodes; ++i) {
      created.push_back(MicrosUntil(t0, [&] { return nodes[i].engine->Verify(token).valid; }));
    }
    const auto sent = Clock::now();
    if (!writer.Execute(admin, domain::RevokeKey{*ParseKeyId(key->key_id), "bench"}).ok()) {
      fmt::print(stderr, "propagation: revoke failed\n");
      return 1;
    }
    t0 = Clock::now();
    acked.push_back(std::chrono::duration<double, std::micro>(t0 - sent).count());
    for (int i = 1; i < kNodes; ++i) {
      revoked.push_back(MicrosUntil(t0, [&] { return !nodes[i].engine->Verify(token).valid; }));
    }
    if (std::find(created.begin(), created.end(), -1) != created.end() ||
        std::find(revoked.begin(), revoked.end(), -1) != revoked.end()) {
      fmt::print(stderr, "propagation: a node never saw a change\n");
      return 1;
    }
  }
  // Writes to one partition (one org) through its writer, 16 clients: every batch is
  // appended, read back and checked against the fence before it is acknowledged.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0};
  std::vector<std::thread> clients;
  const auto burst = Clock::now();
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&, c] {
      for (int n = 0; !stop.load(); ++n) {
        auto key =
            writer.CreateKey(admin, {.name = fmt::format("burst-{}-{}", c, n), .group = "ci"});
        if (key.ok() && key->outcome.kind == CommandOutcome::Kind::kApplied) ++writes;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(args.seconds));
  stop = true;
  for (auto& t : clients) t.join();
  Report("propagation", "creates_per_s_one_partition_16_clients",
         static_cast<double>(writes.load()) / SecondsSince(burst), "creates/s");
  Report("propagation", "samples", static_cast<double>(revoked.size()), "samples");
  ReportLatencies("revoke_to_refused_elsewhere", revoked);
  ReportLatencies("create_to_valid_elsewhere", created);
  // For scale: the writer acknowledges only after reading its own events back.
  ReportLatencies("revoke_acknowledged", acked);
  for (auto& node : nodes) node.engine.reset();
  return 0;
}

}  // namespace keytrail::bench
