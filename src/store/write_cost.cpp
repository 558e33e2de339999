#include "store/write_cost.hpp"

#include <boost/json/value.hpp>

namespace freshet::store {

namespace json = boost::json;

namespace {

std::size_t approx_object_bytes(const json::object& o);

std::size_t approx_bytes(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string: return v.get_string().size() + 8;
    case json::kind::array: {
      std::size_t n = 16;
      for (const auto& x : v.get_array()) n += approx_bytes(x);
      return n;
    }
    case json::kind::object: return approx_object_bytes(v.get_object());
    default: return 8;
  }
}

std::size_t approx_object_bytes(const json::object& o) {
  std::size_t n = 16;
  for (const auto& kv : o) n += kv.key().size() + approx_bytes(kv.value());
  return n;
}

}  // namespace

std::size_t write_cost(const core::event_draft& d) {
  // Measured in place: wrapping the body in a json::value would copy it.
  return 64 + d.source.size() + d.object.size() + d.tenant.size() + approx_object_bytes(d.body) +
         d.record_json.size();
}

std::size_t write_cost(const change_set& cs) {
  std::size_t n = 128;
  for (const auto& oc : cs.objects) {
    // The canonical JSON is made by then (prepare_upserts): its size, twice
    // (the fields and the stored text), without walking the fields again.
    for (const auto& u : oc.upserts) n += 96 + u.id.size() + u.tenant.size() + 2 * u.data.size();
    for (const auto& id : oc.deletes) n += 16 + id.size();
    if (oc.keep_only)
      for (const auto& id : *oc.keep_only) n += 16 + id.size();
  }
  for (const auto& w : cs.state) n += 32 + w.source.size() + w.key.size() + w.value.size();
  for (const auto& a : cs.audit) n += 64 + a.who.size() + a.source.size() + approx_object_bytes(a.detail);
  for (const auto& d : cs.events) n += write_cost(d);
  return n;
}

}  // namespace freshet::store
