#include "app/routes.hpp"

#include <fmt/format.h>

#include "app/request_metrics.hpp"

#include <algorithm>
#include <array>

namespace freshet::app {

namespace bhttp = boost::beast::http;
using bhttp::status;
using bhttp::verb;

namespace {

constexpr query_param kEventsParams[] = {
    {"object", true, true}, {"tenant", true, true}, {"last_event_id"}, {"access_token"}};
constexpr query_param kTokenOnly[] = {{"access_token"}};
constexpr query_param kRecordsParams[] = {{"tenant", true, true}, {"limit"}, {"cursor"}};
constexpr query_param kAuditParams[] = {{"since"}, {"limit"}, {"latest"}};
constexpr query_param kNotificationParams[] = {{"status"}, {"rule"}, {"since"}, {"limit"}};

using enum route_id;
constexpr route_spec kRoutes[] = {
    {health, verb::get, "/healthz", std::nullopt, {}},
    {ready, verb::get, "/readyz", std::nullopt, {}},
    {metrics, verb::get, "/metrics", scope_admin, {}},
    {events, verb::get, "/api/events", scope_read, kEventsParams, false, true},
    {websocket, verb::get, "/api/ws", scope_read, kTokenOnly, false, true},
    {objects, verb::get, "/api/objects", scope_read, {}},
    {records, verb::get, "/api/objects/{object}/records", scope_read, kRecordsParams},
    {record, verb::get, "/api/objects/{object}/records/{id}", scope_read, {}},
    {webhook, verb::post, "/api/webhooks/{source}", std::nullopt, {}, true},
    {refresh, verb::post, "/api/refresh", scope_refresh, {}},
    {job, verb::get, "/api/jobs/{id}", scope_read, {}},
    {broadcast, verb::post, "/api/broadcast", scope_admin, {}},
    {stats, verb::get, "/api/stats", scope_admin, {}},
    {audit, verb::get, "/api/audit", scope_admin, kAuditParams},
    {notifications, verb::get, "/api/notifications", scope_admin, kNotificationParams},
    {retry_notification, verb::post, "/api/notifications/{id}/retry", scope_admin, {}},
    {openapi, verb::get, "/api/openapi.json", std::nullopt, {}},
};

// Each route's request-metrics slot, found at compile time: a pattern
// missing from request_metrics::kRoutes would count as "/other" (as webhooks
// and record pages once did), so it does not compile.
constexpr auto kMetricsSlots = [] {
  std::array<std::size_t, std::size(kRoutes)> slots{};
  for (std::size_t i = 0; i < slots.size(); ++i) slots[i] = request_metrics::slot_of(kRoutes[i].pattern);
  return slots;
}();
static_assert(std::ranges::none_of(kMetricsSlots, [](std::size_t s) { return s == request_metrics::kOtherSlot; }),
              "every route pattern must be one of request_metrics::kRoutes");

// Which patterns hold no {name} segment.
constexpr auto kLiteral = [] {
  std::array<bool, std::size(kRoutes)> literal{};
  for (std::size_t i = 0; i < literal.size(); ++i) literal[i] = kRoutes[i].pattern.find('{') == std::string_view::npos;
  return literal;
}();

bool matches(std::string_view pattern, std::string_view path) {
  while (!pattern.empty() && !path.empty()) {
    if (pattern.front() != '/' || path.front() != '/') return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    const auto pe = pattern.find('/'), se = path.find('/');
    const auto want = pattern.substr(0, pe), got = path.substr(0, se);
    if (want.starts_with('{') ? got.empty() : want != got) return false;
    pattern = pe == std::string_view::npos ? std::string_view() : pattern.substr(pe);
    path = se == std::string_view::npos ? std::string_view() : path.substr(se);
  }
  return pattern.empty() && path.empty();
}

std::string names_of(const route_spec& r) {
  std::string out;
  for (const auto& p : r.params)
    if (p.name != "access_token") out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out.empty() ? "no query parameters" : out;
}

}  // namespace

std::span<const route_spec> api_routes() { return kRoutes; }

std::size_t metrics_slot(const route_spec& r) { return kMetricsSlots[static_cast<std::size_t>(&r - kRoutes)]; }

const route_spec* find_route(std::string_view path) {
  // Every request asks, and most routes are literal paths: those compare
  // whole (a length first), and only patterns with a {name} are walked
  // segment by segment (issue #15: 2,300 instructions a publish before).
  for (std::size_t i = 0; i < std::size(kRoutes); ++i)
    if (kLiteral[i] ? kRoutes[i].pattern == path : matches(kRoutes[i].pattern, path)) return &kRoutes[i];
  return nullptr;
}

std::vector<std::string> path_arguments(std::string_view pattern, const boost::urls::url_view& url) {
  std::vector<std::string> out;
  auto seg = url.segments().begin();
  for (std::size_t at = 1; at < pattern.size() && seg != url.segments().end(); ++seg) {
    const auto end = std::min(pattern.find('/', at), pattern.size());
    if (pattern[at] == '{') out.push_back(*seg);  // decoded: a %2F in an id is part of the id
    at = end + 1;
  }
  return out;
}

std::optional<http::api_error> check_query(const route_spec& route, const boost::urls::url_view& url) {
  if (route.any_params) return std::nullopt;
  auto bad = [&](std::string code, std::string message) {
    return http::api_error{status::bad_request, std::move(code), std::move(message)};
  };
  // Built only for an error message: the common answer is "fine".
  auto where = [&] { return fmt::format("{} {}", std::string(bhttp::to_string(route.method)), route.pattern); };
  std::array<unsigned, 8> seen{};  // per declared parameter; routes declare a handful
  for (auto p : url.params()) {
    if (p.key == "access_token") continue;
    std::size_t i = 0;
    while (i < route.params.size() && route.params[i].name != p.key) ++i;
    if (i == route.params.size())
      return bad("unknown_parameter",
                 fmt::format("'{}' is not a parameter of {}; it takes {}.", p.key, where(), names_of(route)));
    const query_param& spec = route.params[i];
    if (++seen.at(i) > 1 && !spec.repeatable)
      return bad("invalid_parameter", fmt::format("'{}' is given twice; {} takes one.", p.key, where()));
    if (spec.list_like) {
      if (!p.has_value || p.value.empty())
        return bad("invalid_parameter", fmt::format("'{}' is empty: name one, or leave the parameter out.", p.key));
      // Literal in the query, so a name with a comma can still be sent as %2C.
      for (auto enc : url.encoded_params())
        if (enc.key == p.key && enc.value.find(',') != std::string_view::npos)
          return bad("invalid_parameter",
                     fmt::format("'{}={}' reads as a list; repeat the parameter for each ({}=a&{}=b), or write a "
                                 "comma that is part of a name as %2C.",
                                 p.key, std::string(enc.value), p.key, p.key));
    }
  }
  return std::nullopt;
}

}  // namespace freshet::app
