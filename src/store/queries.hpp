// The SQLite engine's reads of its tables other than the event log: sync
// state, records, per-tenant sync times and the audit trail, behind the
// queries of store/event_store.hpp (which say what each answers). Each takes
// a read connection (sqlite_store::read lends one) and blocks on disk.
#pragma once

#include "store/event_store.hpp"
#include "store/sqlite_db.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace freshet::store {

// sync_state rows of one source: key -> value.
std::map<std::string, std::string> load_sync_state(connection& db, const std::string& source);

// Read in one transaction with the newest event id and the records version.
snapshot_page read_snapshot(connection& db, const std::string& source, const std::string& object,
                            const std::vector<std::string>& tenants, const std::string& after_id, std::size_t limit);

std::optional<stored_record> find_record(connection& db, const std::string& source, const std::string& object,
                                         const std::string& id);

// Record counts and last sync times per tenant of one object.
std::vector<tenant_summary> summarize_object(connection& db, const std::string& source, const std::string& object);

// A goal's total at the end of each day the rules saw it (rule_state's
// "day:<goal>:<day>" rows: day numbers since 1970-01-01), oldest first.
std::vector<std::pair<std::int64_t, double>> goal_days(connection& db, const std::string& goal);

// Whether any stored record of the object belongs to `tenant`.
bool tenant_has_records(connection& db, const std::string& source, const std::string& object, const std::string& tenant);

// The number of an object's records whose fields equal `where` (field name,
// JSON text of the value), or the sum of the numeric field `sum_field` over
// them when it is not empty (non-numbers count as 0).
double aggregate_records(connection& db, const std::string& source, const std::string& object,
                         const std::vector<std::pair<std::string, std::string>>& where, const std::string& sum_field);
// The same per tenant (records with no tenant are left out).
std::map<std::string, double> aggregate_records_by_tenant(connection& db, const std::string& source,
                                                          const std::string& object,
                                                          const std::vector<std::pair<std::string, std::string>>& where,
                                                          const std::string& sum_field);

// Audit entries after `after_id` in id order: the first `limit` of them, or
// the newest `limit` when `newest`.
std::vector<audit_row> list_audit(connection& db, std::int64_t after_id, std::size_t limit, bool newest = false);

}  // namespace freshet::store
