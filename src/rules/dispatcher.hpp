// Delivers the outbox's messages, one coroutine per notifier on a thread of
// its own (outbound HTTP never shares a loop with the connections Freshet
// serves). Per notifier, messages go one at a time, oldest due first:
//
// - Slack: at most one message per second per URL; a 429 waits its
//   Retry-After; Slack's permanent errors mark the notifier failing, and its
//   messages wait (the oldest is tried again every `kFailingProbe`, or at
//   once after a retry by hand).
// - Webhook: 2xx is delivered; 410 disables the notifier until a retry by
//   hand; anything else is retried on the schedule ([notifications]
//   retry_seconds, with ±10 % jitter), then the message is failed and kept.
//
// Thread-safety: wake(), resume() and statuses() from any thread.
#pragma once

#include "rules/outbox.hpp"
#include "rules/rule_sections.hpp"
#include "rules/target_guard.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace freshet::rules {

struct notifier_status {
  std::string name, kind;
  std::string state;   // ok | failing | disabled
  std::string reason;  // why not ok
  std::uint64_t sent = 0, retried = 0, failed = 0, rate_limited = 0;
};

class dispatcher {
 public:
  static constexpr std::chrono::seconds kFailingProbe{300};

  // summary(msg) renders a coalesced message when its window closes;
  // delivered(msg), when given, is told of each message its target took
  // (on the dispatcher's thread, after the outbox has recorded it).
  dispatcher(rule_sections cfg, outbox& box, std::function<std::string(const notification&)> summary,
             std::function<void(const notification&)> delivered = {});
  ~dispatcher();

  // own_port: the server's listen port, never a notification target.
  void start(unsigned short own_port);
  void stop();
  void wake();                            // new messages, or a window may have closed
  void resume(const std::string& notifier);  // a retry by hand: a held notifier tries again now
  std::vector<notifier_status> statuses() const;

 private:
  struct target;
  boost::asio::awaitable<void> run_target(target& t);
  boost::asio::awaitable<void> nap(target& t, std::int64_t ms);
  boost::asio::awaitable<void> run_windows();
  boost::asio::awaitable<std::string> check_address(target& t);
  std::int64_t retry_delay_ms(int step) const;

  const app::notifications_config& opts_;
  outbox& box_;
  target_rules guard_;  // set by start()
  std::function<std::string(const notification&)> summary_;
  std::function<void(const notification&)> delivered_;
  boost::asio::io_context ioc_{1};
  std::vector<std::unique_ptr<target>> targets_;  // fixed after construction
  std::map<std::string, std::int64_t> last_slack_send_;  // per URL; the loop's thread only
  mutable std::mutex mu_;                                // guards the status parts of targets_
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace freshet::rules
