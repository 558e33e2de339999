#include "sources/webhook_intake.hpp"

#include "core/clock.hpp"
#include "core/standard_webhooks.hpp"
#include "sources/airtable_webhook_client.hpp"
#include "sources/source_sync.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include <fmt/format.h>

namespace freshet::sources {

namespace asio = boost::asio;
namespace json = boost::json;
using status = boost::beast::http::status;
using http::api_error;

namespace {
std::string str_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}
}  // namespace

webhook_intake::webhook_intake(const std::vector<app::source_config>& sources, store::event_store& log,
                               std::function<source_sync*(const std::string&)> find_sync)
    : sources_(sources), log_(log), find_sync_(std::move(find_sync)) {
  for (const auto& s : sources_) counters_[s.name] = std::make_unique<webhook_counters>();
}

webhook_intake::answer webhook_intake::reject(const app::source_config& src, api_error e, std::string who) {
  ++counters_.at(src.name)->rejected;
  // Counted, not written: the ledger writes one row per reason and interval.
  rejections_.add(src.name, e.code, static_cast<int>(e.status), e.message, who, core::wall_ms());
  return answer{{}, std::move(e)};
}

void webhook_intake::flush_rejections(bool force) {
  auto rows = rejections_.take_due(core::wall_ms(), force);
  if (rows.empty()) return;
  store::change_set cs;
  cs.audit = std::move(rows);
  // Queued, not awaited: nothing waits on an audit line.
  log_.enqueue_changes(std::move(cs), [](boost::system::error_code, store::change_result) {});
}

asio::awaitable<webhook_intake::answer> webhook_intake::receive(const std::string& source, const http::request& req) {
  const app::source_config* src = nullptr;
  for (const auto& s : sources_)
    if (s.name == source) src = &s;
  if (!src)
    co_return answer{{}, api_error{status::not_found, "unknown_source", fmt::format("No source named '{}' is configured.", source)}};
  source_sync* sync = find_sync_(source);
  if (src->kind == "airtable") co_return co_await airtable(*src, sync, req);
  co_return co_await standard(*src, sync, req);
}

asio::awaitable<webhook_intake::answer> webhook_intake::airtable(const app::source_config& src, source_sync* sync,
                                                                 const http::request& req) {
  airtable_webhook_client* hooks = sync ? sync->airtable_hooks() : nullptr;
  if (!hooks)
    co_return reject(src, {status::not_found, "webhooks_not_enabled",
                                    fmt::format("Source '{}' has no webhook_url, so it takes no Airtable pings.", src.name)},
                              "");
  const std::string mac(req["X-Airtable-Content-MAC"]);
  if (mac.empty())
    co_return reject(src, {status::unauthorized, "missing_signature",
                                    "An Airtable ping needs its X-Airtable-Content-MAC header."},
                              hooks->webhook_id());
  if (!hooks->verify(req.body(), mac))
    co_return reject(src, {status::unauthorized, "bad_signature",
                                    "The X-Airtable-Content-MAC does not match this webhook's secret."},
                              hooks->webhook_id());
  boost::system::error_code ec;
  auto body = json::parse(req.body(), ec);
  if (ec || !body.is_object())
    co_return reject(src, {status::bad_request, "malformed_json", "The ping's body is not a JSON object."},
                              hooks->webhook_id());
  store::change_set cs;
  cs.audit.push_back({"webhook", src.name, hooks->webhook_id(), "accepted",
                      {{"type", "airtable.ping"}, {"timestamp", str_of(body.get_object(), "timestamp")}}});
  auto [aec, r] = co_await log_.async_apply(std::move(cs), asio::as_tuple(asio::use_awaitable));
  if (aec) co_return answer{{}, http::store_refusal(aec)};
  ++counters_.at(src.name)->accepted;
  hooks->on_ping();
  co_return answer{{{"status", "accepted"}}, std::nullopt};
}

asio::awaitable<webhook_intake::answer> webhook_intake::standard(const app::source_config& src, source_sync* sync,
                                                                 const http::request& req) {
  const std::string id(req["webhook-id"]), ts(req["webhook-timestamp"]), sig(req["webhook-signature"]);
  json::object who_detail{{"webhook_id", id}};
  auto key = core::decode_webhook_secret(src.webhook_secret);
  if (src.webhook_secret.empty() || !key)
    co_return reject(src, {status::not_found, "webhooks_not_enabled",
                                    fmt::format("Source '{}' has no webhook_secret_env, so it takes no webhooks.", src.name)},
                              id);
  if (id.empty() || ts.empty() || sig.empty())
    co_return reject(src, {status::unauthorized, "missing_signature",
                                    "A webhook needs the webhook-id, webhook-timestamp and webhook-signature headers."},
                              id);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  switch (core::verify_webhook(*key, id, ts, sig, req.body(), now)) {
    case core::webhook_check::ok: break;
    case core::webhook_check::stale_timestamp:
      co_return reject(src, {status::unauthorized, "stale_timestamp",
                                      "The webhook-timestamp is more than 5 minutes from now: a replay, or a clock that is off."},
                                id);
    case core::webhook_check::malformed:
      co_return reject(src, {status::bad_request, "malformed_signature",
                                      "The webhook-timestamp or webhook-signature header is malformed."},
                                id);
    case core::webhook_check::bad_signature:
      co_return reject(src, {status::unauthorized, "bad_signature",
                                      "No webhook-signature matches this source's secret."},
                                id);
  }
  boost::system::error_code ec;
  auto parsed = json::parse(req.body(), ec);
  if (ec || !parsed.is_object())
    co_return reject(src, {status::bad_request, "malformed_json", "The webhook body is not a JSON object."}, id);
  const auto& body = parsed.get_object();
  const std::string type = str_of(body, "type");

  store::change_set cs;
  cs.delivery = std::make_pair(src.name, id);
  json::object detail{{"type", type}};
  std::string hint_object;
  if (src.kind == "knack") {
    // A hint: which object changed. The record itself is fetched from Knack.
    hint_object = str_of(body, "object");
    if (type.empty() || hint_object.empty())
      co_return reject(src, {status::bad_request, "invalid_body",
                                      "A Knack webhook body needs 'type' and 'object' (upstream-apis.md 1.9)."},
                                id);
    detail["object"] = hint_object;
    detail["record_id"] = str_of(body, "record_id");
  } else {
    const auto* data = body.if_contains("data");
    const json::object* d = data && data->is_object() ? &data->get_object() : nullptr;
    const app::object_config* obj = nullptr;
    if (d)
      for (const auto& o : src.objects)
        if (o.name == str_of(*d, "object")) obj = &o;
    const bool del = type == "record.deleted";
    if (!d || !obj || str_of(*d, "id").empty() || (!del && type != "record.created" && type != "record.updated") ||
        (!del && !(d->if_contains("fields") && d->at("fields").is_object())))
      co_return reject(src, {status::bad_request, "invalid_body",
                                      "Expected {\"type\":\"record.created|record.updated|record.deleted\",\"data\":"
                                      "{\"object\":<a configured object>,\"id\":..,\"fields\":{..}}}."},
                                id);
    store::object_changes oc{src.name, obj->name, obj->watch_fields, {}, {}, std::nullopt, {}};
    const std::string rid = str_of(*d, "id");
    if (del) {
      oc.deletes.push_back(rid);
    } else {
      store::record_upsert up{rid, "", d->at("fields").get_object()};
      if (!obj->tenant_field.empty()) up.tenant = tenant_of(up.fields.if_contains(obj->tenant_field));
      oc.upserts.push_back(std::move(up));
    }
    cs.objects.push_back(std::move(oc));
    detail["object"] = obj->name;
    detail["record_id"] = rid;
  }
  cs.audit.push_back({"webhook", src.name, id, "accepted", detail});
  auto [aec, r] = co_await log_.async_apply(std::move(cs), asio::as_tuple(asio::use_awaitable));
  if (aec) co_return answer{{}, http::store_refusal(aec)};
  if (r.duplicate_delivery) {
    ++counters_.at(src.name)->duplicates;
    co_return answer{{{"status", "duplicate"}}, std::nullopt};
  }
  ++counters_.at(src.name)->accepted;
  if (sync && !hint_object.empty()) {
    // A deletion cannot be seen by an incremental read: ask Knack for that record.
    if (type == "record.deleted" && !str_of(body, "record_id").empty())
      sync->check_records(hint_object, {str_of(body, "record_id")});
    else
      sync->hint(hint_object);
  }
  co_return answer{{{"status", "accepted"}, {"events", r.events}}, std::nullopt};
}

}  // namespace freshet::sources
