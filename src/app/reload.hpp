// What a SIGHUP may change in a running server: the tokens (and [[jwt]]
// issuers) and the log level.
// Everything else (listen address, data dir, sources, goals, rules, limits)
// is wired into parts that run, and changes only with a restart: a reload
// names what it did not apply rather than half-applying it.
#pragma once

#include "app/config.hpp"

#include <string>
#include <vector>

namespace freshet::app {

struct reload_plan {
  bool tokens = false;             // the tokens or the JWT issuers differ: swap them
  std::string log_level;           // "": unchanged
  std::vector<std::string> needs_restart;  // sections that changed but cannot be applied live
};

reload_plan plan_reload(const config& running, const config& fresh);

}  // namespace freshet::app
