// POST /api/webhooks/{source}: checks a delivery's signature for the
// source's kind, refuses replays, and acts on it.
//   airtable: X-Airtable-Content-MAC with the webhook's secret; the ping
//     carries no data, so it starts a drain of the payload log.
//   knack: Standard Webhooks with webhook_secret_env; a hint to fetch the
//     object now (never the record's data: upstream-apis.md 1.9).
//   webhook: Standard Webhooks with webhook_secret_env; the body carries the
//     record: {"type":"record.created|record.updated|record.deleted",
//     "data":{"object":"<name>","id":"..","fields":{..}}}.
// Standard Webhooks deliveries are de-duplicated by webhook-id; the answer is
// 200 only once the delivery (and its records) is durable. Every accepted
// delivery is written to the audit log; rejections, which anyone can cause,
// are counted and written aggregated per source and reason per interval
// (sources/rejection_ledger.hpp), so they cost bounded space.
#pragma once

#include "app/config.hpp"
#include "http/api_error.hpp"
#include "http/server.hpp"
#include "sources/rejection_ledger.hpp"
#include "store/event_store.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <atomic>
#include <functional>
#include <map>

namespace freshet::sources {

class source_sync;

struct webhook_counters {
  std::atomic<std::uint64_t> accepted{0}, duplicates{0}, rejected{0};
};

class webhook_intake {
 public:
  // `find_sync` gives the running sync engine of a source (nullptr: none).
  webhook_intake(const std::vector<app::source_config>& sources, store::event_store& log,
                 std::function<source_sync*(const std::string&)> find_sync);

  // The answer: 200 with a JSON body, or an api_error.
  struct answer {
    boost::json::object body;
    std::optional<http::api_error> error;
  };
  boost::asio::awaitable<answer> receive(const std::string& source, const http::request& req);

  const webhook_counters& counters(const std::string& source) const { return *counters_.at(source); }

  // Writes the rejection windows that are due (every one when `force`: at
  // shutdown) to the audit log. Called once a second by the server.
  void flush_rejections(bool force = false);

 private:
  answer reject(const app::source_config& src, http::api_error e, std::string who);
  boost::asio::awaitable<answer> airtable(const app::source_config& src, source_sync* sync, const http::request& req);
  boost::asio::awaitable<answer> standard(const app::source_config& src, source_sync* sync, const http::request& req);

  const std::vector<app::source_config>& sources_;
  store::event_store& log_;
  std::function<source_sync*(const std::string&)> find_sync_;
  std::map<std::string, std::unique_ptr<webhook_counters>> counters_;  // by source; fixed after construction
  rejection_ledger rejections_;
};

}  // namespace freshet::sources
