// Structured logs: one logfmt line per record on stderr
// (ts=... level=... msg=... key=value). Secrets are never passed to the logger.
// Every line is one line: control characters in a message (a client's
// percent-decoded path with %0A or %00, a header) are escaped at the sink, so
// no logged value can forge a line or write a NUL.
#pragma once

#include <string>
#include <string_view>

namespace freshet::app {

// level: trace, debug, info, warn, error. Returns false for an unknown level.
bool setup_logging(const std::string& level);

// `text` with every control character (below 0x20, and 0x7F) written as \n,
// \r, \t or \xHH; the rest as it is.
std::string escape_control_chars(std::string_view text);

}  // namespace freshet::app
