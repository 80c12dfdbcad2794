#include "server/metrics.h"

#include <fmt/format.h>

namespace keytrail::server {
namespace {

constexpr VerifyReason kReasons[] = {VerifyReason::kValid,    VerifyReason::kMalformed,
                                     VerifyReason::kUnknown,  VerifyReason::kRevoked,
                                     VerifyReason::kExpired,  VerifyReason::kNoGroup,
                                     VerifyReason::kSuspended};

// The method label: a standard method as sent, anything else "OTHER", so a caller
// cannot add series.
std::string_view MethodLabel(std::string_view method) {
  static constexpr std::string_view kKnown[] = {"GET",   "HEAD",   "POST",   "PUT",
                                                "PATCH", "DELETE", "OPTIONS"};
  for (std::string_view known : kKnown) {
    if (method == known) return known;
  }
  return "OTHER";
}

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

// A LatencySnapshot as a Prometheus histogram in seconds; only the buckets up to the
// highest one in use are listed, then +Inf.
std::string RenderLatency(std::string_view name, std::string_view help,
                          const LatencySnapshot& latency) {
  std::string out = fmt::format("# HELP {0} {1}\n# TYPE {0} histogram\n", name, help);
  size_t last = 0;
  for (size_t b = 0; b < LatencySnapshot::kBuckets; ++b) {
    if (latency.counts[b] != 0) last = b;
  }
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= last && latency.count != 0; ++b) {
    cumulative += latency.counts[b];
    // Bucket b holds integer microseconds up to UpperBound(b), so le = UpperBound + 1 us.
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name,
                       static_cast<double>(LatencySnapshot::UpperBound(b) + 1) / 1e6, cumulative);
  }
  out += fmt::format("{0}_bucket{{le=\"+Inf\"}} {1}\n{0}_sum {2}\n{0}_count {1}\n", name,
                     latency.count, static_cast<double>(latency.sum) / 1e6);
  return out;
}

}  // namespace

void Metrics::CountRequest(std::string_view method, std::string_view route, int status,
                           double seconds) {
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  if (status == 200 && method == "POST") {
    for (HotRoute& hot : hot_) {
      if (hot.route != route) continue;
      hot.buckets[b].fetch_add(1, std::memory_order_relaxed);
      hot.sum_nanos.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
      return;
    }
  }
  std::lock_guard lock(mu_);
  ++requests_[{std::string(MethodLabel(method)), std::string(route), status}];
  Histogram& h = durations_[std::string(route)];
  if (b < kBuckets.size()) ++h.buckets[b];
  ++h.count;
  h.sum += seconds;
}

void Metrics::CountVerify(VerifyReason reason) {
  const size_t i = static_cast<size_t>(reason);
  if (i < verify_.size()) verify_[i].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::CountCheck(std::string_view result, std::string_view reason) {
  for (size_t i = 0; i < kCheckOutcomes.size(); ++i) {
    if (kCheckOutcomes[i].result == result && kCheckOutcomes[i].reason == reason) {
      check_[i].fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  check_.back().fetch_add(1, std::memory_order_relaxed);  // "other": a new reason
}

void Metrics::CountAuthFailure(std::string_view reason) {
  std::lock_guard lock(mu_);
  ++auth_failures_[std::string(reason)];
}

std::string Metrics::Render() const {
  std::string out;
  std::lock_guard lock(mu_);
  // The hot routes' atomics join the series the lock guards.
  auto requests = requests_;
  auto durations = durations_;
  for (const HotRoute& hot : hot_) {
    std::array<uint64_t, kBuckets.size() + 1> buckets;
    uint64_t count = 0;
    for (size_t b = 0; b < buckets.size(); ++b) {
      buckets[b] = hot.buckets[b].load(std::memory_order_relaxed);
      count += buckets[b];
    }
    if (count == 0) continue;
    requests[{"POST", std::string(hot.route), 200}] += count;
    Histogram& h = durations[std::string(hot.route)];
    for (size_t b = 0; b < kBuckets.size(); ++b) h.buckets[b] += buckets[b];
    h.count += count;
    h.sum += static_cast<double>(hot.sum_nanos.load(std::memory_order_relaxed)) / 1e9;
  }
  out +=
      "# HELP keytrail_http_requests_total HTTP requests answered, by route and status.\n"
      "# TYPE keytrail_http_requests_total counter\n";
  for (const auto& [key, count] : requests) {
    const auto& [method, route, status] = key;
    out +=
        fmt::format("keytrail_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}\n",
                    Label(method), Label(route), status, count);
  }
  out +=
      "# HELP keytrail_http_request_duration_seconds Time to answer a request, by route.\n"
      "# TYPE keytrail_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : durations) {
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
      "# HELP keytrail_check_total Gateway checks (/v1/check), by result and reason.\n"
      "# TYPE keytrail_check_total counter\n";
  for (size_t i = 0; i < kCheckOutcomes.size(); ++i) {
    out += fmt::format("keytrail_check_total{{result=\"{}\",reason=\"{}\"}} {}\n",
                       kCheckOutcomes[i].result, kCheckOutcomes[i].reason,
                       check_[i].load(std::memory_order_relaxed));
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
      "# HELP keytrail_scheduler_pending_timers Timers the scheduler holds: expiries, and "
      "expiring-soon and unused deadlines under the orgs' policies.\n"
      "# TYPE keytrail_scheduler_pending_timers gauge\n"
      "keytrail_scheduler_pending_timers {}\n",
      stats.pending_timers);
  out += fmt::format(
      "# HELP keytrail_scheduler_expired_total KeyExpired events written by the scheduler since "
      "start.\n"
      "# TYPE keytrail_scheduler_expired_total counter\n"
      "keytrail_scheduler_expired_total {}\n",
      stats.expired);
  out += fmt::format(
      "# HELP keytrail_scheduler_revoked_unused_total Keys the scheduler revoked as unused (the "
      "org's revoke_unused_after) since start.\n"
      "# TYPE keytrail_scheduler_revoked_unused_total counter\n"
      "keytrail_scheduler_revoked_unused_total {}\n"
      "# HELP keytrail_scheduler_expiring_soon_total KeyExpiringSoon events written by the "
      "scheduler since start.\n"
      "# TYPE keytrail_scheduler_expiring_soon_total counter\n"
      "keytrail_scheduler_expiring_soon_total {}\n",
      stats.revoked_unused, stats.expiring_soon);
  out +=
      "# HELP keytrail_scheduler_lateness_seconds Upper bound of the lateness (KeyExpired time "
      "minus expires_at) quantile since start.\n"
      "# TYPE keytrail_scheduler_lateness_seconds gauge\n";
  for (double q : {0.5, 0.99, 1.0}) {
    out += fmt::format("keytrail_scheduler_lateness_seconds{{quantile=\"{}\"}} {}\n", q,
                       static_cast<double>(stats.lateness.Quantile(q)) / 1e6);
  }

  const events::LogReachability log = engine.log_reachability();
  const double unreachable_seconds =
      log.reachable
          ? 0.0
          : std::chrono::duration<double>(std::chrono::steady_clock::now() - log.since).count();
  out += fmt::format(
      "# HELP keytrail_log_reachable 1 while the event log answers; 0 while its breaker is "
      "open (commands are refused at once, verify is served from the views).\n"
      "# TYPE keytrail_log_reachable gauge\n"
      "keytrail_log_reachable {}\n"
      "# HELP keytrail_log_unreachable_seconds How long the event log has not answered (0 "
      "while it does): how stale the views may be.\n"
      "# TYPE keytrail_log_unreachable_seconds gauge\n"
      "keytrail_log_unreachable_seconds {}\n",
      log.reachable ? 1 : 0, unreachable_seconds);

  LatencySnapshot commands, appends;
  std::string lag, applied, current, log_ok, writing, epoch, fenced;
  size_t command_records = 0;
  size_t writer_keys = 0;
  for (const WriterHealth& health : engine.writer_health()) {
    commands.Add(health.command_latency);
    appends.Add(health.append_latency);
    const int p = health.partition;
    command_records += health.command_records;
    writer_keys += health.keys_in_memory;
    lag += fmt::format("keytrail_projector_lag_events{{partition=\"{}\"}} {}\n", p,
                       std::max<int64_t>(0, health.log_end_seen - health.applied_offset));
    applied += fmt::format("keytrail_projector_applied_offset{{partition=\"{}\"}} {}\n", p,
                           health.applied_offset);
    current += fmt::format("keytrail_projector_current{{partition=\"{}\"}} {}\n", p,
                           health.views_current ? 1 : 0);
    log_ok +=
        fmt::format("keytrail_log_append_ok{{partition=\"{}\"}} {}\n", p, health.log_ok ? 1 : 0);
    writing += fmt::format("keytrail_partition_writing{{partition=\"{}\"}} {}\n", p,
                           health.writing ? 1 : 0);
    epoch +=
        fmt::format("keytrail_partition_epoch{{partition=\"{}\"}} {}\n", p, health.claim.epoch);
    fenced += fmt::format("keytrail_fenced_events_total{{partition=\"{}\"}} {}\n", p,
                          health.fenced_events);
  }
  out += fmt::format(
      "# HELP keytrail_idempotency_records Command ids (Idempotency-Keys) remembered for "
      "answering retries, within the idempotency window.\n"
      "# TYPE keytrail_idempotency_records gauge\n"
      "keytrail_idempotency_records {}\n"
      "# HELP keytrail_writer_keys Keys in the writers' memory: the live ones and those "
      "retired within the retired-key window.\n"
      "# TYPE keytrail_writer_keys gauge\n"
      "keytrail_writer_keys {}\n",
      command_records, writer_keys);
  out += RenderLatency("keytrail_command_duration_seconds",
                       "Time from a command's arrival at its partition's writer to its answer "
                       "(durable and applied to the views).",
                       commands);
  out += RenderLatency("keytrail_log_append_duration_seconds",
                       "Time of one append to the event log (durable on return).", appends);
  out +=
      "# HELP keytrail_projector_lag_events Events in the log (as last seen) not yet applied to "
      "the views.\n"
      "# TYPE keytrail_projector_lag_events gauge\n" +
      lag +
      "# HELP keytrail_projector_applied_offset Next log offset the views will apply.\n"
      "# TYPE keytrail_projector_applied_offset gauge\n" +
      applied +
      "# HELP keytrail_projector_current 1 while the views catch up; 0 while halted.\n"
      "# TYPE keytrail_projector_current gauge\n" +
      current +
      "# HELP keytrail_log_append_ok 0 after a failed append to the event log, until one "
      "succeeds.\n"
      "# TYPE keytrail_log_append_ok gauge\n" +
      log_ok +
      "# HELP keytrail_partition_writing 1 while this node writes the partition (it holds the "
      "current claim).\n"
      "# TYPE keytrail_partition_writing gauge\n" +
      writing +
      "# HELP keytrail_partition_epoch Epoch of the partition's current writer claim (0: "
      "none).\n"
      "# TYPE keytrail_partition_epoch gauge\n" +
      epoch +
      "# HELP keytrail_fenced_events_total Events of a superseded writer epoch that the views "
      "ignored, since the views were loaded.\n"
      "# TYPE keytrail_fenced_events_total counter\n" +
      fenced;
  return out;
}

}  // namespace keytrail::server
