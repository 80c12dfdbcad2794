#include "projections/rebuild.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "events/codec.h"
#include "projections/projector.h"
#include "projections/view_set.h"

namespace keytrail::projections {
namespace {

// A partition whose records stop arriving for this many one-second reads is reported.
constexpr int kMaxIdleReads = 30;

// Records per commit. Larger than a live projector's runs: a chain head or key row
// rewritten within a run reaches RocksDB once, and a run's rows go in sorted, so fewer,
// larger runs mean fewer memtable inserts, each nearer the previous one (2000 -> 10000:
// ~+20% events/s in keytrail_bench rebuild). A run's rows are held in memory until it
// commits: about 10 MB per worker here.
constexpr size_t kRebuildBatchRecords = 10000;

}  // namespace

Result<RebuildResult> RebuildViews(events::EventLog& log, ViewStore& store,
                                   const RebuildOptions& options) {
  const int32_t partitions = log.PartitionCount();
  RebuildResult result;
  result.end_offsets = options.end_offsets;
  if (result.end_offsets.empty()) {
    for (int32_t p = 0; p < partitions; ++p) {
      auto end = log.EndOffset(p);
      if (!end.ok()) return end.status();
      result.end_offsets.push_back(*end);
    }
  }
  if (result.end_offsets.size() != static_cast<size_t>(partitions)) {
    return Status::InvalidArgument(fmt::format("rebuild: {} end offsets for {} partitions",
                                               result.end_offsets.size(), partitions));
  }
  // The work: each partition from its checkpoint to its end, largest first.
  struct Work {
    int32_t partition;
    int64_t events;
  };
  std::vector<Work> work;
  int64_t total = 0;
  for (int32_t p = 0; p < partitions; ++p) {
    auto checkpoint = ReadCheckpoint(store, p);
    if (!checkpoint.ok()) return checkpoint.status();
    const int64_t events = std::max<int64_t>(0, result.end_offsets[p] - *checkpoint);
    total += events;
    if (events > 0) work.push_back({p, events});
  }
  std::sort(work.begin(), work.end(),
            [](const Work& a, const Work& b) { return a.events > b.events; });

  std::atomic<size_t> next_work{0};
  std::atomic<int64_t> done{0};
  std::mutex mu;
  std::condition_variable finished_cv;
  int running = std::clamp(options.threads, 1, std::max(1, static_cast<int>(work.size())));
  Status failed;  // guarded by mu
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0, n = running; t < n; ++t) {
    workers.emplace_back([&] {
      ViewSet views;
      Projector projector(log, store, views.projections(),
                          {.max_batch_records = kRebuildBatchRecords});
      while (true) {
        {
          std::lock_guard lock(mu);
          if (!failed.ok()) break;
        }
        const size_t i = next_work.fetch_add(1);
        if (i >= work.size()) break;
        const int32_t p = work[i].partition;
        Status s = projector.CatchUpTo(p, result.end_offsets[p],
                                       [&](size_t applied) { done.fetch_add(applied); });
        if (!s.ok()) {
          std::lock_guard lock(mu);
          if (failed.ok()) failed = s;
        }
      }
      std::lock_guard lock(mu);
      --running;
      finished_cv.notify_all();
    });
  }
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  {
    std::unique_lock lock(mu);
    while (running > 0) {
      finished_cv.wait_for(lock, options.progress_interval);
      if (options.progress && running > 0) {
        lock.unlock();
        options.progress({done.load(), total, seconds()});
        lock.lock();
      }
    }
  }
  for (auto& worker : workers) worker.join();
  KT_RETURN_IF_ERROR(failed);
  result.events = done.load();
  result.seconds = seconds();
  if (options.progress) options.progress({result.events, total, result.seconds});
  return result;
}

Result<std::vector<int64_t>> OffsetsBefore(events::EventLog& log, Micros t) {
  std::vector<int64_t> ends;
  for (int32_t p = 0; p < log.PartitionCount(); ++p) {
    auto end = log.EndOffset(p);
    if (!end.ok()) return end.status();
    if (*end == 0) {
      ends.push_back(0);
      continue;
    }
    auto reader = log.OpenReader(p, 0);
    if (!reader.ok()) return reader.status();
    int64_t cut = *end;
    int64_t next = 0;
    int idle = 0;
    while (next < *end && cut == *end) {
      auto records = (*reader)->Next(4096, std::chrono::milliseconds(1000));
      if (!records.ok()) return records.status();
      if (records->empty() && ++idle == kMaxIdleReads) {
        return Status::Timeout(
            fmt::format("partition {}: log ends at {} but offset {} never arrived", p, *end, next));
      }
      for (const events::LogRecord& record : *records) {
        next = record.offset + 1;
        auto event = events::Decode(record.value);
        if (event.ok() && (*event)->occurred_at_us() >= t) {
          cut = record.offset;
          break;
        }
      }
    }
    ends.push_back(cut);
  }
  return ends;
}

}  // namespace keytrail::projections
