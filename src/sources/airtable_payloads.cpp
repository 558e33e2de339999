#include "sources/airtable_payloads.hpp"

namespace freshet::sources {

namespace json = boost::json;

payload_page parse_payload_page(const json::object& page, std::int64_t asked_cursor) {
  payload_page out;
  const auto* next = page.if_contains("cursor");
  out.next_cursor = next && next->is_int64() ? next->get_int64() : next && next->is_uint64() && next->get_uint64() <= INT64_MAX
                                                                      ? static_cast<std::int64_t>(next->get_uint64())
                                                                      : asked_cursor;
  out.more = page.if_contains("mightHaveMore") && page.at("mightHaveMore") == true && out.next_cursor != asked_cursor;
  const auto* payloads = page.if_contains("payloads");
  if (!payloads || !payloads->is_array()) return out;
  for (const auto& p : payloads->get_array()) {
    ++out.payloads;
    const auto* tables = p.is_object() ? p.get_object().if_contains("changedTablesById") : nullptr;
    if (!tables || !tables->is_object()) continue;
    for (const auto& kv : tables->get_object()) {
      if (!kv.value().is_object()) continue;
      const auto& change = kv.value().get_object();
      auto& touch = out.tables[std::string(kv.key())];
      for (const char* key : {"createdRecordsById", "changedRecordsById"})
        if (const auto* m = change.if_contains(key); m && m->is_object())
          for (const auto& rec : m->get_object()) {
            touch.changed.insert(std::string(rec.key()));
            touch.destroyed.erase(std::string(rec.key()));
          }
      if (const auto* d = change.if_contains("destroyedRecordIds"); d && d->is_array())
        for (const auto& id : d->get_array())
          if (id.is_string()) {
            touch.destroyed.insert(std::string(id.get_string()));
            touch.changed.erase(std::string(id.get_string()));
          }
    }
  }
  return out;
}

}  // namespace freshet::sources
