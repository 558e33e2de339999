// `freshet simulate knack|airtable ...`: a stand-alone upstream simulator.
#pragma once

#include "sim/airtable_simulator.hpp"
#include "sim/knack_simulator.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <string>

namespace freshet::app {

struct simulate_options {
  std::string kind;  // knack | airtable
  std::string listen = "127.0.0.1:9001";
  double changes_per_second = 0;
  bool print_config = false;
  std::string webhook_url;     // knack: where changes are announced (empty: nowhere)
  std::string webhook_secret;  // knack: "whsec_..." to sign them with
  sim::knack_sim_options knack;
  sim::airtable_sim_options airtable;
};

// The change trickle: one_change() every 1/per_second seconds until `stopping`
// (read on the coroutine's own thread) turns true.
boost::asio::awaitable<void> trickle(std::function<void()> one_change, double per_second, const bool& stopping);

// Runs until SIGINT/SIGTERM; returns the exit code.
int run_simulate(const simulate_options& opts);

}  // namespace freshet::app
