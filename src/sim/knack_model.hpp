// The simulated Knack app: objects, their fields, and records holding raw
// values. What the API shows (field_N formatted and field_N_raw) is rendered
// from these by knack_format; filters evaluate against them (knack_filters).
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace freshet::sim {

enum class knack_type { short_text, number, multiple_choice, boolean, date_time, date, connection, email };

std::string_view to_string(knack_type t);

struct knack_field {
  std::string key;   // field_N
  std::string name;  // "Status"
  knack_type type = knack_type::short_text;
  std::string connects_to;  // connection: the object key it links to
};

// Raw values as the simulator keeps them:
//   short_text, multiple_choice, email: string; number: int64 or double;
//   boolean: bool; date_time, date: int64 milliseconds of the app's LOCAL
//   wall time read as if it were UTC (Knack's own quirk, upstream-apis 1.5);
//   connection: array of record id strings. Absent key or null: empty.
struct knack_record {
  std::string id;  // 24 lowercase hex characters
  boost::json::object values;
};

struct knack_object {
  std::string key;   // object_N
  std::string name;  // "Laptops"
  std::vector<knack_field> fields;
  std::string identifier_field;  // shown for this object's records in connections
  std::string modified_field;    // kept current by simulated "record rules"; may be empty
  std::vector<knack_record> records;  // in creation order

  const knack_field* field(std::string_view key) const;
  knack_record* find(std::string_view id);
  const knack_record* find(std::string_view id) const;
};

struct knack_app {
  std::string dataset;  // which generator made it: decides what the change trickle does
  std::string id;       // application id (24 hex)
  std::string name;
  std::string time_zone = "America/Chicago";
  int utc_offset_minutes = -360;  // SIM CHOICE: a fixed offset, no daylight saving
  std::vector<knack_object> objects;

  knack_object* object(std::string_view key);
  const knack_object* object(std::string_view key) const;
};

}  // namespace freshet::sim
