// A page of records as Knack or Airtable might send it, whole or broken:
// parsed, then every record mapped to Freshet's stored form by the
// connectors' own code (upstream-apis.md 1.5, 2.4).
#include "sources/airtable_connector.hpp"
#include "sources/knack_connector.hpp"

#include <boost/json/parse.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace freshet;
  static const app::object_config obj = [] {
    app::object_config o;
    o.name = "laptops";
    o.key = "object_1";
    o.fields = {{"status", "field_3"}, {"county", "field_5"}, {"modified", "field_20"}, {"Name", "Name"}};
    o.modified_field = "modified";
    o.tenant_field = "county";
    return o;
  }();
  boost::system::error_code ec;
  auto page = boost::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec);
  if (ec || !page.is_object()) return 0;
  const auto* records = page.get_object().if_contains("records");
  if (!records || !records->is_array()) return 0;
  for (const auto& r : records->get_array()) {
    if (!r.is_object()) continue;
    (void)sources::knack::map_record(obj, r.get_object());
    (void)sources::airtable::map_record(obj, r.get_object());
  }
  return 0;
}
