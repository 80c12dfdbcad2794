// IdleAction: the action runs once activity stops, once per lull, never while touched,
// and the destructor does not wait out the quiet period.
#include "base/idle_action.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace keytrail {
namespace {

using namespace std::chrono_literals;

// Waits up to 10 s for `count` to reach `want`.
bool Reaches(const std::atomic<int>& count, int want) {
  for (int i = 0; i < 1000 && count.load() < want; ++i) std::this_thread::sleep_for(10ms);
  return count.load() >= want;
}

TEST(IdleActionTest, RunsOnceAfterAQuietPeriodAndAgainOnlyAfterTheNextTouch) {
  std::atomic<int> runs{0};
  IdleAction idle(20ms, [&] { ++runs; });
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(runs.load(), 0) << "never touched: nothing to do";
  idle.Touch();
  ASSERT_TRUE(Reaches(runs, 1));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(runs.load(), 1) << "once per lull";
  idle.Touch();
  idle.Touch();
  ASSERT_TRUE(Reaches(runs, 2));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(runs.load(), 2);
}

// Touched for three quiet periods: an action timed from the first touch would have run.
TEST(IdleActionTest, DoesNotRunWhileTouched) {
  std::atomic<int> runs{0};
  IdleAction idle(500ms, [&] { ++runs; });
  for (int i = 0; i < 150; ++i) {
    idle.Touch();
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(runs.load(), 0);
}

// A destructor that waited out the quiet period would hold the test past ctest's timeout.
TEST(IdleActionTest, StopsWithoutWaitingOutTheQuietPeriod) {
  std::atomic<int> runs{0};
  {
    IdleAction idle(1h, [&] { ++runs; });
    idle.Touch();
  }
  EXPECT_EQ(runs.load(), 0);
}

}  // namespace
}  // namespace keytrail
