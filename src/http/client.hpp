// A minimal HTTP/1.1 client: one request on a fresh connection, with a
// deadline. Plain http:// only for now (the simulators' outbound webhooks);
// the upstream connectors will add TLS and keep-alive.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace freshet::http {

struct client_result {
  bool ok = false;        // an answer arrived (any status)
  unsigned status = 0;
  std::string body;
  std::string error;      // why not, when !ok
};

boost::asio::awaitable<client_result> fetch(boost::beast::http::verb method, const std::string& url,
                                            std::vector<std::pair<std::string, std::string>> headers,
                                            std::string body, std::chrono::milliseconds timeout);

}  // namespace freshet::http
