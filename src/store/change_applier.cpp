#include "store/change_applier.hpp"


#include <boost/json/serialize.hpp>

#include <optional>
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
        ids_all(db, "SELECT id FROM records WHERE source=? AND object=?"),
        ids_tenant(db, "SELECT id FROM records WHERE source=? AND object=? AND tenant=?"),
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

}  // namespace

change_applier::change_applier(connection& db) : db_(db), st_(std::make_unique<statements>(db.get())) {}
change_applier::~change_applier() = default;

void change_applier::remove(const object_changes& oc, const std::string& id, const std::string& tenant,
                            const std::string& data, const emit_fn& emit, change_result& out) {
  emit_removal(oc, id, tenant, data, emit);
  st_->remove.bind(1, oc.source).bind(2, oc.object).bind(3, id);
  run(st_->remove);
  ++out.deleted;
}

void change_applier::remove_if_stored(const object_changes& oc, const std::string& id, const emit_fn& emit,
                                      change_result& out) {
  st_->find.bind(1, oc.source).bind(2, oc.object).bind(3, id);
  if (st_->find.step()) {
    std::string tenant(st_->find.column_text(0)), data(st_->find.column_text(2));
    st_->find.reset();
    remove(oc, id, tenant, data, emit, out);
  } else {
    st_->find.reset();
  }
}

void change_applier::apply_object(object_changes& oc, const emit_fn& emit, change_result& out) {
  for (auto& up : oc.upserts) {
    st_->find.bind(1, oc.source).bind(2, oc.object).bind(3, up.id);
    std::optional<stored_row> old;
    if (st_->find.step())
      old = stored_row{std::string(st_->find.column_text(0)), std::string(st_->find.column_text(1)),
                       std::string(st_->find.column_text(2))};
    st_->find.reset();
    const auto decided = decide_upsert(oc, up, old ? &*old : nullptr, emit);
    if (decided.outcome == upsert_outcome::unchanged) {
      ++out.unchanged;
      continue;
    }
    ++(decided.outcome == upsert_outcome::created ? out.created : out.updated);
    st_->upsert.bind(1, oc.source)
        .bind(2, oc.object)
        .bind(3, up.id)
        .bind(4, up.tenant)
        .bind(5, up.hash)
        .bind(6, up.data)
        .bind(7, static_cast<std::int64_t>(decided.event_id));
    run(st_->upsert);
  }

  for (const auto& id : oc.deletes) remove_if_stored(oc, id, emit, out);

  if (oc.keep_only) {
    const std::unordered_set<std::string_view> keep(oc.keep_only->begin(), oc.keep_only->end());
    // The ids come from the index alone; only the few rows going are read.
    std::vector<std::string> doomed;
    statement& q = oc.keep_only_tenant.empty() ? st_->ids_all : st_->ids_tenant;
    q.bind(1, oc.source).bind(2, oc.object);
    if (!oc.keep_only_tenant.empty()) q.bind(3, oc.keep_only_tenant);
    while (q.step())
      if (!keep.count(q.column_text(0))) doomed.emplace_back(q.column_text(0));
    q.reset();
    for (const auto& id : doomed) remove_if_stored(oc, id, emit, out);
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
