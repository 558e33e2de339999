// The one message a WebSocket client sends (DESIGN.md):
//   {"op":"subscribe","objects":[..],"tenant":"T","since":"<id>"}
// parsed from the client's text with no I/O, so that it is tested and fuzzed
// on its own. Unknown keys are ignored (a newer client may send more).
#pragma once

#include "http/api_error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace freshet::hub {

// The largest message a client may send; a larger frame closes the connection.
inline constexpr std::size_t kMaxClientMessage = 64 * 1024;

struct parsed_subscribe {
  std::vector<std::string> objects;
  std::string tenant;
  std::optional<std::uint64_t> since;
  bool bad_since = false;  // `since` is not an event id: the client gets a reset
};

// The subscription, or the error to send back (400 malformed_json or invalid_message).
std::variant<parsed_subscribe, http::api_error> parse_subscribe(std::string_view text);

}  // namespace freshet::hub
