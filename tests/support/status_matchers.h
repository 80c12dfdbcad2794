// ASSERT_OK / EXPECT_OK: a Status or a Result<T> is ok, or the test fails printing the
// status (a bare ASSERT_TRUE(x.ok()) prints only "false").
#pragma once

#include <gtest/gtest.h>

#include "base/status.h"

namespace keytrail::testing {

inline Status StatusOf(const Status& status) { return status; }
template <typename T>
Status StatusOf(const Result<T>& result) {
  return result.status();
}

inline ::testing::AssertionResult IsOk(const char* expression, const Status& status) {
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << expression << " is " << status.ToString();
}

}  // namespace keytrail::testing

#define ASSERT_OK(expr) \
  ASSERT_TRUE(::keytrail::testing::IsOk(#expr, ::keytrail::testing::StatusOf(expr)))
#define EXPECT_OK(expr) \
  EXPECT_TRUE(::keytrail::testing::IsOk(#expr, ::keytrail::testing::StatusOf(expr)))
