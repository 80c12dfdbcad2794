// RateLimiter: at most `limit` requests per client address in each window of `window`
// (fixed windows), for unauthenticated endpoints that do real work per request (leak
// reports). It tracks at most `max_addresses` addresses; when a window holds that many,
// further new addresses are refused until it ends, so a flood of spoofed sources costs
// bounded memory and never a free pass. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/clock.h"

namespace keytrail::server {

class RateLimiter {
 public:
  RateLimiter(size_t limit, Micros window, size_t max_addresses)
      : limit_(limit), window_(window), max_addresses_(max_addresses) {}

  // Counts one request of `address` at `now`: nullopt if allowed, else the seconds until
  // the window ends (for Retry-After).
  std::optional<int64_t> Admit(std::string_view address, Micros now);

 private:
  const size_t limit_;
  const Micros window_;
  const size_t max_addresses_;
  std::mutex mu_;
  Micros window_start_ = 0;                         // guarded by mu_
  std::unordered_map<std::string, size_t> counts_;  // guarded by mu_: this window's
};

}  // namespace keytrail::server
