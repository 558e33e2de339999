// The HTTP interface of DESIGN.md: routes, authentication and scopes, and the
// JSON error for everything that goes wrong. One instance serves every
// connection; it holds no per-request state.
#pragma once

#include "app/auth.hpp"
#include "app/cache_figures.hpp"
#include "app/config.hpp"
#include "app/rate_window.hpp"
#include "app/request_metrics.hpp"
#include "core/heap_trim.hpp"
#include "http/server.hpp"
#include "hub/streams.hpp"

#include <boost/url/url_view.hpp>

namespace freshet::sources {
class sync_service;
class webhook_intake;
}
namespace freshet::jobs {
class refresh_jobs;
}
namespace freshet::rules {
class goal_tracker;
class notification_service;
}

#include <chrono>
#include <variant>

namespace freshet::app {

class api : public http::request_handler {
 public:
  // `sync` and `webhooks` are null when no source is configured.
  api(const config& cfg, const authenticator& auth, hub::stream_context& streams, sources::sync_service* sync = nullptr,
      sources::webhook_intake* webhooks = nullptr, jobs::refresh_jobs* refresh = nullptr,
      rules::goal_tracker* goals = nullptr);

  // The server is made after the api (it needs a handler); stats read it.
  void attach_server(const http::server* s) { server_ = s; }
  // Rules and notifications, when [[rules]] are configured (made after the
  // server, since targets are checked against its port).
  void attach_notifications(rules::notification_service* n) { notifications_ = n; }
  // Called once a second: samples counters for rates, and gives the heap's
  // free pages back once a burst of connections has come or gone
  // (core/heap_trim.hpp).
  void tick();

  boost::asio::awaitable<http::handler_result> handle(http::request& req, const http::request_context&) override;

 private:
  // handle() without its last resort (a store that cannot answer): prepare()
  // answers what it can at once, answer() starts the route that waits, and
  // finish() adds CORS and counts the request.
  struct routed;
  boost::asio::awaitable<http::handler_result> route(http::request& req, const http::request_context&);
  std::optional<http::handler_result> prepare(http::request& req, routed& r);
  boost::asio::awaitable<http::response> answer(const http::request& req, routed& r);
  http::handler_result finish(const http::request& req, const routed& r, http::response res);
  using principal_or_error = std::variant<principal, http::api_error>;
  // CORS: the Access-Control-Allow-Origin value for a request's Origin
  // ("*" or the origin itself), or nothing when the origin is not allowed.
  std::optional<std::string> allowed_origin(std::string_view origin) const;
  using filter_or_error = std::variant<core::topic_filter, http::api_error>;

  // `query_token_allowed`: whether an access_token query parameter may stand
  // in for the Authorization header (only on the stream routes).
  principal_or_error authorize(const http::request& req, const boost::urls::url_view& url, scope needed,
                               bool query_token_allowed = false) const;
  filter_or_error resolve_topics(const principal& who, std::vector<std::string> objects,
                                 std::vector<std::string> tenants) const;

  boost::asio::awaitable<http::response> broadcast(const http::request& req, const principal& who);
  boost::asio::awaitable<http::response> webhook(const http::request& req, const std::string& source);
  boost::asio::awaitable<http::response> audit(const boost::urls::url_view& url, unsigned version);
  boost::asio::awaitable<http::response> refresh(const http::request& req, const principal& who);
  boost::asio::awaitable<http::response> job(const principal& who, const std::string& id, unsigned version) const;
  boost::json::object sources_stats() const;
  std::string instance_name() const;           // host:port
  boost::json::object instance_stats() const;  // which instance answers, and its store's round trip
  std::uint64_t upstream_requests() const;  // all sources'
  std::uint64_t connection_churn() const;   // connections opened plus connections closed
  const source_config* source_of(const std::string& object, const object_config** obj = nullptr) const;
  boost::asio::awaitable<http::response> objects(const principal& who, unsigned version);
  boost::asio::awaitable<http::response> records(const http::request& req, const principal& who,
                                                 const boost::urls::url_view& url, const std::string& object,
                                                 const std::string& id);
  void sources_metrics(std::string& out) const;
  boost::asio::awaitable<http::response> notifications(const boost::urls::url_view& url, unsigned version);
  boost::asio::awaitable<http::response> retry_notification(const std::string& id, unsigned version);
  void notifications_metrics(std::string& out) const;
  http::response stats(unsigned version) const;
  http::response metrics(unsigned version) const;
  http::response readiness(unsigned version) const;
  std::optional<http::response> static_file(const http::request& req, std::string_view path) const;

  const config& cfg_;
  const authenticator& auth_;
  hub::stream_context& streams_;
  sources::sync_service* sync_;
  sources::webhook_intake* webhooks_;
  jobs::refresh_jobs* refresh_;
  rules::goal_tracker* goals_;
  const http::server* server_ = nullptr;
  rules::notification_service* notifications_ = nullptr;
  request_metrics requests_;
  cache_figures cache_;
  rate_window committed_rate_;
  bucket_history committed_history_;
  core::heap_trimmer heap_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace freshet::app
