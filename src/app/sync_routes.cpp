// The routes of the sync engine: upstream webhooks, the audit log, and the
// sources' part of /api/stats and /metrics.
#include "app/api.hpp"
#include "app/off_loop.hpp"
#include "app/responses.hpp"
#include "sources/airtable_webhook_client.hpp"
#include "sources/sync_service.hpp"
#include "sources/webhook_intake.hpp"
#include "store/event_store.hpp"

#include <boost/json/parse.hpp>

#include <fmt/format.h>

#include <charconv>

namespace freshet::app {

namespace asio = boost::asio;
namespace json = boost::json;
using status = boost::beast::http::status;
using http::api_error;

asio::awaitable<http::response> api::webhook(const http::request& req, const std::string& source) {
  const unsigned version = req.version();
  if (!webhooks_)
    co_return error_response({status::not_found, "unknown_source", fmt::format("No source named '{}' is configured.", source)},
                             version);
  auto a = co_await webhooks_->receive(source, req);
  if (a.error) co_return error_response(*a.error, version);
  co_return json_response(status::ok, a.body, version);
}

asio::awaitable<http::response> api::audit(const boost::urls::url_view& url, unsigned version) {
  // ?since=ID pages forward; ?latest=N gives the newest N (the dashboard's view).
  std::int64_t since = 0, limit = 100, latest = 0;
  for (auto p : url.params()) {
    std::int64_t* target = p.key == "since" ? &since : p.key == "limit" ? &limit : p.key == "latest" ? &latest : nullptr;
    if (!target) continue;
    auto [end, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), *target);
    if (ec != std::errc{} || end != p.value.data() + p.value.size() || *target < 0)
      co_return error_response({status::bad_request, "invalid_parameter",
                                fmt::format("'{}' must be a non-negative whole number.", std::string(p.key))},
                               version);
  }
  // A page is 1 to 1000 entries: limit=0 is a mistake to say, not to round up.
  if (limit < 1 || limit > 1000 || latest > 1000)
    co_return error_response({status::bad_request, "invalid_parameter",
                              fmt::format("'{}' is a whole number from 1 to 1000.", latest > 1000 ? "latest" : "limit")},
                             version);
  if (latest > 0) limit = latest;
  auto rows = co_await off_loop(streams_.blocking, [&, since, limit, latest] {
    return streams_.log.list_audit(since, limit, latest > 0);
  });
  json::array entries;
  for (auto& r : rows) {
    boost::system::error_code ec;
    json::value detail = json::parse(r.detail, ec);
    entries.push_back(json::object{{"id", r.id},
                                   {"at", r.at},
                                   {"kind", r.kind},
                                   {"source", r.source.empty() ? json::value(nullptr) : json::value(r.source)},
                                   {"who", r.who.empty() ? json::value(nullptr) : json::value(r.who)},
                                   {"outcome", r.outcome},
                                   {"detail", ec ? json::value(nullptr) : detail}});
  }
  const std::int64_t next = rows.empty() ? since : rows.back().id;
  co_return json_response(status::ok, json::object{{"entries", std::move(entries)}, {"next", next}}, version);
}

json::object api::sources_stats() const {
  json::object out;
  for (const auto& src : cfg_.sources) {
    json::object s{{"kind", src.kind}};
    if (auto* sync = sync_ ? sync_->find(src.name) : nullptr) {
      // Only the source's leader (the holder of its lease) reads upstream.
      s["role"] = sync->leading() ? "leader" : "follower";
      // Webhooks this instance handed to the leader, and those it took as leader.
      s["handoffs"] = {{"sent", sync->handoffs_sent()}, {"taken", sync->handoffs_taken()}};
      const auto& u = sync->upstream();
      s["upstream"] = {{"requests", u.requests.load()},     {"succeeded", u.succeeded.load()},
                       {"rate_limited", u.rate_limited.load()}, {"retries", u.retries.load()},
                       {"server_errors", u.server_errors.load()}, {"timeouts", u.timeouts.load()},
                       {"bad_bodies", u.bad_bodies.load()},   {"failures", u.failures.load()},
                       // The limiter's margin now: the configured one, or wider after a 429.
                       {"rate_margin_percent", sync->limiter().margin() * 100}};
      json::object objects;
      for (const auto& o : src.objects) {
        const auto& c = sync->counters(o.name);
        objects[o.name] = {{"polls", c.polls.load()},         {"full_reads", c.full_reads.load()},
                           {"errors", c.errors.load()},       {"created", c.created.load()},
                           {"updated", c.updated.load()},     {"deleted", c.deleted.load()},
                           {"poll_interval_seconds", c.interval_ms.load() / 1000.0},
                           {"last_success_ms", c.last_success_ms.load()}};
      }
      s["objects"] = std::move(objects);
      if (auto* hooks = sync->airtable_hooks())
        s["airtable_webhook"] = {{"id", hooks->webhook_id()}, {"payloads_applied", hooks->payloads_applied()}};
    }
    if (webhooks_) {
      const auto& w = webhooks_->counters(src.name);
      s["webhooks"] = {{"accepted", w.accepted.load()}, {"duplicates", w.duplicates.load()}, {"rejected", w.rejected.load()}};
    }
    out[src.name] = std::move(s);
  }
  return out;
}

std::uint64_t api::upstream_requests() const {
  std::uint64_t n = 0;
  for (const auto& src : cfg_.sources)
    if (auto* sync = sync_ ? sync_->find(src.name) : nullptr) n += sync->upstream().requests.load();
  return n;
}

void api::sources_metrics(std::string& out) const {
  if (cfg_.sources.empty()) return;
  auto family = [&](std::string_view name, std::string_view help, auto value_of) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
    for (const auto& src : cfg_.sources) {
      auto* sync = sync_ ? sync_->find(src.name) : nullptr;
      if (sync) out += fmt::format("{}{{source=\"{}\"}} {}\n", name, src.name, value_of(*sync, src));
    }
  };
  out += "# HELP freshet_source_leader 1 when this instance leads the source (holds its lease).\n"
         "# TYPE freshet_source_leader gauge\n";
  for (const auto& src : cfg_.sources)
    if (auto* sync = sync_ ? sync_->find(src.name) : nullptr)
      out += fmt::format("freshet_source_leader{{source=\"{}\"}} {}\n", src.name, sync->leading() ? 1 : 0);
  family("freshet_webhook_handoffs_sent_total",
         "Webhook deliveries this instance, a follower of the source, handed to its leader.",
         [](auto& s, auto&) { return s.handoffs_sent(); });
  family("freshet_webhook_handoffs_taken_total", "Webhook deliveries handed over that this instance acted on as leader.",
         [](auto& s, auto&) { return s.handoffs_taken(); });
  family("freshet_upstream_requests_total", "Requests sent upstream, retries included.",
         [](auto& s, auto&) { return s.upstream().requests.load(); });
  family("freshet_upstream_rate_limited_total", "429 answers from upstream.",
         [](auto& s, auto&) { return s.upstream().rate_limited.load(); });
  family("freshet_upstream_retries_total", "Upstream requests retried.",
         [](auto& s, auto&) { return s.upstream().retries.load(); });
  family("freshet_upstream_errors_total", "5xx, timeouts and bad bodies from upstream.", [](auto& s, auto&) {
    const auto& u = s.upstream();
    return u.server_errors.load() + u.timeouts.load() + u.bad_bodies.load();
  });
  family("freshet_upstream_failures_total", "Upstream reads given up after every retry.",
         [](auto& s, auto&) { return s.upstream().failures.load(); });
  family("freshet_sync_records_changed_total", "Records created, updated or deleted by sync.", [](auto& s, auto& src) {
    std::uint64_t n = 0;
    for (const auto& o : src.objects) {
      const auto& c = s.counters(o.name);
      n += c.created.load() + c.updated.load() + c.deleted.load();
    }
    return n;
  });
  if (!webhooks_) return;
  out += "# HELP freshet_webhooks_total Webhook deliveries by outcome.\n# TYPE freshet_webhooks_total counter\n";
  for (const auto& src : cfg_.sources) {
    const auto& w = webhooks_->counters(src.name);
    out += fmt::format("freshet_webhooks_total{{source=\"{}\",outcome=\"accepted\"}} {}\n", src.name, w.accepted.load());
    out += fmt::format("freshet_webhooks_total{{source=\"{}\",outcome=\"duplicate\"}} {}\n", src.name, w.duplicates.load());
    out += fmt::format("freshet_webhooks_total{{source=\"{}\",outcome=\"rejected\"}} {}\n", src.name, w.rejected.load());
  }
}

}  // namespace freshet::app
