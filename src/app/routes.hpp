// The API's routes, declared once: method, path pattern, the scope a caller
// needs, and the query parameters each takes. The metrics' route labels, the
// CORS preflight's answers and the check of every request's query come from
// this table, and so does the dispatch in api::handle: the method, the scope,
// then the route's handler by its id, with the {name} segments as arguments.
// docs/openapi.json is tested against it (tests/unit/openapi_test.cpp).
#pragma once

#include "app/config.hpp"
#include "http/api_error.hpp"

#include <boost/beast/http/verb.hpp>
#include <boost/url/url_view.hpp>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace freshet::app {

struct query_param {
  std::string_view name;
  bool repeatable = false;  // object=a&object=b
  bool list_like = false;   // names a topic: a literal comma reads as a list and is refused
};

// What api::handle runs for a route (its switch has a case for each).
enum class route_id {
  health, ready, metrics, events, websocket, objects, records, record, webhook, refresh, job, broadcast, stats,
  audit, notifications, retry_notification, openapi,
};

struct route_spec {
  route_id id;
  boost::beast::http::verb method;  // GET routes take HEAD too
  std::string_view pattern;         // "/api/objects/{object}/records"; also the metrics label
  std::optional<scope> needs;       // nullopt: no token (health, webhooks: a signature)
  std::span<const query_param> params;
  bool any_params = false;          // webhooks: the sender's own query is not ours to judge
  bool token_in_query = false;      // access_token accepted (EventSource and WebSocket cannot send headers)
};

std::span<const route_spec> api_routes();

// The route's slot in request_metrics (its pattern's), found at compile time.
std::size_t metrics_slot(const route_spec& r);

// The route a path matches ({x} matches one non-empty segment), or nullptr.
const route_spec* find_route(std::string_view path);

// An unknown query parameter, a repeated one that is not repeatable, an
// empty or comma-joined topic: 400 with the parameter named. Values' own
// ranges (limit, since) are the handlers'. `access_token` is always known
// here: where it is not accepted, authorization says so (token_in_query).
// The values of the pattern's {name} segments in `url`'s path, in order.
std::vector<std::string> path_arguments(std::string_view pattern, const boost::urls::url_view& url);

std::optional<http::api_error> check_query(const route_spec& route, const boost::urls::url_view& url);

}  // namespace freshet::app
