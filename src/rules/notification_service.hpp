// Rules and notifications as one part of the server: the outbox, the rule
// engine that fills it from the log, and the dispatcher that empties it.
//
// Thread-safety: on_commit() from the log's writer; the rest from any thread
// (list and retry do disk I/O: call them off the event loops).
#pragma once

#include "rules/dispatcher.hpp"
#include "rules/outbox.hpp"
#include "rules/rule_engine.hpp"
#include "rules/rule_sections.hpp"

#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace freshet::store {
class event_store;
}

namespace freshet::rules {

class notification_service {
 public:
  // box: the outbox beside the log (app::open_outbox). lease: how long the
  // rules' leadership outlives a silent leader ([store] lease_seconds).
  notification_service(rule_sections cfg, store::event_store& log, std::unique_ptr<outbox> box,
                       std::chrono::milliseconds lease);
  ~notification_service();

  // own_port: the server's listen port (never a notification target);
  // link_base: where {link} points ([notifications] dashboard_url, or the server).
  // The rules run and their messages go out on the instance that holds the
  // lease "rules" (on SQLite: this one, at once); the others list and retry.
  void start(unsigned short own_port, std::string link_base);
  void stop();
  void on_commit() {
    std::lock_guard lk(parts_mu_);
    if (engine_) engine_->wake();
  }
  // A signal of topic "rules" (event_store::send_signal): a retry made on a
  // follower, for the leader's dispatcher.
  void on_signal(const std::string& body);

  boost::json::array list(const outbox_list_filter& f) { return box_->list(f); }
  // A failed or waiting message goes again now (and its notifier, if held,
  // is tried: here when leading, else by the leader, told by a signal).
  bool retry(std::int64_t id);

  // {"rules":{evaluated,fired,...,role},"outbox":{gathering,pending,...},"notifiers":[...]}
  boost::json::object stats();
  std::vector<notifier_status> notifiers() const;
  rule_engine_counters engine_counters() const;
  bool leading() const { return token_ != 0; }

 private:
  const app::rule_config* rule_named(const std::string& name) const;
  std::string summarize(const notification& n) const;
  // A delivered notification on the stream, for dashboards' feeds.
  void announce(const notification& n);
  // The keeper thread: holds the lease, leads or follows as it comes.
  void keep_lease();
  void lead(std::uint64_t token);
  void follow();
  std::unique_ptr<dispatcher> new_dispatcher();  // unstarted: lead() starts one

  const rule_sections cfg_;
  store::event_store& log_;
  const std::chrono::milliseconds lease_;
  std::string link_base_;  // set by start(), before the engine runs
  unsigned short own_port_ = 0;
  std::unique_ptr<outbox> box_;
  // The running parts while leading (the dispatcher stays after, for its
  // last statuses); swapped by the keeper under parts_mu_, stopped outside it.
  mutable std::mutex parts_mu_;
  std::unique_ptr<dispatcher> dispatch_;
  std::unique_ptr<rule_engine> engine_;
  rule_engine_counters before_;  // counters of the engines that ran before this one
  std::atomic<std::uint64_t> token_{0};
  std::mutex keeper_mu_;
  std::condition_variable keeper_cv_;
  bool stopping_ = false;
  std::thread keeper_;
};

}  // namespace freshet::rules
