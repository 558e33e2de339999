// Where outbound notifications may go (SSRF): a rule's message must not be
// turned, by a URL in the environment or by DNS, into a request to Freshet
// itself, a service on the loopback or private network, or the cloud
// metadata address (169.254.169.254), unless the operator allows private
// targets (the simulators, an in-house receiver).
#pragma once

#include <boost/asio/ip/address.hpp>

#include <string>

namespace freshet::rules {

// Loopback, RFC 1918 and unique-local, link-local (the metadata service),
// unspecified, multicast and carrier-grade NAT addresses.
bool private_address(const boost::asio::ip::address& a);

struct target_rules {
  bool allow_private = false;
  unsigned short own_port = 0;  // Freshet's listen port: never a target on a local address
};

// "" when `a`:`port` may be sent to; otherwise the sentence that says why not.
std::string refuse_target(const boost::asio::ip::address& a, unsigned short port, const target_rules& rules);

}  // namespace freshet::rules
