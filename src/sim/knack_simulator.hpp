// The Knack API simulator (upstream-apis.md section 1 and its checklist):
// object-based record routes, application metadata, the real headers, rate
// limit and error bodies, over a deterministic data set; plus /_sim/ for
// tests (state, changes, stats). It serves through http::server like Freshet
// itself.
//
// Thread-safety: handle() may run on several workers at once; the app's state
// is guarded by one mutex (the simulator is a test double, not a hot path).
#pragma once

#include "http/server.hpp"
#include "sim/faults.hpp"
#include "sim/knack_model.hpp"
#include "sim/lenient_query.hpp"
#include "sim/webhook_sender.hpp"

#include <chrono>
#include <mutex>
#include <random>
#include <string>

namespace freshet::sim {

struct knack_sim_options {
  std::string dataset = "hti";
  std::uint64_t seed = 1;
  std::string app_id;                       // empty: the data set's own id
  std::string api_key = "sim-knack-api-key";
  double requests_per_second = 10;          // Knack's real limit; 0: no limit
  std::uint64_t daily_limit = 0;            // 0: not enforced (X-PlanLimit-* still sent)
  fault_options faults;
};

struct knack_sim_stats {
  std::uint64_t requests = 0;
  std::uint64_t rate_limited = 0;
  std::uint64_t max_requests_in_one_second = 0;
  std::uint64_t faults_injected = 0;
  std::uint64_t changes_applied = 0;
  std::uint64_t webhooks_sent = 0;
  std::uint64_t webhooks_failed = 0;
};

class knack_simulator : public http::request_handler {
 public:
  explicit knack_simulator(knack_sim_options opts);

  boost::asio::awaitable<http::handler_result> handle(http::request& req, const http::request_context& ctx) override;

  // The change trickle: `n` plausible changes now. Returns them as JSON.
  boost::json::array apply_changes(int n);
  knack_sim_stats stats() const;
  // From now on every change (trickle or API write) is also sent as a signed
  // webhook to `url`; `key` is the secret's key bytes. Call before serving.
  void enable_webhooks(boost::asio::any_io_executor ex, std::string url, std::string key);
  const std::string& app_id() const { return app_.id; }
  const std::string& api_key() const { return opts_.api_key; }
  // The [[sources]] block of a Freshet config that reads this simulator.
  std::string freshet_config(const std::string& base_url) const;

 private:
  struct limit_decision {
    bool allowed = true;
    std::int64_t window_reset_epoch = 0;
    std::uint64_t window_remaining = 0;
    std::uint64_t daily_remaining = 0;
  };
  limit_decision count_request(std::chrono::system_clock::time_point arrived);
  http::response records_route(const http::request& req, const lenient_query& q, const std::vector<std::string>& parts);
  http::response list(const lenient_query& q, const knack_object& obj);
  http::response sim_route(const http::request& req, const lenient_query& q);
  std::int64_t now_local_ms() const;
  void notify(const std::string& op, const std::string& object, const std::string& id);

  const knack_sim_options opts_;
  mutable std::mutex mu_;  // guards everything below
  knack_app app_;
  std::mt19937_64 change_rng_;
  std::uint64_t rate_limited_ = 0, changes_applied_ = 0;  // the other stats are the meter's and the injector's
  second_windows windows_;
  std::int64_t day_ = 0;
  std::uint64_t day_count_ = 0;
  fault_injector faults_;
  request_meter meter_;
  sim_clock clock_;
  std::unique_ptr<webhook_sender> webhooks_;  // set before serving, then only read
};

}  // namespace freshet::sim
