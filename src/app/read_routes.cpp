// The read API of DESIGN.md: configured objects with their counts and sync
// times, and snapshots of records from the store. A snapshot carries
// `last_event_id`: subscribing from it gives exactly the changes after it.
// Tenant-scoped tokens see only their tenants' records.
#include "app/api.hpp"

#include "rules/goal_tracker.hpp"
#include "app/off_loop.hpp"
#include "app/responses.hpp"
#include "core/clock.hpp"
#include "core/event.hpp"
#include "store/event_store.hpp"

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include <charconv>
#include <map>

namespace freshet::app {

namespace asio = boost::asio;
namespace json = boost::json;
namespace bhttp = boost::beast::http;
using status = bhttp::status;
using http::api_error;

namespace {

constexpr std::size_t kDefaultLimit = 100, kMaxLimit = 1000;

json::value time_or_null(std::int64_t ms) {
  if (ms <= 0) return nullptr;
  return json::string(core::format_iso8601_ms(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms))));
}

json::object record_json(const store::stored_record& r) {  // one record: GET .../records/{id}
  json::object o;
  o.reserve(r.fields.size() + 1);
  o["id"] = r.id;
  for (const auto& kv : r.fields) o[kv.key()] = kv.value();
  return o;
}

}  // namespace

const source_config* api::source_of(const std::string& object, const object_config** obj) const {
  for (const auto& s : cfg_.sources)
    for (const auto& o : s.objects)
      if (o.name == object) {
        if (obj) *obj = &o;
        return &s;
      }
  return nullptr;
}

asio::awaitable<http::response> api::objects(const principal& who, unsigned version) {
  struct row {
    const source_config* src;
    const object_config* obj;
    std::vector<store::tenant_summary> tenants;
  };
  struct read_out {
    std::vector<row> objects;
    std::map<std::string, std::vector<std::pair<std::int64_t, double>>> goal_days;  // for the pace sparkline
  };
  auto read_or_busy = co_await off_loop_or_busy(streams_.blocking, [&] {
    read_out out;
    for (const auto& s : cfg_.sources)
      for (const auto& o : s.objects) out.objects.push_back({&s, &o, streams_.log.summarize_object(s.name, o.name)});
    for (const auto& g : cfg_.goals) out.goal_days[g.name] = streams_.log.goal_days(g.name);
    return out;
  });
  if (!read_or_busy) co_return busy_response(version);
  auto& read = *read_or_busy;
  const auto& rows = read.objects;
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::int64_t stale_ms = cfg_.server.stale_after_seconds * 1000LL;
  json::array list;
  for (const auto& r : rows) {
    json::array tenants;
    std::uint64_t total = 0;
    std::int64_t newest = 0;
    for (const auto& t : r.tenants) {
      if (!t.tenant.empty() && !who.may_see_tenant(t.tenant)) continue;
      if (t.tenant.empty() && !who.unscoped()) continue;
      total += t.records;
      newest = std::max(newest, t.last_sync_ms);
      tenants.push_back(json::object{{"tenant", t.tenant.empty() ? json::value(nullptr) : json::value(t.tenant)},
                                     {"records", t.records},
                                     {"last_sync_at", time_or_null(t.last_sync_ms)},
                                     {"stale", bool(t.last_sync_ms <= 0 || now - t.last_sync_ms > stale_ms)}});
    }
    list.push_back(json::object{{"name", r.obj->name},
                                {"source", r.src->name},
                                {"kind", r.src->kind},
                                {"tenant_field", r.obj->tenant_field.empty() ? json::value(nullptr)
                                                                              : json::value(r.obj->tenant_field)},
                                {"records", total},
                                {"last_sync_at", time_or_null(newest)},
                                {"stale", bool(newest <= 0 || now - newest > stale_ms)},
                                {"tenants", std::move(tenants)}});
  }
  // Goals are aggregates over all tenants; a scoped token sees them too (a
  // total, not anyone's records).
  // A per-tenant goal adds each tenant's value, of the tenants the caller may see.
  json::array goals;
  if (goals_)
    for (const auto& g : goals_->values()) {
      json::object o{{"name", g.name},     {"label", g.label},
                     {"source", g.source}, {"object", g.object},
                     {"target", rules::goal_number(g.target)},
                     {"value", g.value ? rules::goal_number(*g.value) : json::value(nullptr)}};
      // The deadline and the last 60 days' closing figures, for the page's
      // sparkline and its projection (kept by the rules: empty without them).
      const app::goal_config* gc = nullptr;
      for (const auto& c : cfg_.goals) gc = c.name == g.name ? &c : gc;
      o["deadline"] = gc && !gc->deadline.empty() ? json::value(gc->deadline) : json::value(nullptr);
      json::array days;
      const auto& history = read.goal_days[g.name];
      for (std::size_t i = history.size() > 60 ? history.size() - 60 : 0; i < history.size(); ++i) {
        const auto date = core::civil_from_days(history[i].first);
        days.push_back(json::object{{"day", fmt::format("{:04}-{:02}-{:02}", date.year, date.month, date.day)},
                                    {"value", rules::goal_number(history[i].second)}});
      }
      o["days"] = std::move(days);
      if (g.per_tenant) {
        json::object per;
        for (const auto& [t, v] : g.tenants)
          if (who.may_see_tenant(t)) per[t] = rules::goal_number(v);
        o["tenants"] = std::move(per);
      }
      goals.push_back(std::move(o));
    }
  // What the caller may do, so that a client can start where it is allowed
  // (a tenant-scoped token on its tenant) even before any record is stored.
  json::array scopes;
  for (auto [s, name] : scope_names)
    if (who.has(s)) scopes.emplace_back(json::string(name));
  json::value tenants_allowed = nullptr;
  if (!who.unscoped()) {
    json::array t;
    for (const auto& name : who.tenants) t.push_back(json::string(name));
    tenants_allowed = std::move(t);
  }
  co_return json_response(status::ok,
                          json::object{{"objects", std::move(list)},
                                       {"goals", std::move(goals)},
                                       {"stale_after_seconds", cfg_.server.stale_after_seconds},
                                       {"access", json::object{{"scopes", std::move(scopes)},
                                                               {"tenants", std::move(tenants_allowed)}}}},
                          version);
}

asio::awaitable<http::response> api::records(const http::request& req, const principal& who,
                                             const boost::urls::url_view& url, const std::string& object,
                                             const std::string& id) {
  const unsigned version = req.version();
  const object_config* obj = nullptr;
  const source_config* src = source_of(object, &obj);
  if (!src)
    co_return error_response({status::not_found, "unknown_object", fmt::format("No object named '{}' is configured.", object)},
                             version);

  if (!id.empty()) {
    auto found = co_await off_loop_or_busy(streams_.blocking, [&] {
      return streams_.log.find_record(src->name, object, id);
    });
    if (!found) co_return busy_response(version);
    auto& rec = *found;
    // Another tenant's record is "not found" to a scoped token: its existence is not theirs to know.
    if (!rec || (!who.unscoped() && (rec->tenant.empty() || !who.may_see_tenant(rec->tenant))))
      co_return error_response({status::not_found, "unknown_record",
                                fmt::format("No record '{}' in '{}'.", id, object)},
                               version);
    cache_.served();
    co_return json_response(status::ok, json::object{{"record", record_json(*rec)}, {"tenant", rec->tenant}}, version);
  }

  std::vector<std::string> tenants;
  std::string cursor;
  std::size_t limit = kDefaultLimit;
  for (auto p : url.params()) {
    if (p.key == "tenant") {
      if (!p.value.empty()) tenants.push_back(p.value);
    } else if (p.key == "cursor") {
      cursor = p.value;
    } else if (p.key == "limit") {
      auto [end, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), limit);
      if (ec != std::errc{} || end != p.value.data() + p.value.size() || limit == 0 || limit > kMaxLimit)
        co_return error_response({status::bad_request, "invalid_parameter",
                                  fmt::format("'limit' must be a whole number from 1 to {}.", kMaxLimit)},
                                 version);
    }
  }
  for (const auto& t : tenants)
    if (!who.may_see_tenant(t))
      co_return error_response({status::forbidden, "forbidden_tenant",
                                fmt::format("The token '{}' may not see tenant '{}'.", who.name, t)},
                               version);
  if (tenants.empty()) tenants = who.tenants;  // a scoped token reads its own tenants

  // Weak ETag from the log position and the records version: a record can
  // change with no event (an unwatched field), and the page has both the
  // records and last_event_id. The tenants resolved from the token are part
  // of what the page holds, so they are hashed with the target.
  auto etag_of = [&](std::uint64_t last, std::uint64_t version) {
    std::string key(req.target());
    for (const auto& t : tenants) key += '\n' + t;
    return fmt::format("W/\"{}.{}-{:x}\"", last, version, std::hash<std::string>{}(key));
  };
  const std::string etag = etag_of(streams_.log.last_id(), streams_.log.records_version());
  if (req[bhttp::field::if_none_match] == etag) {
    http::response res{status::not_modified, version};
    res.set(bhttp::field::etag, etag);
    cache_.not_modified();
    co_return res;
  }
  // The page is read and its body written on the pool: each record's stored
  // JSON is spliced in as it is, not parsed and serialized again on the loop.
  struct built {
    std::string body;
    std::string etag;
  };
  auto page = co_await off_loop_or_busy(streams_.blocking, [&] {
    auto snap = streams_.log.read_snapshot(src->name, object, tenants, cursor, limit + 1);
    const bool more = snap.records.size() > limit;
    if (more) snap.records.pop_back();
    std::string body = "{\"object\":" + json::serialize(json::string(object)) + ",\"records\":[";
    for (std::size_t i = 0; i < snap.records.size(); ++i) {
      const auto& r = snap.records[i];
      if (i) body += ',';
      body += "{\"id\":";
      body += json::serialize(json::string(r.id));
      // Stored data is a canonical JSON object: "{}" or "{...}".
      if (r.data.size() > 2) {
        body += ',';
        body.append(r.data, 1, std::string::npos);
      } else {
        body += '}';
      }
    }
    body += "],\"next_cursor\":";
    body += more ? json::serialize(json::string(snap.records.back().id)) : std::string("null");
    body += ",\"last_event_id\":" + json::serialize(json::string(core::format_event_id(snap.last_event_id))) + "}";
    // From what the read itself saw (one transaction), so it names this page.
    return built{std::move(body), etag_of(snap.last_event_id, snap.records_version)};
  });
  if (!page) co_return busy_response(version);
  auto res = raw_json_response(status::ok, std::move(page->body), version);
  res.set(bhttp::field::etag, page->etag);
  cache_.served();
  co_return res;
}

}  // namespace freshet::app
