#include "store/schema.hpp"

#include <string>

namespace freshet::store {

namespace {

// Migration 1: the event log. `data` is the committed JSON document exactly as
// subscribers get it, so a resume replays bytes without re-encoding. `object`
// and `tenant` are kept as columns so resume can filter in SQL.
// Migration 2: what the sync engine keeps. Records, sync state (watermarks,
// cursors, webhook registrations), delivery ids and the audit trail commit in
// the same transaction as the events they cause (store/change_set.hpp).
// The jobs and outbox tables come with refresh and rules.
// Migration 3: counters that must outlive what retention deletes. `high_water`
// keeps the newest event id ever committed when retention deletes it: ids are
// never reused, even after age retention emptied the log (MAX(id) of an empty
// table is 0). Retention writes it, not every commit (the newest id is
// MAX(id) while it is in the log), so readers take the larger of the two.
// `records_version` moves with every commit that writes or deletes a record,
// an event or not (a change to an unwatched field), so a records ETag built
// from it changes whenever a page could. Audit rows age out by `at_ms`.
// `events_tenant` lets a tenant-scoped resume read that tenant's events
// instead of every event of the range.
// Migration 4: the notification outbox (rules/outbox.hpp). One row per
// message and notifier; `gathering` rows collect a rule's firings for its
// coalescing window, `pending` ones wait for their next attempt (`due_ms`).
// The rules' cursor (`meta.rules_cursor`, the last event evaluated) commits
// in the same transaction as the rows its events made, and so does what the
// goal rules remember (`rule_state`: each goal's last value, its value at the
// end of each recent day, when each pace rule last ran).
// Migration 5: retention reads the events from the oldest id (their expired
// ones are a prefix), so `events_at` only cost every append a second B-tree
// insert and goes; webhook delivery ids age out through an index on their
// time instead of a scan of the table.
// Migration 6: `records` becomes a rowid table with its key in a unique index.
// Keyed by (source, object, id), every commit wrote each record into the leaf
// its id sorts to, and upstream ids come in no order: a page of 1,000 records
// rewrote nearly 1,000 leaves of 4 KiB, so the full `schools` sync (48,745
// records in 52 commits) put 311 MB through the WAL. Rows now go where the
// last one went and only the small index entries land all over the tree:
// 110 MB for the same commits (bench/sync_cpu_ab.py, docs/benchmarks.md).
// Existing rows are copied in the order they last changed.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE events (
  id     INTEGER PRIMARY KEY,
  type   TEXT NOT NULL,
  source TEXT,
  object TEXT,
  tenant TEXT,
  at     TEXT NOT NULL,
  at_ms  INTEGER NOT NULL,
  data   TEXT NOT NULL
);
CREATE INDEX events_at ON events(at_ms);
)sql",
    R"sql(
CREATE TABLE records (
  source           TEXT NOT NULL,
  object           TEXT NOT NULL,
  id               TEXT NOT NULL,
  tenant           TEXT,
  hash             TEXT NOT NULL,
  data             TEXT NOT NULL,
  updated_event_id INTEGER NOT NULL,
  PRIMARY KEY (source, object, id)
) WITHOUT ROWID;
CREATE INDEX records_tenant ON records(source, object, tenant, id);
CREATE TABLE sync_state (
  source TEXT NOT NULL,
  key    TEXT NOT NULL,
  value  TEXT NOT NULL,
  PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE TABLE tenant_syncs (
  source TEXT NOT NULL,
  object TEXT NOT NULL,
  tenant TEXT NOT NULL,
  at_ms  INTEGER NOT NULL,
  PRIMARY KEY (source, object, tenant)
) WITHOUT ROWID;
CREATE TABLE webhook_deliveries (
  source      TEXT NOT NULL,
  delivery_id TEXT NOT NULL,
  at_ms       INTEGER NOT NULL,
  PRIMARY KEY (source, delivery_id)
) WITHOUT ROWID;
CREATE TABLE audit (
  id      INTEGER PRIMARY KEY,
  at      TEXT NOT NULL,
  at_ms   INTEGER NOT NULL,
  kind    TEXT NOT NULL,
  source  TEXT,
  who     TEXT,
  outcome TEXT NOT NULL,
  detail  TEXT NOT NULL
);
)sql",
    R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta(key, value) SELECT 'high_water', COALESCE(MAX(id), 0) FROM events;
INSERT INTO meta(key, value) VALUES ('records_version', 0);
CREATE INDEX audit_at ON audit(at_ms);
CREATE INDEX events_tenant ON events(tenant, id);
)sql",
    R"sql(
CREATE TABLE notifications (
  id          INTEGER PRIMARY KEY,
  webhook_id  TEXT NOT NULL UNIQUE,
  rule        TEXT NOT NULL,
  notifier    TEXT NOT NULL,
  object      TEXT NOT NULL,
  tenant      TEXT NOT NULL,
  status      TEXT NOT NULL,
  text        TEXT NOT NULL,
  names       TEXT NOT NULL,
  records     TEXT NOT NULL,
  count       INTEGER NOT NULL,
  first_event INTEGER NOT NULL,
  last_event  INTEGER NOT NULL,
  created_ms  INTEGER NOT NULL,
  due_ms      INTEGER NOT NULL,
  step        INTEGER NOT NULL DEFAULT 0,
  attempts    INTEGER NOT NULL DEFAULT 0,
  done_ms     INTEGER
);
CREATE INDEX notifications_due ON notifications(notifier, status, due_ms);
CREATE INDEX notifications_gathering ON notifications(rule, notifier, tenant, status);
CREATE INDEX notifications_done ON notifications(done_ms);
CREATE TABLE notification_attempts (
  notification INTEGER NOT NULL,
  at_ms        INTEGER NOT NULL,
  status       INTEGER NOT NULL,
  answer       TEXT NOT NULL
);
CREATE INDEX notification_attempts_of ON notification_attempts(notification);
CREATE TABLE rule_state (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql",
    R"sql(
DROP INDEX events_at;
CREATE INDEX webhook_deliveries_at ON webhook_deliveries(at_ms);
)sql",
    R"sql(
CREATE TABLE records_by_row (
  source           TEXT NOT NULL,
  object           TEXT NOT NULL,
  id               TEXT NOT NULL,
  tenant           TEXT,
  hash             TEXT NOT NULL,
  data             TEXT NOT NULL,
  updated_event_id INTEGER NOT NULL
);
INSERT INTO records_by_row(source, object, id, tenant, hash, data, updated_event_id)
  SELECT source, object, id, tenant, hash, data, updated_event_id FROM records ORDER BY updated_event_id;
DROP TABLE records;
ALTER TABLE records_by_row RENAME TO records;
CREATE UNIQUE INDEX records_key ON records(source, object, id);
CREATE INDEX records_tenant ON records(source, object, tenant, id);
)sql",
};

}  // namespace

int schema_version() { return static_cast<int>(std::size(kMigrations)); }

void migrate(connection& db) { migrate(db, schema_version()); }

void migrate(connection& db, int version) {
  int current = 0;
  {
    // Finished before migrating: DROP fails while any statement is active.
    statement v(db.get(), "PRAGMA user_version");
    v.step();
    current = static_cast<int>(v.column_int(0));
  }
  if (current > schema_version())
    throw sqlite_error("the data dir was written by a newer Freshet (schema " +
                       std::to_string(current) + ", this build knows " +
                       std::to_string(schema_version()) + ")");
  for (int i = current; i < version; ++i) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(kMigrations[i]);
      db.exec("PRAGMA user_version=" + std::to_string(i + 1));
      db.exec("COMMIT");
    } catch (...) {
      db.exec("ROLLBACK");
      throw;
    }
  }
}

}  // namespace freshet::store
