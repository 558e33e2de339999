// Wall-clock formatting shared by events, logs and the audit trail.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace freshet::core {

inline constexpr std::int64_t kDayMs = 86'400'000;

// Milliseconds since the Unix epoch, by the system clock: what the store, the
// rules, the webhooks and the simulators stamp rows and events with (each
// takes an injectable clock where tests need to set the time).
inline std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-11-22T10:15:03.120Z": UTC, millisecond precision, as events carry it.
std::string format_iso8601_ms(std::chrono::system_clock::time_point t);
inline std::string now_iso8601_ms() { return format_iso8601_ms(std::chrono::system_clock::now()); }

// Proleptic Gregorian calendar dates <-> days since 1970-01-01 (Howard
// Hinnant's algorithms): the simulator's Knack dates and the goal rules'
// local days share them.
struct civil_date {
  int year;
  int month;  // 1-12
  int day;    // 1-31
};
std::int64_t days_from_civil(int y, int m, int d);
civil_date civil_from_days(std::int64_t days);

}  // namespace freshet::core
