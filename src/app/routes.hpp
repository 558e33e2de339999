// The API's routes, declared once: method, path pattern, the scope a caller
// needs, and the query parameters each takes. The metrics' route labels, the
// CORS preflight's answers and the check of every request's query come from
// this table (the dispatch in api::handle is tested against it).
#pragma once

#include "app/config.hpp"
#include "http/api_error.hpp"

#include <boost/beast/http/verb.hpp>
#include <boost/url/url_view.hpp>

#include <optional>
#include <span>
#include <string_view>

namespace freshet::app {

struct query_param {
  std::string_view name;
  bool repeatable = false;  // object=a&object=b
  bool list_like = false;   // names a topic: a literal comma reads as a list and is refused
};

struct route_spec {
  boost::beast::http::verb method;  // GET routes take HEAD too
  std::string_view pattern;         // "/api/objects/{object}/records"; also the metrics label
  std::optional<scope> needs;       // nullopt: no token (health, webhooks: a signature)
  std::span<const query_param> params;
  bool any_params = false;          // webhooks: the sender's own query is not ours to judge
};

std::span<const route_spec> api_routes();

// The route a path matches ({x} matches one non-empty segment), or nullptr.
const route_spec* find_route(std::string_view path);

// An unknown query parameter, a repeated one that is not repeatable, an
// empty or comma-joined topic: 400 with the parameter named. Values' own
// ranges (limit, since) are the handlers'. `access_token` is always known
// here: where it is not accepted, authorization says so (token_in_query).
std::optional<http::api_error> check_query(const route_spec& route, const boost::urls::url_view& url);

}  // namespace freshet::app
