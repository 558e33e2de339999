#include "store/change_applier.hpp"

#include "core/record_diff.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <unordered_set>

namespace freshet::store {

namespace json = boost::json;

struct change_applier::statements {
  explicit statements(sqlite3* db)
      : find(db, "SELECT tenant, hash, data FROM records WHERE source=? AND object=? AND id=?"),
        upsert(db,
               "INSERT INTO records(source,object,id,tenant,hash,data,updated_event_id) VALUES(?,?,?,?,?,?,?) "
               "ON CONFLICT(source,object,id) DO UPDATE SET tenant=excluded.tenant, hash=excluded.hash, "
               "data=excluded.data, updated_event_id=CASE WHEN excluded.updated_event_id=0 "
               "THEN records.updated_event_id ELSE excluded.updated_event_id END"),
        remove(db, "DELETE FROM records WHERE source=? AND object=? AND id=?"),
        ids_all(db, "SELECT id, tenant, data FROM records WHERE source=? AND object=?"),
        ids_tenant(db, "SELECT id, tenant, data FROM records WHERE source=? AND object=? AND tenant=?"),
        state(db, "INSERT INTO sync_state(source,key,value) VALUES(?,?,?) "
                  "ON CONFLICT(source,key) DO UPDATE SET value=excluded.value"),
        delivery(db, "INSERT OR IGNORE INTO webhook_deliveries(source,delivery_id,at_ms) VALUES(?,?,?)"),
        audit(db, "INSERT INTO audit(at,at_ms,kind,source,who,outcome,detail) VALUES(?,?,?,?,?,?,?)"),
        synced(db, "INSERT INTO tenant_syncs(source,object,tenant,at_ms) VALUES(?,?,?,?) "
                   "ON CONFLICT(source,object,tenant) DO UPDATE SET at_ms=excluded.at_ms"),
        prune(db, "DELETE FROM webhook_deliveries WHERE at_ms < ?") {}
  statement find, upsert, remove, ids_all, ids_tenant, state, delivery, audit, synced, prune;
};

namespace {

// Steps a statement that returns no rows and makes it ready for the next use.
void run(statement& s) {
  s.step();
  s.reset();
}

json::object with_id(const std::string& id, json::object fields) {
  json::object rec;
  rec.reserve(fields.size() + 1);
  rec["id"] = id;
  for (auto& kv : fields) rec[kv.key()] = std::move(kv.value());
  return rec;
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

change_applier::change_applier(connection& db) : db_(db), st_(std::make_unique<statements>(db.get())) {}
change_applier::~change_applier() = default;

void change_applier::remove(const object_changes& oc, const std::string& id, const std::string& tenant,
                            const std::string& data, const emit_fn& emit, change_result& out) {
  auto d = change_event(oc, tenant, "deleted", id);
  d.body["record"] = nullptr;
  // What the record held last, so a rule or a log reader can still say what went.
  boost::system::error_code ec;
  auto old = json::parse(data, ec);
  if (!ec && old.is_object()) d.body["previous"] = with_id(id, old.get_object());
  emit(std::move(d));
  st_->remove.bind(1, oc.source).bind(2, oc.object).bind(3, id);
  run(st_->remove);
  ++out.deleted;
}

void change_applier::apply_object(object_changes& oc, const emit_fn& emit, change_result& out) {
  for (auto& up : oc.upserts) {
    // The stored data is the canonical JSON, so its hash is the content hash
    // (made before the transaction by prepare_upserts, unless the caller
    // came straight here).
    prepare_upsert(up);
    const std::string& data = up.data;
    const std::string& hash = up.hash;
    st_->find.bind(1, oc.source).bind(2, oc.object).bind(3, up.id);
    const bool found = st_->find.step();
    std::string old_tenant, old_hash, old_data;
    if (found) {
      old_tenant = st_->find.column_text(0);
      old_hash = st_->find.column_text(1);
      old_data = st_->find.column_text(2);
    }
    st_->find.reset();
    if (found && old_hash == hash && old_tenant == up.tenant) {
      ++out.unchanged;
      continue;
    }
    std::uint64_t event_id = 0;
    if (!found) {
      auto d = change_event(oc, up.tenant, "created", up.id);
      d.body["record"] = with_id(up.id, std::move(up.fields));
      event_id = emit(std::move(d));
      ++out.created;
    } else {
      boost::system::error_code ec;
      auto old = json::parse(old_data, ec);
      const json::object before = (!ec && old.is_object()) ? std::move(old.get_object()) : json::object{};
      auto changes = core::diff_fields(before, up.fields, oc.watch_fields);
      if (old_tenant != up.tenant) {
        // The record left its tenant: that tenant's dashboards must drop it.
        auto gone = change_event(oc, old_tenant, "deleted", up.id);
        gone.body["record"] = nullptr;
        gone.body["moved_to"] = up.tenant.empty() ? json::value(nullptr) : json::value(up.tenant);
        emit(std::move(gone));
        if (changes.empty()) changes = core::diff_fields(before, up.fields);
      }
      if (!changes.empty()) {
        auto d = change_event(oc, up.tenant, "updated", up.id);
        d.body["changed"] = core::changed_json(changes);
        d.body["record"] = with_id(up.id, std::move(up.fields));
        event_id = emit(std::move(d));
      }
      ++out.updated;  // stored anew even when only unwatched fields moved
    }
    st_->upsert.bind(1, oc.source)
        .bind(2, oc.object)
        .bind(3, up.id)
        .bind(4, up.tenant)
        .bind(5, hash)
        .bind(6, data)
        .bind(7, static_cast<std::int64_t>(event_id));
    run(st_->upsert);
  }

  for (const auto& id : oc.deletes) {
    st_->find.bind(1, oc.source).bind(2, oc.object).bind(3, id);
    if (st_->find.step()) {
      std::string tenant(st_->find.column_text(0)), data(st_->find.column_text(2));
      st_->find.reset();
      remove(oc, id, tenant, data, emit, out);
    } else {
      st_->find.reset();
    }
  }

  if (oc.keep_only) {
    const std::unordered_set<std::string_view> keep(oc.keep_only->begin(), oc.keep_only->end());
    struct gone {
      std::string id, tenant, data;
    };
    std::vector<gone> doomed;
    statement& q = oc.keep_only_tenant.empty() ? st_->ids_all : st_->ids_tenant;
    q.bind(1, oc.source).bind(2, oc.object);
    if (!oc.keep_only_tenant.empty()) q.bind(3, oc.keep_only_tenant);
    while (q.step())
      if (!keep.count(q.column_text(0)))
        doomed.push_back({std::string(q.column_text(0)), std::string(q.column_text(1)), std::string(q.column_text(2))});
    q.reset();
    for (const auto& g : doomed) remove(oc, g.id, g.tenant, g.data, emit, out);
  }
}

change_result change_applier::apply(change_set& cs, const emit_fn& emit, std::int64_t now_ms,
                                    const std::string& now_iso) {
  change_result out;
  if (cs.delivery) {
    st_->delivery.bind(1, cs.delivery->first).bind(2, cs.delivery->second).bind(3, now_ms);
    run(st_->delivery);
    if (sqlite3_changes(db_.get()) == 0) {
      out.duplicate_delivery = true;
      // A replay changes nothing, but it is still worth an audit line.
      for (auto a : cs.audit) {
        a.outcome = "duplicate";
        st_->audit.bind(1, now_iso).bind(2, now_ms).bind(3, a.kind).bind(4, a.source).bind(5, a.who)
            .bind(6, a.outcome).bind(7, json::serialize(a.detail));
        run(st_->audit);
      }
      return out;
    }
  }
  auto counting_emit = [&](core::event_draft d) {
    out.last_event_id = emit(std::move(d));
    ++out.events;
    return out.last_event_id;
  };
  for (auto& oc : cs.objects) apply_object(oc, counting_emit, out);
  for (const auto& d : cs.events) counting_emit(d);
  for (const auto& w : cs.state) {
    st_->state.bind(1, w.source).bind(2, w.key).bind_text(3, w.value);
    run(st_->state);
  }
  for (const auto& s : cs.synced) {
    st_->synced.bind(1, s.source).bind(2, s.object).bind_text(3, s.tenant).bind(4, s.at_ms);
    run(st_->synced);
  }
  for (const auto& a : cs.audit) {
    st_->audit.bind(1, now_iso).bind(2, now_ms).bind(3, a.kind).bind(4, a.source).bind(5, a.who)
        .bind(6, a.outcome).bind(7, json::serialize(a.detail));
    run(st_->audit);
  }
  return out;
}

void change_applier::prune_deliveries(std::int64_t cutoff_ms) {
  st_->prune.bind(1, cutoff_ms);
  run(st_->prune);
}

}  // namespace freshet::store
