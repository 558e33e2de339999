// Freshet's side of Airtable's Webhooks API (upstream-apis.md 2.6) for one
// source with a webhook_url: creates the webhook (or keeps the one the store
// remembers while Airtable still has it), refreshes it daily so it never
// reaches its 7-day expiry, checks each ping's X-Airtable-Content-MAC, and
// drains the payload log from the stored cursor. Payloads say which records
// were created, changed or destroyed; destroyed ones are deleted, the others
// are read back through the REST API, so a record is stored in the same
// format whether a poll or a webhook brought it. The cursor commits with the
// last change it covers.
//
// Thread-safety: verify() from any thread; the rest on the source's executor.
#pragma once

#include "sources/upstream_caller.hpp"
#include "store/event_store.hpp"

#include <boost/asio/steady_timer.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace freshet::sources {

class source_sync;

class airtable_webhook_client {
 public:
  airtable_webhook_client(source_sync& sync, upstream_caller& caller, store::event_store& log);

  // The stored registration (sync_state), before start().
  void load(const std::map<std::string, std::string>& state);
  void start();
  void stop();

  // True when `mac_header` is the MAC of `body` under the current webhook's secret.
  bool verify(std::string_view body, std::string_view mac_header) const;
  // A verified ping arrived: drain the payloads (coalesced while a drain runs).
  void on_ping();

  std::string webhook_id() const;
  std::uint64_t payloads_applied() const { return payloads_applied_.load(); }

 private:
  boost::asio::awaitable<void> upkeep();
  boost::asio::awaitable<void> ensure_registered();
  boost::asio::awaitable<void> drain();
  std::vector<std::pair<std::string, std::string>> headers() const;
  std::string hooks_path() const;

  source_sync& sync_;
  upstream_caller& caller_;
  store::event_store& log_;
  mutable std::mutex mu_;  // guards id_ and key_ (verify() runs on the API's workers)
  std::string id_, key_;
  std::string secret_b64_;
  std::int64_t cursor_ = 1;
  int failed_rounds_ = 0;  // upkeep rounds in a row that could not register; on the sync executor
  bool draining_ = false, drain_again_ = false, stopping_ = false;
  std::optional<boost::asio::steady_timer> timer_;
  std::atomic<std::uint64_t> payloads_applied_{0};
};

}  // namespace freshet::sources
