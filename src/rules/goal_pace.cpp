#include "rules/goal_pace.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace freshet::rules {

namespace {

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yoe + era * 400 + (m <= 2));
}

}  // namespace

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
  return days_from_civil(tm.tm_year + 1900, static_cast<unsigned>(tm.tm_mon + 1), static_cast<unsigned>(tm.tm_mday));
}

std::int64_t local_time_ms(std::int64_t day, int minute) {
  int y;
  unsigned m, d;
  civil_from_days(day, y, m, d);
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = static_cast<int>(m) - 1;
  tm.tm_mday = static_cast<int>(d);
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
  return days_from_civil(y, m, d);
}

std::string format_day(std::int64_t day) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int y;
  unsigned m, d;
  civil_from_days(day, y, m, d);
  return std::to_string(d) + " " + kMonths[m - 1] + " " + std::to_string(y);
}

}  // namespace freshet::rules
