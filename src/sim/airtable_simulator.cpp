#include "sim/airtable_simulator.hpp"

#include "core/names.hpp"

#include "sim/airtable_datasets.hpp"
#include "sim/airtable_formula.hpp"
#include "sim/lenient_query.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>
#include <sstream>

namespace freshet::sim {

namespace asio = boost::asio;
namespace json = boost::json;
namespace bhttp = boost::beast::http;
using status = bhttp::status;

namespace {

// Airtable answers every request with a JSON object (airtable.js relies on it).
http::response reply(status st, const json::value& v) {
  http::response res{st, 11};
  res.set(bhttp::field::content_type, "application/json; charset=utf-8");
  res.body() = json::serialize(v);
  res.prepare_payload();
  return res;
}

constexpr std::size_t kMaxIterators = 1000;

http::response error(status st, std::string type, std::string message) {
  return reply(st, json::object{{"error", json::object{{"type", std::move(type)}, {"message", std::move(message)}}}});
}

http::response not_permitted() {
  return error(status::forbidden, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
               "Invalid permissions, or the requested model was not found. Check that both your user and your token "
               "have the required permissions, and that the model names and/or ids are correct.");
}

bool empty_cell(const json::value& v) {
  return v.is_null() || (v.is_string() && v.get_string().empty()) || (v.is_bool() && !v.get_bool()) ||
         (v.is_array() && v.get_array().empty());
}

std::vector<std::string> split(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    const auto j = path.find('/', i);
    if (j != i) parts.emplace_back(path.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return parts;
}

bool has_comment_count(const json::value* v) {
  if (!v || !v->is_array()) return false;
  for (const auto& e : v->get_array())
    if (e == "commentCount") return true;
  return false;
}

// A cell as cellFormat=string shows it: text as is, numbers without a
// trailing .0, a checkbox as "checked", anything else as its JSON.
json::value as_string_cell(const json::value& v) {
  if (v.is_string()) return v;
  if (v.is_bool()) return v.get_bool() ? "checked" : "";
  if (v.is_int64()) return json::string(std::to_string(v.get_int64()));
  return json::string(json::serialize(v));
}

std::optional<long> number_param(const std::string& s) {
  long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

struct airtable_simulator::list_params {
  std::vector<std::string> fields;
  std::vector<std::pair<std::string, bool>> sort;  // field, descending
  std::string formula;
  std::string offset;
  bool as_strings = false;
  bool comment_count = false;
  long page_size = 100;
  long max_records = 0;
  bool by_field_id = false;
  std::string error;  // set when the parameters themselves are bad (422)
};

airtable_simulator::airtable_simulator(airtable_sim_options opts)
    : opts_(std::move(opts)),
      base_(make_airtable_dataset(opts_.dataset, opts_.seed)),
      rng_(opts_.seed ^ 0x5bd1e995ULL),
      faults_(opts_.faults, opts_.seed * 131 + 3),
      meter_(opts_.requests_per_second),
      webhooks_(base_.id, rng_, mu_) {
  if (!opts_.base_id.empty()) base_.id = opts_.base_id;
}

std::int64_t airtable_simulator::now_ms() const { return clock_.now_ms(); }

bool airtable_simulator::admit(std::chrono::system_clock::time_point arrived) {
  using namespace std::chrono;
  meter_.count(arrived);
  const auto now = steady_clock::now();
  std::lock_guard lk(mu_);
  // During a penalty every request is refused, but the penalty is not
  // extended by them (SIM CHOICE, checklist 33), so jittered retries converge.
  if (now < penalty_until_) {
    ++rate_limited_;
    return false;
  }
  if (opts_.requests_per_second > 0 &&
      windows_.add(epoch_second(arrived)) > static_cast<std::uint64_t>(opts_.requests_per_second)) {
    penalty_until_ = now + seconds(opts_.penalty_seconds);
    ++rate_limited_;
    return false;
  }
  return true;
}

asio::awaitable<http::handler_result> airtable_simulator::handle(http::request& req, const http::request_context& ctx) {
  const lenient_query q = parse_lenient_target(req.target());
  if (q.path.starts_with("/_sim/")) co_return http::handler_result{sim_route(req, q), {}};
  if (!admit(ctx.arrived)) {
    auto res = reply(status::too_many_requests,
                     json::object{{"errors", json::array{json::object{
                                                 {"error", "RATE_LIMIT_REACHED"},
                                                 {"message", "Rate limit exceeded. Please try again later"}}}}});
    if (opts_.retry_after) res.set(bhttp::field::retry_after, std::to_string(opts_.penalty_seconds));
    co_return http::handler_result{std::move(res), {}};
  }
  const fault_injector::draw fault = faults_.next();
  if (fault.delay.count() > 0) {
    asio::steady_timer t(co_await asio::this_coro::executor, fault.delay);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (fault.fail) co_return http::handler_result{error(fault.fail_status, "SERVER_ERROR", "Server error"), {}};
  if (fault.drop) co_return dropped_connection();
  http::response res = route(req, q);
  faults_.shape(fault, res);
  co_return http::handler_result{std::move(res), {}};
}

http::response airtable_simulator::route(const http::request& req, const lenient_query& q) {
  const auto parts = split(q.path);  // a doubled leading slash from endpointUrl/ is tolerated
  // The metadata API: the base's tables and their fields (scope schema.bases:read).
  if (parts.size() == 5 && parts[0] == "v0" && parts[1] == "meta" && parts[2] == "bases" && parts[4] == "tables" &&
      req.method() == bhttp::verb::get) {
    if (req[bhttp::field::authorization] != "Bearer " + opts_.token)
      return error(status::unauthorized, "AUTHENTICATION_REQUIRED", "Authentication required");
    std::lock_guard lk(mu_);
    if (parts[3] != base_.id) return not_permitted();
    return reply(status::ok, json::object{{"tables", tables_metadata()}});
  }
  const bool webhook_route = parts.size() >= 4 && parts[0] == "v0" && parts[1] == "bases" && parts[3] == "webhooks";
  if (!webhook_route && (parts.size() < 3 || parts.size() > 4 || parts[0] != "v0" || parts[1] == "bases"))
    return reply(status::not_found, json::object{{"error", "NOT_FOUND"}});
  const std::string_view auth = req[bhttp::field::authorization];
  if (auth != "Bearer " + opts_.token) return error(status::unauthorized, "AUTHENTICATION_REQUIRED", "Authentication required");
  std::lock_guard lk(mu_);
  if (webhook_route) {
    if (parts[2] != base_.id) return not_permitted();
    auto a = webhooks_.handle(std::string(req.method_string()), std::vector<std::string>(parts.begin() + 4, parts.end()),
                              req.body(), q.get("cursor"), q.get("limit"), now_ms());
    return reply(static_cast<status>(a.status), a.body);
  }
  if (parts[1] != base_.id) return not_permitted();
  airtable_table* t = base_.table(parts[2]);
  if (!t) return not_permitted();  // an unknown table is a 403 now (2.5)
  const auto verb = req.method();
  const std::string rec = parts.size() == 4 ? parts[3] : "";

  if (verb == bhttp::verb::get && !rec.empty()) {
    auto [table, r] = base_.find_record(rec);  // by id, through any table of the base (2.1)
    if (!r) return error(status::not_found, "MODEL_ID_NOT_FOUND", "Could not find record " + rec);
    return reply(status::ok, render(*table, *r, {{}, q.get("returnFieldsByFieldId") == "true", false, false}));
  }
  if ((verb == bhttp::verb::get && rec.empty()) || (verb == bhttp::verb::post && rec == "listRecords")) {
    list_params p;
    if (verb == bhttp::verb::get) {
      for (const auto& [k, v] : q.params) {
        if (k == "fields[]" || k == "fields") p.fields.push_back(v);
        else if (k.starts_with("sort[") && k.ends_with("[field]")) {
          const std::string dir = q.get(k.substr(0, k.size() - 7) + "[direction]");
          p.sort.emplace_back(v, dir == "desc");
        }
      }
      p.formula = q.get("filterByFormula");
      p.offset = q.get("offset");
      const std::string size = q.has("pageSize") ? q.get("pageSize") : q.get("limit");
      if (!size.empty()) p.page_size = number_param(size).value_or(-1);
      if (q.has("maxRecords")) p.max_records = number_param(q.get("maxRecords")).value_or(-1);
      p.by_field_id = q.get("returnFieldsByFieldId") == "true";
      p.comment_count = q.get("recordMetadata[]") == "commentCount";
      const std::string format = q.has("cellFormat") ? q.get("cellFormat") : "json";
      if (format != "json" && format != "string") p.error = "cellFormat must be json or string";
      // cellFormat=string needs timeZone and userLocale, which stay in the query (2.2).
      p.as_strings = format == "string";
      if (p.as_strings && (q.get("timeZone").empty() || q.get("userLocale").empty()))
        p.error = "The cellFormat 'string' requires the timeZone and userLocale parameters";
    } else {
      boost::system::error_code ec;
      json::value body = req.body().empty() ? json::object{} : json::parse(req.body(), ec);
      if (ec || !body.is_object()) return error(status::bad_request, "INVALID_REQUEST_UNKNOWN", "The body is not a JSON object");
      const auto& o = body.get_object();
      if (const auto* f = o.if_contains("fields"); f && f->is_array())
        for (const auto& e : f->get_array())
          if (e.is_string()) p.fields.emplace_back(e.get_string());
      if (const auto* s = o.if_contains("sort"); s && s->is_array())
        for (const auto& e : s->get_array())
          if (e.is_object() && e.get_object().contains("field"))
            p.sort.emplace_back(std::string(e.get_object().at("field").as_string()),
                                e.get_object().if_contains("direction") &&
                                    e.get_object().at("direction") == "desc");
      if (const auto* f = o.if_contains("filterByFormula"); f && f->is_string()) p.formula = f->get_string();
      if (const auto* f = o.if_contains("offset"); f && f->is_string()) p.offset = f->get_string();
      if (const auto* f = o.if_contains("pageSize"); f && f->is_int64()) p.page_size = static_cast<long>(f->get_int64());
      if (const auto* f = o.if_contains("maxRecords"); f && f->is_int64()) p.max_records = static_cast<long>(f->get_int64());
      if (const auto* f = o.if_contains("returnFieldsByFieldId"); f && f->is_bool()) p.by_field_id = f->get_bool();
      if (const auto* f = o.if_contains("cellFormat"); f && f->is_string()) {
        p.as_strings = f->get_string() == "string";
        if (p.as_strings && (q.get("timeZone").empty() || q.get("userLocale").empty()))
          p.error = "The cellFormat 'string' requires the timeZone and userLocale parameters";
      }
      p.comment_count = has_comment_count(o.if_contains("recordMetadata"));
    }
    return list(*t, p);
  }
  if (verb == bhttp::verb::post || verb == bhttp::verb::patch || verb == bhttp::verb::put) return write(req, *t, rec);
  if (verb == bhttp::verb::delete_) return remove(q, *t, rec);
  return reply(status::not_found, json::object{{"error", "NOT_FOUND"}});
}

json::object airtable_simulator::render(const airtable_table& t, const airtable_record& r, const render_opts& o) const {
  json::object cells;
  for (const auto& f : t.fields) {
    if (!o.fields.empty() && std::find(o.fields.begin(), o.fields.end(), f.name) == o.fields.end() &&
        std::find(o.fields.begin(), o.fields.end(), f.id) == o.fields.end())
      continue;
    const auto* v = r.fields.if_contains(f.name);
    if (v && !empty_cell(*v))  // empty cells are omitted (2.2)
      cells[o.by_field_id ? f.id : f.name] = o.as_strings ? as_string_cell(*v) : *v;
  }
  json::object out{{"id", r.id}, {"createdTime", format_airtable_time(r.created_ms)}, {"fields", std::move(cells)}};
  if (o.comment_count) out["commentCount"] = 0;  // the simulator keeps no comments
  return out;
}

http::response airtable_simulator::list(airtable_table& t, const list_params& p) {
  if (!p.error.empty()) return error(status::unprocessable_entity, "INVALID_REQUEST_UNKNOWN", p.error);
  if (p.page_size < 1 || p.max_records < 0)
    return error(status::unprocessable_entity, "INVALID_REQUEST_UNKNOWN", "pageSize and maxRecords must be positive numbers");
  for (const auto& f : p.fields)
    if (!t.field(f)) return error(status::unprocessable_entity, "UNKNOWN_FIELD_NAME", "Unknown field name: \"" + f + "\"");
  const auto now = std::chrono::steady_clock::now();
  for (auto it = iterators_.begin(); it != iterators_.end();)  // forget iterators long idle
    it = now - it->second.last_used > std::chrono::seconds(opts_.iterator_idle_seconds) * 2 ? iterators_.erase(it) : std::next(it);

  if (!p.offset.empty()) {
    const auto slash = p.offset.find('/');
    if (slash != 17 || !p.offset.starts_with("itr") || p.offset.size() != 35 || p.offset.compare(18, 3, "rec") != 0)
      return error(status::unprocessable_entity, "INVALID_OFFSET_VALUE", "The value of offset " + p.offset + " is invalid");
    auto found = iterators_.find(p.offset.substr(0, 17));
    if (found == iterators_.end() ||
        now - found->second.last_used > std::chrono::seconds(opts_.iterator_idle_seconds))
      return error(status::unprocessable_entity, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                   "The list records iterator is not available; start again from the first page");
    // The page starts at the record the offset names, not wherever the last
    // answer ended: a client retrying a page whose answer it lost gets that
    // page again, not the one after it.
    auto& ids = found->second.ids;
    const auto at = std::find(ids.begin(), ids.end(), p.offset.substr(18));
    if (at == ids.end() || !found->second.returned_before.count(static_cast<std::size_t>(at - ids.begin())))
      return error(status::unprocessable_entity, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                   "The list records iterator is not available; start again from the first page");
    return page(found->first, found->second, static_cast<std::size_t>(at - ids.begin()), t);
  }
  iterator it;
  it.page_size = static_cast<std::size_t>(std::min(p.page_size, 100L));  // the maximum is 100 (SIM CHOICE: clamp)
  it.max_records = static_cast<std::size_t>(p.max_records);
  it.fields = p.fields;
  it.by_field_id = p.by_field_id;
  it.as_strings = p.as_strings;
  it.comment_count = p.comment_count;
  std::optional<airtable_formula> formula;
  if (!p.formula.empty()) {
    auto parsed = airtable_formula::parse(p.formula, t);
    if (auto* e = std::get_if<std::string>(&parsed))
      return error(status::unprocessable_entity, "INVALID_FILTER_BY_FORMULA",
                   "The formula for filtering records is invalid: " + *e);
    formula = std::get<airtable_formula>(parsed);
  }
  std::vector<const airtable_record*> hits;
  for (const auto& r : t.records)
    if (!formula || formula->matches(r)) hits.push_back(&r);
  for (auto s = p.sort.rbegin(); s != p.sort.rend(); ++s) {
    const airtable_field* f = t.field(s->first);
    if (!f) return error(status::unprocessable_entity, "UNKNOWN_FIELD_NAME", "Unknown field name: \"" + s->first + "\"");
    const bool desc = s->second;
    std::stable_sort(hits.begin(), hits.end(), [&](const airtable_record* a, const airtable_record* b) {
      const auto* x = a->fields.if_contains(f->name);
      const auto* y = b->fields.if_contains(f->name);
      const std::string xs = x ? (x->is_string() ? std::string(x->get_string()) : json::serialize(*x)) : "";
      const std::string ys = y ? (y->is_string() ? std::string(y->get_string()) : json::serialize(*y)) : "";
      if (x && y && x->is_number() && y->is_number())
        return desc ? x->to_number<double>() > y->to_number<double>() : x->to_number<double>() < y->to_number<double>();
      return desc ? xs > ys : xs < ys;
    });
  }
  for (const auto* r : hits) it.ids.push_back(r->id);
  // Clients that read only a first page leave iterators behind: keep at most
  // kMaxIterators, forgetting the least recently used (its offset then gets
  // LIST_RECORDS_ITERATOR_NOT_AVAILABLE, as an expired one does).
  if (iterators_.size() >= kMaxIterators) {
    auto oldest = std::min_element(iterators_.begin(), iterators_.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    iterators_.erase(oldest);
  }
  const std::string id = airtable_id("itr", rng_);
  it.returned_before[0] = 0;
  auto& stored = iterators_[id] = std::move(it);
  return page(id, stored, 0, t);
}

http::response airtable_simulator::page(const std::string& itr_id, iterator& it, std::size_t start,
                                        airtable_table& t) {
  it.last_used = std::chrono::steady_clock::now();
  json::array records;
  std::size_t next = start, returned = it.returned_before.at(start);
  while (next < it.ids.size() && records.size() < it.page_size && (it.max_records == 0 || returned < it.max_records)) {
    // Field values are current: a record changed mid-iteration shows its new
    // values; one deleted since is skipped.
    if (const airtable_record* r = t.find(it.ids[next])) {
      records.push_back(render(t, *r, {it.fields, it.by_field_id, it.as_strings, it.comment_count}));
      ++returned;
    }
    ++next;
  }
  json::object out{{"records", std::move(records)}};
  const bool more = next < it.ids.size() && (it.max_records == 0 || returned < it.max_records);
  if (more) {
    out["offset"] = itr_id + "/" + it.ids[next];  // the last page has no offset key
    it.returned_before[next] = returned;
  }
  // A finished iteration is kept like any other until it idles out (or the
  // cap forgets it): its last page may be asked for again.
  return reply(status::ok, out);
}

http::response airtable_simulator::write(const http::request& req, airtable_table& t, const std::string& rec) {
  boost::system::error_code ec;
  json::value body = json::parse(req.body(), ec);
  if (ec || !body.is_object()) return error(status::bad_request, "INVALID_REQUEST_UNKNOWN", "The body is not a JSON object");
  const auto& o = body.get_object();
  const auto verb = req.method();
  const bool destructive = verb == bhttp::verb::put;

  auto check_fields = [&](const json::value* fields) -> std::optional<http::response> {
    if (!fields || !fields->is_object())
      return error(status::unprocessable_entity, "INVALID_REQUEST_UNKNOWN", "Each record needs a 'fields' object");
    for (const auto& [k, v] : fields->get_object())
      if (!t.field(k))
        return error(status::unprocessable_entity, "UNKNOWN_FIELD_NAME", "Unknown field name: \"" + std::string(k) + "\"");
    return std::nullopt;
  };
  auto apply = [&](airtable_record& r, const json::object& fields, bool clear_others) {
    if (clear_others) r.fields.clear();
    for (const auto& [k, v] : fields) {
      const std::string name = t.field(k)->name;
      if (empty_cell(v)) r.fields.erase(name);
      else r.fields[name] = v;
    }
  };
  auto create = [&](const json::object& fields) -> airtable_record& {
    airtable_record r;
    r.id = airtable_id("rec", rng_);
    r.created_ms = now_ms();
    apply(r, fields, false);
    t.records.push_back(std::move(r));
    webhooks_.record({&t, std::nullopt, t.records.back(), "publicApi"}, now_ms());
    return t.records.back();
  };

  if (!rec.empty()) {  // one record: POST is not allowed on a record path
    if (verb == bhttp::verb::post) return reply(status::not_found, json::object{{"error", "NOT_FOUND"}});
    airtable_record* r = t.find(rec);
    if (!r) return error(status::not_found, "MODEL_ID_NOT_FOUND", "Could not find record " + rec);
    if (auto bad = check_fields(o.if_contains("fields"))) return std::move(*bad);
    airtable_record before = *r;
    apply(*r, o.at("fields").get_object(), destructive);
    r->modified_ms = now_ms();
    webhooks_.record({&t, std::move(before), *r, "publicApi"}, now_ms());
    return reply(status::ok, render(t, *r, {}));
  }
  const json::value* records = o.if_contains("records");
  if (!records) {  // a single create: {"fields": {...}}
    if (verb != bhttp::verb::post) return error(status::unprocessable_entity, "INVALID_REQUEST_UNKNOWN", "Send 'records'");
    if (auto bad = check_fields(o.if_contains("fields"))) return std::move(*bad);
    return reply(status::ok, render(t, create(o.at("fields").get_object()), {}));
  }
  if (!records->is_array() || records->get_array().empty() || records->get_array().size() > 10)
    return error(status::unprocessable_entity, "INVALID_REQUEST_UNKNOWN",
                 "'records' must be an array of 1 to 10 records");
  // Validate everything first, so a bad batch changes nothing.
  for (const auto& e : records->get_array()) {
    if (!e.is_object()) return error(status::unprocessable_entity, "INVALID_REQUEST_UNKNOWN", "Each record must be an object");
    if (auto bad = check_fields(e.get_object().if_contains("fields"))) return std::move(*bad);
    if (verb != bhttp::verb::post && !o.contains("performUpsert")) {
      const auto* id = e.get_object().if_contains("id");
      if (!id || !id->is_string() || !t.find(id->get_string()))
        return error(status::not_found, "MODEL_ID_NOT_FOUND", "Could not find a record to update");
    }
  }
  std::vector<std::string> merge_on;
  if (const auto* up = o.if_contains("performUpsert"); up && up->is_object())
    if (const auto* m = up->get_object().if_contains("fieldsToMergeOn"); m && m->is_array())
      for (const auto& f : m->get_array())
        if (f.is_string()) merge_on.emplace_back(f.get_string());
  json::array out, created, updated;
  for (const auto& e : records->get_array()) {
    const auto& fields = e.get_object().at("fields").get_object();
    airtable_record* target = nullptr;
    if (const auto* id = e.get_object().if_contains("id"); id && id->is_string()) target = t.find(id->get_string());
    if (!target && !merge_on.empty()) {  // upsert: 0 matches create, 1 updates, more fail
      std::vector<airtable_record*> matches;
      for (auto& r : t.records) {
        bool all = true;
        for (const auto& f : merge_on) {
          const auto* a = r.fields.if_contains(f);
          const auto* b = fields.if_contains(f);
          all = all && a && b && *a == *b;
        }
        if (all) matches.push_back(&r);
      }
      if (matches.size() > 1)
        return error(status::unprocessable_entity, "INVALID_REQUEST_UNKNOWN", "More than one record matches the upsert");
      if (!matches.empty()) target = matches.front();
    }
    if (target) {
      airtable_record before = *target;
      apply(*target, fields, destructive);
      target->modified_ms = now_ms();
      webhooks_.record({&t, std::move(before), *target, "publicApi"}, now_ms());
      updated.push_back(json::value(target->id));
      out.push_back(render(t, *target, {}));
    } else {
      airtable_record& r = create(fields);
      created.push_back(json::value(r.id));
      out.push_back(render(t, r, {}));
    }
  }
  json::object result{{"records", std::move(out)}};
  if (!merge_on.empty()) {
    result["createdRecords"] = std::move(created);
    result["updatedRecords"] = std::move(updated);
  }
  return reply(status::ok, result);
}

http::response airtable_simulator::remove(const lenient_query& q, airtable_table& t, const std::string& rec) {
  auto erase = [&](const std::string& id) {
    auto it = std::find_if(t.records.begin(), t.records.end(), [&](const airtable_record& r) { return r.id == id; });
    if (it == t.records.end()) return false;
    webhooks_.record({&t, *it, std::nullopt, "publicApi"}, now_ms());
    t.records.erase(it);
    return true;
  };
  if (!rec.empty()) {
    if (!erase(rec)) return error(status::not_found, "MODEL_ID_NOT_FOUND", "Could not find record " + rec);
    return reply(status::ok, json::object{{"id", rec}, {"deleted", true}});
  }
  std::vector<std::string> ids;
  for (const auto& [k, v] : q.params)
    if (k == "records[]" || k == "records") ids.push_back(v);
  if (ids.empty() || ids.size() > 10)
    return error(status::unprocessable_entity, "INVALID_REQUEST_UNKNOWN", "Give 1 to 10 records[] to delete");
  for (const auto& id : ids)
    if (!t.find(id)) return error(status::not_found, "MODEL_ID_NOT_FOUND", "Could not find record " + id);
  json::array out;
  for (const auto& id : ids) {
    erase(id);
    out.push_back(json::object{{"id", id}, {"deleted", true}});
  }
  return reply(status::ok, json::object{{"records", std::move(out)}});
}

http::response airtable_simulator::sim_route(const http::request& req, const lenient_query& q) {
  const std::string& path = q.path;
  if (path == "/_sim/clock") return clock_route(clock_, req);
  if (path == "/_sim/stats") {
    std::lock_guard lk(mu_);
    return reply(status::ok, json::object{{"requests", meter_.total()},
                                          {"rate_limited", rate_limited_},
                                          {"max_requests_in_one_second", meter_.max_in_one_second()},
                                          {"tightest_span_ms", meter_.tightest_span_ms()},
                                          {"faults_injected", faults_.injected()},
                                          {"changes_applied", changes_applied_},
                                          {"webhooks_sent", webhooks_.pings_sent()}});
  }
  if (path == "/_sim/changes" && req.method() == bhttp::verb::post)
    return changes_route(req, [this](int n) { return apply_changes(n); });
  if (path == "/_sim/webhooks/lose_create_answers" && req.method() == bhttp::verb::post) {
    // {"count":N}: the next N webhook creations happen, but their answer is a 504.
    boost::system::error_code ec;
    auto doc = json::parse(req.body(), ec);
    const json::value* n = !ec && doc.is_object() ? doc.get_object().if_contains("count") : nullptr;
    if (!n || !n->is_int64() || n->get_int64() < 0)
      return reply(status::bad_request, json::object{{"error", "send {\"count\": N}"}});
    std::lock_guard lk(mu_);
    webhooks_.lose_create_answers(static_cast<int>(n->get_int64()));
    return reply(status::ok, json::object{{"count", n->get_int64()}});
  }
  if (path == "/_sim/state" && req.method() == bhttp::verb::get) {
    std::lock_guard lk(mu_);
    json::object out;
    for (const auto& t : base_.tables) {
      if (q.has("object") && q.get("object") != t.id && q.get("object") != t.name) continue;
      json::array recs;
      for (const auto& r : t.records) recs.push_back(render(t, r, {}));
      out[t.id] = std::move(recs);
    }
    if (out.empty()) return sim_error(status::not_found, "unknown_object", "No such table.");
    return sim_reply(status::ok, json::object{{"objects", std::move(out)}});
  }
  return sim_error(status::not_found, "not_found", "Unknown simulator route.");
}

json::array airtable_simulator::apply_changes(int n) {
  json::array out;
  std::lock_guard lk(mu_);
  for (int i = 0; i < n; ++i) {
    // The trickle picks its record itself, so keep the table as it was to
    // describe the change to webhooks (as a UI edit: source "client").
    const std::vector<airtable_record> before = base_.tables.front().records;
    auto c = apply_random_airtable_change(base_, rng_, now_ms());
    airtable_table& t = *base_.table(c.table);
    std::optional<airtable_record> was, is;
    for (const auto& r : before)
      if (r.id == c.id) was = r;
    if (auto* r = t.find(c.id)) is = *r;
    webhooks_.record({&t, std::move(was), std::move(is), "client"}, now_ms());
    out.push_back(json::object{{"op", c.op}, {"object", c.table}, {"id", c.id}});
  }
  changes_applied_ += static_cast<std::uint64_t>(n);
  return out;
}

json::array airtable_simulator::tables_metadata() const {
  json::array tables;
  for (const auto& t : base_.tables) {
    json::array fields;
    for (const auto& f : t.fields) fields.push_back(json::object{{"id", f.id}, {"name", f.name}, {"type", f.type}});
    tables.push_back(json::object{{"id", t.id},
                                  {"name", t.name},
                                  {"primaryFieldId", t.fields.empty() ? std::string() : t.fields.front().id},
                                  {"fields", std::move(fields)},
                                  {"views", json::array{}}});
  }
  return tables;
}

std::string airtable_simulator::freshet_config(const std::string& base_url) const {
  std::lock_guard lk(mu_);
  std::ostringstream os;
  os << "# A Freshet source reading this simulator. Set in the environment:\n"
     << "#   AIRTABLE_BASE_ID=" << base_.id << "  AIRTABLE_TOKEN=" << opts_.token << "\n"
     << "[[sources]]\nname = \"" << opts_.dataset << "\"\nkind = \"airtable\"\nbase_url = \"" << base_url << "\"\n"
     << "base_id_env = \"AIRTABLE_BASE_ID\"\ntoken_env = \"AIRTABLE_TOKEN\"\n"
     << "requests_per_second = " << opts_.requests_per_second << "\n";
  for (const auto& t : base_.tables) {
    const std::string local = core::snake_case(t.name);
    os << "\n  [[sources.objects]]\n  name = \"" << local << "\"\n  key = \"" << t.id << "\"\n  fields = { ";
    bool quarter = false;
    for (std::size_t i = 0; i < t.fields.size(); ++i) {
      const std::string f = core::snake_case(t.fields[i].name);
      os << (i ? ", " : "") << f << " = \"" << t.fields[i].name << "\"";
      quarter = quarter || f == "quarter";
    }
    os << " }\n";
    if (quarter) os << "  tenant_field = \"quarter\"\n";
  }
  return os.str();
}

}  // namespace freshet::sim
