#include "rules/goal_pace.hpp"

#include "core/clock.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace freshet::rules {


pace_projection project_pace(double value_now, double target, const std::map<std::int64_t, double>& daily,
                             std::int64_t today, int pace_days, std::int64_t deadline_day) {
  pace_projection p;
  if (daily.empty()) return p;
  // The value at the end of the day pace_days ago, or the oldest one there is.
  auto it = daily.upper_bound(today - pace_days);
  std::int64_t from_day;
  double from_value;
  if (it != daily.begin()) {
    --it;
    from_day = today - pace_days;
    from_value = it->second;
  } else {
    from_day = daily.begin()->first;
    from_value = daily.begin()->second;
  }
  const std::int64_t days = today - from_day;
  if (days < 1) return p;
  p.known = true;
  p.per_day = (value_now - from_value) / static_cast<double>(days);
  if (value_now >= target) {
    p.reached_day = today;
    return p;
  }
  if (p.per_day > 0) p.reached_day = today + static_cast<std::int64_t>(std::ceil((target - value_now) / p.per_day));
  p.behind = !p.reached_day || *p.reached_day > deadline_day;
  return p;
}

std::int64_t local_day(std::int64_t wall_ms) {
  const std::time_t t = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  return core::days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

std::int64_t local_time_ms(std::int64_t day, int minute) {
  const auto date = core::civil_from_days(day);
  std::tm tm{};
  tm.tm_year = date.year - 1900;
  tm.tm_mon = date.month - 1;
  tm.tm_mday = date.day;
  tm.tm_hour = minute / 60;
  tm.tm_min = minute % 60;
  tm.tm_isdst = -1;  // whatever the zone says for that date
  return static_cast<std::int64_t>(std::mktime(&tm)) * 1000;
}

std::optional<std::int64_t> day_of_date(const std::string& iso) {
  int y = 0;
  unsigned m = 0, d = 0;
  if (iso.size() != 10 || std::sscanf(iso.c_str(), "%4d-%2u-%2u", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
    return std::nullopt;
  return core::days_from_civil(y, static_cast<int>(m), static_cast<int>(d));
}

std::string format_day(std::int64_t day) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto date = core::civil_from_days(day);
  return std::to_string(date.day) + " " + kMonths[date.month - 1] + " " + std::to_string(date.year);
}

}  // namespace freshet::rules
