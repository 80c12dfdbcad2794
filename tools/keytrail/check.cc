// keytrail check: are the live views what the log says they should be? Rebuilds the views
// into a scratch store next to the live ones, up to the live checkpoints, compares the
// two row by row, verifies the audit hash chain, then applies the rest of the log to the
// scratch copy to find any record the server would halt on. Exit 0 if equal, intact and
// the log is fully applicable; 1 with the first finding otherwise. Reports row keys only,
// never values. Reads log and views as snapshots, so it works while a server runs.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "projections/audit_projection.h"
#include "projections/projector.h"
#include "projections/rebuild.h"
#include "projections/view_compare.h"
#include "tools/keytrail/commands.h"
#include "tools/keytrail/offline.h"

namespace keytrail::cli {
namespace {

namespace fs = std::filesystem;

struct CheckOptions {
  DataOptions data;
  int threads = 2;
};

int RunCheck(const CheckOptions& o) {
  constexpr std::string_view kCommand = "check";
  const fs::path live_path = o.data.ViewsPath();
  if (!fs::exists(live_path)) {
    return Fail(kCommand, Status::NotFound(fmt::format("no views at {}", live_path.string())));
  }
  // Views first: the log snapshot taken after them holds every record they applied.
  auto live = projections::OpenRocksViewStore(live_path.string(), {.read_only = true});
  if (!live.ok()) return Fail(kCommand, live.status());
  auto log = OpenLog(o.data, /*read_only=*/true);
  if (!log.ok()) return Fail(kCommand, log.status());

  const int32_t partitions = (*log)->PartitionCount();
  std::vector<int64_t> checkpoints;
  for (int32_t p = 0; p < partitions; ++p) {
    auto checkpoint = projections::ReadCheckpoint(**live, p);
    if (!checkpoint.ok()) return Fail(kCommand, checkpoint.status());
    checkpoints.push_back(*checkpoint);
  }

  const fs::path scratch_path =
      fs::path(o.data.data_dir) / fmt::format("views.check-{}", ::getpid());
  std::error_code ec;
  fs::remove_all(scratch_path, ec);
  auto scratch = projections::OpenRocksViewStore(scratch_path.string(), {.bulk_load = true});
  if (!scratch.ok()) return Fail(kCommand, scratch.status());
  struct Cleanup {
    Result<std::unique_ptr<projections::ViewStore>>& store;
    fs::path path;
    ~Cleanup() {
      if (store.ok()) store->reset();
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  } cleanup{scratch, scratch_path};

  auto skips = projections::CopySkips(**live, **scratch);
  if (!skips.ok()) return Fail(kCommand, skips.status());

  ProgressBar bar("check: rebuild");
  projections::RebuildOptions rebuild;
  rebuild.threads = o.threads;
  rebuild.end_offsets = checkpoints;
  rebuild.progress = [&bar](const projections::RebuildProgress& p) { bar.Update(p); };
  auto rebuilt = projections::RebuildViews(**log, **scratch, rebuild);
  bar.Finish();
  if (!rebuilt.ok()) {
    fmt::print("the log up to the live checkpoints cannot be rebuilt: {}\n",
               rebuilt.status().message());
    return kExitRejected;
  }

  bool ok = true;
  auto difference = projections::FirstDifference(**live, **scratch);
  if (!difference.ok()) return Fail(kCommand, difference.status());
  if (*difference) {
    ok = false;
    fmt::print("views DIFFER from a rebuild of the log: {}\n",
               (*difference)->Describe("the live views", "the rebuild"));
  } else {
    fmt::print("views equal a rebuild of {} events\n", rebuilt->events);
  }

  auto chain = projections::AuditProjection::VerifyChain(**live);
  if (!chain.ok()) return Fail(kCommand, chain.status());
  if (chain->ok) {
    fmt::print("audit chain intact: {} records verified\n", chain->records);
  } else {
    ok = false;
    fmt::print("audit chain BROKEN at partition {} offset {}: {}\n", chain->partition,
               chain->offset, chain->problem);
  }

  // The records the live views have not applied yet: would the server get past them?
  std::vector<int64_t> ends;
  int64_t pending = 0;
  for (int32_t p = 0; p < partitions; ++p) {
    auto end = (*log)->EndOffset(p);
    if (!end.ok()) return Fail(kCommand, end.status());
    ends.push_back(*end);
    pending += std::max<int64_t>(0, *end - checkpoints[p]);
  }
  if (pending > 0) {
    rebuild.end_offsets = ends;
    rebuild.progress = nullptr;
    auto rest = projections::RebuildViews(**log, **scratch, rebuild);
    if (!rest.ok()) {
      ok = false;
      fmt::print("the server would halt: {}\n", rest.status().message());
    } else {
      for (int32_t p = 0; p < partitions; ++p) {
        if (ends[p] > checkpoints[p]) {
          fmt::print("partition {}: views at offset {}, log at {} ({} events not applied yet)\n", p,
                     checkpoints[p], ends[p], ends[p] - checkpoints[p]);
        }
      }
    }
  }
  return ok ? kExitOk : kExitRejected;
}

}  // namespace

void AddCheck(CLI::App& app, int* rc) {
  auto o = std::make_shared<CheckOptions>();
  CLI::App* cmd = app.add_subcommand(
      "check",
      "Compare the live views with a fresh rebuild and verify the audit chain; exit 1 on the "
      "first difference");
  AddDataOptions(*cmd, o->data);
  cmd->add_option("--threads", o->threads, "partitions rebuilt in parallel")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->callback([o, rc] { *rc = RunCheck(*o); });
}

}  // namespace keytrail::cli
