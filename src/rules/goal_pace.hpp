// Goal pace: from a goal's value at the end of each recent day, the pace of
// the last N days and the day the target is reached at that pace, against
// the goal's deadline ("at 11/day you reach 3,500 on 14 Sep 2027, after the
// 30 Jun 2027 deadline"). Days are local calendar days (the server's TZ),
// numbered from 1970-01-01. Pure functions: the rule engine feeds them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace freshet::rules {

struct pace_projection {
  bool known = false;     // enough history to say (at least one day old)
  double per_day = 0;
  std::optional<std::int64_t> reached_day;  // none when the pace is not positive
  bool behind = false;    // the target will not be reached by the deadline at this pace
};

// daily: day -> value at the end of that day (the last one seen that day).
pace_projection project_pace(double value_now, double target, const std::map<std::int64_t, double>& daily,
                             std::int64_t today, int pace_days, std::int64_t deadline_day);

// The local calendar day of a wall-clock time, and back: the wall-clock time
// of a local day's minute (minutes after midnight).
std::int64_t local_day(std::int64_t wall_ms);
std::int64_t local_time_ms(std::int64_t day, int minute);
// "2027-06-30" -> its day number; none when malformed.
std::optional<std::int64_t> day_of_date(const std::string& iso_date);
// "14 Sep 2027".
std::string format_day(std::int64_t day);

}  // namespace freshet::rules
