// JSON text as people write it. Boost.JSON 1.81 prints every double in
// scientific form (0 as "0E0", 0.113 as "1.13E-1", 180 as "1.8E2"): valid,
// but not what anyone reading a job event, /api/stats or `sync --once`
// expects. This writer prints whole doubles as integers and the rest in the
// shortest form that reads back the same ("0.113", "12.25"); strings are
// escaped as JSON requires, and nothing else changes.
#pragma once

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace freshet::core {

void append_json(std::string& out, const boost::json::value& v);
void append_json_string(std::string& out, std::string_view s);
std::string to_json(const boost::json::value& v);

}  // namespace freshet::core
