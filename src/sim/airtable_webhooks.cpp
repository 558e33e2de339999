#include "sim/airtable_webhooks.hpp"


#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "core/clock.hpp"
#include "core/content_mac.hpp"
#include "core/standard_webhooks.hpp"
#include "http/client.hpp"
#include "sim/airtable_datasets.hpp"

namespace freshet::sim {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::int64_t kSevenDaysMs = 7LL * 86400000;
constexpr std::size_t kMaxWebhooks = 10;
constexpr std::size_t kMaxPayloadsPerCall = 50;

std::string core_now() { return core::now_iso8601_ms(); }

json::object err(std::string type, std::string message) {
  return json::object{{"error", json::object{{"type", std::move(type)}, {"message", std::move(message)}}}};
}

bool has_string(const json::value* arr, std::string_view s) {
  if (!arr || !arr->is_array()) return false;
  for (const auto& e : arr->get_array())
    if (e.is_string() && e.get_string() == s) return true;
  return false;
}

// V2 cell values (2.6): a single select is an object, not the REST string.
json::value v2_cell(const airtable_field& f, const json::value& v) {
  if (f.type == "singleSelect" && v.is_string())
    return json::object{
        {"id", "sel" + std::string(v.get_string()).substr(0, 14)}, {"name", v}, {"color", "blueLight2"}};
  return v;
}

json::object cells(const airtable_table& t, const airtable_record& r, const std::vector<std::string>* only) {
  json::object out;
  for (const auto& f : t.fields) {
    if (only && std::find(only->begin(), only->end(), f.name) == only->end()) continue;
    const auto* v = r.fields.if_contains(f.name);
    if (v)
      out[f.id] = v2_cell(f, *v);
    else if (only)
      out[f.id] = nullptr;  // null means cleared
  }
  return out;
}

}  // namespace

airtable_webhooks::airtable_webhooks(const std::string& base_id, std::mt19937_64& rng, std::mutex& mu)
    : base_id_(base_id), rng_(rng), mu_(mu) {}

airtable_webhook* airtable_webhooks::find(const std::string& id) {
  for (auto& w : hooks_)
    if (w.id == id) return &w;
  return nullptr;
}

void airtable_webhooks::purge(std::int64_t now) {
  std::erase_if(hooks_, [&](const airtable_webhook& w) { return now >= w.expiration_ms + kSevenDaysMs; });
  for (auto& w : hooks_)
    std::erase_if(w.payloads, [&](const airtable_webhook::payload& p) { return now >= p.created_ms + kSevenDaysMs; });
}

airtable_webhooks::answer airtable_webhooks::handle(const std::string& method, const std::vector<std::string>& rest,
                                                    const std::string& body, const std::string& query_cursor,
                                                    const std::string& query_limit, std::int64_t now) {
  purge(now);
  if (rest.empty() && method == "GET") {
    json::array list;
    for (const auto& w : hooks_)
      list.push_back(json::object{
          {"id", w.id},
          {"areNotificationsEnabled", w.notifications_enabled},
          {"cursorForNextPayload", w.next_cursor},
          {"isHookEnabled", now < w.expiration_ms},
          {"lastSuccessfulNotificationTime",
           w.last_success_ms ? json::value(format_airtable_time(*w.last_success_ms)) : nullptr},
          {"notificationUrl", w.notification_url.empty() ? json::value(nullptr) : json::value(w.notification_url)},
          {"lastNotificationResult", w.last_result},
          {"expirationTime", format_airtable_time(w.expiration_ms)},
          {"specification", w.specification}});
    return {200, json::object{{"webhooks", std::move(list)}}};
  }
  if (rest.empty() && method == "POST") {
    boost::system::error_code ec;
    json::value doc = json::parse(body, ec);
    if (ec || !doc.is_object()) return {400, err("INVALID_REQUEST_UNKNOWN", "The body is not a JSON object")};
    const auto& o = doc.get_object();
    const json::value* spec = o.if_contains("specification");
    const json::value* types =
        spec && spec->is_object() && spec->get_object().if_contains("options") &&
                spec->get_object().at("options").is_object() &&
                spec->get_object().at("options").get_object().if_contains("filters")
            ? spec->get_object().at("options").get_object().at("filters").get_object().if_contains("dataTypes")
            : nullptr;
    if (!types || !types->is_array() || types->get_array().empty())
      return {422, err("INVALID_WEBHOOK_SPECIFICATION", "specification.options.filters.dataTypes is required")};
    if (hooks_.size() >= kMaxWebhooks)
      return {422, err("TOO_MANY_WEBHOOKS_BY_OAUTH_INTEGRATION_IN_BASE", "A base has at most 10 webhooks")};
    airtable_webhook w;
    w.id = airtable_id("ach", rng_);
    for (int i = 0; i < 32; ++i) w.mac_secret += static_cast<char>(rng_() & 0xff);
    if (const auto* url = o.if_contains("notificationUrl"); url && url->is_string())
      w.notification_url = url->get_string();
    w.specification = spec->get_object();
    w.expiration_ms = now + kSevenDaysMs;
    hooks_.push_back(std::move(w));
    airtable_webhook& created = hooks_.back();
    schedule_ping(created);  // a ping soon after creation, as Airtable sends (2.6)
    if (lose_create_answers_ > 0) {
      --lose_create_answers_;
      return {504, err("GATEWAY_TIMEOUT", "The gateway timed out")};
    }
    return {200, json::object{{"id", created.id},
                              {"macSecretBase64", core::base64_encode(created.mac_secret)},
                              {"expirationTime", format_airtable_time(created.expiration_ms)}}};
  }
  airtable_webhook* w = rest.empty() ? nullptr : find(rest[0]);
  if (!w) return {404, err("NOT_FOUND", "Could not find webhook")};
  if (rest.size() == 1 && method == "DELETE") {
    hooks_.erase(hooks_.begin() + (w - hooks_.data()));
    return {200, json::object{}};
  }
  if (rest.size() == 2 && rest[1] == "refresh" && method == "POST") {
    if (now >= w->expiration_ms) return {422, err("CANNOT_REFRESH_DISABLED_WEBHOOK", "The webhook has expired")};
    w->expiration_ms = now + kSevenDaysMs;
    return {200, json::object{{"expirationTime", format_airtable_time(w->expiration_ms)}}};
  }
  if (rest.size() == 2 && rest[1] == "enableNotifications" && method == "POST") {
    boost::system::error_code ec;
    json::value doc = json::parse(body, ec);
    if (ec || !doc.is_object() || !doc.get_object().contains("enable") || !doc.get_object().at("enable").is_bool())
      return {422, err("INVALID_REQUEST_UNKNOWN", "Send {\"enable\": true|false}")};
    w->notifications_enabled = doc.get_object().at("enable").get_bool();
    return {200, json::object{}};
  }
  if (rest.size() == 2 && rest[1] == "payloads" && method == "GET") {
    std::int64_t cursor = 1, limit = static_cast<std::int64_t>(kMaxPayloadsPerCall);
    if (!query_cursor.empty()) std::from_chars(query_cursor.data(), query_cursor.data() + query_cursor.size(), cursor);
    if (!query_limit.empty()) std::from_chars(query_limit.data(), query_limit.data() + query_limit.size(), limit);
    limit = std::clamp<std::int64_t>(limit, 1, static_cast<std::int64_t>(kMaxPayloadsPerCall));
    if (now < w->expiration_ms) w->expiration_ms = now + kSevenDaysMs;  // listing keeps an active hook alive
    json::array out;
    std::int64_t next = cursor;
    for (const auto& p : w->payloads) {
      if (p.number < cursor) continue;
      if (static_cast<std::int64_t>(out.size()) == limit) break;
      out.push_back(p.body);
      next = p.number + 1;
    }
    // Nothing returned: the cursor is the one asked for (2.6).
    return {200,
            json::object{{"cursor", next}, {"mightHaveMore", next < w->next_cursor}, {"payloads", std::move(out)}}};
  }
  return {404, json::object{{"error", "NOT_FOUND"}}};
}

void airtable_webhooks::record(const record_change& c, std::int64_t now) {
  purge(now);
  if (hooks_.empty()) return;
  ++transaction_;
  const airtable_table& t = *c.table;
  const std::string rid = c.after ? c.after->id : c.before->id;
  for (auto& w : hooks_) {
    if (now >= w.expiration_ms) continue;
    const auto& opts = w.specification.at("options").get_object();
    const auto& filters = opts.at("filters").get_object();
    if (!has_string(filters.if_contains("dataTypes"), "tableData")) continue;
    if (const auto* scope = filters.if_contains("recordChangeScope");
        scope && scope->is_string() && scope->get_string() != t.id)
      continue;
    const char* change_type = !c.before ? "add" : !c.after ? "remove" : "update";
    if (const auto* ct = filters.if_contains("changeTypes"); ct && ct->is_array() && !has_string(ct, change_type))
      continue;
    if (const auto* fs = filters.if_contains("fromSources"); fs && fs->is_array() && !has_string(fs, c.source))
      continue;
    const json::object* includes =
        opts.if_contains("includes") && opts.at("includes").is_object() ? &opts.at("includes").get_object() : nullptr;
    const bool all_cells = includes && includes->if_contains("includeCellValuesInFieldIds") &&
                           includes->at("includeCellValuesInFieldIds") == "all";
    const bool previous = includes && includes->if_contains("includePreviousCellValues") &&
                          includes->at("includePreviousCellValues") == true;

    json::object table_changes;
    if (!c.before) {
      table_changes["createdRecordsById"] =
          json::object{{rid, json::object{{"createdTime", format_airtable_time(c.after->created_ms)},
                                          {"cellValuesByFieldId", cells(t, *c.after, nullptr)}}}};
    } else if (!c.after) {
      table_changes["destroyedRecordIds"] = json::array{json::value(rid)};
    } else {
      std::vector<std::string> changed;
      for (const auto& f : t.fields) {
        const auto* a = c.before->fields.if_contains(f.name);
        const auto* b = c.after->fields.if_contains(f.name);
        if ((a == nullptr) != (b == nullptr) || (a && *a != *b)) changed.push_back(f.name);
      }
      if (changed.empty()) continue;
      // watchDataInFieldIds: an update matters only if it touches a watched field.
      if (const auto* watch = filters.if_contains("watchDataInFieldIds"); watch && watch->is_array()) {
        bool watched = false;
        for (const auto& f : t.fields)
          if (std::find(changed.begin(), changed.end(), f.name) != changed.end()) watched = watched || has_string(watch, f.id);
        if (!watched) continue;
      }
      json::object entry{{"current", json::object{{"cellValuesByFieldId", cells(t, *c.after, &changed)}}}};
      if (previous) entry["previous"] = json::object{{"cellValuesByFieldId", cells(t, *c.before, &changed)}};
      if (all_cells) {
        json::object unchanged = cells(t, *c.after, nullptr);
        for (const auto& f : t.fields)
          if (std::find(changed.begin(), changed.end(), f.name) != changed.end()) unchanged.erase(f.id);
        entry["unchanged"] = json::object{{"cellValuesByFieldId", std::move(unchanged)}};
      }
      table_changes["changedRecordsById"] = json::object{{rid, std::move(entry)}};
    }
    json::object payload{
        {"timestamp", format_airtable_time(now)},
        {"baseTransactionNumber", transaction_},
        {"payloadFormat", "v0"},
        {"actionMetadata",
         json::object{{"source", c.source},
                      {"sourceMetadata", json::object{{"user", json::object{{"id", "usrSimulator0000001"}}}}}}},
        {"changedTablesById", json::object{{t.id, std::move(table_changes)}}}};
    w.payloads.push_back({w.next_cursor++, now, std::move(payload)});
    schedule_ping(w);
  }
}

void airtable_webhooks::schedule_ping(airtable_webhook& w) {
  if (!ex_ || w.notification_url.empty() || !w.notifications_enabled) return;
  if (w.ping_in_flight) {  // at most one outstanding ping per webhook; bursts coalesce
    w.ping_again = true;
    return;
  }
  w.ping_in_flight = true;
  // Posted, not spawned here: the caller holds the mutex, and a coroutine
  // started inline on this thread would take it again.
  asio::post(*ex_, [this, id = w.id] { asio::co_spawn(*ex_, ping_loop(id), asio::detached); });
}

asio::awaitable<void> airtable_webhooks::ping_loop(std::string id) {
  for (int attempt = 0;; ++attempt) {
    std::string url, key, body;
    {
      std::lock_guard lk(mu_);
      airtable_webhook* hook = find(id);
      if (!hook) co_return;
      hook->ping_again = false;
      url = hook->notification_url;
      key = hook->mac_secret;
      body = json::serialize(json::object{
          {"base", json::object{{"id", base_id_}}}, {"webhook", json::object{{"id", id}}}, {"timestamp", core_now()}});
    }
    std::vector<std::pair<std::string, std::string>> headers;
    headers.emplace_back("content-type", "application/json");
    headers.emplace_back("X-Airtable-Content-MAC", core::content_mac(key, body));
    const auto started = std::chrono::steady_clock::now();
    auto res =
        co_await http::fetch(boost::beast::http::verb::post, url, std::move(headers), body, std::chrono::seconds(10));
    const bool ok = res.ok && (res.status == 200 || res.status == 204);
    bool again = false;
    {
      std::lock_guard lk(mu_);
      airtable_webhook* hook = find(id);
      if (!hook) co_return;
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
      json::object result{
          {"success", ok}, {"completionTimestamp", core_now()}, {"durationMs", ms}, {"retryNumber", attempt}};
      if (!ok) {
        result["willBeRetried"] = attempt < 3;
        result["error"] =
            json::object{{"message", res.ok ? "The HTTP request returned a " + std::to_string(res.status) +
                                                  " status code instead of 200 or 204"
                                            : res.error}};
      }
      hook->last_result = std::move(result);
      if (ok) {
        hook->last_success_ms = core::wall_ms();
        ++pings_sent_;
      }
      again = ok ? hook->ping_again : attempt < 3;
      if (!again) hook->ping_in_flight = false;
    }
    if (!again) co_return;
    if (!ok) {  // back off 1 s, 2 s, 4 s (SIM CHOICE: 2.6 leaves the schedule open)
      asio::steady_timer t(*ex_, std::chrono::seconds(1 << attempt));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    } else {
      attempt = -1;  // a fresh ping for the changes that came meanwhile
    }
  }
}

}  // namespace freshet::sim
