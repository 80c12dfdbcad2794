// keytrail projector skip: moves a halted projector past the record it stands at, as an
// explicit, recorded operator decision (DESIGN.md "Failure behaviour"). Refuses unless
// the record is exactly at the partition's checkpoint and really fails to decode or
// apply. The skip row and its audit record (action projector.skipped) are written in the
// same batch as the new checkpoint. Offline: the server must be stopped (the views'
// RocksDB lock tells).
#include <memory>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "projections/projector.h"
#include "projections/view_set.h"
#include "tools/keytrail/commands.h"
#include "tools/keytrail/offline.h"

namespace keytrail::cli {
namespace {

struct SkipOptions {
  DataOptions data;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string reason;
};

int RunSkip(const SkipOptions& o) {
  constexpr std::string_view kCommand = "projector skip";
  if (o.reason.find_first_not_of(" \t\n") == std::string::npos) {
    return Fail(kCommand, Status::InvalidArgument("--reason must say why the record is skipped"));
  }
  auto views = projections::OpenRocksViewStore(o.data.ViewsPath());
  if (!views.ok()) return Fail(kCommand, views.status());
  auto log = OpenLog(o.data, /*read_only=*/true);
  if (!log.ok()) return Fail(kCommand, log.status());
  if (o.partition >= (*log)->PartitionCount()) {
    return Fail(kCommand,
                Status::InvalidArgument(fmt::format("--partition {}: the log has partitions 0..{}",
                                                    o.partition, (*log)->PartitionCount() - 1)));
  }
  projections::ViewSet view_set;
  projections::Projector projector(**log, **views, view_set.projections());
  projections::SkippedRecord skip;
  skip.reason = o.reason;
  skip.operator_id = OperatorName();
  skip.skipped_at_us = SystemClock::Instance().NowMicros();
  if (Status s = projector.Skip(o.partition, o.offset, skip); !s.ok()) {
    // No record there yet is a refusal like the others, not an I/O failure.
    const int rc = Fail(kCommand, s);
    return s.code() == StatusCode::kNotFound ? kExitRejected : rc;
  }
  if (Status s = (*views)->Flush(); !s.ok()) return Fail(kCommand, s);
  auto skips = projections::ReadSkips(**views, o.partition);
  const std::string error =
      skips.ok() && skips->contains(o.offset) ? skips->at(o.offset).error : "";
  fmt::print(
      "skipped partition {} offset {} ({})\nrecorded in the audit trail as projector.skipped by "
      "{}; the projector of partition {} now stands at offset {}\n",
      o.partition, o.offset, error, skip.operator_id, o.partition, o.offset + 1);
  return kExitOk;
}

}  // namespace

void AddProjector(CLI::App& app, int* rc) {
  CLI::App* projector =
      app.add_subcommand("projector", "Operate the projectors (operators; server stopped)");
  projector->require_subcommand(1);
  auto o = std::make_shared<SkipOptions>();
  CLI::App* skip = projector->add_subcommand(
      "skip",
      "Skip the poison record a partition's projector is halted at, recording who, when and "
      "why in the audit trail");
  AddDataOptions(*skip, o->data);
  skip->add_option("--partition", o->partition, "the halted partition")
      ->required()
      ->check(CLI::NonNegativeNumber);
  skip->add_option("--offset", o->offset, "the record's offset: the partition's checkpoint")
      ->required()
      ->check(CLI::NonNegativeNumber);
  skip->add_option("--reason", o->reason, "why (kept in the audit trail)")->required();
  skip->callback([o, rc] { *rc = RunSkip(*o); });
}

}  // namespace keytrail::cli
