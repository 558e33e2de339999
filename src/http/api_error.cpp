#include "http/api_error.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace freshet::http {

std::string error_body(const api_error& e) {
  boost::json::object inner{{"code", e.code}, {"message", e.message}};
  return boost::json::serialize(boost::json::object{{"error", std::move(inner)}});
}

}  // namespace freshet::http
