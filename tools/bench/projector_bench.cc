// Projector apply rate: events/s folded from the local log into the RocksDB views.
// Target from DESIGN.md: at least 500k events/s.
#include <thread>

#include "events/local_event_log.h"
#include "projections/history_projection.h"
#include "projections/projector.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_events.h"
#include "tools/bench/bench_util.h"
#include "tools/bench/sections.h"

namespace keytrail::bench {

int RunProjector(const Args& args) {
  testing::TempDir dir;
  auto log = events::LocalEventLog::Open({.path = dir.path() + "/log", .partitions = 8});
  if (!log.ok()) return 1;
  const int64_t total = args.events;
  constexpr int kOrgs = 64;
  for (int org = 0; org < kOrgs; ++org) {
    const std::string name = "org-" + std::to_string(org);
    std::vector<std::string> batch;
    for (int64_t i = 0; i < total / kOrgs; ++i) {
      batch.push_back(testing::EncodedKeyCreated(name, "k" + std::to_string(i), i));
      if (batch.size() == 10000) {
        if (!(*log)->Append(name, batch).ok()) return 1;
        batch.clear();
      }
    }
    if (!batch.empty() && !(*log)->Append(name, batch).ok()) return 1;
  }
  // Measure against a settled log, as a rebuild would meet it: reopen it (which flushes
  // its WAL into tables) and let the background compactions that triggers finish.
  log->reset();
  log = events::LocalEventLog::Open({.path = dir.path() + "/log", .partitions = 8});
  if (!log.ok()) return 1;
  std::this_thread::sleep_for(std::chrono::seconds(3));
  auto store = projections::OpenRocksViewStore(dir.path() + "/views");
  if (!store.ok()) return 1;
  projections::HistoryProjection history;
  projections::Projector projector(**log, **store, {&history});
  const auto start = std::chrono::steady_clock::now();
  Status s = projector.CatchUpAll();
  const double seconds = SecondsSince(start);
  if (!s.ok()) {
    fmt::print(stderr, "{}\n", s.ToString());
    return 1;
  }
  Report("projector", "events", static_cast<double>(total / kOrgs * kOrgs), "events");
  Report("projector", "apply_rate", static_cast<double>(total / kOrgs * kOrgs) / seconds,
         "events/s");
  return 0;
}

}  // namespace keytrail::bench
