// EngineWorld: the storage and the engine that most engine, scheduler and API tests (and
// the write-path benchmarks) run against. A log and a view store (the real LocalEventLog
// and RocksDB views in a temporary directory, or MemoryEventLog and MemoryViewStore),
// each behind a fault-injecting wrapper, and an Engine started on them. Restart() is a
// process restart: a new engine over the same storage.
// EngineFixture (engine_fixture.h) is the same as a gtest fixture.
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "tests/support/fault_injection.h"
#include "tests/support/memory_event_log.h"
#include "tests/support/temp_dir.h"

namespace keytrail::testing {

struct EngineWorldOptions {
  bool in_memory = false;  // MemoryEventLog + MemoryViewStore instead of disk
  // With in_memory: the log storage to use, shared with other worlds (several nodes on
  // one log); null = a storage of its own.
  std::shared_ptr<MemoryEventLog::Storage> shared_log;
  int32_t partitions = 4;
  bool sync = true;  // the local log's fsync (benchmarks may measure without it)
  // Tests flush key use themselves (Engine::FlushKeyUse), so no event appears on a timer.
  Engine::Options engine = {.key_use_flush = 0, .retired_key_sweep = 0};
};

class EngineWorld {
 public:
  // Borrows the clock; it must outlive the world.
  explicit EngineWorld(const Clock& clock, EngineWorldOptions options = {});
  ~EngineWorld();
  EngineWorld(const EngineWorld&) = delete;
  EngineWorld& operator=(const EngineWorld&) = delete;

  // Opens the storage (kept across Restart) and starts the engine.
  Status Open();
  // Stops the engine and closes the on-disk storage; the memory storage stays.
  void Close();
  Status Restart() {
    Close();
    return Open();
  }

  // REQUIRES: Open() succeeded.
  Engine& engine() { return *engine_; }
  // The log and the views as the engine sees them: through the fault injectors.
  FaultyEventLog& log() { return *faulty_log_; }
  FaultyViewStore& views() { return *faulty_views_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  const Clock& clock_;
  const EngineWorldOptions options_;
  TempDir dir_;
  std::shared_ptr<MemoryEventLog::Storage> memory_log_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<projections::ViewStore> views_;
  std::unique_ptr<FaultyEventLog> faulty_log_;
  std::unique_ptr<FaultyViewStore> faulty_views_;
  std::unique_ptr<Engine> engine_;
};

// A member of `org` acting (no authorization by the writer), with an optional command id.
domain::CommandContext AsMember(std::string id = "alice", std::string org = "acme",
                                std::string command_id = "");

}  // namespace keytrail::testing
