#include "server/rate_limiter.h"

namespace keytrail::server {

std::optional<int64_t> RateLimiter::Admit(std::string_view address, Micros now) {
  std::lock_guard lock(mu_);
  if (now >= window_start_ + window_ || now < window_start_) {
    window_start_ = now - now % window_;
    counts_.clear();
  }
  auto it = counts_.find(std::string(address));
  if (it == counts_.end()) {
    if (counts_.size() >= max_addresses_)
      it = counts_.end();
    else
      it = counts_.emplace(std::string(address), 0).first;
  }
  if (it == counts_.end() || it->second >= limit_) {
    const Micros left = window_start_ + window_ - now;
    return (left + 999'999) / 1'000'000;
  }
  ++it->second;
  return std::nullopt;
}

}  // namespace keytrail::server
