// The Knack connector (upstream-apis.md section 1). Object-based routes with
// the app id and API key; pages of 1,000 rows, fetched in parallel once the
// first page has told how many there are; records stored with local names and
// raw values (`field_N_raw`, never the formatted HTML).
//
// Knack has no system "modified" time: the app keeps a date field current by
// record rules, and reports it as local wall time with a misleading `Z`
// (1.5, 1.7). The watermark is kept in that same local frame, so filtering
// needs no time-zone conversion: "is D OR is after D" at the field's
// granularity (day for a date, minute for a date and time), which is a
// superset whichever way Knack reads the time, then duplicates are dropped by
// id and unchanged records by their content hash. Deletions are found only by
// a full listing (reconcile).
#pragma once

#include "sources/connector.hpp"
#include "sources/upstream_caller.hpp"

#include <map>

namespace freshet::sources {

class knack_connector : public connector {
 public:
  knack_connector(const app::source_config& src, upstream_caller& caller);

  // Nothing to do up front: the app's metadata is read on the first
  // incremental read, which is the only one that needs it.
  boost::asio::awaitable<void> prepare() override;
  boost::asio::awaitable<fetch_outcome> fetch(const app::object_config& obj, const fetch_request& req,
                                              const page_sink& sink) override;

  // The app's time zone as its metadata names it (for logs and docs).
  const std::string& time_zone() const { return time_zone_; }

 private:
  boost::asio::awaitable<void> load_metadata();
  std::vector<std::pair<std::string, std::string>> headers() const;
  std::string list_target(const app::object_config& obj, const std::string& filters, std::uint64_t page) const;

  const app::source_config& src_;
  upstream_caller& caller_;
  std::string time_zone_;
  std::map<std::string, std::string> field_types_;  // field_N -> type, from the app's metadata
  bool metadata_loaded_ = false;
};

// Pure parts, tested on their own.
namespace knack {
// One Knack record (field_N and field_N_raw) as local names and raw values;
// with no `fields` mapping, every field_N by its key. Empty fields are null.
// Takes the record to move its values (pass a copy to keep it).
store::record_upsert map_record(const app::object_config& obj, boost::json::object rec);
// The largest modified stamp (local wall ms) among records, or `floor`.
std::int64_t max_modified_ms(const app::object_config& obj, const std::vector<store::record_upsert>& recs,
                             std::int64_t floor);
// The filter for "modified on or after `since_local_ms`" on `field_key`.
std::string modified_filter(const std::string& field_key, bool with_time, std::int64_t since_local_ms);
std::string tenant_filter(const std::string& field_key, const std::string& tenant);
}  // namespace knack

}  // namespace freshet::sources
