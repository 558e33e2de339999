// The durable outbox of notifications. A message exists here before
// anything tries to send it, and stays after: delivered, failed (kept for a
// retry by hand), or waiting.
//
// Rows are written in the same commit as the rules' cursor (the last event
// evaluated), so a crash between an event's commit and its notification is
// replayed from the log on restart: nothing is lost, and nothing is made
// twice.
//
// Thread-safety: every member may be called from any thread (the rule engine
// writes firings, the dispatcher its attempts, the API reads). Blocking: disk
// or network I/O; call off the event loops.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace freshet::rules {

// One rule firing for one notifier.
struct firing {
  std::string rule, notifier, object, tenant;
  std::string text;       // the rule's message for this change alone
  std::string name;       // the record as {names} lists it (already escaped)
  std::string record_id;
  std::uint64_t event_id = 0;
  int coalesce_seconds = 0;  // 0: a message of its own, due now
};

struct notification {
  std::int64_t id = 0;
  std::string webhook_id, rule, notifier, object, tenant, status, text;
  boost::json::array names, records;  // the first few gathered (names escaped, record ids)
  std::int64_t count = 0;
  std::uint64_t first_event = 0, last_event = 0;
  std::int64_t created_ms = 0, due_ms = 0, done_ms = 0;
  int step = 0, attempts = 0;
};

// What an attempt came to.
enum class attempt_outcome {
  delivered,  // done
  retry,      // try again at next_ms, schedule position `step`
  failed,     // the schedule is used up: kept as failed
  wait,       // not the message's fault (rate limit, a failing notifier): due again at next_ms, same step
};

struct outbox_list_filter {
  std::string status, rule;  // "" = any
  std::int64_t after_id = 0;  // only ids above (paging)
  std::size_t limit = 100;
};

struct outbox_counts {
  std::uint64_t gathering = 0, pending = 0, delivered = 0, failed = 0;
  // The count of one status by its name (an unknown status is ignored).
  void set(std::string_view status, std::uint64_t n) {
    if (status == "gathering") gathering = n;
    else if (status == "pending") pending = n;
    else if (status == "delivered") delivered = n;
    else if (status == "failed") failed = n;
  }
};

// "msg_" + 24 random hex digits: the receiver's idempotency key, the same on
// every attempt, unique across data dirs and deployments.
std::string new_webhook_id();
// A message as GET /api/notifications lists it, with its attempts.
boost::json::object notification_json(const notification& n, boost::json::array attempts);

// The outbox as the rules, the dispatcher and the API see it, whatever holds
// it; rules/sqlite_outbox.hpp is the SQLite one, rules/redis_outbox.hpp the
// one a deployment of several instances shares.
class outbox {
 public:
  static constexpr std::size_t kNamesKept = 5;  // names and ids a coalesced message keeps

  virtual ~outbox() = default;

  // The writes that follow (commit, close_windows, record_attempt) are the
  // rules leader's, holding the lease "rules" with this fencing token
  // (event_store::hold_lease): an outbox several instances share refuses
  // them once another instance holds it. One only one process uses has
  // nothing to fence.
  virtual void write_as(std::uint64_t token) { (void)token; }

  // The last event the rules evaluated; none before the rules first ran.
  virtual std::optional<std::uint64_t> cursor() = 0;

  struct commit_result {
    std::size_t added = 0, coalesced = 0, refused = 0;
  };
  // Adds the firings (or gathers them into an open window of their rule,
  // notifier and tenant) and moves the cursor, atomically. Past the limit of
  // undelivered messages, new messages are refused (counted; coalescing into
  // an open window still works, since it adds no row).
  // `state` rows are written (an empty value deletes its key) in the same
  // commit: what the goal rules remember moves with the cursor.
  virtual commit_result commit(const std::vector<firing>& firings, std::uint64_t cursor,
                               const std::map<std::string, std::string>& state = {}) = 0;
  virtual std::map<std::string, std::string> load_state() = 0;

  // Ends every gathering window that is due: one firing keeps its own text;
  // several get summary(row). Returns the rows made pending.
  virtual std::size_t close_windows(const std::function<std::string(const notification&)>& summary) = 0;

  // The notifier's next pending message, oldest due first, if it is due now;
  // otherwise none, with *next_ms set to when the next one is (0: none waits).
  virtual std::optional<notification> next_due(const std::string& notifier, std::int64_t* next_ms) = 0;

  virtual void record_attempt(std::int64_t id, int status, std::string_view answer, attempt_outcome outcome,
                              std::int64_t next_ms = 0, int step = 0) = 0;

  // Messages with their attempts, newest first.
  virtual boost::json::array list(const outbox_list_filter& filter) = 0;
  // A failed or pending message is due again now, from the start of the
  // schedule; returns its notifier, or none when there is no such message or
  // it was delivered or is still gathering.
  virtual std::optional<std::string> retry(std::int64_t id) = 0;
  // Deletes delivered and failed messages done before `before_ms`.
  virtual std::size_t prune(std::int64_t before_ms) = 0;

  // Counts by status, read from the store (blocking), and the last ones
  // read, for the stats that are answered on the event loop.
  virtual outbox_counts counts() = 0;
  virtual outbox_counts last_counts() const = 0;
  virtual std::int64_t now_ms() const = 0;
};

}  // namespace freshet::rules
