#include "server/metrics.h"

#include <fmt/format.h>

namespace keytrail::server {
namespace {

constexpr VerifyReason kReasons[] = {VerifyReason::kValid,   VerifyReason::kMalformed,
                                     VerifyReason::kUnknown, VerifyReason::kRevoked,
                                     VerifyReason::kExpired, VerifyReason::kNoGroup};

// Label values are route patterns, methods and fixed words; escape anyway.
std::string Label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

void Metrics::CountRequest(std::string_view method, std::string_view route, int status,
                           double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{std::string(method), std::string(route), status}];
  Histogram& h = durations_[std::string(route)];
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  if (b < kBuckets.size()) ++h.buckets[b];
  ++h.count;
  h.sum += seconds;
}

void Metrics::CountVerify(VerifyReason reason) {
  const size_t i = static_cast<size_t>(reason);
  if (i < verify_.size()) verify_[i].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::CountAuthFailure(std::string_view reason) {
  std::lock_guard lock(mu_);
  ++auth_failures_[std::string(reason)];
}

std::string Metrics::Render() const {
  std::string out;
  std::lock_guard lock(mu_);
  out +=
      "# HELP keytrail_http_requests_total HTTP requests answered, by route and status.\n"
      "# TYPE keytrail_http_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    const auto& [method, route, status] = key;
    out +=
        fmt::format("keytrail_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}\n",
                    Label(method), Label(route), status, count);
  }
  out +=
      "# HELP keytrail_http_request_duration_seconds Time to answer a request, by route.\n"
      "# TYPE keytrail_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : durations_) {
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kBuckets.size(); ++b) {
      cumulative += h.buckets[b];
      out += fmt::format(
          "keytrail_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n",
          Label(route), kBuckets[b], cumulative);
    }
    out += fmt::format(
        "keytrail_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n",
        Label(route), h.count);
    out += fmt::format("keytrail_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n",
                       Label(route), h.sum);
    out += fmt::format("keytrail_http_request_duration_seconds_count{{route=\"{}\"}} {}\n",
                       Label(route), h.count);
  }
  out +=
      "# HELP keytrail_verify_total Keys presented to the verify endpoint, by result.\n"
      "# TYPE keytrail_verify_total counter\n";
  for (VerifyReason reason : kReasons) {
    out += fmt::format("keytrail_verify_total{{reason=\"{}\"}} {}\n", ReasonCode(reason),
                       verify_[static_cast<size_t>(reason)].load(std::memory_order_relaxed));
  }
  out +=
      "# HELP keytrail_auth_failures_total Requests refused because the bearer key did not "
      "verify, by reason.\n"
      "# TYPE keytrail_auth_failures_total counter\n";
  for (const auto& [reason, count] : auth_failures_) {
    out += fmt::format("keytrail_auth_failures_total{{reason=\"{}\"}} {}\n", Label(reason), count);
  }
  return out;
}

std::string Metrics::RenderEngine(const Engine& engine) {
  const SchedulerStats stats = engine.scheduler_stats();
  std::string out;
  out += fmt::format(
      "# HELP keytrail_verify_index_keys Keys in the in-memory verification index.\n"
      "# TYPE keytrail_verify_index_keys gauge\n"
      "keytrail_verify_index_keys {}\n",
      engine.index().size());
  out += fmt::format(
      "# HELP keytrail_scheduler_pending_timers Keys with an expiry the scheduler still has to "
      "expire.\n"
      "# TYPE keytrail_scheduler_pending_timers gauge\n"
      "keytrail_scheduler_pending_timers {}\n",
      stats.pending_timers);
  out += fmt::format(
      "# HELP keytrail_scheduler_expired_total KeyExpired events written by the scheduler since "
      "start.\n"
      "# TYPE keytrail_scheduler_expired_total counter\n"
      "keytrail_scheduler_expired_total {}\n",
      stats.expired);
  out +=
      "# HELP keytrail_scheduler_lateness_seconds Upper bound of the lateness (KeyExpired time "
      "minus expires_at) quantile since start.\n"
      "# TYPE keytrail_scheduler_lateness_seconds gauge\n";
  for (double q : {0.5, 0.99, 1.0}) {
    out += fmt::format("keytrail_scheduler_lateness_seconds{{quantile=\"{}\"}} {}\n", q,
                       static_cast<double>(stats.LatenessQuantile(q)) / 1e6);
  }
  return out;
}

}  // namespace keytrail::server
