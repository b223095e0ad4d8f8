#include "core/util/log_limiter.h"

#include <gtest/gtest.h>

namespace fedai {
namespace {

using namespace std::chrono_literals;

TEST(LogLimiter, LetsABurstThroughThenCountsWhatItHoldsBack) {
  LogLimiter limiter(3, 10s);
  auto t0 = LogLimiter::Clock::time_point{} + 100s;
  std::uint64_t held = 99;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(limiter.allow("attempt failed", held, t0 + i * 1ms));
    EXPECT_EQ(held, 0u);
  }
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(limiter.allow("attempt failed", held, t0 + 5s));
  // Another kind has its own allowance.
  EXPECT_TRUE(limiter.allow("submit refused", held, t0 + 5s));
  EXPECT_EQ(held, 0u);
  // The next window lets a line through, carrying the count held back.
  ASSERT_TRUE(limiter.allow("attempt failed", held, t0 + 10s));
  EXPECT_EQ(held, 1000u);
  EXPECT_EQ(LogLimiter::suffix(held), " (1000 more like this)");
  ASSERT_TRUE(limiter.allow("attempt failed", held, t0 + 10s));
  EXPECT_EQ(held, 0u);
  EXPECT_EQ(LogLimiter::suffix(held), "");
}

TEST(LogLimiter, AFloodOfTenThousandLinesLogsAFewPerWindow) {
  LogLimiter limiter(10, 10s);
  auto t0 = LogLimiter::Clock::time_point{} + 100s;
  std::uint64_t held = 0, logged = 0, reported = 0;
  for (int i = 0; i < 10'000; ++i)  // 10k lines over 10 s, as under a flood of failing jobs
    if (limiter.allow("attempt failed", held, t0 + i * 1ms)) {
      ++logged;
      reported += held;
    }
  EXPECT_EQ(logged, 10u);
  ASSERT_TRUE(limiter.allow("attempt failed", held, t0 + 20s));
  EXPECT_EQ(reported + held, 10'000u - logged);  // nothing lost from the count
}

TEST(LogLimiter, KindsAreBounded) {
  LogLimiter limiter(1, 10s, 4);
  auto t0 = LogLimiter::Clock::time_point{} + 100s;
  std::uint64_t held = 0;
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(limiter.allow("kind " + std::to_string(i), held, t0));
}

}  // namespace
}  // namespace fedai
