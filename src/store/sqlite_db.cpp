#include "store/sqlite_db.hpp"

namespace freshet::store {

namespace {
[[noreturn]] void raise(sqlite3* db, std::string_view what) {
  throw sqlite_error(std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory"),
                     db ? sqlite3_extended_errcode(db) : SQLITE_NOMEM);
}
}  // namespace

statement::statement(sqlite3* db, std::string_view sql) : db_(db) {
  if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt_, nullptr) != SQLITE_OK)
    raise(db, "prepare");
}

statement::~statement() { sqlite3_finalize(stmt_); }

statement& statement::bind(int i, std::int64_t v) {
  if (sqlite3_bind_int64(stmt_, i, v) != SQLITE_OK) raise(db_, "bind");
  return *this;
}

statement& statement::bind(int i, std::string_view v) {
  int rc = v.empty() ? sqlite3_bind_null(stmt_, i)
                     : sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) raise(db_, "bind");
  return *this;
}

statement& statement::bind_borrowed(int i, std::string_view v) {
  int rc = v.empty() ? sqlite3_bind_null(stmt_, i)
                     : sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  if (rc != SQLITE_OK) raise(db_, "bind");
  return *this;
}

statement& statement::bind_text(int i, std::string_view v) {
  if (sqlite3_bind_text(stmt_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    raise(db_, "bind");
  return *this;
}

bool statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  raise(db_, "step");
}

void statement::run() {
  const int rc = sqlite3_step(stmt_);
  sqlite3_reset(stmt_);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) raise(db_, "step");
}

void statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t statement::column_int(int i) const { return sqlite3_column_int64(stmt_, i); }
double statement::column_double(int i) const { return sqlite3_column_double(stmt_, i); }

std::string_view statement::column_text(int i) const {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
  if (!p) return {};
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i))};
}

connection::connection(const std::string& path, bool create) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    std::string msg = std::string("open ") + path + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
    sqlite3_close(db_);
    db_ = nullptr;
    throw sqlite_error(msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 5000);
  // Before the first write, a new file takes 16 KiB pages, SQLite's default
  // being 4 KiB. Every WAL frame is two system calls and a header, and a
  // commit rewrites whole pages: a full sync wrote ~26,600 frames at 4 KiB
  // and spent a fifth less CPU at 16 KiB (docs/benchmarks.md, issue #15).
  // A file that exists keeps its size (in WAL mode only VACUUM changes it).
  if (create) exec("PRAGMA page_size=" + std::to_string(kNewFilePageSize));
  exec("PRAGMA journal_mode=WAL");
  // FULL: a commit is on disk (the WAL is fsynced) before it returns, which is
  // what "acknowledged means committed" needs. Group commit pays for it.
  exec("PRAGMA synchronous=FULL");
  exec("PRAGMA foreign_keys=ON");
}

connection::~connection() { sqlite3_close_v2(db_); }

void connection::exec(std::string_view sql) {
  char* err = nullptr;
  std::string s(sql);
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw sqlite_error(msg + " (in: " + s.substr(0, 80) + ")", sqlite3_extended_errcode(db_));
  }
}

}  // namespace freshet::store
