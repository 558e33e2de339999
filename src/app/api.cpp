#include "app/api.hpp"

#include "redis/redis_connection.hpp"

#include "app/routes.hpp"

#include "app/responses.hpp"
#include "core/errors.hpp"
#include "store/event_store.hpp"
#include "rules/notification_service.hpp"
#include "web/static_files.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>

namespace freshet::app {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using status = bhttp::status;
using http::api_error;

namespace {

std::vector<std::string> params(const boost::urls::url_view& u, std::string_view key) {
  std::vector<std::string> out;
  for (auto p : u.params())
    if (p.key == key && !p.value.empty()) out.push_back(p.value);
  return out;
}

std::string first_param(const boost::urls::url_view& u, std::string_view key) {
  auto all = params(u, key);
  return all.empty() ? std::string() : all.front();
}

// The request-metrics slot: the route's pattern, so that ids and names in
// paths do not make a series each, and never client text.
std::size_t route_metrics_slot(const route_spec* r, std::string_view path) {
  static constexpr std::size_t api_other = request_metrics::slot_of("/api/other");
  static constexpr std::size_t other_path = request_metrics::slot_of("/static");
  static_assert(api_other != request_metrics::kOtherSlot && other_path != request_metrics::kOtherSlot);
  if (r) return metrics_slot(*r);
  return path.starts_with("/api/") ? api_other : other_path;
}

// The one method each API route accepts (GET routes take HEAD too), for the
// CORS preflight; nothing for a path that is no API route.
std::optional<bhttp::verb> api_route_method(const route_spec* r, std::string_view path) {
  if (!r || !path.starts_with("/api/")) return std::nullopt;
  return r->method;
}

// Whether an Origin names the host the request was sent to (the built-in
// dashboard's own page): "http://127.0.0.1:8080" and Host "127.0.0.1:8080".
bool same_origin(std::string_view origin, std::string_view host) {
  const auto sep = origin.find("://");
  if (sep == std::string_view::npos || host.empty()) return false;
  origin.remove_prefix(sep + 3);
  if (origin.size() != host.size()) return false;
  for (std::size_t i = 0; i < host.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(origin[i])) != std::tolower(static_cast<unsigned char>(host[i])))
      return false;
  return true;
}

}  // namespace

std::optional<std::string> api::allowed_origin(std::string_view origin) const {
  if (origin.empty()) return std::nullopt;
  for (const auto& o : cfg_.server.allowed_origins) {
    if (o == "*") return std::string("*");
    if (o == origin) return std::string(origin);
  }
  return std::nullopt;
}

api::api(const config& cfg, const authenticator& auth, hub::stream_context& streams, sources::sync_service* sync,
         sources::webhook_intake* webhooks, jobs::refresh_jobs* refresh, rules::goal_tracker* goals)
    : cfg_(cfg),
      auth_(auth),
      streams_(streams),
      sync_(sync),
      webhooks_(webhooks),
      refresh_(refresh),
      goals_(goals),
      heap_([this] { return connection_churn(); }) {}

void api::tick() {
  const auto committed = streams_.log.counters().committed;
  committed_rate_.sample(std::chrono::steady_clock::now(), committed);
  committed_history_.sample(committed);
  const auto trim_start = std::chrono::steady_clock::now();
  if (heap_.tick()) {
    const auto h = heap_.counters();
    spdlog::debug("msg=\"heap trimmed after connections came or went\" took_us={} trims={} released_bytes_total={}",
                  std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - trim_start)
                      .count(),
                  h.trims, h.bytes_released);
  }
}

std::uint64_t api::connection_churn() const {
  if (!server_) return 0;
  const auto c = server_->counters();
  // Every accepted connection that is not open now has closed (refused ones
  // too: they were accepted, answered and closed).
  // (The two are read one after the other: a connection may open between.)
  return c.accepted + (c.accepted > c.open ? c.accepted - c.open : 0);
}

api::principal_or_error api::authorize(const http::request& req, const boost::urls::url_view& url,
                                       scope needed, bool query_token_allowed) const {
  std::string presented(app::bearer_secret(req[bhttp::field::authorization]));
  const bool in_query = url.params().contains("access_token");
  // A token in a URL ends up in proxies' logs and browser history: it is taken
  // only where a browser cannot send a header (EventSource, WebSocket).
  if (auth_.enabled() && in_query && !query_token_allowed)
    return api_error{status::unauthorized, "token_in_query",
                     "An access_token query parameter is accepted only on GET /api/events and GET /api/ws; "
                     "send 'Authorization: Bearer <token>' instead."};
  if (presented.empty() && query_token_allowed) presented = first_param(url, "access_token");
  if (auth_.enabled() && presented.empty())
    return api_error{status::unauthorized, "unauthorized",
                     "This endpoint needs a token: send 'Authorization: Bearer <token>' or, for "
                     "EventSource, an access_token query parameter."};
  auto [who, refusal] = auth_.authenticate(presented);
  if (!who) return api_error{status::unauthorized, refusal.code, refusal.message};
  if (!who->has(needed)) {
    return api_error{status::forbidden, "missing_scope",
                     fmt::format("The token '{}' lacks the '{}' scope this endpoint needs.", who->name,
                                 scope_name(needed))};
  }
  return *who;
}

api::filter_or_error api::resolve_topics(const principal& who, std::vector<std::string> objects,
                                         std::vector<std::string> tenants) const {
  for (const auto& o : objects) {
    bool known = false;
    for (const auto& s : cfg_.sources)
      for (const auto& obj : s.objects) known = known || obj.name == o;
    if (!known)
      return api_error{status::not_found, "unknown_object", fmt::format("No object named '{}' is configured.", o)};
  }
  for (const auto& t : tenants)
    if (!who.may_see_tenant(t))
      return api_error{status::forbidden, "forbidden_tenant",
                       fmt::format("The token '{}' may not see tenant '{}'.", who.name, t)};
  if (tenants.empty()) tenants = who.tenants;  // a scoped token sees its own tenants
  std::sort(objects.begin(), objects.end());
  objects.erase(std::unique(objects.begin(), objects.end()), objects.end());
  std::sort(tenants.begin(), tenants.end());
  tenants.erase(std::unique(tenants.begin(), tenants.end()), tenants.end());
  return core::topic_filter{std::move(objects), std::move(tenants)};
}

asio::awaitable<http::handler_result> api::handle(http::request& req, const http::request_context& ctx) {
  // A store read that cannot be answered (the Redis engine's Redis is away)
  // is a 503 with a sentence, not a dropped connection or a hang.
  bool unreachable = false;
  std::string why;
  try {
    co_return co_await route(req, ctx);
  } catch (const redis::connection_error& e) {
    unreachable = true;
    why = e.what();
  } catch (const std::exception& e) {
    why = e.what();
  }
  spdlog::warn("msg=\"request failed in the store\" error=\"{}\"", why);
  auto res = error_response(
      unreachable ? api_error{status::service_unavailable, "store_unavailable",
                              "The store's Redis cannot be reached; try again shortly."}
                  : api_error{status::service_unavailable, "internal_error", "The store failed to answer the request."},
      req.version());
  res.set(bhttp::field::retry_after, "1");
  requests_.record(request_metrics::kOtherSlot, res.result_int(), 0);
  co_return http::handler_result{std::move(res), {}};
}

// What route() learned of a request before answering it: what every answer
// needs (the start, the metrics slot, CORS) and what the handlers read. It
// lives in route()'s frame, so the handlers' coroutines may hold references
// to it while route() waits for them.
struct api::routed {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::size_t slot = request_metrics::kOtherSlot;
  std::string path;
  std::optional<std::string> cors;  // the Access-Control-Allow-Origin value, if the origin is allowed
  bool varies = false;              // the answer depends on Origin (allowed_origins configured)
  boost::urls::url_view url;
  const route_spec* spec = nullptr;
  principal who;
  std::vector<std::string> args;  // the {name} segments, in order
};

namespace {
// A coroutine around an answer already made, for the routes that answer at once.
asio::awaitable<http::response> ready(http::response res) { co_return res; }
const std::string kNoId;
}  // namespace

// Kept small on purpose: a coroutine's frame holds every local of its body,
// and Asio reuses a freed frame only up to 1,020 bytes. With the answers of
// every route in its body this frame was 3.7 KiB, allocated (by memalign)
// and freed on every request (issue #15); the work is in plain functions.
asio::awaitable<http::handler_result> api::route(http::request& req, const http::request_context&) {
  routed r;
  if (auto early = prepare(req, r)) co_return std::move(*early);
  http::response res = co_await answer(req, r);
  co_return finish(req, r, std::move(res));
}

http::handler_result api::finish(const http::request& req, const routed& r, http::response res) {
  // CORS (docs/configuration.md): answered for the configured origins only. Freshet
  // never allows credentials: its tokens are headers or stream URLs.
  if (r.varies) res.set(bhttp::field::vary, "Origin");
  if (r.cors) {
    res.set(bhttp::field::access_control_allow_origin, *r.cors);
    res.set(bhttp::field::access_control_expose_headers, "ETag, Retry-After");
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.started).count();
  requests_.record(r.slot, res.result_int(), secs);
  // The path only: the query may hold an access_token.
  spdlog::debug("msg=request method={} path={} status={} ms={:.2f}", std::string(req.method_string()), r.path,
                res.result_int(), secs * 1000);
  res.keep_alive(req.keep_alive() && res.keep_alive());
  return http::handler_result{std::move(res), {}};
}

std::optional<http::handler_result> api::prepare(http::request& req, routed& r) {
  const unsigned version = req.version();
  auto parsed = boost::urls::parse_origin_form(req.target());
  if (!parsed) {
    auto res = error_response({status::bad_request, "bad_target", "The request target is not a valid path."}, version);
    res.keep_alive(req.keep_alive());  // as every answer: Connection: close is honoured
    requests_.record(request_metrics::kOtherSlot, 400, 0);
    return http::handler_result{std::move(res), {}};
  }
  r.url = *parsed;
  const auto& url = r.url;
  r.path = url.path();
  const std::string& path = r.path;
  // Matched once: the label, the preflight and the query check all use it.
  r.spec = find_route(path);
  const route_spec* spec = r.spec;
  r.slot = route_metrics_slot(spec, path);
  const auto verb = req.method();

  const std::string_view origin = req[bhttp::field::origin];
  r.cors = allowed_origin(origin);
  const auto& cors = r.cors;
  if (!origin.empty() && !cors && path.starts_with("/api/") && !same_origin(origin, req[bhttp::field::host]))
    spdlog::debug("msg=\"cross-origin request from an origin not in allowed_origins; no CORS headers\" origin={} path={}",
                  std::string(origin), path);
  r.varies = !cfg_.server.allowed_origins.empty();

  auto done = [&](http::response res) { return std::optional<http::handler_result>(finish(req, r, std::move(res))); };
  auto allow_only = [&](bhttp::verb v) -> std::optional<http::response> {
    if (verb == v || (v == bhttp::verb::get && verb == bhttp::verb::head)) return std::nullopt;
    auto res = error_response({status::method_not_allowed, "method_not_allowed",
                               fmt::format("{} does not accept {}.", path, std::string(req.method_string()))},
                              version);
    res.set(bhttp::field::allow, std::string(bhttp::to_string(v)));
    return res;
  };

  if (verb == bhttp::verb::options && path.starts_with("/api/")) {
    // A CORS preflight: what the route accepts, for an allowed origin.
    const auto method = api_route_method(spec, path);
    if (!method)
      return done(error_response({status::not_found, "not_found", fmt::format("There is no endpoint {}.", path)}, version));
    if (!cors)
      return done(error_response({status::forbidden, "origin_not_allowed",
                                  fmt::format("The origin '{}' is not in [server] allowed_origins.", std::string(origin))},
                                 version));
    http::response res{status::no_content, version};
    const std::string m(bhttp::to_string(*method));
    res.set(bhttp::field::access_control_allow_methods, *method == bhttp::verb::get ? "GET, HEAD, OPTIONS" : m + ", OPTIONS");
    res.set(bhttp::field::access_control_allow_headers, "Authorization, Content-Type, Last-Event-ID");
    res.set(bhttp::field::access_control_max_age, "600");
    res.set(bhttp::field::allow, *method == bhttp::verb::get ? "GET, HEAD, OPTIONS" : m + ", OPTIONS");
    return done(std::move(res));
  }

  // Every query checked against the route's declared parameters: a typo
  // (?objct=) is a 400 naming it, not a silently unfiltered stream.
  if (spec)
    if (auto e = check_query(*spec, url)) return done(error_response(*e, version));

  if (!spec) {
    if (path.starts_with("/api/"))
      return done(error_response({status::not_found, "not_found", fmt::format("There is no endpoint {}.", path)}, version));
    if (auto res = allow_only(bhttp::verb::get)) return done(std::move(*res));
    if (auto res = static_file(req, path)) return done(std::move(*res));
    return done(error_response({status::not_found, "not_found", fmt::format("There is no page {}.", path)}, version));
  }

  // From the route table: the method, then the scope (routes with none are
  // public or carry their own credential, a webhook's signature).
  if (auto res = allow_only(spec->method)) return done(std::move(*res));
  if (spec->needs) {
    auto authorized = authorize(req, url, *spec->needs, spec->token_in_query);
    if (auto* e = std::get_if<api_error>(&authorized)) return done(error_response(*e, version));
    r.who = std::move(std::get<principal>(authorized));
  }
  const principal& who = r.who;
  r.args = path_arguments(spec->pattern, url);

  // The routes answered at once; the others are answer()'s.
  switch (spec->id) {
    case route_id::health:
      return done(json_response(status::ok, {{"status", "ok"}}, version));
    case route_id::ready:
      return done(readiness(version));
    case route_id::metrics:
      return done(metrics(version));
    case route_id::stats:
      return done(stats(version));
    case route_id::openapi:
      return done(std::move(*static_file(req, path)));
    case route_id::events: {
      auto topics = resolve_topics(who, params(url, "object"), params(url, "tenant"));
      if (auto* e = std::get_if<api_error>(&topics)) return done(error_response(*e, version));
      if (verb == bhttp::verb::head) {  // a probe (may I subscribe?), not a stream
        http::response res{status::ok, version};
        res.set(bhttp::field::content_type, "text/event-stream");
        return done(std::move(res));
      }
      hub::subscription sub{std::get<core::topic_filter>(topics), std::nullopt, false, {}};
      if (r.varies) sub.extra_head += "Vary: Origin\r\n";
      if (cors) sub.extra_head += "Access-Control-Allow-Origin: " + *cors + "\r\n";
      std::string resume(req["Last-Event-ID"]);
      if (resume.empty()) resume = first_param(url, "last_event_id");
      if (!resume.empty()) {
        sub.after = core::parse_event_id(resume);
        sub.bad_resume_id = !sub.after;
      }
      requests_.record(r.slot, 200, 0);
      // Run once: the subscription moves into the stream rather than being copied.
      return http::handler_result{
          std::nullopt, [this, sub = std::move(sub)](asio::ip::tcp::socket s, http::stream_lease lease) mutable {
            return hub::serve_sse(streams_, std::move(s), std::move(sub), std::move(lease));
          }};
    }
    case route_id::websocket: {
      // A browser always sends its page's Origin with an upgrade; one from
      // another site that the config does not name is refused.
      if (!origin.empty() && !cors && !same_origin(origin, req[bhttp::field::host]))
        return done(error_response({status::forbidden, "origin_not_allowed",
                                    fmt::format("The origin '{}' is not in [server] allowed_origins.",
                                                std::string(origin))},
                                   version));
      if (!beast::websocket::is_upgrade(req))
        return done(error_response({status::upgrade_required, "websocket_required",
                                    "/api/ws speaks WebSocket only: send an Upgrade request."},
                                   version));
      requests_.record(r.slot, 101, 0);
      hub::subscribe_policy policy = [this, who](const std::vector<std::string>& objects, const std::string& tenant) {
        return resolve_topics(who, objects, tenant.empty() ? std::vector<std::string>{}
                                                           : std::vector<std::string>{tenant});
      };
      return http::handler_result{
          std::nullopt,
          [this, upgrade = std::move(req), policy](asio::ip::tcp::socket s, http::stream_lease lease) mutable {
            return hub::serve_ws(streams_, std::move(s), std::move(upgrade), std::move(policy), std::move(lease));
          }};
    }
    default:
      return std::nullopt;
  }
}

// The routes that wait (on the store, the read pool, a job): each is its own
// coroutine, handed what it reads by reference into `r`, which lives in
// route()'s frame until the answer is back.
asio::awaitable<http::response> api::answer(const http::request& req, routed& r) {
  const unsigned version = req.version();
  switch (r.spec->id) {
    case route_id::objects:
      return objects(r.who, version);
    case route_id::records:
    case route_id::record:
      return records(req, r.who, r.url, r.args.at(0), r.args.size() > 1 ? r.args[1] : kNoId);
    case route_id::webhook:
      return webhook(req, r.args.at(0));
    case route_id::refresh:
      return refresh(req, r.who);
    case route_id::job:
      return job(r.who, r.args.at(0), version);
    case route_id::broadcast:
      return broadcast(req, r.who);
    case route_id::audit:
      return audit(r.url, version);
    case route_id::notifications:
      return notifications(r.url, version);
    case route_id::retry_notification:
      return retry_notification(r.args.at(0), version);
    default:
      return ready(error_response({status::not_found, "not_found", fmt::format("There is no endpoint {}.", r.path)},
                                  version));
  }
}

namespace {
// A broadcast's body, checked: the draft to append, or the answer refusing it.
// A plain function, so that its parse buffer is on the thread's stack and not
// in the coroutine's frame (which Asio reuses only up to 1,020 bytes). The
// body lives only until its message is copied into the draft, and a publish
// is the hot path (issue #15): its parse allocates nothing unless the body
// outgrows the buffer.
std::variant<core::event_draft, http::response> broadcast_draft(const http::request& req, const principal& who) {
  const unsigned version = req.version();
  auto bad = [&](std::string code, std::string msg) {
    return error_response({status::bad_request, std::move(code), std::move(msg)}, version);
  };
  boost::system::error_code ec;
  unsigned char parse_space[1024];
  json::monotonic_resource parse_memory(parse_space, sizeof parse_space);
  json::value body = json::parse(req.body(), ec, &parse_memory);
  if (ec) return bad("malformed_json", "The body is not valid JSON: " + ec.message() + ".");
  if (!body.is_object()) return bad("invalid_body", "The body must be a JSON object {\"tenant\":..,\"message\":..}.");
  const auto& o = body.get_object();
  for (const auto& kv : o)
    if (kv.key() != "tenant" && kv.key() != "message")
      return bad("unknown_field",
                 fmt::format("Unknown field '{}': a broadcast has 'tenant' and 'message'.", std::string(kv.key())));
  const json::value* message = o.if_contains("message");
  if (!message || message->is_null()) return bad("missing_field", "A broadcast needs a 'message'.");
  std::string tenant;
  if (const json::value* t = o.if_contains("tenant"); t && !t->is_null()) {
    if (!t->is_string() || t->get_string().empty()) return bad("invalid_field", "'tenant' must be a non-empty string.");
    tenant = t->get_string();
  }
  if (!who.unscoped() && (tenant.empty() || !who.may_see_tenant(tenant)))
    return error_response({status::forbidden, "forbidden_tenant",
                           fmt::format("The token '{}' may broadcast only to its own tenants.", who.name)},
                          version);
  core::event_draft draft;
  draft.type = core::event_type::message;
  draft.tenant = std::move(tenant);
  draft.body["message"] = *message;  // copied out of the buffer, into the draft's own memory
  return draft;
}
}  // namespace

asio::awaitable<http::response> api::broadcast(const http::request& req, const principal& who) {
  auto checked = broadcast_draft(req, who);
  if (auto* refusal = std::get_if<http::response>(&checked)) co_return std::move(*refusal);
  auto [aec, ev] = co_await streams_.log.async_append(std::move(std::get<core::event_draft>(checked)),
                                                      asio::as_tuple(asio::use_awaitable));
  if (aec) co_return error_response(http::store_refusal(aec), req.version());
  // {"id":"…"} written out: an id is digits, nothing to escape, and no JSON
  // object need be built and serialized for every acknowledgement.
  co_return raw_json_response(status::ok, "{\"id\":\"" + core::format_event_id(ev->id) + "\"}", req.version());
}

http::response api::readiness(unsigned version) const {
  const auto health = streams_.log.health();
  const bool ok = health == store::store_health::ok;
  json::object body{{"status", ok ? "ready" : "not_ready"},
                    {"store", health == store::store_health::ok     ? "ok"
                              : health == store::store_health::full ? "full"
                              : health == store::store_health::unavailable ? "unavailable"
                                                                    : "failed"},
                    {"engine", streams_.log.engine_name()},
                    {"durability", streams_.log.durability()},
                    {"sources", cfg_.sources.size()}};
  return json_response(ok ? status::ok : status::service_unavailable, body, version);
}

std::string api::instance_name() const {
  // Behind a load balancer the answer says which instance gave it: the host
  // and the port it listens on name one among the deployment's.
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  return fmt::format("{}:{}", host, server_ ? server_->local_endpoint().port() : 0);
}

json::object api::instance_stats() const {
  const auto rtt = streams_.log.round_trip_ms();
  return {{"name", instance_name()},
          {"pid", static_cast<std::int64_t>(::getpid())},
          {"engine", streams_.log.engine_name()},
          {"store_round_trip_ms", rtt ? json::value(*rtt) : json::value(nullptr)}};
}

http::response api::stats(unsigned version) const {
  const auto hs = streams_.subscribers.stats();
  const auto lc = streams_.log.counters();
  const auto sc = server_ ? server_->counters() : http::server_counters{};
  const auto gc = streams_.blocking.counters();
  const auto heap = heap_.counters();
  json::object topics;
  for (const auto& [label, n] : hs.topics) topics[label] = n;
  const std::size_t streams = hs.sse + hs.ws;
  json::array recent;
  for (auto n : committed_history_.counts()) recent.push_back(n);
  json::object body{
      {"instance", instance_stats()},
      {"connections",
       {{"http", sc.open > streams ? sc.open - streams : 0}, {"sse", hs.sse}, {"ws", hs.ws}, {"by_topic", topics}}},
      {"events",
       {{"committed", lc.committed},
        {"per_second", committed_rate_.per_second()},
        {"recent", {{"bucket_seconds", committed_history_.bucket_seconds()}, {"counts", recent}}},
        {"first_id", core::format_event_id(streams_.log.first_id())},
        {"last_id", core::format_event_id(streams_.log.last_id())},
        {"deliveries", hs.deliveries},
        {"slow_client_drops", hs.drops}}},
      {"store",
       {{"healthy", streams_.log.healthy()},
        {"transactions", lc.transactions},
        {"pruned", lc.pruned},
        {"audit_pruned", lc.audit_pruned},
        {"full_failures", lc.full_failures},
        {"rejected", lc.rejected},
        {"fenced", lc.fenced},
        {"reads_in_flight", gc.in_use},
        {"reads_waited", gc.waited},
        {"reads_refused", gc.refused}}},
      {"http",
       {{"accepted", sc.accepted},
        {"refused_busy", sc.rejected_busy},
        {"protocol_errors", sc.protocol_errors},
        {"read_timeouts", sc.read_timeouts},
        {"refused_per_address", sc.rejected_address},
        {"requests", requests_.total()}}},
      {"cache", cache_.stats(upstream_requests())},
      {"memory",
       {{"resident_bytes", core::resident_bytes()},
        {"heap_trims", heap.trims},
        {"heap_trim_released_bytes", heap.bytes_released}}},
      {"sources", sources_stats()},
      {"notifications", notifications_ ? json::value(notifications_->stats()) : json::value(nullptr)},
      {"uptime_seconds",
       std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count()},
  };
  return json_response(status::ok, body, version);
}

http::response api::metrics(unsigned version) const {
  const auto hs = streams_.subscribers.stats();
  const auto lc = streams_.log.counters();
  const auto sc = server_ ? server_->counters() : http::server_counters{};
  std::string out;
  auto gauge = [&](std::string_view name, std::string_view help, std::string_view type) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  gauge("freshet_connections", "Open connections by transport.", "gauge");
  const std::size_t streams = hs.sse + hs.ws;
  out += fmt::format("freshet_connections{{transport=\"http\"}} {}\n", sc.open > streams ? sc.open - streams : 0);
  out += fmt::format("freshet_connections{{transport=\"sse\"}} {}\n", hs.sse);
  out += fmt::format("freshet_connections{{transport=\"ws\"}} {}\n", hs.ws);
  auto counter = [&](std::string_view name, std::string_view help, std::uint64_t v) {
    gauge(name, help, "counter");
    out += fmt::format("{} {}\n", name, v);
  };
  counter("freshet_events_committed_total", "Events committed to the log.", lc.committed);
  counter("freshet_store_transactions_total", "Store transactions (group commits).", lc.transactions);
  counter("freshet_events_pruned_total", "Events removed by retention.", lc.pruned);
  counter("freshet_store_rejected_total", "Appends refused by the store.", lc.rejected);
  counter("freshet_store_full_failures_total", "Commits the file system refused for want of space.", lc.full_failures);
  counter("freshet_audit_pruned_total", "Audit rows removed by retention.", lc.audit_pruned);
  counter("freshet_store_fenced_total", "Change sets refused because their source's lease had moved to another instance.",
          lc.fenced);
  if (const auto rtt = streams_.log.round_trip_ms()) {
    gauge("freshet_store_round_trip_seconds", "The latest round trip to the store's server (Redis).", "gauge");
    out += fmt::format("freshet_store_round_trip_seconds {}\n", *rtt / 1000.0);
  }
  gauge("freshet_instance_info", "Which instance answers: its name (host:port) and store engine.", "gauge");
  out += fmt::format("freshet_instance_info{{name=\"{}\",engine=\"{}\"}} 1\n", instance_name(),
                     streams_.log.engine_name());
  const auto gc = streams_.blocking.counters();
  counter("freshet_store_reads_waited_total", "Store reads and replays that waited for a slot on the read pool.",
          gc.waited);
  counter("freshet_store_reads_refused_total", "Record and page reads refused with 503: the read pool was saturated.",
          gc.refused);
  counter("freshet_event_deliveries_total", "Events written to stream connections.", hs.deliveries);
  counter("freshet_slow_client_drops_total", "Stream connections cut for staying behind longer than slow_client_seconds.", hs.drops);
  counter("freshet_http_connections_accepted_total", "TCP connections accepted.", sc.accepted);
  counter("freshet_http_connections_refused_total", "Connections refused over max_connections.", sc.rejected_busy);
  counter("freshet_http_protocol_errors_total", "Malformed, oversized or truncated requests.", sc.protocol_errors);
  counter("freshet_http_read_timeouts_total",
          "Connections cut because a request was not whole within read_timeout_seconds of its first byte.",
          sc.read_timeouts);
  counter("freshet_http_connections_refused_per_address_total",
          "Connections refused over max_connections_per_address.", sc.rejected_address);
  gauge("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge");
  out += fmt::format("process_resident_memory_bytes {}\n", core::resident_bytes());
  const auto heap = heap_.counters();
  counter("freshet_heap_trims_total", "Times the heap's free pages were given back after connections came or went.",
          heap.trims);
  counter("freshet_heap_trim_released_bytes_total", "Resident bytes those trims gave back.", heap.bytes_released);
  requests_.write_prometheus(out);
  cache_.write_prometheus(out);
  sources_metrics(out);
  notifications_metrics(out);
  http::response res{status::ok, version};
  res.set(bhttp::field::content_type, "text/plain; version=0.0.4");
  res.body() = std::move(out);
  res.prepare_payload();
  return res;
}

std::optional<http::response> api::static_file(const http::request& req, std::string_view path) const {
  if (path == "/" || path.empty()) path = "/index.html";
  for (const auto& f : web::static_files()) {
    if (f.path != path) continue;
    http::response res{status::ok, req.version()};
    res.set(bhttp::field::content_type, f.content_type);
    res.set(bhttp::field::cache_control, "no-cache");
    // The dashboard loads nothing from elsewhere; say so, so nothing injected can.
    res.set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'");
    res.set("X-Content-Type-Options", "nosniff");
    res.body() = std::string(f.bytes);
    res.prepare_payload();
    if (req.method() == bhttp::verb::head) res.body().clear();
    return res;
  }
  return std::nullopt;
}

}  // namespace freshet::app
