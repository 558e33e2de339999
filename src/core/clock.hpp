// Wall-clock formatting shared by events, logs and the audit trail.
#pragma once

#include <chrono>
#include <string>

namespace freshet::core {

// "2026-11-22T10:15:03.120Z": UTC, millisecond precision, as events carry it.
std::string format_iso8601_ms(std::chrono::system_clock::time_point t);
inline std::string now_iso8601_ms() { return format_iso8601_ms(std::chrono::system_clock::now()); }

}  // namespace freshet::core
