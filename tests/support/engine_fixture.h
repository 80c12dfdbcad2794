// EngineFixture: a gtest fixture around an EngineWorld (engine_world.h) on a FakeClock
// at kTestNow. Override WorldOptions() to change the world.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <memory>
#include <string>

#include "tests/support/engine_world.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_time.h"

namespace keytrail::testing {

class EngineFixture : public ::testing::Test {
 protected:
  virtual EngineWorldOptions WorldOptions() const { return {}; }

  void SetUp() override {
    world_ = std::make_unique<EngineWorld>(clock_, WorldOptions());
    ASSERT_OK(world_->Open());
  }
  void Restart() { ASSERT_OK(world_->Restart()); }

  Engine& engine() { return world_->engine(); }
  FaultyEventLog& log() { return world_->log(); }
  FaultyViewStore& views() { return world_->views(); }

  // Creates org `org` (with its built-in groups) and the groups `groups` with no rules,
  // as member alice; fails the test if any is refused.
  void GivenOrg(const std::string& org = "acme", std::initializer_list<std::string> groups = {});

  FakeClock clock_{kTestNow};
  std::unique_ptr<EngineWorld> world_;
};

}  // namespace keytrail::testing
