#include "sources/knack_connector.hpp"

#include "sources/task_group.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <ctime>
#include <set>
#include <unordered_set>

namespace freshet::sources {

namespace asio = boost::asio;
namespace json = boost::json;
using boost::beast::http::verb;

namespace {
constexpr std::uint64_t kRowsPerPage = 1000;  // Knack's maximum
constexpr int kParallelPages = 8;             // enough to cover 800 ms of latency at 10 requests/s

std::uint64_t as_count(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->get_int64() > 0 ? static_cast<std::uint64_t>(v->get_int64()) : 0;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_double()) return static_cast<std::uint64_t>(v->get_double());
  if (v->is_string()) {  // some clients see strings; be as lenient
    std::uint64_t n = 0;
    auto s = v->get_string();
    std::from_chars(s.data(), s.data() + s.size(), n);
    return n;
  }
  return 0;
}

std::string upstream_key(const app::object_config& obj, const std::string& local) {
  auto it = obj.fields.find(local);
  return it == obj.fields.end() ? local : it->second;
}
}  // namespace

std::string tenant_of(const json::value* v) {
  if (!v || v->is_null()) return {};
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  if (v->is_double()) return json::serialize(*v);
  if (v->is_bool()) return v->get_bool() ? "true" : "false";
  if (v->is_array()) return v->get_array().empty() ? std::string() : tenant_of(&v->get_array().front());
  if (v->is_object()) {  // a Knack connection {id, identifier}; an Airtable V2 {id, name}
    const auto& o = v->get_object();
    for (auto key : {"identifier", "name", "id"})
      if (const auto* x = o.if_contains(key)) return tenant_of(x);
  }
  return {};
}

namespace knack {

store::record_upsert map_record(const app::object_config& obj, json::object rec) {
  // The fields live where the record does (an answer's arena), so its values move in without a copy.
  store::record_upsert out{{}, {}, json::object(rec.storage()), {}, {}};
  if (const auto* id = rec.if_contains("id"); id && id->is_string()) out.id = id->get_string();
  // Values are moved out of the record (a page's records are read once).
  auto raw_value = [&](const std::string& key) -> json::value {
    if (json::value* raw = rec.if_contains(key + "_raw")) return std::move(*raw);
    json::value* shown = rec.if_contains(key);
    // An empty field is "" with no _raw key (1.5): store it as null.
    if (!shown || (shown->is_string() && shown->get_string().empty())) return nullptr;
    return std::move(*shown);
  };
  if (obj.fields.empty()) {
    // Each field_N once, with its own field_N_raw: no value is taken twice.
    for (auto& kv : rec) {
      std::string_view k = kv.key();
      if (k.starts_with("field_") && !k.ends_with("_raw")) out.fields[k] = raw_value(std::string(k));
    }
  } else {
    for (auto it = obj.fields.begin(); it != obj.fields.end(); ++it) {
      // A key two local names map: the later one copies what the first took.
      // (Copied before the insertion, which may rehash and move what at() found.)
      const auto first = first_mapping(obj.fields, it);
      json::value v = first != it ? json::value(out.fields.at(first->first)) : raw_value(it->second);
      out.fields[it->first] = std::move(v);
    }
  }
  if (!obj.tenant_field.empty()) out.tenant = tenant_of(out.fields.if_contains(obj.tenant_field));
  return out;
}

std::int64_t max_modified_ms(const app::object_config& obj, const std::vector<store::record_upsert>& recs,
                             std::int64_t floor) {
  if (obj.modified_field.empty()) return floor;
  for (const auto& r : recs) {
    const auto* v = r.fields.if_contains(obj.modified_field);
    if (!v || !v->is_object()) continue;
    const auto* ts = v->get_object().if_contains("unix_timestamp");
    if (ts && ts->is_number()) floor = std::max(floor, ts->to_number<std::int64_t>());
  }
  return floor;
}

std::string modified_filter(const std::string& field_key, bool with_time, std::int64_t since_local_ms) {
  // The stamp is local wall time written as UTC, so formatting it as UTC gives
  // the app's local date and time, the frame Knack filters in.
  std::time_t secs = static_cast<std::time_t>(since_local_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::string value = with_time ? fmt::format("{:02}/{:02}/{:04} {:02}:{:02}", tm.tm_mon + 1, tm.tm_mday,
                                              tm.tm_year + 1900, tm.tm_hour, tm.tm_min)
                                : fmt::format("{:02}/{:02}/{:04}", tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900);
  json::object f{{"match", "or"},
                 {"rules", json::array{json::object{{"field", field_key}, {"operator", "is"}, {"value", value}},
                                       json::object{{"field", field_key}, {"operator", "is after"}, {"value", value}}}}};
  return json::serialize(f);
}

std::string tenant_filter(const std::string& field_key, const std::string& tenant) {
  json::object f{{"match", "and"},
                 {"rules", json::array{json::object{{"field", field_key}, {"operator", "is"}, {"value", tenant}}}}};
  return json::serialize(f);
}

}  // namespace knack

knack_connector::knack_connector(const app::source_config& src, upstream_caller& caller)
    : src_(src), caller_(caller) {}

std::vector<std::pair<std::string, std::string>> knack_connector::headers() const {
  return {{"X-Knack-Application-Id", src_.app_id}, {"X-Knack-REST-API-Key", src_.api_key}};
}

std::string knack_connector::list_target(const app::object_config& obj, const std::string& filters,
                                         std::uint64_t page) const {
  std::string t = fmt::format("/v1/objects/{}/records?rows_per_page={}&page={}", obj.key, kRowsPerPage, page);
  if (!filters.empty()) t += "&filters=" + boost::urls::encode(filters, boost::urls::unreserved_chars);
  return t;
}

asio::awaitable<void> knack_connector::prepare() { co_return; }

asio::awaitable<void> knack_connector::load_metadata() {
  metadata_loaded_ = true;
  auto meta = co_await caller_.call(verb::get, "/v1/applications/" + src_.app_id, {});
  const auto* app = meta.if_contains("application");
  if (!app || !app->is_object()) co_return;
  if (const auto* s = app->get_object().if_contains("settings"); s && s->is_object())
    if (const auto* tz = s->get_object().if_contains("timezone"); tz && tz->is_string()) time_zone_ = tz->get_string();
  if (const auto* objs = app->get_object().if_contains("objects"); objs && objs->is_array())
    for (const auto& o : objs->get_array()) {
      const auto* fields = o.is_object() ? o.get_object().if_contains("fields") : nullptr;
      if (!fields || !fields->is_array()) continue;
      for (const auto& f : fields->get_array())
        if (f.is_object() && f.get_object().contains("key") && f.get_object().contains("type"))
          field_types_[std::string(f.get_object().at("key").get_string())] = f.get_object().at("type").get_string();
    }
}

asio::awaitable<fetch_outcome> knack_connector::fetch(const app::object_config& obj, const fetch_request& req,
                                                      const page_sink& sink) {
  fetch_outcome out;
  if (req.what == fetch_request::mode::ids) {
    // One by one (Knack has no id filter on lists); a 404 is an answer: gone.
    std::vector<store::record_upsert> recs;
    for (const auto& id : req.ids) {
      try {
        const std::string target = "/v1/objects/" + obj.key + "/records/" + id;
        auto rec = co_await caller_.call(verb::get, target, headers());
        recs.push_back(knack::map_record(obj, std::move(rec)));
      } catch (const upstream_error& e) {
        if (e.status != 404) throw;
        out.missing_ids.push_back(id);
      }
    }
    ++out.progress.pages;
    out.progress.records = recs.size();
    co_await sink(std::move(recs), out.progress);
    out.complete = true;
    out.watermark = req.since;  // reading some ids says nothing about the rest
    co_return out;
  }
  std::string filters;
  std::int64_t watermark = 0;
  if (!req.since.empty()) std::from_chars(req.since.data(), req.since.data() + req.since.size(), watermark);
  if (req.what == fetch_request::mode::full && !req.tenant.empty()) {
    filters = knack::tenant_filter(upstream_key(obj, obj.tenant_field), req.tenant);
  } else if (req.what == fetch_request::mode::incremental && !obj.modified_field.empty() && watermark > 0) {
    // Only an incremental read needs the field types (for the filter's
    // granularity), so a full read never waits for the metadata.
    if (!metadata_loaded_) co_await load_metadata();
    const std::string key = upstream_key(obj, obj.modified_field);
    const bool with_time = field_types_.count(key) ? field_types_[key] != "date" : true;
    filters = knack::modified_filter(key, with_time, watermark - src_.overlap_seconds * 1000LL);
  }

  std::unordered_set<std::string> seen;
  std::set<std::uint64_t> totals;  // total_records as each page saw it
  auto take_page = [&](json::object page) -> asio::awaitable<void> {
    totals.insert(as_count(page, "total_records"));
    std::vector<store::record_upsert> recs;
    if (auto* arr = page.if_contains("records"); arr && arr->is_array()) {
      for (auto& r : arr->get_array()) {
        if (!r.is_object()) continue;
        auto up = knack::map_record(obj, std::move(r.get_object()));
        // Offset paging over changing data can repeat a record: keep the first.
        if (up.id.empty() || !seen.insert(up.id).second) continue;
        recs.push_back(std::move(up));
      }
    }
    watermark = knack::max_modified_ms(obj, recs, watermark);
    ++out.progress.pages;
    out.progress.records += recs.size();
    co_await sink(std::move(recs), out.progress);
  };

  auto first = co_await caller_.call(verb::get, list_target(obj, filters, 1), headers());
  const std::uint64_t pages = as_count(first, "total_pages");
  out.progress.total = as_count(first, "total_records");
  co_await take_page(std::move(first));
  if (pages > 1) {
    // The page count is known: the rest in parallel, each through the limiter,
    // so upstream latency overlaps while the rate stays where it must.
    auto ex = co_await asio::this_coro::executor;
    task_group group(ex);
    std::uint64_t next = 2;
    // A named closure: it must outlive the coroutines it starts.
    auto worker = [&]() -> asio::awaitable<void> {
      while (next <= pages) {
        const std::uint64_t p = next++;
        co_await take_page(co_await caller_.call(verb::get, list_target(obj, filters, p), headers()));
      }
    };
    for (int w = 0; w < kParallelPages && static_cast<std::uint64_t>(w) + 2 <= pages; ++w) group.spawn(worker());
    co_await group.wait();
  }
  // Consistent only if every page saw the same total and the ids add up to it:
  // otherwise a record may have slid between pages, and deleting "what was not
  // listed" could delete a live record.
  out.complete = totals.size() == 1 && *totals.begin() == seen.size();
  if (req.what == fetch_request::mode::full) out.seen_ids.assign(seen.begin(), seen.end());
  out.watermark = obj.modified_field.empty() ? std::string() : std::to_string(watermark);
  co_return out;
}

}  // namespace freshet::sources
