// The expiry scheduler's benchmarks:
//   burst   N keys expiring in the same second: wall time from the due instant until the
//           last KeyExpired is durable and applied (budget: 1M keys within 10 s). The keys
//           are due an hour after their creation: the burst starts once the process is
//           idle again (the stores' background work for the creates done).
//   steady  lateness (KeyExpired time minus expires_at) p50 / p99 at a steady 1,000
//           expiries per second, in real time.
#include <atomic>
#include <thread>

#include "engine/engine.h"
#include "events/local_event_log.h"
#include "tests/support/temp_dir.h"
#include "tools/bench/bench_util.h"
#include "tools/bench/engine_fixture.h"
#include "tools/bench/sections.h"

namespace keytrail::bench {
namespace {

// Creates `n` keys over 8 orgs from 16 threads; key i expires at due(i).
template <typename DueFn>
bool CreateKeys(Engine& engine, size_t n, DueFn due) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 16; ++t) {
    workers.emplace_back([&] {
      for (size_t i = next++; i < n && !failed; i = next++) {
        auto key = engine.CreateKey(
            {.org = "org-" + std::to_string(i % 8), .actor_id = "bench", .authorize = false},
            {.name = "key-" + std::to_string(i),
             .group = "ci",
             .expires = domain::Expiration::At(due(i))});
        if (!key.ok() || key->outcome.kind != CommandOutcome::Kind::kApplied) {
          if (key.ok() && key->outcome.rejection) {
            fmt::print(stderr, "create refused: {}\n", key->outcome.rejection->message);
          }
          failed = true;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return !failed;
}

int RunBurst(const Args& args) {
  const size_t n = static_cast<size_t>(args.expiry_keys);
  FakeClock clock(1'767'225'600'000'000);
  const Micros due = clock.NowMicros() + 3600'000'000;
  auto world = OpenEngineWorld(clock, /*sync=*/true, 8);
  if (!world || !CreateKeys(world->engine(), n, [&](size_t) { return due; })) {
    fmt::print(stderr, "expiry burst: set-up failed\n");
    return 1;
  }
  // The hour until they are due passes: the stores finish the flushes and compactions
  // the creates left them (measured alongside, not part of the burst).
  const double settling = WaitUntilIdle(std::chrono::seconds(300));
  fmt::print(stderr, "expiry burst: {} keys created, settled in {:.1f} s, all due now\n", n,
             settling);
  clock.Set(due + 999'999);  // the whole second has passed
  const auto start = std::chrono::steady_clock::now();
  world->engine().WakeSchedulers();
  while (world->engine().scheduler_stats().expired < n) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double seconds = SecondsSince(start);
  Report("expiry_burst", "keys", static_cast<double>(n), "keys");
  Report("expiry_burst", "seconds_until_last_key_expired", seconds, "s");
  Report("expiry_burst", "expiries_per_s", static_cast<double>(n) / seconds, "keys/s");
  Report("expiry_burst", "seconds_settling_before", settling, "s");
  return 0;
}

int RunSteady(const Args& args) {
  const Clock& clock = SystemClock::Instance();
  auto world = OpenEngineWorld(clock, /*sync=*/true, 8);
  if (!world) return 1;
  const size_t n = static_cast<size_t>(args.seconds * 1000);
  const Micros first_due = clock.NowMicros() + 3'000'000 + static_cast<Micros>(n) * 200;
  if (!CreateKeys(world->engine(), n,
                  [&](size_t i) { return first_due + static_cast<Micros>(i) * 1000; })) {
    return 1;
  }
  if (clock.NowMicros() >= first_due) {
    fmt::print(stderr, "expiry steady: set-up took too long\n");
    return 1;
  }
  while (world->engine().scheduler_stats().expired < n) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const SchedulerStats stats = world->engine().scheduler_stats();
  Report("expiry_steady", "expiries", static_cast<double>(n), "keys");
  Report("expiry_steady", "lateness_p50_upper_bound",
         static_cast<double>(stats.lateness.Quantile(0.5)), "us");
  Report("expiry_steady", "lateness_p99_upper_bound",
         static_cast<double>(stats.lateness.Quantile(0.99)), "us");
  return 0;
}

}  // namespace

int RunExpiry(const Args& args, const std::string& section) {
  return section == "expiry-burst" ? RunBurst(args) : RunSteady(args);
}

}  // namespace keytrail::bench
