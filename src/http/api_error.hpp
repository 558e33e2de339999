// The one error shape of DESIGN.md: a status and
// {"error":{"code":"snake_case_code","message":"human sentence"}}.
#pragma once

#include <boost/beast/http/status.hpp>

#include <string>

namespace freshet::http {

struct api_error {
  boost::beast::http::status status;
  std::string code;
  std::string message;
};

// The JSON body of an error.
std::string error_body(const api_error& e);

}  // namespace freshet::http
