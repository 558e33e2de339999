// `freshet demo`: the whole product with no set-up. A simulated Knack app
// (the `hti` data set: laptops refurbished and donated across five counties)
// runs in this process with a steady trickle of changes, announced to Freshet
// by signed webhooks; Freshet syncs it into a store in a temporary (or given)
// data dir and serves the dashboard, on loopback only, with no authentication.
#pragma once

#include <string>

namespace freshet::app {

struct demo_options {
  int port = 8080;                  // 0: any free port
  std::string data_dir;             // empty: a new temporary dir
  double changes_per_second = 1;    // the simulated app's trickle (0: none)
  int seed = 1;                     // the data set's seed
};

// Runs until SIGINT/SIGTERM; returns the exit code.
int run_demo(const demo_options& opts);

// The config the demo runs with: the simulator at `sim_url` as source `hti`,
// its webhooks verified with the secret in FRESHET_DEMO_WEBHOOK_SECRET, and
// the `laptops_donated` goal (due by `deadline`, YYYY-MM-DD), and the rules of
// demo_rules_text(). Exposed so tests can check it stays valid.
std::string demo_config_text(const std::string& source_block, int port, const std::string& data_dir,
                             const std::string& deadline = "2027-06-30");
// The demo's [[notifiers]] and [[rules]]: Slack messages to the demo's own
// receiver (FRESHET_DEMO_SLACK_URL) when donations arrive, laptops become ready,
// a session nears capacity, and the donation goal passes marks or falls behind.
std::string demo_rules_text();

}  // namespace freshet::app
