// Small helpers shared by the benchmark sections: timing and result lines.
#pragma once

#include <chrono>
#include <string>

#include <fmt/format.h>

namespace keytrail::bench {

inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// One result as a JSON line on stdout: {"bench": ..., "metric": ..., "value": ..., "unit": ...}
inline void Report(const std::string& bench, const std::string& metric, double value,
                   const std::string& unit) {
  fmt::print("{{\"bench\": \"{}\", \"metric\": \"{}\", \"value\": {:.1f}, \"unit\": \"{}\"}}\n",
             bench, metric, value, unit);
  std::fflush(stdout);
}

}  // namespace keytrail::bench
