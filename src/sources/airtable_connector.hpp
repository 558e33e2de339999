// The Airtable connector (upstream-apis.md section 2). Tables are read with
// offset pagination (sequential within a table: each offset comes from the
// page before); an expired iterator restarts the listing. Incremental reads
// use the pattern of 2.4: a configured last-modified field, or
// IF(NOT(LAST_MODIFIED_TIME()), CREATED_TIME(), LAST_MODIFIED_TIME()) when
// there is none, after the watermark minus the overlap. Without a modified
// field the watermark is the time the read began (Freshet's clock), which the
// overlap covers for skew.
#pragma once

#include "sources/connector.hpp"
#include "sources/upstream_caller.hpp"

namespace freshet::sources {

class airtable_connector : public connector {
 public:
  airtable_connector(const app::source_config& src, upstream_caller& caller);

  boost::asio::awaitable<void> prepare() override { co_return; }
  boost::asio::awaitable<fetch_outcome> fetch(const app::object_config& obj, const fetch_request& req,
                                              const page_sink& sink) override;

 private:
  boost::asio::awaitable<void> list(const app::object_config& obj, const std::string& formula, const page_sink& sink,
                                    fetch_outcome& out, std::string& max_modified);
  std::vector<std::pair<std::string, std::string>> headers() const;

  const app::source_config& src_;
  upstream_caller& caller_;
};

namespace airtable {
// One REST record {id, createdTime, fields} as local names and raw values;
// fields Airtable left out (empty) are null.
// Takes the record to move its values (pass a copy to keep it).
store::record_upsert map_record(const app::object_config& obj, boost::json::object rec);
// A formula string literal: double-quoted, with quotes and backslashes escaped.
std::string quote(std::string_view s);
std::string modified_formula(const app::object_config& obj, const std::string& since_iso);
std::string ids_formula(const std::vector<std::string>& ids);
}  // namespace airtable

}  // namespace freshet::sources
