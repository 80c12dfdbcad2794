// ReadinessProbe: checks on a thread of its own until stopped, and never after (its
// check reads the engine, which `keytrail serve` destroys right after stopping it: a
// check that ran later was a use-after-free ASan caught at a server's SIGTERM).
#include "server/readiness.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace keytrail::server {
namespace {

using std::chrono::milliseconds;

TEST(ReadinessProbeTest, ChecksUntilStoppedAndNeverAfter) {
  std::atomic<int> checks{0};
  std::atomic<bool> healthy{true};
  ReadinessProbe probe(
      [&] {
        ++checks;
        return healthy ? Status::Ok() : Status::Unavailable("the log is away");
      },
      milliseconds(1));
  EXPECT_EQ(probe.Last().code(), StatusCode::kUnavailable);  // not checked yet
  probe.Start();
  EXPECT_TRUE(probe.Last().ok());  // Start checks once at once
  healthy = false;
  while (probe.Last().ok()) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_EQ(probe.Last().message(), "the log is away");

  probe.Stop();
  const int at_stop = checks.load();
  probe.Start();  // nothing: a stopped probe stays stopped
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(checks.load(), at_stop);
  probe.Stop();  // idempotent
}

TEST(ReadinessProbeTest, StopBeforeStartMeansNoCheckEver) {
  std::atomic<int> checks{0};
  ReadinessProbe probe([&] { return ++checks, Status::Ok(); }, milliseconds(1));
  probe.Stop();
  probe.Start();
  EXPECT_EQ(checks.load(), 0);
  EXPECT_EQ(probe.Last().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace keytrail::server
