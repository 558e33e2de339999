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

// Every code is in the one table (error_codes.cpp) with its one status: a
// code that is not is logged, and stops a debug build.
void check_listed(const api_error& e);

// The JSON body of an error (checked with check_listed).
std::string error_body(const api_error& e);

// A write the store refused (overloaded, full, failed, stopping): 503 with the
// store's own code and sentence.
api_error store_refusal(const boost::system::error_code& ec);

}  // namespace freshet::http
