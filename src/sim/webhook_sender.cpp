#include "sim/webhook_sender.hpp"

#include "core/clock.hpp"
#include "core/standard_webhooks.hpp"
#include "http/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <chrono>

namespace freshet::sim {

namespace asio = boost::asio;

webhook_sender::webhook_sender(asio::any_io_executor ex, std::string url, std::string key)
    : ex_(std::move(ex)), url_(std::move(url)), key_(std::move(key)) {}

void webhook_sender::send(const std::string& op, const std::string& object, const std::string& record_id) {
  if (in_flight_.fetch_add(1) >= kMaxInFlight) {
    in_flight_.fetch_sub(1);
    dropped_.fetch_add(1);
    return;
  }
  const std::string id = "msg_" + std::to_string(next_id_.fetch_add(1));
  const std::string body = boost::json::serialize(boost::json::object{{"type", "record." + op},
                                                                       {"object", object},
                                                                       {"record_id", record_id},
                                                                       {"timestamp", core::now_iso8601_ms()}});
  asio::co_spawn(
      ex_,
      [this, id, body]() -> asio::awaitable<void> {
        for (int attempt = 0; attempt < 3; ++attempt) {
          if (attempt > 0) {
            asio::steady_timer t(ex_, std::chrono::seconds(1 << (attempt - 1)));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
          }
          // Each attempt is signed anew with its own timestamp; the id stays.
          const auto ts = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
          std::vector<std::pair<std::string, std::string>> headers;
          headers.emplace_back("content-type", "application/json");
          headers.emplace_back("webhook-id", id);
          headers.emplace_back("webhook-timestamp", std::to_string(ts));
          headers.emplace_back("webhook-signature", core::sign_webhook(key_, id, ts, body));
          auto res = co_await http::fetch(boost::beast::http::verb::post, url_, std::move(headers), body,
                                          std::chrono::seconds(10));
          if (res.ok && res.status >= 200 && res.status < 300) {
            sent_.fetch_add(1);
            in_flight_.fetch_sub(1);
            co_return;
          }
        }
        failed_.fetch_add(1);
        in_flight_.fetch_sub(1);
      },
      asio::detached);
}

}  // namespace freshet::sim
