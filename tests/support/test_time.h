// Times shared by tests that drive a FakeClock.
#pragma once

#include "base/clock.h"

namespace keytrail::testing {

inline constexpr Micros kTestNow = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z
inline constexpr Micros kTestSecond = 1'000'000;
inline constexpr Micros kTestHour = 3600 * kTestSecond;

}  // namespace keytrail::testing
