#include "rules/target_guard.hpp"

namespace freshet::rules {

namespace {

bool private_v4(const boost::asio::ip::address_v4& a) {
  const auto b = a.to_bytes();
  return a.is_loopback() || a.is_unspecified() || a.is_multicast() || b[0] == 10 ||
         (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254) ||
         (b[0] == 100 && (b[1] & 0xc0) == 64) || b[0] == 0;
}

}  // namespace

bool private_address(const boost::asio::ip::address& a) {
  if (a.is_v4()) return private_v4(a.to_v4());
  const auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return private_v4(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6));
  const auto b = v6.to_bytes();
  return v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || v6.is_link_local() ||
         (b[0] & 0xfe) == 0xfc;  // fc00::/7, unique local
}

std::string refuse_target(const boost::asio::ip::address& a, unsigned short port, const target_rules& rules) {
  if (port == rules.own_port && (private_address(a) || a.is_unspecified()))
    return "the URL points at this Freshet (" + a.to_string() + ":" + std::to_string(port) +
           "); a notification may not call the server that sends it";
  if (!rules.allow_private && private_address(a))
    return "the URL resolves to " + a.to_string() +
           ", a loopback, private or link-local address; set [notifications] allow_private_targets = true if "
           "this receiver is yours";
  return {};
}

}  // namespace freshet::rules
