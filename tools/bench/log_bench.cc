// Local log append: 1 appender vs 16 concurrent appenders, synced. Group commit should
// make 16 appenders at least 10x the single-appender rate.
#include <atomic>
#include <span>
#include <thread>
#include <vector>

#include "events/local_event_log.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_events.h"
#include "tools/bench/bench_util.h"
#include "tools/bench/sections.h"

namespace keytrail::bench {
namespace {

// Appends one event per call from `threads` threads for `seconds`; returns appends/s.
// Events are encoded before the clock starts, so this measures the log, not the codec.
double AppendRate(events::EventLog& log, int threads, double seconds) {
  constexpr int kPool = 1024;
  std::vector<std::vector<std::string>> pool(threads);
  for (int t = 0; t < threads; ++t) {
    const std::string org = "org-" + std::to_string(t);
    for (int i = 0; i < kPool; ++i) {
      pool[t].push_back(testing::EncodedKeyCreated(org, "k" + std::to_string(i), i));
    }
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  std::vector<std::thread> workers;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::string org = "org-" + std::to_string(t);
      for (size_t seq = 0; !stop.load(std::memory_order_relaxed); ++seq) {
        const std::span<const std::string> batch(&pool[t][seq % kPool], 1);
        if (!log.Append(org, batch).ok()) {
          fmt::print(stderr, "append failed\n");
          std::exit(1);
        }
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  return static_cast<double>(done.load()) / SecondsSince(start);
}

}  // namespace

int RunLocalAppend(const Args& args) {
  testing::TempDir dir;
  auto log = events::LocalEventLog::Open({.path = dir.path(), .partitions = 8});
  if (!log.ok()) {
    fmt::print(stderr, "{}\n", log.status().ToString());
    return 1;
  }
  const double one = AppendRate(**log, 1, args.seconds);
  const auto before = (*log)->GetStats();
  const double sixteen = AppendRate(**log, 16, args.seconds);
  const auto after = (*log)->GetStats();
  Report("local_append", "synced_appends_per_s_1_appender", one, "appends/s");
  Report("local_append", "synced_appends_per_s_16_appenders", sixteen, "appends/s");
  Report("local_append", "appends_per_fsync_16_appenders",
         static_cast<double>(after.appends - before.appends) /
             static_cast<double>(after.synced_writes - before.synced_writes),
         "appends");
  Report("local_append", "ratio_16_vs_1", sixteen / one, "x");
  return 0;
}

}  // namespace keytrail::bench
