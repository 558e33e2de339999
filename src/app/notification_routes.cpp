// The routes of rules and notifications: the outbox as an operator reads it,
// a retry by hand, and the notifications' part of /metrics.
#include "app/api.hpp"
#include "app/off_loop.hpp"
#include "app/responses.hpp"
#include "rules/notification_service.hpp"

#include <fmt/format.h>

#include <charconv>

namespace freshet::app {

namespace asio = boost::asio;
namespace json = boost::json;
using status = boost::beast::http::status;

namespace {

constexpr std::string_view kStatuses[] = {"gathering", "pending", "delivered", "failed"};

std::optional<std::int64_t> whole_number(std::string_view s) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

asio::awaitable<http::response> api::notifications(const boost::urls::url_view& url, unsigned version) {
  auto bad = [&](std::string msg) { return error_response({status::bad_request, "invalid_parameter", std::move(msg)}, version); };
  rules::outbox_list_filter f;
  for (auto p : url.params()) {
    const std::string value = p.value;
    if (p.key == "status") {
      if (std::find(std::begin(kStatuses), std::end(kStatuses), value) == std::end(kStatuses))
        co_return bad(fmt::format("'status' is gathering, pending, delivered or failed, not '{}'.", value));
      f.status = value;
    } else if (p.key == "rule") {
      f.rule = value;
    } else if (p.key == "since" || p.key == "limit") {
      auto n = whole_number(value);
      if (!n || (p.key == "limit" && (*n < 1 || *n > 1000)))
        co_return bad(p.key == "since" ? "'since' is a notification id (a whole number): the list shows newer ones."
                                       : "'limit' is a whole number from 1 to 1000.");
      if (p.key == "since") f.after_id = *n;
      else f.limit = static_cast<std::size_t>(*n);
    }  // anything else was refused by the route table's check (routes.cpp)
  }
  // With no rules the list is empty; the query was still checked above.
  if (!notifications_)
    co_return json_response(status::ok, json::object{{"notifications", json::array{}}, {"configured", false}}, version);
  // By reference only: GCC 12 destroys a lambda's copied captures twice
  // when the lambda is a temporary inside a co_await expression.
  auto rows = co_await off_loop(streams_.blocking, [&] { return notifications_->list(f); });
  co_return json_response(status::ok, json::object{{"notifications", std::move(rows)}, {"configured", true}}, version);
}

asio::awaitable<http::response> api::retry_notification(const std::string& id_text, unsigned version) {
  auto id = whole_number(id_text);
  if (!id)
    co_return error_response({status::bad_request, "invalid_parameter", "A notification id is a whole number."}, version);
  if (!notifications_)
    co_return error_response({status::not_found, "unknown_notification", "No rules are configured."}, version);
  const std::int64_t n = *id;
  const bool ok = co_await off_loop(streams_.blocking, [&] { return notifications_->retry(n); });
  if (!ok)
    co_return error_response({status::not_found, "unknown_notification",
                              fmt::format("No pending or failed notification has the id {}.", *id)},
                             version);
  co_return json_response(status::accepted, json::object{{"id", *id}, {"status", "pending"}}, version);
}

void api::notifications_metrics(std::string& out) const {
  if (!notifications_) return;
  const auto statuses = notifications_->notifiers();
  auto family = [&](std::string_view name, std::string_view help, std::string_view type, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    for (const auto& s : statuses) out += fmt::format("{}{{notifier=\"{}\"}} {}\n", name, s.name, value(s));
  };
  family("freshet_notifications_sent_total", "Notifications delivered, by notifier.", "counter",
         [](const rules::notifier_status& s) { return s.sent; });
  family("freshet_notifications_retried_total", "Delivery attempts that failed and were scheduled again.", "counter",
         [](const rules::notifier_status& s) { return s.retried; });
  family("freshet_notifications_failed_total", "Notifications failed after every retry (kept; retry by hand).",
         "counter", [](const rules::notifier_status& s) { return s.failed; });
  family("freshet_notifications_rate_limited_total", "Attempts the receiver answered with 429.", "counter",
         [](const rules::notifier_status& s) { return s.rate_limited; });
  family("freshet_notifier_up", "1 while the notifier delivers; 0 while it is failing or disabled.", "gauge",
         [](const rules::notifier_status& s) { return s.state == "ok" ? 1 : 0; });
  const auto e = notifications_->engine_counters();
  out += fmt::format("# HELP freshet_rule_firings_total Rule firings written to the outbox.\n"
                     "# TYPE freshet_rule_firings_total counter\nfreshet_rule_firings_total {}\n", e.fired);
  out += fmt::format("# HELP freshet_rule_firings_refused_total Firings refused because the outbox was full.\n"
                     "# TYPE freshet_rule_firings_refused_total counter\nfreshet_rule_firings_refused_total {}\n",
                     e.refused);
}

}  // namespace freshet::app
