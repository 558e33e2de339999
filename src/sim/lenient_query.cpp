#include "sim/lenient_query.hpp"

namespace freshet::sim {

namespace {
int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

lenient_query parse_lenient_target(std::string_view target) {
  lenient_query q;
  const auto qmark = target.find('?');
  q.path = percent_decode(target.substr(0, qmark), false);
  if (qmark == std::string_view::npos) return q;
  std::string_view rest = target.substr(qmark + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    std::string_view part = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    q.params.emplace_back(percent_decode(part.substr(0, eq), true),
                          eq == std::string_view::npos ? std::string() : percent_decode(part.substr(eq + 1), true));
  }
  return q;
}

std::string lenient_query::get(std::string_view key) const {
  for (const auto& [k, v] : params)
    if (k == key) return v;
  return {};
}

bool lenient_query::has(std::string_view key) const {
  for (const auto& [k, v] : params)
    if (k == key) return true;
  return false;
}

}  // namespace freshet::sim
