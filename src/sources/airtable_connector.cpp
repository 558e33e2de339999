#include "sources/airtable_connector.hpp"

#include "core/clock.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <fmt/format.h>

#include <unordered_set>

namespace freshet::sources {

namespace asio = boost::asio;
namespace json = boost::json;
using boost::beast::http::verb;

namespace {
constexpr std::size_t kIdsPerRequest = 50;  // keeps the formula well under the 16,000-character URL limit
constexpr int kIteratorRestarts = 3;

std::string upstream_name(const app::object_config& obj, const std::string& local) {
  auto it = obj.fields.find(local);
  return it == obj.fields.end() ? local : it->second;
}

// ISO 8601 UTC minus `seconds`, for the overlap (the watermark is an ISO time).
std::string minus_seconds(const std::string& iso, int seconds) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &ms) < 6)
    return iso;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const auto t = std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::milliseconds(ms) -
                 std::chrono::seconds(seconds);
  return core::format_iso8601_ms(t);
}
}  // namespace

namespace airtable {

store::record_upsert map_record(const app::object_config& obj, json::object rec) {
  // The fields live where the record does (an answer's arena), so its values move in without a copy.
  store::record_upsert out{{}, {}, json::object(rec.storage()), {}, {}};
  if (const auto* id = rec.if_contains("id"); id && id->is_string()) out.id = id->get_string();
  json::value* f = rec.if_contains("fields");
  if (f && f->is_object()) {
    json::object& fields = f->get_object();
    if (obj.fields.empty()) {
      out.fields = std::move(fields);
    } else {
      // Moved out (a page's records are read once); a name two local names
      // map: the later one copies what the first took.
      for (auto it = obj.fields.begin(); it != obj.fields.end(); ++it) {
        // (Copied before the insertion, which may rehash and move what at() found.)
        json::value v(out.fields.storage());  // null, in the record's storage: a move stays a move
        if (auto first = first_mapping(obj.fields, it); first != it) v = out.fields.at(first->first);
        else if (json::value* up = fields.if_contains(it->second)) v = std::move(*up);
        out.fields[it->first] = std::move(v);
      }
    }
  } else {
    for (const auto& [local, name] : obj.fields) out.fields[local] = nullptr;
  }
  if (!obj.tenant_field.empty()) out.tenant = tenant_of(out.fields.if_contains(obj.tenant_field));
  return out;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string modified_formula(const app::object_config& obj, const std::string& since_iso) {
  if (!obj.modified_field.empty())
    return fmt::format("IS_AFTER({{{}}}, {})", upstream_name(obj, obj.modified_field), quote(since_iso));
  // LAST_MODIFIED_TIME() is blank for a record never edited since creation.
  return fmt::format("IS_AFTER(IF(NOT(LAST_MODIFIED_TIME()), CREATED_TIME(), LAST_MODIFIED_TIME()), {})",
                     quote(since_iso));
}

std::string ids_formula(const std::vector<std::string>& ids) {
  std::string f = "OR(";
  for (std::size_t i = 0; i < ids.size(); ++i) f += (i ? "," : "") + fmt::format("RECORD_ID()={}", quote(ids[i]));
  return f + ")";
}

}  // namespace airtable

airtable_connector::airtable_connector(const app::source_config& src, upstream_caller& caller)
    : src_(src), caller_(caller) {}

std::vector<std::pair<std::string, std::string>> airtable_connector::headers() const {
  return {{"Authorization", "Bearer " + src_.token}};
}

asio::awaitable<void> airtable_connector::list(const app::object_config& obj, const std::string& formula,
                                               const page_sink& sink, fetch_outcome& out, std::string& max_modified) {
  const std::string base = fmt::format("/v0/{}/{}?pageSize=100", src_.base_id,
                                       boost::urls::encode(obj.key, boost::urls::unreserved_chars)) +
                           (formula.empty() ? "" : "&filterByFormula=" + boost::urls::encode(formula, boost::urls::unreserved_chars));
  for (int attempt = 0;; ++attempt) {
    std::unordered_set<std::string> seen;
    std::string offset;
    try {
      do {
        std::string target = base;
        if (!offset.empty()) target += "&offset=" + boost::urls::encode(offset, boost::urls::unreserved_chars);
        auto page = co_await caller_.call(verb::get, std::move(target), headers());
        std::vector<store::record_upsert> recs;
        if (auto* arr = page.if_contains("records"); arr && arr->is_array())
          for (auto& r : arr->get_array()) {
            if (!r.is_object()) continue;
            auto up = airtable::map_record(obj, std::move(r.get_object()));
            if (up.id.empty() || !seen.insert(up.id).second) continue;
            if (!obj.modified_field.empty())
              if (const auto* m = up.fields.if_contains(obj.modified_field); m && m->is_string())
                max_modified = std::max(max_modified, std::string(m->get_string()));
            recs.push_back(std::move(up));
          }
        const auto* next = page.if_contains("offset");
        offset = next && next->is_string() ? std::string(next->get_string()) : std::string();
        ++out.progress.pages;
        out.progress.records += recs.size();
        co_await sink(std::move(recs), out.progress);
      } while (!offset.empty());
    } catch (const upstream_error& e) {
      // The iterator expired between pages (422): the listing starts over.
      if (e.status == 422 && e.body.find("LIST_RECORDS_ITERATOR_NOT_AVAILABLE") != std::string::npos &&
          attempt < kIteratorRestarts)
        continue;
      throw;
    }
    // Airtable freezes the order of an iteration: a listing that reached its
    // last page saw every record that existed when it began.
    out.seen_ids.insert(out.seen_ids.end(), seen.begin(), seen.end());
    co_return;
  }
}

asio::awaitable<fetch_outcome> airtable_connector::fetch(const app::object_config& obj, const fetch_request& req,
                                                         const page_sink& sink) {
  fetch_outcome out;
  std::string max_modified;
  const std::string started = core::now_iso8601_ms();
  if (req.what == fetch_request::mode::ids) {
    for (std::size_t i = 0; i < req.ids.size(); i += kIdsPerRequest) {
      std::vector<std::string> chunk(req.ids.begin() + i, req.ids.begin() + std::min(req.ids.size(), i + kIdsPerRequest));
      co_await list(obj, airtable::ids_formula(chunk), sink, out, max_modified);
    }
    out.complete = true;
    out.watermark = req.since;  // reading some ids says nothing about the rest
    co_return out;
  }
  std::string formula;
  if (req.what == fetch_request::mode::full && !req.tenant.empty())
    formula = fmt::format("{{{}}}={}", upstream_name(obj, obj.tenant_field), airtable::quote(req.tenant));
  else if (req.what == fetch_request::mode::incremental && !req.since.empty())
    formula = airtable::modified_formula(obj, minus_seconds(req.since, src_.overlap_seconds));
  co_await list(obj, formula, sink, out, max_modified);
  out.complete = true;
  if (req.what != fetch_request::mode::full) out.seen_ids.clear();
  // With a modified field, the newest value seen; without, when this read began.
  if (!obj.modified_field.empty()) out.watermark = std::max(req.since, max_modified);
  else out.watermark = (req.what == fetch_request::mode::full && !req.tenant.empty()) ? req.since : started;
  co_return out;
}

}  // namespace freshet::sources
