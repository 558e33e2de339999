// The simulated Airtable base: tables, fields (by id and name), records with
// cell values in REST's JSON cell format, and the per-record times the
// formula functions read (upstream-apis.md 2.1-2.4).
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace freshet::sim {

struct airtable_field {
  std::string id;    // fld + 14
  std::string name;
  std::string type;  // singleLineText, email, number, singleSelect, checkbox, dateTime
};

struct airtable_record {
  std::string id;                        // rec + 14
  std::int64_t created_ms = 0;           // UTC
  std::optional<std::int64_t> modified_ms;  // LAST_MODIFIED_TIME(): blank until the first edit
  boost::json::object fields;            // by field name; empty values are absent
};

struct airtable_table {
  std::string id;  // tbl + 14
  std::string name;
  std::vector<airtable_field> fields;
  std::vector<airtable_record> records;  // creation order

  const airtable_field* field(std::string_view name_or_id) const;
  airtable_record* find(std::string_view id);
};

struct airtable_base {
  std::string id;  // app + 14
  std::vector<airtable_table> tables;

  airtable_table* table(std::string_view name_or_id);
  // Record ids are unique in a base; GET by id works through any table (2.1).
  std::pair<airtable_table*, airtable_record*> find_record(std::string_view id);
};

std::string format_airtable_time(std::int64_t utc_ms);  // 2024-05-01T12:00:00.000Z
std::optional<std::int64_t> parse_airtable_time(std::string_view iso);

}  // namespace freshet::sim
