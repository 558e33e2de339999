// The one error shape of DESIGN.md: a status and
// {"error":{"code":"snake_case_code","message":"human sentence"}}.
#pragma once

#include <boost/beast/http/status.hpp>
#include <boost/system/error_code.hpp>

#include <string>

namespace freshet::http {

struct api_error {
  boost::beast::http::status status;
  std::string code;
  std::string message;
};

// The JSON body of an error.
std::string error_body(const api_error& e);

// A write the store refused (overloaded, full, failed, stopping): 503 with the
// store's own code and sentence.
api_error store_refusal(const boost::system::error_code& ec);

}  // namespace freshet::http
