// A child process for crash tests. The parent kills it with SIGKILL at random points.
//
//   test_child append <log_dir> <threads> <appends_per_thread>
//     Appends events for orgs "org-<thread>", printing "ack <org> <seq> <offset>" after
//     each append is acknowledged.
//   test_child create-keys <log_dir> <views_dir> <threads>
//     Runs an Engine and creates keys from <threads> threads until killed, printing
//     "ack <key id> <token>" once each create is acknowledged.
//   test_child project <log_dir> <views_dir> <batch_records>
//     Catches the projector (history + counting projections) up on every partition,
//     printing "partition <p> caught-up" after each, then "caught-up".
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "engine/engine.h"
#include "events/local_event_log.h"
#include "projections/audit_projection.h"
#include "projections/history_projection.h"
#include "projections/projector.h"
#include "tests/support/counting_projection.h"
#include "tests/support/test_events.h"

namespace {

constexpr int32_t kPartitions = 4;

int Append(const std::string& dir, int threads, int per_thread) {
  auto log = keytrail::events::LocalEventLog::Open({.path = dir, .partitions = kPartitions});
  if (!log.ok()) {
    std::fprintf(stderr, "%s\n", log.status().ToString().c_str());
    return 1;
  }
  // Continue each org's sequence after what earlier (killed) runs acknowledged or not.
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::string org = "org-" + std::to_string(t);
      for (int i = 0; i < per_thread; ++i) {
        const uint64_t seq = static_cast<uint64_t>(std::rand()) << 20 | i;
        const std::vector<std::string> batch = {
            keytrail::testing::EncodedKeyCreated(org, "k" + std::to_string(seq), seq)};
        auto offsets = (*log)->Append(org, batch);
        if (!offsets.ok()) {
          std::fprintf(stderr, "%s\n", offsets.status().ToString().c_str());
          std::exit(1);
        }
        std::printf("ack %s %llu %lld\n", org.c_str(), static_cast<unsigned long long>(seq),
                    static_cast<long long>((*offsets)[0]));
        std::fflush(stdout);
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}

int Project(const std::string& log_dir, const std::string& views_dir, size_t batch) {
  auto log = keytrail::events::LocalEventLog::Open({.path = log_dir, .partitions = kPartitions});
  auto store = keytrail::projections::OpenRocksViewStore(views_dir);
  if (!log.ok() || !store.ok()) {
    std::fprintf(stderr, "open failed\n");
    return 1;
  }
  keytrail::projections::HistoryProjection history;
  keytrail::projections::AuditProjection audit;
  keytrail::testing::CountingProjection counting;
  keytrail::projections::Projector projector(**log, **store, {&history, &audit, &counting},
                                             {.max_batch_records = batch});
  for (int32_t p = 0; p < kPartitions; ++p) {
    keytrail::Status s = projector.CatchUp(p);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    std::printf("partition %d caught-up\n", p);
    std::fflush(stdout);
  }
  std::printf("caught-up\n");
  return 0;
}

int CreateKeys(const std::string& log_dir, const std::string& views_dir, int threads) {
  auto log = keytrail::events::LocalEventLog::Open({.path = log_dir, .partitions = kPartitions});
  auto views = keytrail::projections::OpenRocksViewStore(views_dir);
  if (!log.ok() || !views.ok()) return 1;
  keytrail::Engine::Options options;
  options.domain.max_active_keys = 1'000'000;
  auto engine = keytrail::Engine::Start(**log, **views, keytrail::SystemClock::Instance(), options);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.status().ToString().c_str());
    return 1;
  }
  keytrail::domain::CommandContext setup{
      .org = "acme", .actor_id = "test", .command_id = "org", .authorize = false};
  if (!(*engine)->Execute(setup, keytrail::domain::CreateOrg{"Acme"}).ok()) return 1;
  setup.command_id = "group";
  if (!(*engine)->Execute(setup, keytrail::domain::CreateGroup{"ci", "", ""}).ok()) return 1;
  std::printf("ready\n");
  std::fflush(stdout);
  std::mutex out;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        const std::string name = fmt::format("k-{}-{}-{}", getpid(), t, i);
        auto issued = (*engine)->CreateKey({.org = "acme", .actor_id = "test", .authorize = false},
                                           {.name = name, .group = "ci"});
        if (!issued.ok() || !issued->token) {
          std::fprintf(stderr, "create failed\n");
          std::exit(1);
        }
        std::lock_guard lock(out);
        std::printf("ack %s %s\n", issued->key_id.c_str(),
                    std::string(issued->token->reveal()).c_str());
        std::fflush(stdout);
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::srand(static_cast<unsigned>(getpid()));
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "append" && argc == 5) return Append(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  if (mode == "create-keys" && argc == 5) return CreateKeys(argv[2], argv[3], std::atoi(argv[4]));
  if (mode == "project" && argc == 5) return Project(argv[2], argv[3], std::atoi(argv[4]));
  std::fprintf(stderr, "usage: test_child append|project ...\n");
  return 2;
}
