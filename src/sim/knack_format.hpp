// Knack's wire format for records (upstream-apis.md 1.5): every field as
// field_N (formatted, often HTML) and, when not empty, field_N_raw
// (structured). Pure functions; the simulator's only renderer.
#pragma once

#include "sim/knack_model.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace freshet::sim {

// The record as GET /v1/objects/{key}/records returns it.
boost::json::object render_record(const knack_app& app, const knack_object& obj, const knack_record& rec);

// Date/time raw object for a local-wall-time-as-UTC millisecond value.
boost::json::object render_date_raw(std::int64_t local_ms, bool with_time);
std::string format_date(std::int64_t local_ms, bool with_time);  // "09/11/2019" or "09/11/2019 4:14pm"

// Parses "MM/DD/YYYY" or "MM/DD/YYYY HH:mm" (24 h) into local-wall ms; also
// says whether a time was given.
struct parsed_date {
  std::int64_t local_ms = 0;
  bool has_time = false;
};
std::optional<parsed_date> parse_knack_date(std::string_view s);

// Calendar arithmetic on local-wall milliseconds (day precision).
struct civil_date {
  int y, m, d;
};
civil_date to_civil(std::int64_t local_ms);
std::int64_t from_civil(int y, int m, int d);  // midnight, local wall
int weekday(std::int64_t local_ms);            // 0 = Sunday

// Turns a written value (POST/PUT body) into the raw value kept for a field,
// or nullopt with `error` set when it does not fit the field's type.
std::optional<boost::json::value> parse_written_value(const knack_field& f, const boost::json::value& v,
                                                      std::string& error);

}  // namespace freshet::sim
