// The store's schema, versioned. Each migration runs once, in order, in its own
// transaction; `PRAGMA user_version` records how far a file has come, so an old
// data dir is upgraded in place and a newer one is refused.
#pragma once

#include "store/sqlite_db.hpp"

namespace freshet::store {

// Brings the database to the newest schema. Throws sqlite_error when the file
// was written by a newer Freshet.
void migrate(connection& db);
// Brings it only as far as `version` (tests build an older data dir with it).
void migrate(connection& db, int version);

int schema_version();

}  // namespace freshet::store
