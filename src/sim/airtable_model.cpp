#include "sim/airtable_model.hpp"

#include "core/clock.hpp"

#include <cstdio>

namespace freshet::sim {

const airtable_field* airtable_table::field(std::string_view k) const {
  for (const auto& f : fields)
    if (f.name == k || f.id == k) return &f;
  return nullptr;
}

airtable_record* airtable_table::find(std::string_view rid) {
  for (auto& r : records)
    if (r.id == rid) return &r;
  return nullptr;
}

airtable_table* airtable_base::table(std::string_view k) {
  for (auto& t : tables)
    if (t.id == k || t.name == k) return &t;
  return nullptr;
}

std::pair<airtable_table*, airtable_record*> airtable_base::find_record(std::string_view rid) {
  for (auto& t : tables)
    if (auto* r = t.find(rid)) return {&t, r};
  return {nullptr, nullptr};
}

std::string format_airtable_time(std::int64_t utc_ms) {
  return core::format_iso8601_ms(std::chrono::system_clock::time_point(std::chrono::milliseconds(utc_ms)));
}

std::optional<std::int64_t> parse_airtable_time(std::string_view iso) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
  const std::string str(iso);
  const int n = std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &y, &mo, &d, &h, &mi, &s, &ms);
  if (n < 3 || mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  // Days from civil (H. Hinnant), UTC.
  const int yy = y - (mo <= 2);
  const std::int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(yy - era * 400);
  const unsigned doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = era * 146097 + static_cast<std::int64_t>(doe) - 719468;
  return days * 86400000 + ((h * 60 + mi) * 60 + s) * 1000LL + (n >= 7 ? ms : 0);
}

}  // namespace freshet::sim
