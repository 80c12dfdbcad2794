#include "tests/support/engine_world.h"

#include "events/local_event_log.h"
#include "tests/support/memory_view_store.h"

namespace keytrail::testing {

EngineWorld::EngineWorld(const Clock& clock, EngineWorldOptions options)
    : clock_(clock), options_(std::move(options)) {}

EngineWorld::~EngineWorld() { Close(); }

Status EngineWorld::Open() {
  if (options_.in_memory) {
    if (!memory_log_) memory_log_ = options_.shared_log;
    if (!memory_log_) memory_log_ = std::make_shared<MemoryEventLog::Storage>(options_.partitions);
    log_ = std::make_unique<MemoryEventLog>(memory_log_);
    if (!views_) views_ = std::make_unique<MemoryViewStore>();
  } else {
    auto log = events::LocalEventLog::Open(
        {.path = dir_.path() + "/log", .partitions = options_.partitions, .sync = options_.sync});
    KT_RETURN_IF_ERROR(log.status());
    log_ = std::move(log).value();
    auto views = projections::OpenRocksViewStore(dir_.path() + "/views");
    KT_RETURN_IF_ERROR(views.status());
    views_ = std::move(views).value();
  }
  faulty_log_ = std::make_unique<FaultyEventLog>(*log_);
  faulty_views_ = std::make_unique<FaultyViewStore>(*views_);
  auto engine = Engine::Start(*faulty_log_, *faulty_views_, clock_, options_.engine);
  KT_RETURN_IF_ERROR(engine.status());
  engine_ = std::move(engine).value();
  return Status::Ok();
}

void EngineWorld::Close() {
  engine_.reset();
  faulty_views_.reset();
  faulty_log_.reset();
  log_.reset();
  if (!options_.in_memory) views_.reset();
}

domain::CommandContext AsMember(std::string id, std::string org, std::string command_id) {
  return domain::CommandContext{.org = std::move(org),
                                .actor_kind = fb::ActorKind::Member,
                                .actor_id = std::move(id),
                                .command_id = std::move(command_id),
                                .authorize = false};
}

}  // namespace keytrail::testing
