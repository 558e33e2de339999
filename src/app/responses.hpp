// The two response shapes every route uses: a JSON document, and DESIGN.md's
// JSON error ({"error":{"code","message"}}).
#pragma once

#include "http/api_error.hpp"
#include "http/server.hpp"

#include <boost/json/value.hpp>

namespace freshet::app {

http::response json_response(boost::beast::http::status st, const boost::json::value& body, unsigned version);
// The same for a body already written as JSON text.
http::response raw_json_response(boost::beast::http::status st, std::string body, unsigned version);
http::response error_response(const http::api_error& e, unsigned version);
// A read the saturated blocking pool refused (off_loop_or_busy): 503
// reads_overloaded with Retry-After: 1.
http::response busy_response(unsigned version);

}  // namespace freshet::app
