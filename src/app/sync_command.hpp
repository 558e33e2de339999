// `freshet sync --config F [--source S] [--tenant T] [--full] --once`: one
// sync from the command line into the config's data dir, then a JSON summary
// on stdout (records fetched per object, created, updated, deleted, requests,
// retries, duration_seconds). Exit 0 when every object synced, 1 otherwise.
#pragma once

#include "app/config.hpp"

#include <string>

namespace freshet::app {

struct sync_options {
  std::string source;  // "" : every source
  std::string tenant;  // "" : whole objects
  bool full = false;   // a full read even where a watermark exists
};

int run_sync_once(const config& cfg, const sync_options& opts);

}  // namespace freshet::app
