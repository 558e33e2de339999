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
#include <memory>

namespace freshet::store {
class event_store;
}

namespace freshet::rules {

class notification_service {
 public:
  // db_path: the store's file (the outbox lives beside the log).
  notification_service(rule_sections cfg, store::event_store& log, const std::string& db_path);
  ~notification_service();

  // own_port: the server's listen port (never a notification target);
  // link_base: where {link} points ([notifications] dashboard_url, or the server).
  void start(unsigned short own_port, std::string link_base);
  void stop();
  void on_commit() {
    if (auto* e = engine_.load()) e->wake();
  }

  boost::json::array list(const outbox_list_filter& f) { return box_->list(f); }
  // A failed or waiting message goes again now (and its notifier, if held, is tried).
  bool retry(std::int64_t id);

  // {"rules":{evaluated,fired,...},"outbox":{gathering,pending,...},"notifiers":[...]}
  boost::json::object stats();
  std::vector<notifier_status> notifiers() const { return dispatch_->statuses(); }
  rule_engine_counters engine_counters() const {
    auto* e = engine_.load();
    return e ? e->counters() : rule_engine_counters{};
  }

 private:
  const app::rule_config* rule_named(const std::string& name) const;
  std::string summarize(const notification& n) const;
  // A delivered notification on the stream, for dashboards' feeds.
  void announce(const notification& n);

  const rule_sections cfg_;
  store::event_store& log_;
  std::string link_base_;  // set by start(), before the engine runs
  std::unique_ptr<outbox> box_;
  std::unique_ptr<dispatcher> dispatch_;
  std::unique_ptr<rule_engine> engine_owner_;
  std::atomic<rule_engine*> engine_{nullptr};  // set by start(); the log's writer wakes it
};

}  // namespace freshet::rules
