#include "store/queries.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <charconv>

namespace freshet::store {

namespace json = boost::json;

std::map<std::string, std::string> load_sync_state(connection& db, const std::string& source) {
  std::map<std::string, std::string> out;
  statement s(db.get(), "SELECT key, value FROM sync_state WHERE source=?");
  s.bind(1, source);
  while (s.step()) out[std::string(s.column_text(0))] = std::string(s.column_text(1));
  return out;
}

namespace {
stored_record row_to_record(const statement& s) {
  stored_record r;
  r.id = s.column_text(0);
  r.tenant = s.column_text(1);
  boost::system::error_code ec;
  auto v = json::parse(s.column_text(2), ec);
  if (!ec && v.is_object()) r.fields = std::move(v.get_object());
  r.updated_event_id = static_cast<std::uint64_t>(s.column_int(3));
  return r;
}
}  // namespace

namespace {
std::vector<raw_record> list_raw_records(connection& db, const std::string& source, const std::string& object,
                                        const std::vector<std::string>& tenants, const std::string& after_id,
                                        std::size_t limit) {
  std::string sql = "SELECT id, tenant, data FROM records WHERE source=? AND object=? AND id>?";
  if (!tenants.empty()) {
    sql += " AND tenant IN (" + sql_placeholders(tenants.size()) + ")";
  }
  sql += " ORDER BY id LIMIT ?";
  statement s(db.get(), sql);
  s.bind(1, source).bind(2, object).bind_text(3, after_id);
  int i = 4;
  for (const auto& t : tenants) s.bind(i++, t);
  s.bind(i, static_cast<std::int64_t>(limit));
  std::vector<raw_record> out;
  while (s.step())
    out.push_back({std::string(s.column_text(0)), std::string(s.column_text(1)), std::string(s.column_text(2))});
  return out;
}
}  // namespace

snapshot_page read_snapshot(connection& db, const std::string& source, const std::string& object,
                            const std::vector<std::string>& tenants, const std::string& after_id, std::size_t limit) {
  snapshot_page out;
  db.exec("BEGIN");
  try {
    // The newest id ever given out: MAX(id), or the high-water mark retention
    // leaves when it deletes the newest (MAX(id) alone of an emptied log would
    // send the client back before ids already given out).
    statement s(db.get(),
                "SELECT MAX((SELECT value FROM meta WHERE key='high_water'), "
                "COALESCE((SELECT MAX(id) FROM events), 0)), "
                "(SELECT value FROM meta WHERE key='records_version')");
    s.step();
    out.last_event_id = static_cast<std::uint64_t>(s.column_int(0));
    out.records_version = static_cast<std::uint64_t>(s.column_int(1));
    out.records = list_raw_records(db, source, object, tenants, after_id, limit);
  } catch (...) {
    db.exec("ROLLBACK");
    throw;
  }
  db.exec("COMMIT");
  return out;
}

std::optional<stored_record> find_record(connection& db, const std::string& source, const std::string& object,
                                         const std::string& id) {
  statement s(db.get(), "SELECT id, tenant, data, updated_event_id FROM records WHERE source=? AND object=? AND id=?");
  s.bind(1, source).bind(2, object).bind(3, id);
  if (!s.step()) return std::nullopt;
  return row_to_record(s);
}

std::vector<std::pair<std::int64_t, double>> goal_days(connection& db, const std::string& goal) {
  // The prefix as a key range: a per-tenant figure ("day:goal|tenant:...") sorts elsewhere.
  const std::string from = "day:" + goal + ":", to = "day:" + goal + ";";
  statement s(db.get(), "SELECT key, value FROM rule_state WHERE key >= ? AND key < ?");
  s.bind(1, from).bind(2, to);
  std::vector<std::pair<std::int64_t, double>> out;
  while (s.step()) {
    const std::string key(s.column_text(0)), value(s.column_text(1));
    std::int64_t day = 0;
    double v = 0;
    const auto* k = key.data() + from.size();
    if (std::from_chars(k, key.data() + key.size(), day).ec != std::errc{}) continue;
    if (std::from_chars(value.data(), value.data() + value.size(), v).ec != std::errc{}) continue;
    out.emplace_back(day, v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<tenant_summary> summarize_object(connection& db, const std::string& source, const std::string& object) {
  std::vector<tenant_summary> out;
  {
    statement s(db.get(), "SELECT COALESCE(tenant,''), COUNT(*) FROM records WHERE source=? AND object=? GROUP BY tenant");
    s.bind(1, source).bind(2, object);
    while (s.step()) out.push_back({std::string(s.column_text(0)), static_cast<std::uint64_t>(s.column_int(1)), 0});
  }
  std::int64_t whole = 0;
  std::map<std::string, std::int64_t> own;
  statement s(db.get(), "SELECT tenant, at_ms FROM tenant_syncs WHERE source=? AND object=?");
  s.bind(1, source).bind(2, object);
  while (s.step()) {
    if (s.column_text(0).empty()) whole = s.column_int(1);
    else own[std::string(s.column_text(0))] = s.column_int(1);
  }
  return with_sync_times(std::move(out), whole, own);
}

bool tenant_has_records(connection& db, const std::string& source, const std::string& object, const std::string& tenant) {
  statement s(db.get(), "SELECT 1 FROM records WHERE source=? AND object=? AND tenant=? LIMIT 1");
  s.bind(1, source).bind(2, object).bind(3, tenant);
  return s.step();
}

std::vector<audit_row> list_audit(connection& db, std::int64_t after_id, std::size_t limit, bool newest) {
  // The newest `limit` are read backwards, then put in id order like the rest.
  const std::string sql = std::string("SELECT * FROM (SELECT id, at, kind, COALESCE(source,''), COALESCE(who,''), "
                                      "outcome, detail FROM audit WHERE id>? ORDER BY id ") +
                          (newest ? "DESC" : "") + " LIMIT ?) ORDER BY id";
  statement s(db.get(), sql);
  s.bind(1, after_id).bind(2, static_cast<std::int64_t>(limit));
  std::vector<audit_row> out;
  while (s.step())
    out.push_back({s.column_int(0), std::string(s.column_text(1)), std::string(s.column_text(2)),
                   std::string(s.column_text(3)), std::string(s.column_text(4)), std::string(s.column_text(5)),
                   std::string(s.column_text(6))});
  return out;
}

namespace {
// The aggregate's SQL and bindings; `by_tenant` groups it.
double aggregate(connection& db, const std::string& source, const std::string& object,
                 const std::vector<std::pair<std::string, std::string>>& where, const std::string& sum_field,
                 std::map<std::string, double>* by_tenant) {
  // Field names are bound, not spliced: the path is built by SQLite.
  std::string sql = by_tenant ? "SELECT tenant, " : "SELECT ";
  sql += sum_field.empty() ? "COUNT(*) FROM records" : "TOTAL(json_extract(data, '$.\"' || ? || '\"')) FROM records";
  sql += " WHERE source=? AND object=?";
  for (std::size_t i = 0; i < where.size(); ++i)
    sql += " AND json_extract(data, '$.\"' || ? || '\"') = json_extract(?, '$')";
  if (by_tenant) sql += " AND tenant IS NOT NULL AND tenant != '' GROUP BY tenant";
  statement s(db.get(), sql);
  int i = 1;
  if (!sum_field.empty()) s.bind(i++, sum_field);
  // One bind a statement: a chain with i++ in two links is sequenced since
  // C++17, but GCC warns that it may not be.
  s.bind(i++, source);
  s.bind(i++, object);
  for (const auto& [field, value] : where) {
    s.bind(i++, field);
    s.bind(i++, value);
  }
  if (!by_tenant) {
    s.step();
    return s.column_double(0);
  }
  while (s.step()) (*by_tenant)[std::string(s.column_text(0))] = s.column_double(1);
  return 0;
}
}  // namespace

double aggregate_records(connection& db, const std::string& source, const std::string& object,
                         const std::vector<std::pair<std::string, std::string>>& where, const std::string& sum_field) {
  return aggregate(db, source, object, where, sum_field, nullptr);
}

std::map<std::string, double> aggregate_records_by_tenant(connection& db, const std::string& source,
                                                          const std::string& object,
                                                          const std::vector<std::pair<std::string, std::string>>& where,
                                                          const std::string& sum_field) {
  std::map<std::string, double> out;
  aggregate(db, source, object, where, sum_field, &out);
  return out;
}

}  // namespace freshet::store
