#include "http/api_error.hpp"

#include "core/errors.hpp"
#include "http/error_codes.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <cassert>

namespace freshet::http {

void check_listed(const api_error& e) {
  const error_code_spec* known = find_error_code(e.code);
  if (known && known->status == e.status) return;
  spdlog::error("msg=\"an error code outside the table, or with another status\" code={} status={}", e.code,
                static_cast<unsigned>(e.status));
  assert(!"error code not in src/http/error_codes.cpp, or with another status");
}

std::string error_body(const api_error& e) {
  check_listed(e);
  boost::json::object inner{{"code", e.code}, {"message", e.message}};
  return boost::json::serialize(boost::json::object{{"error", std::move(inner)}});
}

api_error store_refusal(const boost::system::error_code& ec) {
  const std::string code =
      ec.category() == freshet_category() ? std::string(wire_name(static_cast<errc>(ec.value()))) : "store_failed";
  return {boost::beast::http::status::service_unavailable, code, ec.message()};
}

}  // namespace freshet::http
