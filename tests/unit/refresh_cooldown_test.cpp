#include "jobs/refresh_jobs.hpp"

#include <gtest/gtest.h>

namespace freshet::jobs {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RefreshCooldown, WaitsUntilTheCooldownHasPassedAndRoundsUpForRetryAfter) {
  const std::chrono::steady_clock::time_point ended{std::chrono::hours(5)};
  EXPECT_EQ(cooldown_left(ended, seconds(60), ended), seconds(60));
  EXPECT_EQ(cooldown_left(ended, seconds(60), ended + milliseconds(100)), seconds(60));  // 59.9 s: say 60
  EXPECT_EQ(cooldown_left(ended, seconds(60), ended + seconds(59)), seconds(1));
  EXPECT_EQ(cooldown_left(ended, seconds(60), ended + milliseconds(59'999)), seconds(1));
  EXPECT_EQ(cooldown_left(ended, seconds(60), ended + seconds(60)), std::nullopt);
  EXPECT_EQ(cooldown_left(ended, seconds(0), ended), std::nullopt);  // no cooldown
}

}  // namespace
}  // namespace freshet::jobs
