#include "store/record_events.hpp"

#include "core/json_text.hpp"
#include "core/record_diff.hpp"

#include <boost/json/parse.hpp>

namespace freshet::store {

namespace json = boost::json;

namespace {

json::object with_id(const std::string& id, json::object fields) {
  json::object rec;
  rec.reserve(fields.size() + 1);
  rec["id"] = id;
  for (auto& kv : fields) rec[kv.key()] = std::move(kv.value());
  return rec;
}

// The record as an event carries it: the stored canonical JSON of its
// fields with the id first ({"id":"..",<fields>}).
std::string record_json_with_id(const std::string& id, const std::string& data) {
  std::string out = "{\"id\":";
  core::append_json_string(out, id);
  if (data.size() > 2) out.append(",").append(data, 1, std::string::npos);
  else out += '}';
  return out;
}

core::event_draft change_event(const object_changes& oc, const std::string& tenant, std::string_view op,
                               const std::string& id) {
  core::event_draft d;
  d.type = core::event_type::change;
  d.source = oc.source;
  d.object = oc.object;
  d.tenant = tenant;
  d.body["op"] = op;
  d.body["record_id"] = id;
  return d;
}

}  // namespace

void prepare_upsert(record_upsert& up) {
  if (!up.data.empty()) return;
  up.data = core::canonical_json(up.fields);
  up.hash = core::sha256_hex(up.data);
}

void prepare_upserts(change_set& cs) {
  for (auto& oc : cs.objects)
    for (auto& up : oc.upserts) prepare_upsert(up);
}

void emit_removal(const object_changes& oc, const std::string& id, const std::string& tenant, const std::string& data,
                  const emit_fn& emit) {
  auto d = change_event(oc, tenant, "deleted", id);
  d.body["record"] = nullptr;
  // What the record held last, so a rule or a log reader can still say what went.
  boost::system::error_code ec;
  auto old = json::parse(data, ec);
  if (!ec && old.is_object()) d.body["previous"] = with_id(id, old.get_object());
  emit(std::move(d));
}

upsert_decision decide_upsert(const object_changes& oc, record_upsert& up, const stored_row* old, const emit_fn& emit) {
  // The stored data is the canonical JSON, so its hash is the content hash
  // (made before the writer's commit by prepare_upserts, unless the caller
  // came straight here).
  prepare_upsert(up);
  if (old && old->hash == up.hash && old->tenant == up.tenant) return {};
  if (!old) {
    auto d = change_event(oc, up.tenant, "created", up.id);
    d.record_json = record_json_with_id(up.id, up.data);
    return {upsert_outcome::created, emit(std::move(d))};
  }
  boost::system::error_code ec;
  auto parsed = json::parse(old->data, ec);
  const json::object before = (!ec && parsed.is_object()) ? std::move(parsed.get_object()) : json::object{};
  auto changes = core::diff_fields(before, up.fields, oc.watch_fields);
  if (old->tenant != up.tenant) {
    // The record left its tenant: that tenant's dashboards must drop it.
    auto gone = change_event(oc, old->tenant, "deleted", up.id);
    gone.body["record"] = nullptr;
    gone.body["moved_to"] = up.tenant.empty() ? json::value(nullptr) : json::value(up.tenant);
    emit(std::move(gone));
    if (changes.empty()) changes = core::diff_fields(before, up.fields);
  }
  upsert_decision out{upsert_outcome::updated, 0};  // stored anew even when only unwatched fields moved
  if (!changes.empty()) {
    auto d = change_event(oc, up.tenant, "updated", up.id);
    d.body["changed"] = core::changed_json(changes);
    d.record_json = record_json_with_id(up.id, up.data);
    out.event_id = emit(std::move(d));
  }
  return out;
}

}  // namespace freshet::store
