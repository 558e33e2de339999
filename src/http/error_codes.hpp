// Every error.code the API answers with, its one HTTP status and what it
// means: the table the OpenAPI document's ErrorCode enum is tested against
// (tests/unit/openapi_test.cpp), and that every error body is checked
// against as it is written (error_body: a code not here, or with another
// status, is a bug; debug builds stop on it).
#pragma once

#include <boost/beast/http/status.hpp>

#include <span>
#include <string_view>

namespace freshet::http {

struct error_code_spec {
  std::string_view code;
  boost::beast::http::status status;
  std::string_view meaning;  // for the reference; each answer's message says the particulars
};

std::span<const error_code_spec> error_codes();

// The code's entry, or nullptr for a code not in the table.
const error_code_spec* find_error_code(std::string_view code);

}  // namespace freshet::http
