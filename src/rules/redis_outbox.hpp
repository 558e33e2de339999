// The outbox (rules/outbox.hpp) in the deployment's Redis, beside the log
// (store/redis_store.hpp), for the rules of several instances: one instance
// at a time leads them (the lease "rules"), evaluates the log and delivers;
// every instance lists and retries. Keys, under the deployment's prefix:
//   {P}:rules_cursor       the last event the rules evaluated
//   {P}:rule_state         hash: what the goal rules remember (also read by
//                          the store's goal_days)
//   {P}:nseq               the last notification id given
//   {P}:n:<id>             hash: one message (the columns of SQLite's row,
//                          and `gkey`, its gathering window's key)
//   {P}:natt:<id>          list: its attempts, as JSON
//   {P}:nall               sorted set: every message id (listing)
//   {P}:ndue:<notifier>    sorted set: pending ids by due time
//   {P}:ngather, {P}:ngdue open windows (hash rule/notifier/tenant -> id) and
//                          their ends (sorted set)
//   {P}:ndone              sorted set: delivered and failed ids by done time
//   {P}:ncount             hash: messages per status
// Each operation is one Lua script, so a commit of firings moves the cursor
// and the state in the same atomic step as on SQLite; the leader's writes
// carry the lease's fencing token and a script refuses a stale one.
//
// Thread-safety: every member may be called from any thread except the
// store's own (they block on Redis).
#pragma once

#include "rules/outbox.hpp"

#include <atomic>
#include <functional>
#include <mutex>
#include <string>

namespace freshet::store {
class redis_store;
}

namespace freshet::rules {

// A write refused because the rules' lease moved to another instance.
struct outbox_fenced : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class redis_outbox final : public outbox {
 public:
  redis_outbox(store::redis_store& redis, std::size_t max_undelivered, std::function<std::int64_t()> now_ms);

  void write_as(std::uint64_t token) override { token_ = token; }
  std::optional<std::uint64_t> cursor() override;
  commit_result commit(const std::vector<firing>& firings, std::uint64_t cursor,
                       const std::map<std::string, std::string>& state = {}) override;
  std::map<std::string, std::string> load_state() override;
  std::size_t close_windows(const std::function<std::string(const notification&)>& summary) override;
  std::optional<notification> next_due(const std::string& notifier, std::int64_t* next_ms) override;
  void record_attempt(std::int64_t id, int status, std::string_view answer, attempt_outcome outcome,
                      std::int64_t next_ms = 0, int step = 0) override;
  boost::json::array list(const outbox_list_filter& filter) override;
  std::optional<std::string> retry(std::int64_t id) override;
  std::size_t prune(std::int64_t before_ms) override;
  outbox_counts counts() override;
  outbox_counts last_counts() const override {
    std::lock_guard lk(counts_mu_);
    return last_counts_;
  }
  std::int64_t now_ms() const override { return now_ms_(); }

 private:
  // The script's first arguments: the prefix, the lease's key and the holder
  // a fenced write expects ("" when no token was given).
  std::vector<std::string> script(const char* lua) const;

  store::redis_store& redis_;
  const std::string prefix_;
  const std::size_t max_undelivered_;
  std::function<std::int64_t()> now_ms_;
  std::atomic<std::uint64_t> token_{0};
  // A window's summary is rendered between reading it and closing it: the
  // commits that could gather into it meanwhile wait (they are this
  // instance's: only the leader writes firings).
  std::mutex windows_mu_;
  mutable std::mutex counts_mu_;
  outbox_counts last_counts_;
};

}  // namespace freshet::rules
