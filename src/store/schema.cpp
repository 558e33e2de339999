#include "store/schema.hpp"

#include <string>

namespace freshet::store {

namespace {

// Migration 1: the event log. `data` is the committed JSON document exactly as
// subscribers get it, so a resume replays bytes without re-encoding. `object`
// and `tenant` are kept as columns so resume can filter in SQL.
// The tables that later parts of the design need (records, watermarks, audit,
// jobs, outbox) come as further migrations when those parts land; see
// docs/architecture.md for their planned shape.
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
};

}  // namespace

int schema_version() { return static_cast<int>(std::size(kMigrations)); }

void migrate(connection& db) {
  statement v(db.get(), "PRAGMA user_version");
  v.step();
  int current = static_cast<int>(v.column_int(0));
  if (current > schema_version())
    throw sqlite_error("the data dir was written by a newer Freshet (schema " +
                       std::to_string(current) + ", this build knows " +
                       std::to_string(schema_version()) + ")");
  for (int i = current; i < schema_version(); ++i) {
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
