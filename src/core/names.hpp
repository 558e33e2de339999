// Local names from people's labels: "Follow-up date" -> "follow_up_date".
// The simulators' printed configs and `freshet init` name fields this way.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace freshet::core {

// Lower-case letters and digits, every run of anything else one underscore,
// none at the ends; a name that would start with a digit gets "f_" before it.
inline std::string snake_case(std::string_view label) {
  std::string out;
  for (char c : label) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) && u < 0x80) out += static_cast<char>(std::tolower(u));
    else if (!out.empty() && out.back() != '_') out += '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  if (!out.empty() && std::isdigit(static_cast<unsigned char>(out.front()))) out = "f_" + out;
  return out;
}

}  // namespace freshet::core
