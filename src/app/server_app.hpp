// The running server: owns every long-lived part, wires them together, runs
// the event loop on one thread per core, and shuts down in order on SIGINT or
// SIGTERM (stop accepting, end streams, finish requests in flight, flush the
// store) within a few seconds.
#pragma once

#include "app/config.hpp"

#include <chrono>
#include <functional>
#include <memory>

namespace freshet::app {

struct run_options {
  // Called once the server listens, with its port (the demo prints its URL).
  std::function<void(unsigned short port)> on_listening;
};

// Runs until a signal asks it to stop; returns the process exit code.
int run_server(const config& cfg, const run_options& opts = {});

}  // namespace freshet::app
