// The Airtable Webhooks API of the simulator (upstream-apis.md 2.6): webhooks
// per base (at most 10), each with a MAC secret, a payload log numbered from 1
// and read by cursor, and notification pings signed with
// X-Airtable-Content-MAC. Pings carry no data; the receiver lists payloads.
//
// Thread-safety: guarded by the simulator's mutex (the caller holds it);
// pings run on the executor given to start_pings() and take the lock
// themselves through the `lock` the simulator lends.
#pragma once

#include "sim/airtable_model.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace freshet::sim {

struct airtable_webhook {
  std::string id;          // ach + 14
  std::string mac_secret;  // 32 random bytes
  std::string notification_url;
  boost::json::object specification;
  bool notifications_enabled = true;
  std::int64_t expiration_ms = 0;
  std::int64_t next_cursor = 1;  // cursorForNextPayload
  struct payload {
    std::int64_t number;
    std::int64_t created_ms;
    boost::json::object body;
  };
  std::vector<payload> payloads;
  boost::json::value last_result;  // lastNotificationResult (null until a ping)
  std::optional<std::int64_t> last_success_ms;
  bool ping_in_flight = false;
  bool ping_again = false;  // a change arrived during a ping: coalesce into one more
};

// One record change, as the webhook payload describes it. Either side may be
// absent (created: no before; destroyed: no after).
struct record_change {
  const airtable_table* table;
  std::optional<airtable_record> before, after;
  std::string source;  // publicApi (API writes) | client (simulated UI edits)
};

class airtable_webhooks {
 public:
  // `base_id` is the simulator's own (it may change before serving).
  airtable_webhooks(const std::string& base_id, std::mt19937_64& rng, std::mutex& mu);

  // Routes under /v0/bases/{base}/webhooks; `rest` is what follows
  // "webhooks" in the path. The caller holds the mutex.
  struct answer {
    unsigned status;
    boost::json::value body;
  };
  answer handle(const std::string& method, const std::vector<std::string>& rest, const std::string& body,
                const std::string& query_cursor, const std::string& query_limit, std::int64_t now_ms);

  // Records a change in every webhook whose specification wants it, and pings.
  // The caller holds the mutex.
  void record(const record_change& c, std::int64_t now_ms);

  void start_pings(boost::asio::any_io_executor ex) { ex_ = std::move(ex); }

  // Fault for tests: the next `n` creations are made, then answered 504 as
  // if a gateway had timed out, so the client never learns the id. The
  // caller holds the mutex.
  void lose_create_answers(int n) { lose_create_answers_ = n; }
  std::uint64_t pings_sent() const { return pings_sent_; }

 private:
  // Payloads are kept 7 days, seen or not; an expired webhook stays readable
  // 7 more days, then is gone (2.6). Cursor numbers never reset.
  void purge(std::int64_t now_ms);
  void schedule_ping(airtable_webhook& w);
  boost::asio::awaitable<void> ping_loop(std::string id);
  airtable_webhook* find(const std::string& id);

  const std::string& base_id_;
  std::mt19937_64& rng_;
  std::mutex& mu_;
  std::vector<airtable_webhook> hooks_;
  std::int64_t transaction_ = 0;  // baseTransactionNumber
  std::optional<boost::asio::any_io_executor> ex_;
  std::uint64_t pings_sent_ = 0;
  int lose_create_answers_ = 0;
};

}  // namespace freshet::sim
