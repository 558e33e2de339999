#include "app/responses.hpp"

#include "core/json_text.hpp"

#include <boost/json/serialize.hpp>

namespace freshet::app {

namespace bhttp = boost::beast::http;

http::response json_response(bhttp::status st, const boost::json::value& body, unsigned version) {
  return raw_json_response(st, core::to_json(body), version);
}

http::response raw_json_response(bhttp::status st, std::string body, unsigned version) {
  http::response res{st, version};
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http::response error_response(const http::api_error& e, unsigned version) {
  http::response res{e.status, version};
  res.set(bhttp::field::content_type, "application/json");
  if (e.status == bhttp::status::unauthorized) res.set(bhttp::field::www_authenticate, "Bearer");
  res.body() = http::error_body(e);
  res.prepare_payload();
  return res;
}

http::response busy_response(unsigned version) {
  auto res = error_response({bhttp::status::service_unavailable, "reads_overloaded",
                             "The server has as many store reads queued as it takes; try again in a second."},
                            version);
  res.set(bhttp::field::retry_after, "1");
  return res;
}

}  // namespace freshet::app
