// Metrics: the HTTP API's counters, rendered in the Prometheus text format (0.0.4).
//
//   keytrail_http_requests_total{method,route,status}        counter
//   keytrail_http_request_duration_seconds{route}            histogram
//   keytrail_verify_total{reason}                            counter (POST verify)
//   keytrail_check_total{result,reason}                      counter (gateway check)
//   keytrail_auth_failures_total{reason}                     counter (bearer auth)
// plus, from the engine at render time (RenderEngine, no I/O):
//   keytrail_verify_index_keys, keytrail_scheduler_*          gauges / counters
//   keytrail_command_duration_seconds                         histogram (writer: arrival
//                                                             to durable, applied answer)
//   keytrail_log_append_duration_seconds                      histogram (one Append)
//   keytrail_projector_lag_events{partition}                  gauge (vs the log end as
//                                                             last seen)
//   keytrail_log_reachable, keytrail_log_unreachable_seconds  gauges (the log's breaker)
//   keytrail_projector_applied_offset{partition}, keytrail_projector_current{partition},
//   keytrail_log_append_ok{partition}                         gauges
//
// `route` is the router pattern ("/v1/orgs/{org}/keys"), or "unmatched", and `method` a
// standard method or "OTHER", so label cardinality stays bounded. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "engine/engine.h"

namespace keytrail::server {

// The counters of one Api; see the file comment.
class Metrics {
 public:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

  void CountRequest(std::string_view method, std::string_view route, int status, double seconds);
  void CountVerify(VerifyReason reason);
  void CountAuthFailure(std::string_view reason);
  // One /v1/check answer: result "allowed", "unauthenticated", "denied" or "invalid" and
  // its reason (empty when allowed); a pair not in kCheckOutcomes counts as "other".
  void CountCheck(std::string_view result, std::string_view reason);

  struct CheckOutcome {
    std::string_view result, reason;
  };
  static constexpr std::array<CheckOutcome, 15> kCheckOutcomes = {{
      {"allowed", ""},
      {"unauthenticated", "missing"},
      {"unauthenticated", "malformed"},
      {"unauthenticated", "unknown"},
      {"unauthenticated", "revoked"},
      {"unauthenticated", "expired"},
      {"unauthenticated", "no-group"},
      {"denied", "not-granted"},
      {"denied", "no-group"},
      {"denied", "not-a-member"},
      {"invalid", "conflicting-question"},
      {"invalid", "invalid-action"},
      {"invalid", "invalid-resource"},
      {"invalid", "resource-without-action"},
      {"other", ""},
  }};

  // The counters above.
  std::string Render() const;
  // Gauges read from the engine now.
  static std::string RenderEngine(const Engine& engine);

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> buckets{};  // non-cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  // Counted with atomics instead of under mu_: POST answers 200 of the verify routes, the
  // hot path (Render merges them into the same series).
  struct HotRoute {
    std::string_view route;
    // Non-cumulative, plus one past the last bound; the count is their sum, so a render
    // never shows a bucket above its total.
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};
    std::atomic<uint64_t> sum_nanos{0};
  };
  std::array<HotRoute, 2> hot_{{{"/v1/verify"}, {"/v1/keys/verify"}}};

  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;  // guarded by mu_
  std::map<std::string, Histogram> durations_;                              // guarded by mu_
  std::map<std::string, uint64_t> auth_failures_;                           // guarded by mu_
  std::array<std::atomic<uint64_t>, 8> verify_{};                           // by VerifyReason value
  std::array<std::atomic<uint64_t>, kCheckOutcomes.size()> check_{};        // by kCheckOutcomes
};

}  // namespace keytrail::server
