// The operator-side benchmarks, on one generated data set (tools/bench/event_gen.h):
//   rebuild      events/s folding a local log of --events realistic events into fresh
//                views with every projection (projections::RebuildViews, as `keytrail
//                rebuild` does). Budget (DESIGN.md): >= 500k events/s.
//   audit-query  latency of one audit page of 100 over those views, p50 / p99 per kind of
//                filter (org-wide from a random time, by key, by actor, by action, by a
//                one-hour time range). Budget: p99 <= 5 ms over 10M events
//                (--events 10000000).
#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "events/local_event_log.h"
#include "projections/audit_projection.h"
#include "projections/rebuild.h"
#include "tests/support/temp_dir.h"
#include "tools/bench/bench_util.h"
#include "tools/bench/event_gen.h"
#include "tools/bench/sections.h"

namespace keytrail::bench {
namespace {

using model::AuditFilter;
using projections::AuditProjection;

constexpr int kQueriesPerKind = 2000;
constexpr size_t kPageSize = 100;

bool WriteLog(events::EventLog& log, EventGenerator& generator, int64_t total) {
  std::map<std::string, std::vector<std::string>> batches;
  size_t pending = 0;
  auto flush = [&] {
    for (auto& [org, batch] : batches) {
      if (!batch.empty() && !log.Append(org, batch).ok()) return false;
      batch.clear();
    }
    pending = 0;
    return true;
  };
  for (int64_t i = 0; i < total; ++i) {
    std::string org;
    std::string event = generator.Next(&org);
    batches[org].push_back(std::move(event));
    if (++pending == 20000 && !flush()) return false;
  }
  return flush();
}

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()));
  return sorted[i];
}

}  // namespace

int RunAudit(const Args& args, bool rebuild_section, bool query_section) {
  testing::TempDir dir;
  EventGenerator generator({});
  const int64_t total = args.events;
  {
    auto log =
        events::LocalEventLog::Open({.path = dir.path() + "/log", .partitions = 8, .sync = false});
    if (!log.ok()) return 1;
    const auto start = std::chrono::steady_clock::now();
    if (!WriteLog(**log, generator, total)) {
      fmt::print(stderr, "cannot write the log\n");
      return 1;
    }
    fmt::print(stderr, "bench: wrote {} events in {:.1f} s\n", total, SecondsSince(start));
  }
  // Rebuild against a settled log, as an operator meets it: reopened (its WAL flushed to
  // tables) and with the background compactions that triggers finished.
  auto log = events::LocalEventLog::Open({.path = dir.path() + "/log", .partitions = 8});
  if (!log.ok()) return 1;
  std::this_thread::sleep_for(std::chrono::seconds(3));
  {
    auto views = projections::OpenRocksViewStore(dir.path() + "/views", {.bulk_load = true});
    if (!views.ok()) return 1;
    projections::RebuildOptions options;
    options.threads = 2;
    auto rebuilt = projections::RebuildViews(**log, **views, options);
    if (!rebuilt.ok()) {
      fmt::print(stderr, "rebuild: {}\n", rebuilt.status().ToString());
      return 1;
    }
    const auto flush_start = std::chrono::steady_clock::now();
    if (!(*views)->Flush().ok()) return 1;
    const double flush_seconds = SecondsSince(flush_start);
    // As `keytrail rebuild` does before it swaps the views in.
    const auto compact_start = std::chrono::steady_clock::now();
    if (!(*views)->Compact().ok()) return 1;
    const double compact_seconds = SecondsSince(compact_start);
    if (rebuild_section) {
      Report("rebuild", "events", static_cast<double>(rebuilt->events), "events");
      Report("rebuild", "rebuild_rate", rebuilt->events / rebuilt->seconds, "events/s");
      Report("rebuild", "rebuild_rate_incl_flush",
             rebuilt->events / (rebuilt->seconds + flush_seconds), "events/s");
      Report("rebuild", "compact_seconds", compact_seconds, "s");
    }
  }
  if (!query_section) return 0;

  // Queries against the compacted views as a server would open them after a rebuild.
  auto views = projections::OpenRocksViewStore(dir.path() + "/views");
  if (!views.ok()) return 1;
  std::mt19937_64 rng(7);
  const auto& orgs = generator.orgs();
  const Micros first = generator.first_us(), last = generator.now_us();
  auto random_time = [&] { return first + static_cast<Micros>(rng() % (last - first)); };
  struct Kind {
    const char* name;
    std::function<AuditFilter(const std::string& org)> filter;
  };
  const std::vector<Kind> kinds = {
      {"org", [&](const std::string&) { return AuditFilter{.from = random_time()}; }},
      {"key",
       [&](const std::string& org) { return AuditFilter{.key = generator.RandomKey(org, rng)}; }},
      {"actor",
       [&](const std::string& org) {
         return AuditFilter{.actor = generator.RandomActor(org, rng), .from = random_time()};
       }},
      {"action",
       [&](const std::string&) {
         const auto& actions = EventGenerator::Actions();
         return AuditFilter{.action = actions[rng() % actions.size()], .from = random_time()};
       }},
      {"time_range",
       [&](const std::string&) {
         const Micros from = random_time();
         return AuditFilter{.from = from, .to = from + 3'600'000'000LL};
       }},
  };
  // Warm up the process (allocators, table readers), not a particular page.
  for (int i = 0; i < 200; ++i) {
    const std::string& org = orgs[rng() % orgs.size()];
    if (!AuditProjection::Query(**views, org, kinds[i % kinds.size()].filter(org), kPageSize, "")
             .ok()) {
      return 1;
    }
  }
  std::vector<double> all;
  for (const Kind& kind : kinds) {
    std::vector<double> us;
    size_t records = 0;
    for (int i = 0; i < kQueriesPerKind; ++i) {
      const std::string& org = orgs[rng() % orgs.size()];
      const AuditFilter filter = kind.filter(org);
      const auto start = std::chrono::steady_clock::now();
      auto page = AuditProjection::Query(**views, org, filter, kPageSize, "");
      us.push_back(SecondsSince(start) * 1e6);
      if (!page.ok()) {
        fmt::print(stderr, "query: {}\n", page.status().ToString());
        return 1;
      }
      records += page->records.size();
    }
    all.insert(all.end(), us.begin(), us.end());
    std::sort(us.begin(), us.end());
    const std::string bench = std::string("audit_query_") + kind.name;
    Report(bench, "p50", Percentile(us, 0.50), "us");
    Report(bench, "p99", Percentile(us, 0.99), "us");
    Report(bench, "max", us.back(), "us");
    Report(bench, "mean_records_per_page", static_cast<double>(records) / kQueriesPerKind,
           "records");
  }
  std::sort(all.begin(), all.end());
  Report("audit_query", "events", static_cast<double>(total), "events");
  Report("audit_query", "p50", Percentile(all, 0.50), "us");
  Report("audit_query", "p99", Percentile(all, 0.99), "us");
  return 0;
}

}  // namespace keytrail::bench
