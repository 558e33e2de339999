// Bytes from a client, as the server reads them: Beast's request parser with
// the server's default limits, then what the API does with a whole request
// (the origin-form target, every query parameter, Last-Event-ID, Bearer).
#include "app/auth.hpp"
#include "core/event.hpp"
#include "http/server.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/url/parse.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace bhttp = boost::beast::http;
  const freshet::http::server_limits limits;
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(limits.max_header_bytes);
  parser.body_limit(limits.max_body_bytes);
  parser.eager(true);
  boost::system::error_code ec;
  std::size_t used = 0;
  while (used < size && !parser.is_done()) {
    const std::size_t n = parser.put(boost::asio::buffer(data + used, size - used), ec);
    if (ec == bhttp::error::need_more) break;
    if (ec) return 0;
    used += n;
    if (n == 0) break;
  }
  if (!parser.is_header_done()) return 0;
  const auto& req = parser.get();
  auto url = boost::urls::parse_origin_form(req.target());
  if (url) {
    std::size_t n = 0;
    for (auto p : url->params()) n += p.key.size() + p.value.size();
    for (auto seg : url->segments()) n += seg.size();
    (void)n;
    (void)url->params().contains("access_token");
  }
  (void)freshet::core::parse_event_id(req["Last-Event-ID"]);
  (void)freshet::app::bearer_secret(req[bhttp::field::authorization]);
  return 0;
}
