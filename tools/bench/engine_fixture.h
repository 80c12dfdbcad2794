// An EngineWorld (tests/support/engine_world.h) on the local log and RocksDB views in a
// temp dir, 8 partitions, with orgs "org-0".. each holding a group "ci": the set-up of the
// benchmarks that drive the whole write path.
#pragma once

#include <fmt/format.h>

#include <memory>
#include <string>

#include "tests/support/engine_world.h"

namespace keytrail::bench {

// sync = false measures everything but the disk's fsync. nullptr (after printing why) if
// the set-up fails.
inline std::unique_ptr<testing::EngineWorld> OpenEngineWorld(const Clock& clock, bool sync,
                                                             int orgs) {
  testing::EngineWorldOptions options;
  options.partitions = 8;
  options.sync = sync;
  options.engine.domain.max_active_keys = 100'000'000;
  auto world = std::make_unique<testing::EngineWorld>(clock, options);
  if (Status opened = world->Open(); !opened.ok()) {
    fmt::print(stderr, "{}\n", opened.ToString());
    return nullptr;
  }
  for (int org = 0; org < orgs; ++org) {
    const std::string id = "org-" + std::to_string(org);
    auto org_created =
        world->engine().Execute({.org = id, .authorize = false}, domain::CreateOrg{id});
    auto group_created =
        world->engine().Execute({.org = id, .authorize = false}, domain::CreateGroup{"ci", "", ""});
    if (!org_created.ok() || !group_created.ok() ||
        group_created->kind != CommandOutcome::Kind::kApplied) {
      fmt::print(stderr, "cannot create {}\n", id);
      return nullptr;
    }
  }
  return world;
}

}  // namespace keytrail::bench
