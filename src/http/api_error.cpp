#include "http/api_error.hpp"

#include "core/errors.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace freshet::http {

std::string error_body(const api_error& e) {
  boost::json::object inner{{"code", e.code}, {"message", e.message}};
  return boost::json::serialize(boost::json::object{{"error", std::move(inner)}});
}

api_error store_refusal(const boost::system::error_code& ec) {
  const std::string code =
      ec.category() == freshet_category() ? std::string(wire_name(static_cast<errc>(ec.value()))) : "store_failed";
  return {boost::beast::http::status::service_unavailable, code, ec.message()};
}

}  // namespace freshet::http
