// The sync engine of one source: its connector, its credential's rate
// limiter (shared by polling, refresh and webhook payload fetches), and one
// poll loop per object.
//
// A poll of an object is a full read when it has never been read or its
// reconcile_seconds have passed (the full listing also finds deletions),
// incremental otherwise. Polling adapts between poll_min_seconds and
// poll_max_seconds: back to the minimum when a poll finds changes, slower by
// half each time it finds none, and at the maximum (a safety net) while the
// object's webhooks are arriving. A webhook hint wakes the loop at once;
// hints that arrive during a fetch coalesce into one more fetch.
//
// Every page goes to the store as a change set; the store diffs it against
// the stored records in the commit (store/change_set.hpp). An incremental
// read commits once, with its watermark; a full read commits page by page
// and its last commit carries the watermark and the reconciliation.
//
// Thread-safety: everything runs on the executor given at construction (one
// thread); hint() and counters() may be called from any thread.
#pragma once

#include "app/config.hpp"
#include "http/upstream_client.hpp"
#include "sources/connector.hpp"
#include "sources/rate_limiter.hpp"
#include "sources/upstream_caller.hpp"
#include "store/event_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>

namespace freshet::sources {

class airtable_webhook_client;

struct object_sync_result {
  std::string object;
  std::uint64_t fetched = 0, created = 0, updated = 0, deleted = 0, unchanged = 0;
  bool full = false, reconciled = false;
};

// Progress of one object's fetch, for refresh jobs: stage is "fetching" or "applying".
using progress_fn = std::function<void(const std::string& object, const std::string& stage, const fetch_progress&)>;

struct object_counters {
  std::atomic<std::uint64_t> polls{0}, full_reads{0}, errors{0};
  std::atomic<std::uint64_t> created{0}, updated{0}, deleted{0};
  std::atomic<std::int64_t> last_success_ms{0};
  std::atomic<std::int64_t> interval_ms{0};
  std::atomic<std::int64_t> last_webhook_ms{0};
};

class source_sync {
 public:
  source_sync(const app::source_config& cfg, store::event_store& log, boost::asio::any_io_executor ex);
  ~source_sync();

  const app::source_config& config() const { return cfg_; }
  boost::asio::any_io_executor executor() const { return ex_; }

  // Reads the stored watermarks and what the connector needs (Knack: field
  // types). Throws upstream_error when the upstream cannot be reached.
  boost::asio::awaitable<void> prepare();
  // What a follower's first refresh needs of the connector (prepare's
  // upstream part), once. Call it before reading objects concurrently.
  boost::asio::awaitable<void> ensure_prepared();
  // Reads what the store holds of this source's sync (watermarks, the last
  // reconciliations, the Airtable webhook's registration and cursor): at
  // start, and again on taking the lease over, since the leader before
  // moved them. Blocking (a store read); on the executor.
  void load_shared_state();
  // Starts the poll loops (and, for airtable with webhook_url, the webhook upkeep).
  void start();
  // Ends the loops at their next wake-up; fetches in flight finish.
  void stop();

  // One read of an object now: full when asked or when it has no watermark;
  // `tenant` limits a full read to one tenant (refresh). Throws on failure.
  boost::asio::awaitable<object_sync_result> sync_object(const app::object_config& obj, bool full,
                                                         const std::string& tenant = {},
                                                         const progress_fn& progress = {});
  // Records by id (from Airtable webhook payloads), and ids known deleted.
  boost::asio::awaitable<object_sync_result> apply_ids(const app::object_config& obj, std::vector<std::string> ids,
                                                       std::vector<std::string> destroyed,
                                                       std::vector<store::change_set::state_write> also);

  // A webhook said this object changed: fetch it now (coalesced). `object`
  // is a local name or an upstream key; unknown: every object. On a
  // follower, handed to the leader (below).
  void hint(const std::string& object);
  // Reads these records of `object` (a local name or upstream key) by id now
  // and applies what the upstream answers, deleting those it says are gone:
  // how a Knack "record.deleted" hint is confirmed without a full listing.
  void check_records(const std::string& object, std::vector<std::string> ids);
  // Webhooks for this source are arriving (polling becomes a safety net).
  void note_webhook();

  // Webhooks reach any instance, but only the leader reads upstream: a
  // follower hands what a delivery asks for (a hint, records to check, an
  // Airtable ping) to the leader as a store signal, `what` being
  // {"do":"hint"|"check"|"ping", "object":.., "ids":[..]}. Best effort: a
  // hand-off lost in a change of leader is caught up by the next poll.
  void hand_to_leader(boost::json::object what);
  // The same message for every instance, not counted as a hand-off (the
  // leader saying that it registered a new Airtable webhook).
  void signal_instances(const boost::json::object& what);
  // A signal for this source (from any instance, this one included): acted
  // on by the leader; a follower only reloads a new webhook registration.
  // From any thread.
  void on_signal(const std::string& body);
  std::uint64_t handoffs_sent() const { return handoffs_sent_.load(); }
  std::uint64_t handoffs_taken() const { return handoffs_taken_.load(); }
  // The Airtable webhook helper, when this source has one.
  airtable_webhook_client* airtable_hooks() { return hooks_.get(); }

  // The fencing token of this source's lease (event_store::hold_lease),
  // kept by the sync service: 0 while another instance leads the source.
  // Only the leader polls; every commit of this source's sync carries the
  // token, so one from a leader that lost the lease is refused.
  void set_lease_token(std::uint64_t token) { lease_token_ = token; }
  bool leading() const { return lease_token_ != 0; }

  const app::object_config* find_object(std::string_view name_or_key) const;
  const object_counters& counters(const std::string& object) const { return *stats_.at(object); }
  const upstream_counters& upstream() const { return upstream_counters_; }
  const rate_limiter& limiter() const { return limiter_; }
  // The object's watermark now ("" before its first read); on the executor only.
  std::string watermark(const std::string& object) const;

 private:
  struct loop_state;
  boost::asio::awaitable<void> poll_loop(const app::object_config* obj);
  // Commits; `fenced`: with the lease's token (what only the leader writes).
  boost::asio::awaitable<store::change_result> commit(store::change_set cs, bool fenced = true);
  std::string state_key(std::string_view what, const std::string& object) const;
  // The fence of this source's commits now; throws when it does not lead.
  store::fence lease_fence() const;

  const app::source_config& cfg_;
  store::event_store& log_;
  boost::asio::any_io_executor ex_;
  rate_limiter limiter_;
  upstream_counters upstream_counters_;
  std::unique_ptr<http::upstream_client> client_;
  std::unique_ptr<upstream_caller> caller_;
  std::unique_ptr<connector> connector_;
  std::unique_ptr<airtable_webhook_client> hooks_;
  std::map<std::string, std::unique_ptr<object_counters>> stats_;  // by object name; fixed after construction
  // On the executor only:
  std::map<std::string, std::string> watermarks_;        // object -> since
  std::map<std::string, std::int64_t> last_reconcile_;   // object -> epoch ms
  std::map<std::string, std::unique_ptr<loop_state>> loops_;
  bool stopping_ = false;
  bool prepared_ = false;  // the connector read what it needs (prepare, or a follower's first refresh)
  std::atomic<std::uint64_t> lease_token_{0};
  std::atomic<std::uint64_t> handoffs_sent_{0}, handoffs_taken_{0};
};

}  // namespace freshet::sources
