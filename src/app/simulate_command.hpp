// `freshet simulate knack ...`: a stand-alone upstream simulator.
#pragma once

#include "sim/knack_simulator.hpp"

#include <string>

namespace freshet::app {

struct simulate_options {
  std::string kind;  // knack (airtable: not built yet)
  std::string listen = "127.0.0.1:9001";
  double changes_per_second = 0;
  bool print_config = false;
  std::string webhook_url;     // where changes are announced (empty: nowhere)
  std::string webhook_secret;  // "whsec_..." to sign them with
  sim::knack_sim_options knack;
};

// Runs until SIGINT/SIGTERM; returns the exit code.
int run_simulate(const simulate_options& opts);

}  // namespace freshet::app
