#include "sim/knack_simulator.hpp"

#include "core/names.hpp"

#include "sim/datasets.hpp"
#include "sim/knack_filters.hpp"
#include "sim/knack_format.hpp"
#include "sim/lenient_query.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <sstream>

namespace freshet::sim {

namespace asio = boost::asio;
namespace json = boost::json;
namespace bhttp = boost::beast::http;
using status = bhttp::status;

namespace {

http::response reply(status st, std::string body, std::string_view type = "application/json") {
  http::response res{st, 11};
  res.set(bhttp::field::content_type, type);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http::response json_reply(status st, const json::value& v) { return reply(st, json::serialize(v)); }

// Knack's error body for 400/404 (a SIM CHOICE: upstream-apis.md 1.8).
http::response knack_error(status st, std::string message, std::string field = "") {
  json::object e{{"message", std::move(message)}};
  if (!field.empty()) e["field"] = std::move(field);
  return json_reply(st, json::object{{"errors", json::array{std::move(e)}}});
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    const std::size_t j = path.find('/', i);
    if (i < path.size()) parts.emplace_back(path.substr(i, j - i));
    i = j == std::string_view::npos ? path.size() : j;
  }
  return parts;
}

std::optional<long> positive_int(const std::string& s) {
  long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

int compare_values(const json::value* a, const json::value* b) {
  const bool ea = !a || a->is_null(), eb = !b || b->is_null();
  if (ea || eb) return ea == eb ? 0 : (ea ? -1 : 1);
  if (a->is_number() && b->is_number()) {
    const double x = a->to_number<double>(), y = b->to_number<double>();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const std::string x = a->is_string() ? std::string(a->get_string()) : json::serialize(*a);
  const std::string y = b->is_string() ? std::string(b->get_string()) : json::serialize(*b);
  return x.compare(y) < 0 ? -1 : x.compare(y) > 0 ? 1 : 0;
}

}  // namespace

knack_simulator::knack_simulator(knack_sim_options opts)
    : opts_(std::move(opts)),
      app_(make_knack_dataset(opts_.dataset, opts_.seed)),
      change_rng_(opts_.seed ^ 0x9e3779b97f4a7c15ULL),
      faults_(opts_.faults, opts_.seed * 31 + 7),
      meter_(opts_.requests_per_second) {
  if (!opts_.app_id.empty()) app_.id = opts_.app_id;
}

std::int64_t knack_simulator::now_local_ms() const {
  return clock_.now_ms() + static_cast<std::int64_t>(app_.utc_offset_minutes) * 60000;
}

knack_simulator::limit_decision knack_simulator::count_request(std::chrono::system_clock::time_point arrived) {
  meter_.count(arrived);
  const std::int64_t sec = epoch_second(arrived);
  std::lock_guard lk(mu_);
  // Knack counts per app in fixed one-second windows of arrival; past the
  // limit every request in that window fails (upstream-apis.md 1.8).
  const std::uint64_t window_count = windows_.add(sec);
  const std::int64_t day = sec / 86400;
  if (day != day_) {
    day_ = day;
    day_count_ = 0;
  }
  ++day_count_;
  limit_decision d;
  const auto limit = static_cast<std::uint64_t>(opts_.requests_per_second);
  d.allowed = (limit == 0 || window_count <= limit) && (opts_.daily_limit == 0 || day_count_ <= opts_.daily_limit);
  d.window_reset_epoch = sec + 1;
  d.window_remaining = limit > window_count ? limit - window_count : 0;
  const std::uint64_t daily = opts_.daily_limit ? opts_.daily_limit : 25000;
  d.daily_remaining = daily > day_count_ ? daily - day_count_ : 0;
  if (!d.allowed) ++rate_limited_;
  return d;
}

asio::awaitable<http::handler_result> knack_simulator::handle(http::request& req, const http::request_context& ctx) {
  const lenient_query target = parse_lenient_target(req.target());
  if (target.path.starts_with("/_sim/")) co_return http::handler_result{sim_route(req, target), {}};
  const auto parts = split_path(target.path);

  // Application metadata needs no key and does not count (knackpy reads it first).
  if (parts.size() == 3 && parts[0] == "v1" && parts[1] == "applications" && req.method() == bhttp::verb::get) {
    std::lock_guard lk(mu_);
    if (parts[2] != app_.id) co_return http::handler_result{knack_error(status::not_found, "Application not found"), {}};
    json::array objects;
    for (const auto& o : app_.objects) {
      json::array fields;
      for (const auto& f : o.fields)
        fields.push_back(json::object{{"key", f.key}, {"name", f.name}, {"type", to_string(f.type)}});
      objects.push_back(json::object{{"key", o.key}, {"name", o.name}, {"identifier", o.identifier_field},
                                     {"fields", std::move(fields)}});
    }
    co_return http::handler_result{
        json_reply(status::ok, json::object{{"application", json::object{{"id", app_.id},
                                                                          {"name", app_.name},
                                                                          {"settings", {{"timezone", app_.time_zone}}},
                                                                          {"objects", std::move(objects)}}}}),
        {}};
  }

  const limit_decision limit = count_request(ctx.arrived);
  auto with_limit_headers = [&](http::response res) {
    res.set("X-RateLimit-Limit", std::to_string(static_cast<std::uint64_t>(opts_.requests_per_second)));
    res.set("X-RateLimit-Remaining", std::to_string(limit.window_remaining));
    res.set("X-RateLimit-Reset", std::to_string(limit.window_reset_epoch));
    res.set("X-PlanLimit-Limit", std::to_string(opts_.daily_limit ? opts_.daily_limit : 25000));
    res.set("X-PlanLimit-Remaining", std::to_string(limit.daily_remaining));
    res.set("X-PlanLimit-Reset", std::to_string((86400 - limit.window_reset_epoch % 86400) * 1000));
    return http::handler_result{std::move(res), {}};
  };
  if (!limit.allowed) co_return with_limit_headers(reply(status::too_many_requests, "Rate limit exceeded", "text/plain"));

  // Injected latency and faults, drawn from a seeded generator.
  const fault_injector::draw fault = faults_.next();
  if (fault.delay.count() > 0) {
    asio::steady_timer t(co_await asio::this_coro::executor, fault.delay);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (fault.fail) co_return with_limit_headers(reply(fault.fail_status, "Internal Server Error", "text/plain"));
  if (fault.drop) co_return dropped_connection();

  // Credentials: header names are case-insensitive (Beast's fields are).
  if (req["X-Knack-Application-Id"] != app_.id || req["X-Knack-REST-API-Key"] != opts_.api_key)
    co_return with_limit_headers(reply(status::unauthorized, "Unauthorized Object Access", "text/plain"));

  http::response res = parts.size() >= 4 && parts[0] == "v1" && parts[1] == "objects" && parts[3] == "records"
                           ? records_route(req, target, parts)
                           : knack_error(status::not_found, "Route not found");
  faults_.shape(fault, res);
  co_return with_limit_headers(std::move(res));
}

http::response knack_simulator::records_route(const http::request& req, const lenient_query& q,
                                              const std::vector<std::string>& parts) {
  std::lock_guard lk(mu_);
  knack_object* obj = app_.object(parts[2]);
  if (!obj) return knack_error(status::not_found, "Object not found: " + parts[2]);
  if (parts.size() > 5) return knack_error(status::not_found, "Route not found");
  const auto verb = req.method();

  if (parts.size() == 4) {
    if (verb == bhttp::verb::get) return list(q, *obj);
    if (verb != bhttp::verb::post) return knack_error(status::method_not_allowed, "Method not allowed");
  }
  boost::system::error_code ec;
  json::value body;
  if (verb == bhttp::verb::post || verb == bhttp::verb::put) {
    body = json::parse(req.body(), ec);
    if (ec || !body.is_object()) return knack_error(status::bad_request, "The body must be a JSON object");
  }
  auto write_fields = [&](knack_record& rec) -> std::optional<http::response> {
    for (const auto& [k, v] : body.get_object()) {
      const knack_field* f = obj->field(k);
      if (!f) return knack_error(status::bad_request, "Unknown field " + std::string(k), std::string(k));
      std::string error;
      auto raw = parse_written_value(*f, v, error);
      if (!raw) return knack_error(status::bad_request, error, f->key);
      if (raw->is_null()) rec.values.erase(f->key);
      else rec.values[f->key] = *raw;
    }
    return std::nullopt;
  };

  if (parts.size() == 4) {  // POST: create. Object-based writes run no record rules,
    knack_record rec;       // so the modified field is set only if the client sends it.
    std::mt19937_64 id_rng(change_rng_());
    rec.id = knack_record_id(now_local_ms(), id_rng);
    if (auto err = write_fields(rec)) return std::move(*err);
    obj->records.push_back(std::move(rec));
    notify("created", obj->key, obj->records.back().id);
    return json_reply(status::ok, render_record(app_, *obj, obj->records.back()));
  }
  knack_record* rec = obj->find(parts[4]);
  if (!rec) return knack_error(status::not_found, "Record not found: " + parts[4]);
  if (verb == bhttp::verb::get) return json_reply(status::ok, render_record(app_, *obj, *rec));
  if (verb == bhttp::verb::put) {  // partial update (SIM CHOICE, 1.2)
    knack_record updated = *rec;
    if (auto err = write_fields(updated)) return std::move(*err);
    *rec = std::move(updated);
    notify("updated", obj->key, rec->id);
    return json_reply(status::ok, render_record(app_, *obj, *rec));
  }
  if (verb == bhttp::verb::delete_) {
    notify("deleted", obj->key, rec->id);
    obj->records.erase(obj->records.begin() + (rec - obj->records.data()));
    return json_reply(status::ok, json::object{{"delete", true}});
  }
  return knack_error(status::method_not_allowed, "Method not allowed");
}

http::response knack_simulator::list(const lenient_query& q, const knack_object& obj) {
  long rows = 25, page = 1;
  if (q.has("rows_per_page")) {
    auto v = positive_int(q.get("rows_per_page"));
    if (!v) return knack_error(status::bad_request, "rows_per_page must be a positive whole number");
    rows = std::min(*v, 1000L);  // Knack's maximum; more is clamped (SIM CHOICE)
  }
  if (q.has("page")) {
    auto v = positive_int(q.get("page"));
    if (!v) return knack_error(status::bad_request, "page must be a positive whole number");
    page = *v;
  }
  knack_filter filter;
  if (q.has("filters") && !q.get("filters").empty()) {
    auto parsed = parse_filters(q.get("filters"), obj);
    if (auto* err = std::get_if<std::string>(&parsed)) return knack_error(status::bad_request, *err);
    filter = std::get<knack_filter>(parsed);
  }
  const std::int64_t now = now_local_ms();
  std::vector<const knack_record*> hits;
  for (const auto& r : obj.records)
    if (matches(filter, app_, r, now)) hits.push_back(&r);
  if (q.has("sort_field")) {
    const std::string field = q.get("sort_field");
    if (!obj.field(field)) return knack_error(status::bad_request, "Unknown sort_field " + field, field);
    const bool desc = q.get("sort_order") == "desc";
    std::stable_sort(hits.begin(), hits.end(), [&](const knack_record* a, const knack_record* b) {
      const int c = compare_values(a->values.if_contains(field), b->values.if_contains(field));
      return desc ? c > 0 : c < 0;
    });
  }
  const long total = static_cast<long>(hits.size());
  const long pages = (total + rows - 1) / rows;
  json::array records;
  for (long i = (page - 1) * rows; i < std::min(total, page * rows); ++i)
    records.push_back(render_record(app_, obj, *hits[static_cast<std::size_t>(i)]));
  return json_reply(status::ok, json::object{{"total_pages", pages},
                                             {"current_page", page},
                                             {"total_records", total},
                                             {"records", std::move(records)}});
}

http::response knack_simulator::sim_route(const http::request& req, const lenient_query& q) {
  const std::string& path = q.path;
  if (path == "/_sim/clock") return clock_route(clock_, req);
  if (path == "/_sim/stats") {
    const auto s = stats();
    return json_reply(status::ok, json::object{{"requests", s.requests},
                                               {"rate_limited", s.rate_limited},
                                               {"max_requests_in_one_second", s.max_requests_in_one_second},
                                               {"tightest_span_ms", meter_.tightest_span_ms()},
                                               {"faults_injected", s.faults_injected},
                                               {"changes_applied", s.changes_applied},
                                               {"webhooks_sent", s.webhooks_sent},
                                               {"webhooks_failed", s.webhooks_failed}});
  }
  if (path == "/_sim/changes" && req.method() == bhttp::verb::post)
    return changes_route(req, [this](int n) { return apply_changes(n); });
  if (path == "/_sim/state" && req.method() == bhttp::verb::get) {
    std::lock_guard lk(mu_);
    json::object out;
    for (const auto& o : app_.objects) {
      if (q.has("object") && q.get("object") != o.key) continue;
      json::array recs;
      for (const auto& r : o.records) recs.push_back(render_record(app_, o, r));
      out[o.key] = std::move(recs);
    }
    if (out.empty()) return sim_error(status::not_found, "unknown_object", "No such object.");
    return sim_reply(status::ok, json::object{{"objects", std::move(out)}});
  }
  return sim_error(status::not_found, "not_found", "Unknown simulator route.");
}

json::array knack_simulator::apply_changes(int n) {
  json::array out;
  std::lock_guard lk(mu_);
  const std::int64_t now = now_local_ms();
  for (int i = 0; i < n; ++i) {
    applied_change c = apply_random_change(app_, change_rng_, now);
    notify(c.op, c.object, c.id);
    out.push_back(json::object{{"op", c.op}, {"object", c.object}, {"id", c.id}});
  }
  changes_applied_ += static_cast<std::uint64_t>(n);
  return out;
}

knack_sim_stats knack_simulator::stats() const {
  std::lock_guard lk(mu_);
  knack_sim_stats s;
  s.rate_limited = rate_limited_;
  s.changes_applied = changes_applied_;
  s.requests = meter_.total();
  s.max_requests_in_one_second = meter_.max_in_one_second();
  s.faults_injected = faults_.injected();
  if (webhooks_) {
    s.webhooks_sent = webhooks_->sent();
    s.webhooks_failed = webhooks_->failed() + webhooks_->dropped();
  }
  return s;
}

void knack_simulator::enable_webhooks(asio::any_io_executor ex, std::string url, std::string key) {
  webhooks_ = std::make_unique<webhook_sender>(std::move(ex), std::move(url), std::move(key));
}

void knack_simulator::notify(const std::string& op, const std::string& object, const std::string& id) {
  if (webhooks_) webhooks_->send(op, object, id);
}

std::string knack_simulator::freshet_config(const std::string& base_url) const {
  std::lock_guard lk(mu_);
  std::ostringstream os;
  os << "# A Freshet source reading this simulator. Set in the environment:\n"
     << "#   KNACK_APP_ID=" << app_.id << "  KNACK_API_KEY=" << opts_.api_key << "\n"
     << "[[sources]]\nname = \"" << opts_.dataset << "\"\nkind = \"knack\"\nbase_url = \"" << base_url << "\"\n"
     << "app_id_env = \"KNACK_APP_ID\"\napi_key_env = \"KNACK_API_KEY\"\n"
     << "requests_per_second = " << opts_.requests_per_second << "\n";
  for (const auto& o : app_.objects) {
    os << "\n  [[sources.objects]]\n  name = \"" << core::snake_case(o.name) << "\"\n  key = \"" << o.key << "\"\n  fields = { ";
    std::string modified, county;
    for (std::size_t i = 0; i < o.fields.size(); ++i) {
      const std::string local = core::snake_case(o.fields[i].name);
      os << (i ? ", " : "") << local << " = \"" << o.fields[i].key << "\"";
      if (o.fields[i].key == o.modified_field) modified = local;
      // The partition a dashboard thinks in: a county (hti), a school (schools).
      if (local == "county" || local == "school_code" || local == "code") county = local;
    }
    os << " }\n";
    if (!modified.empty()) os << "  modified_field = \"" << modified << "\"\n";
    if (!county.empty()) os << "  tenant_field = \"" << county << "\"\n";
  }
  return os.str();
}

}  // namespace freshet::sim
