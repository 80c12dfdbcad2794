// keytrail: the one binary. Each subcommand lives in its own file and registers itself
// here.
#include <CLI/CLI.hpp>

#include "tools/keytrail/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"keytrail: API-key lifecycle engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "keytrail 0.1.0");
  int rc = 0;
  keytrail::cli::AddDevKafka(app, &rc);
  keytrail::cli::AddServe(app, &rc);
  keytrail::cli::AddKeys(app, &rc);
  keytrail::cli::AddOrgs(app, &rc);
  keytrail::cli::AddVerify(app, &rc);
  keytrail::cli::AddAudit(app, &rc);
  keytrail::cli::AddGroups(app, &rc);
  keytrail::cli::AddLogDump(app, &rc);
  keytrail::cli::AddRebuild(app, &rc);
  keytrail::cli::AddCheck(app, &rc);
  keytrail::cli::AddProjector(app, &rc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int exit = app.exit(e);
    return exit == 0 ? 0 : keytrail::cli::kExitUsage;
  }
  return rc;
}
