// Small helpers shared by the benchmark sections: timing and result lines.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <string>
#include <thread>

#include <fmt/format.h>

namespace keytrail::bench {

inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Waits until this process has used less than 5% of a core for a whole second (the
// flushes and compactions a burst of writes leaves behind are done), or `limit` has
// passed. Returns the seconds waited.
inline double WaitUntilIdle(std::chrono::seconds limit) {
  auto cpu_seconds = [] {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
  };
  const auto start = std::chrono::steady_clock::now();
  double before = cpu_seconds();
  while (std::chrono::steady_clock::now() - start < limit) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double now = cpu_seconds();
    if (now - before < 0.05) break;
    before = now;
  }
  return SecondsSince(start);
}

// One result as a JSON line on stdout: {"bench": ..., "metric": ..., "value": ..., "unit": ...}
inline void Report(const std::string& bench, const std::string& metric, double value,
                   const std::string& unit) {
  fmt::print("{{\"bench\": \"{}\", \"metric\": \"{}\", \"value\": {:.1f}, \"unit\": \"{}\"}}\n",
             bench, metric, value, unit);
  std::fflush(stdout);
}

}  // namespace keytrail::bench
