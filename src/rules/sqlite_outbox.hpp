// The outbox (rules/outbox.hpp) in the store's SQLite file (schema 4), on a
// connection of its own: rows and the rules' cursor in one transaction.
//
// Thread-safety: every member may be called from any thread (one lock).
#pragma once

#include "rules/outbox.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace freshet::store {
class connection;
class statement;
}  // namespace freshet::store

namespace freshet::rules {

class sqlite_outbox final : public outbox {
 public:
  sqlite_outbox(const std::string& db_path, std::size_t max_undelivered, std::function<std::int64_t()> now_ms);
  ~sqlite_outbox() override;

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
  std::unique_ptr<store::connection> db_;
  // The statements of every delivery, prepared once (under mu_).
  std::unique_ptr<store::statement> next_due_, add_attempt_, finish_, reschedule_;
  const std::size_t max_undelivered_;
  std::function<std::int64_t()> now_ms_;
  std::mutex mu_;
  std::size_t undelivered_ = 0;  // gathering + pending rows, under mu_
  mutable std::mutex counts_mu_;
  outbox_counts last_counts_;
};

}  // namespace freshet::rules
