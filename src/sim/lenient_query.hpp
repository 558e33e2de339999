// Query strings as real clients send them, not as RFC 3986 wants them:
// knack-api-helper puts JSON into `filters` unencoded (raw { } [ ] " :), and
// Python's requests encodes spaces as '+'. Percent-decodes, '+' is a space.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace freshet::sim {

struct lenient_query {
  std::string path;  // decoded path, without the query
  std::vector<std::pair<std::string, std::string>> params;

  // The first value of `key`, or "" when absent.
  std::string get(std::string_view key) const;
  bool has(std::string_view key) const;
};

lenient_query parse_lenient_target(std::string_view target);
std::string percent_decode(std::string_view s, bool plus_is_space);

}  // namespace freshet::sim
