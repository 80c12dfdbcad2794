// An Engine on a fresh local log and view store in a temp dir, with orgs "org-0".. and a
// group "ci" in each, for the benchmarks that drive the whole write path.
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "events/local_event_log.h"
#include "projections/view_store.h"
#include "tests/support/temp_dir.h"

namespace keytrail::bench {

struct EngineFixture {
  testing::TempDir dir;
  std::unique_ptr<events::LocalEventLog> log;
  std::unique_ptr<projections::ViewStore> views;
  std::unique_ptr<Engine> engine;

  // sync = false measures everything but the disk's fsync.
  bool Open(const Clock& clock, bool sync, int orgs) {
    auto l =
        events::LocalEventLog::Open({.path = dir.path() + "/log", .partitions = 8, .sync = sync});
    auto v = projections::OpenRocksViewStore(dir.path() + "/views");
    if (!l.ok() || !v.ok()) return false;
    log = std::move(l).value();
    views = std::move(v).value();
    Engine::Options options;
    options.domain.max_active_keys = 100'000'000;
    auto e = Engine::Start(*log, *views, clock, options);
    if (!e.ok()) {
      fmt::print(stderr, "{}\n", e.status().ToString());
      return false;
    }
    engine = std::move(e).value();
    for (int org = 0; org < orgs; ++org) {
      const std::string id = "org-" + std::to_string(org);
      auto org_created = engine->Execute({.org = id}, domain::CreateOrg{id});
      auto group_created = engine->Execute({.org = id}, domain::CreateGroup{"ci", "", ""});
      if (!org_created.ok() || !group_created.ok() ||
          group_created->kind != CommandOutcome::Kind::kApplied) {
        fmt::print(stderr, "cannot create {}\n", id);
        return false;
      }
    }
    return true;
  }
};

}  // namespace keytrail::bench
