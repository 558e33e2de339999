// Structured logs: one logfmt line per record on stderr
// (ts=... level=... msg=... key=value). Secrets are never passed to the logger.
#pragma once

#include <string>

namespace freshet::app {

// level: trace, debug, info, warn, error. Returns false for an unknown level.
bool setup_logging(const std::string& level);

}  // namespace freshet::app
