// One page of an Airtable webhook's payload list (upstream-apis.md 2.6), read
// with no I/O so that it is tested and fuzzed on its own: which records of
// which table were created or changed (to be read back) and which were
// destroyed, the cursor to ask from next, and whether more may follow.
// A record both changed and destroyed within one page ends as its last act.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <set>
#include <string>

namespace freshet::sources {

struct table_touch {
  std::set<std::string> changed;    // created or updated: read them back
  std::set<std::string> destroyed;  // gone
};

struct payload_page {
  std::int64_t next_cursor = 0;  // the page's cursor, or the one asked with
  bool more = false;             // mightHaveMore, and the cursor moved
  std::uint64_t payloads = 0;
  std::map<std::string, table_touch> tables;  // by table id
};

payload_page parse_payload_page(const boost::json::object& page, std::int64_t asked_cursor);

}  // namespace freshet::sources
