// keytrail rebuild: folds the whole log into a fresh view store next to the live one
// (<data-dir>/views.rebuild), with a progress bar, then swaps it in with one atomic
// rename (renameat2 RENAME_EXCHANGE); the old views are kept in views.previous. Needs the
// server stopped (the views' RocksDB lock tells). With --until (an offset or an RFC 3339
// time) or --out it builds a copy in --out instead and swaps nothing; that reads the log
// and views as snapshots, so it also works while a server runs.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "projections/projector.h"
#include "projections/rebuild.h"
#include "server/wire_format.h"
#include "tools/keytrail/commands.h"
#include "tools/keytrail/event_json.h"
#include "tools/keytrail/offline.h"

namespace keytrail::cli {
namespace {

namespace fs = std::filesystem;

struct RebuildOptions {
  DataOptions data;
  std::string until;  // "" | offset | RFC 3339 time
  std::string out;
  int threads = 2;
};

Status SyncDirectory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const Status s =
        Status::IoError(fmt::format("cannot sync {}: {}", dir.string(), std::strerror(errno)));
    if (fd >= 0) ::close(fd);
    return s;
  }
  ::close(fd);
  return Status::Ok();
}

// views <- views.rebuild, atomically; the old views end up in views.previous.
Status SwapIn(const fs::path& live, const fs::path& fresh, const fs::path& previous) {
  std::error_code ec;
  if (!fs::exists(live)) {
    fs::rename(fresh, live, ec);
  } else {
    if (::renameat2(AT_FDCWD, fresh.c_str(), AT_FDCWD, live.c_str(), RENAME_EXCHANGE) != 0) {
      return Status::IoError(fmt::format("cannot swap {} and {}: {}", fresh.string(), live.string(),
                                         std::strerror(errno)));
    }
    fs::remove_all(previous, ec);
    if (!ec) fs::rename(fresh, previous, ec);  // `fresh` now holds the old views
  }
  if (ec) return Status::IoError(fmt::format("cannot rename the views: {}", ec.message()));
  return SyncDirectory(live.parent_path());
}

int RunRebuild(const RebuildOptions& o) {
  constexpr std::string_view kCommand = "rebuild";
  // What to rebuild up to.
  std::optional<int64_t> until_offset;
  std::optional<Micros> until_time;
  if (!o.until.empty()) {
    if (o.until.find_first_not_of("0123456789") == std::string::npos && o.until.size() < 19) {
      until_offset = std::stoll(o.until);
    } else if (auto t = server::ParseRfc3339Time(o.until)) {
      until_time = *t;
    } else {
      return Fail(kCommand,
                  Status::InvalidArgument(fmt::format(
                      "--until must be an offset or an RFC 3339 time, not '{}'", o.until)));
    }
    if (o.out.empty()) {
      return Fail(kCommand, Status::InvalidArgument(
                                "--until builds a historical copy: name its directory with --out"));
    }
  }
  const bool swap = o.out.empty();
  const fs::path live = o.data.ViewsPath();
  const fs::path target = swap ? fs::path(o.data.data_dir) / "views.rebuild" : fs::path(o.out);
  std::error_code ec;
  if (!swap && fs::exists(target) && !fs::is_empty(target, ec)) {
    return Fail(kCommand,
                Status::FailedPrecondition(fmt::format(
                    "--out {} exists and is not empty; name a new directory", target.string())));
  }

  // A swap needs the server stopped: opening log and views for writing takes their
  // locks, and holding the views' lock keeps a server from starting meanwhile.
  auto log = OpenLog(o.data, /*read_only=*/!swap);
  if (!log.ok()) return Fail(kCommand, log.status());
  std::unique_ptr<projections::ViewStore> live_views;
  if (fs::exists(live)) {
    auto opened = projections::OpenRocksViewStore(live.string(), {.read_only = !swap});
    if (!opened.ok()) return Fail(kCommand, opened.status());
    live_views = std::move(opened).value();
  }
  if (swap && fs::exists(target)) {
    fmt::print(stderr, "keytrail rebuild: removing {} left by an unfinished rebuild\n",
               target.string());
    fs::remove_all(target, ec);
  }
  auto fresh = projections::OpenRocksViewStore(target.string(), {.bulk_load = true});
  if (!fresh.ok()) return Fail(kCommand, fresh.status());
  auto cleanup = [&] {
    fresh->reset();
    std::error_code ignored;
    fs::remove_all(target, ignored);
  };
  // Operators' skip decisions are not in the log: carry them over.
  if (live_views) {
    auto copied = projections::CopySkips(*live_views, **fresh);
    if (!copied.ok()) {
      cleanup();
      return Fail(kCommand, copied.status());
    }
    if (*copied > 0) {
      fmt::print(stderr, "keytrail rebuild: honouring {} skipped record(s) of the live views\n",
                 *copied);
    }
  }

  projections::RebuildOptions rebuild;
  rebuild.threads = o.threads;
  if (until_offset) {
    for (int32_t p = 0; p < (*log)->PartitionCount(); ++p) {
      auto end = (*log)->EndOffset(p);
      if (!end.ok()) {
        cleanup();
        return Fail(kCommand, end.status());
      }
      rebuild.end_offsets.push_back(std::min(*end, *until_offset));
    }
  } else if (until_time) {
    auto ends = projections::OffsetsBefore(**log, *until_time);
    if (!ends.ok()) {
      cleanup();
      return Fail(kCommand, ends.status());
    }
    rebuild.end_offsets = std::move(ends).value();
  }
  ProgressBar bar("rebuild");
  rebuild.progress = [&bar](const projections::RebuildProgress& p) { bar.Update(p); };
  auto result = projections::RebuildViews(**log, **fresh, rebuild);
  bar.Finish();
  if (!result.ok()) {
    cleanup();
    fmt::print(stderr,
               "keytrail rebuild: nothing was changed. Inspect the record with `keytrail log dump "
               "--partition P --from-offset O --to-offset O+1`; `keytrail projector skip` moves "
               "past it.\n");
    return Fail(kCommand, result.status());
  }
  // Compacted before it serves: a bulk-loaded store otherwise leaves background
  // compactions behind that compete with every read (audit pages at 10M events: p99
  // 9.7 ms right after a rebuild; docs/benchmarks.md).
  fmt::print(stderr, "rebuild: compacting the new views\n");
  const auto compact_start = std::chrono::steady_clock::now();
  if (Status s = (*fresh)->Compact(); !s.ok()) {
    cleanup();
    return Fail(kCommand, s);
  }
  const double compact_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - compact_start).count();
  fresh->reset();
  live_views.reset();

  fmt::print("rebuilt the views from {}; compacted in {:.2f} s\n",
             RateText(result->events, result->seconds), compact_seconds);
  std::string ends;
  for (size_t p = 0; p < result->end_offsets.size(); ++p) {
    ends += fmt::format("{}{}:{}", p == 0 ? "" : " ", p, result->end_offsets[p]);
  }
  if (!swap) {
    fmt::print("historical views{} in {} (partition:next offset {})\n",
               until_time     ? fmt::format(" as of before {}", FormatMicros(*until_time))
               : until_offset ? fmt::format(" below offset {}", *until_offset)
                              : std::string(),
               target.string(), ends);
    return kExitOk;
  }
  const fs::path previous = fs::path(o.data.data_dir) / "views.previous";
  if (Status s = SwapIn(live, target, previous); !s.ok()) return Fail(kCommand, s);
  fmt::print("swapped into {} (partition:next offset {}); the old views are in {}\n", live.string(),
             ends, previous.string());
  return kExitOk;
}

}  // namespace

void AddRebuild(CLI::App& app, int* rc) {
  auto o = std::make_shared<RebuildOptions>();
  CLI::App* cmd = app.add_subcommand(
      "rebuild",
      "Rebuild every view from the log and swap it in (server stopped), or build a "
      "historical copy (--until, --out)");
  AddDataOptions(*cmd, o->data);
  cmd->add_option("--until", o->until,
                  "build only what happened before this: an offset (each partition's records "
                  "below it) or an RFC 3339 time (events that occurred before it); needs --out");
  cmd->add_option("--out", o->out,
                  "build into this new directory and do not swap (works while a server runs)");
  cmd->add_option("--threads", o->threads, "partitions rebuilt in parallel")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->callback([o, rc] { *rc = RunRebuild(*o); });
}

}  // namespace keytrail::cli
