// Field-level diffs and content hashes of records (local field names to
// values), for the sync engine: an update event carries `changed` with old
// and new values of the fields that changed; re-reading a record that did
// not change must produce no event, which a content hash decides cheaply.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <vector>

namespace freshet::core {

struct field_change {
  std::string field;
  boost::json::value old_value;  // null when the field was absent
  boost::json::value new_value;  // null when the field is gone
};

// The fields whose values differ between `before` and `after` (compared as
// JSON values, so key order inside nested objects does not matter), in
// `after`'s order, then fields only `before` had. With a non-empty `watch`,
// only those fields count.
std::vector<field_change> diff_fields(const boost::json::object& before, const boost::json::object& after,
                                      const std::vector<std::string>& watch = {});

// {"field":{"old":..,"new":..},...}: the `changed` member of a change event.
boost::json::object changed_json(const std::vector<field_change>& changes);

// SHA-256 (hex) of the record's canonical JSON: object keys sorted at every
// depth, so the same content always hashes the same.
std::string record_hash(const boost::json::object& fields);

// The canonical JSON itself (sorted keys, no spaces).
std::string canonical_json(const boost::json::value& v);

// SHA-256 of any bytes, as lowercase hex; record_hash(f) == sha256_hex(canonical_json(f)).
std::string sha256_hex(std::string_view bytes);

}  // namespace freshet::core
