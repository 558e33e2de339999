#include "sources/airtable_webhook_client.hpp"

#include "core/content_mac.hpp"
#include "core/standard_webhooks.hpp"
#include "sources/airtable_payloads.hpp"
#include "sources/source_sync.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <set>

namespace freshet::sources {

namespace asio = boost::asio;
namespace json = boost::json;
using boost::beast::http::verb;

namespace {
constexpr auto kRefreshEvery = std::chrono::hours(24);  // Airtable expires a webhook after 7 days
constexpr int kPayloadsPerCall = 50;                     // the API's maximum
}  // namespace

airtable_webhook_client::airtable_webhook_client(source_sync& sync, upstream_caller& caller, store::event_store& log)
    : sync_(sync), caller_(caller), log_(log) {}

std::vector<std::pair<std::string, std::string>> airtable_webhook_client::headers() const {
  return {{"Authorization", "Bearer " + sync_.config().token}, {"Content-Type", "application/json"}};
}

std::string airtable_webhook_client::hooks_path() const { return "/v0/bases/" + sync_.config().base_id + "/webhooks"; }

void airtable_webhook_client::load(const std::map<std::string, std::string>& state) {
  auto get = [&](const char* k) {
    auto it = state.find(k);
    return it == state.end() ? std::string() : it->second;
  };
  std::lock_guard lk(mu_);
  id_ = get("airtable_webhook_id");
  secret_b64_ = get("airtable_webhook_secret");
  key_ = core::base64_decode(secret_b64_).value_or("");
  const std::string c = get("airtable_webhook_cursor");
  if (!c.empty()) std::from_chars(c.data(), c.data() + c.size(), cursor_);
}

std::string airtable_webhook_client::webhook_id() const {
  std::lock_guard lk(mu_);
  return id_;
}

bool airtable_webhook_client::verify(std::string_view body, std::string_view mac_header) const {
  std::lock_guard lk(mu_);
  return !key_.empty() && core::verify_content_mac(key_, body, mac_header);
}

void airtable_webhook_client::start() {
  timer_.emplace(sync_.executor());
  asio::co_spawn(sync_.executor(), upkeep(), asio::detached);
}

void airtable_webhook_client::stop() {
  stopping_ = true;
  if (timer_) timer_->cancel();
}

void airtable_webhook_client::on_ping() {
  sync_.note_webhook();
  if (!sync_.leading()) {
    sync_.hand_to_leader({{"do", "ping"}});  // the leader drains the payload log
    return;
  }
  asio::post(sync_.executor(), [this] {
    if (draining_) {
      drain_again_ = true;
      return;
    }
    asio::co_spawn(sync_.executor(), drain(), asio::detached);
  });
}

asio::awaitable<void> airtable_webhook_client::ensure_registered() {
  const std::string& url = sync_.config().webhook_url;
  auto list = co_await caller_.call(verb::get, hooks_path(), headers());
  std::vector<std::string> ours;  // webhooks that notify this Freshet's URL
  const json::value* hooks = list.if_contains("webhooks");
  if (hooks && hooks->is_array())
    for (const auto& h : hooks->get_array()) {
      if (!h.is_object()) continue;
      const auto& o = h.get_object();
      const auto* id = o.if_contains("id");
      if (!id || !id->is_string()) continue;
      if (!webhook_id().empty() && *id == json::value(webhook_id()) && o.if_contains("isHookEnabled") &&
          o.at("isHookEnabled") == true) {
        // Still there and alive: keep it (and its cursor), and push its
        // expiry out now, since Freshet may have been down for days.
        co_await caller_.call(verb::post, hooks_path() + "/" + webhook_id() + "/refresh", headers(), "{}");
        co_return;
      }
      if (const auto* n = o.if_contains("notificationUrl"); n && n->is_string() && n->get_string() == url)
        ours.emplace_back(id->get_string());
    }
  if (!webhook_id().empty())
    spdlog::warn("msg=\"the stored Airtable webhook is gone or expired; creating a new one\" source={} webhook={}",
                 sync_.config().name, webhook_id());
  // Reconcile before creating: a webhook for this URL whose secret Freshet
  // does not hold (a creation whose answer was lost, an expired one) can never
  // be verified and counts against the base's limit of 10. Deleting is
  // idempotent, so it may be retried; the creation below is not.
  for (const auto& stray : ours) {
    spdlog::info("msg=\"removing an Airtable webhook for this URL whose secret Freshet does not hold\" source={} "
                 "webhook={}",
                 sync_.config().name, stray);
    co_await caller_.call(verb::delete_, hooks_path() + "/" + stray, headers());
  }
  json::object spec{{"notificationUrl", url},
                    {"specification", {{"options", {{"filters", {{"dataTypes", json::array{"tableData"}}}}}}}}};
  // Sent once: after a timeout or a 5xx the webhook may exist all the same,
  // so the next upkeep round lists and reconciles instead of repeating it.
  auto made = co_await caller_.call(verb::post, hooks_path(), headers(), json::serialize(spec), idempotency::once);
  const auto* id = made.if_contains("id");
  const auto* secret = made.if_contains("macSecretBase64");
  if (!id || !id->is_string() || !secret || !secret->is_string())
    throw upstream_error("Airtable's webhook creation answer lacks id or macSecretBase64", 200, json::serialize(made));
  {
    std::lock_guard lk(mu_);
    id_ = id->get_string();
    secret_b64_ = secret->get_string();
    key_ = core::base64_decode(secret_b64_).value_or("");
  }
  cursor_ = 1;
  // The secret is shown once, at creation: it is kept in the store so a
  // restart can still verify pings.
  store::change_set cs;
  const std::string& src = sync_.config().name;
  cs.state = {{src, "airtable_webhook_id", std::string(id->get_string())},
              {src, "airtable_webhook_secret", secret_b64_},
              {src, "airtable_webhook_cursor", "1"}};
  cs.audit.push_back({"webhook", src, std::string(id->get_string()), "registered",
                      {{"notification_url", sync_.config().webhook_url}}});
  auto [ec, r] = co_await log_.async_apply(std::move(cs), asio::as_tuple(asio::use_awaitable));
  if (ec) throw std::runtime_error("cannot store the webhook registration: " + ec.message());
  spdlog::info("msg=\"Airtable webhook created\" source={} webhook={} url={}", src, webhook_id(),
               sync_.config().webhook_url);
  // The other instances verify its pings too: they read the new secret now.
  sync_.signal_instances({{"do", "registered"}});
}

asio::awaitable<void> airtable_webhook_client::upkeep() {
  auto next_refresh = std::chrono::steady_clock::now() + kRefreshEvery;
  bool registered = false;
  while (!stopping_) {
    if (!sync_.leading()) {
      // Another instance leads the source and keeps the webhook alive; on
      // taking over, this one checks the registration again first.
      registered = false;
      timer_->expires_after(std::chrono::seconds(1));
      co_await timer_->async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    try {
      if (!registered) {
        co_await ensure_registered();
        registered = true;
        failed_rounds_ = 0;
        on_ping();  // catch up on whatever arrived while Freshet was down
      } else if (std::chrono::steady_clock::now() >= next_refresh) {
        co_await caller_.call(verb::post, hooks_path() + "/" + webhook_id() + "/refresh", headers(), "{}");
        next_refresh = std::chrono::steady_clock::now() + kRefreshEvery;
      }
    } catch (const upstream_error& e) {
      if (e.status == 404) registered = false;  // the webhook is gone: make a new one
      spdlog::warn("msg=\"Airtable webhook upkeep failed; will retry\" source={} error=\"{}\"", sync_.config().name,
                   e.what());
    } catch (const std::exception& e) {
      spdlog::warn("msg=\"Airtable webhook upkeep failed; will retry\" source={} error=\"{}\"", sync_.config().name,
                   e.what());
    }
    // Unregistered, the next attempt (which reconciles first) comes soon;
    // then less often, so that a base that refuses is not hammered.
    timer_->expires_after(registered ? std::chrono::minutes(10) : std::chrono::seconds(failed_rounds_++ < 3 ? 5 : 30));
    co_await timer_->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> airtable_webhook_client::drain() {
  draining_ = true;
  const std::string& src = sync_.config().name;
  try {
    do {
      drain_again_ = false;
      bool more = true;
      while (more && !webhook_id().empty()) {
        auto page = co_await caller_.call(
            verb::get, fmt::format("{}/{}/payloads?cursor={}&limit={}", hooks_path(), webhook_id(), cursor_, kPayloadsPerCall),
            headers());
        const payload_page parsed = parse_payload_page(page, cursor_);
        const std::int64_t next_cursor = parsed.next_cursor;
        more = parsed.more;
        const std::uint64_t count = parsed.payloads;
        // Per configured object: the ids to read back, and those destroyed.
        std::map<const app::object_config*, std::pair<std::set<std::string>, std::set<std::string>>> touched;
        for (const auto& [table_id, touch] : parsed.tables)
          if (const auto* obj = sync_.find_object(table_id)) {
            auto& [ids, destroyed] = touched[obj];
            ids.insert(touch.changed.begin(), touch.changed.end());
            destroyed.insert(touch.destroyed.begin(), touch.destroyed.end());
          }
        const std::vector<store::change_set::state_write> cursor_write{
            {src, "airtable_webhook_cursor", std::to_string(next_cursor)}};
        if (touched.empty()) {
          if (next_cursor != cursor_) {
            store::change_set cs;
            cs.state = cursor_write;
            co_await log_.async_apply(std::move(cs), asio::as_tuple(asio::use_awaitable));
          }
        } else {
          std::size_t i = 0;
          for (auto& [obj, sets] : touched) {
            // The cursor commits with the last object's changes. Arguments are
            // named first: GCC 12 mishandles temporaries inside co_await.
            std::vector<std::string> ids(sets.first.begin(), sets.first.end());
            std::vector<std::string> destroyed(sets.second.begin(), sets.second.end());
            std::vector<store::change_set::state_write> also;
            if (++i == touched.size()) also = cursor_write;
            co_await sync_.apply_ids(*obj, std::move(ids), std::move(destroyed), std::move(also));
          }
        }
        cursor_ = next_cursor;
        payloads_applied_ += count;
      }
    } while (drain_again_ && !stopping_);
  } catch (const std::exception& e) {
    spdlog::warn("msg=\"draining Airtable webhook payloads failed; the next ping or poll retries\" source={} error=\"{}\"",
                 src, e.what());
  }
  draining_ = false;
}

}  // namespace freshet::sources
