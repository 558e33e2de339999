// What the sync engine asks of an upstream, whatever its kind: the records of
// an object (all, one tenant's, changed since a watermark, or some ids),
// mapped to local field names and raw values, page by page.
#pragma once

#include "app/config.hpp"
#include "store/change_set.hpp"

#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace freshet::sources {

// The first of an object's `fields` (local name -> upstream key) up to `at`
// that maps the same upstream key as `at` does: `at` itself unless an earlier
// name took that key. A mapper moves each upstream value out once, and a
// later name copies it from the first.
inline std::map<std::string, std::string>::const_iterator first_mapping(
    const std::map<std::string, std::string>& fields, std::map<std::string, std::string>::const_iterator at) {
  return std::find_if(fields.begin(), at, [&](const auto& f) { return f.second == at->second; });
}

struct fetch_request {
  enum class mode { full, incremental, ids };
  mode what = mode::full;
  std::string since;   // incremental: the watermark the last fetch returned
  std::string tenant;  // full: only this tenant's records (a filter upstream)
  std::vector<std::string> ids;
};

// Progress as pages arrive: records so far, and the total when the upstream says.
struct fetch_progress {
  std::uint64_t pages = 0, records = 0;
  std::optional<std::uint64_t> total;
};

struct fetch_outcome {
  // Every page arrived and the listing was consistent (no record can have
  // been skipped): only then may a full fetch reconcile deletions.
  bool complete = false;
  std::vector<std::string> seen_ids;  // full: every id listed
  std::string watermark;              // the next `since` ("" when the object has none)
  std::vector<std::string> missing_ids;  // ids: those the upstream says do not exist
  fetch_progress progress;
};

// Receives each page's records (deduplicated by id across pages) once the
// page is whole; the fetch waits for it, so pages commit in step.
using page_sink = std::function<boost::asio::awaitable<void>(std::vector<store::record_upsert>, const fetch_progress&)>;

class connector {
 public:
  virtual ~connector() = default;
  // Reads what the connector needs once (Knack: the app's field types).
  virtual boost::asio::awaitable<void> prepare() = 0;
  // Throws upstream_error when the upstream cannot be read.
  virtual boost::asio::awaitable<fetch_outcome> fetch(const app::object_config& obj, const fetch_request& req,
                                                      const page_sink& sink) = 0;
  // The watermark to start from when there is none: "" means fetch everything.
  virtual std::string initial_watermark(const app::object_config&) const { return {}; }
};

// The tenant key of a record: a string as it is, a number in decimal, a list
// (multi-select, linked records) by its first element (a connection by its
// identifier); "" when empty.
std::string tenant_of(const boost::json::value* v);

}  // namespace freshet::sources
