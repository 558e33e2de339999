// A thin RAII layer over the SQLite C API: one connection, prepared statements,
// errors as exceptions carrying SQLite's message. Used only by the store.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace freshet::store {

struct sqlite_error : std::runtime_error {
  explicit sqlite_error(const std::string& what, int code = SQLITE_ERROR) : std::runtime_error(what), code(code) {}
  int code;  // SQLite's extended result code
  // A write the file system refused (no space, a file size limit): nothing of
  // the transaction is committed, and the same write may succeed later.
  bool out_of_space() const { return code == SQLITE_FULL || code == SQLITE_IOERR_WRITE; }
};

// "?,?,?": n placeholders for an IN (...) list.
inline std::string sql_placeholders(std::size_t n) {
  std::string p;
  for (std::size_t i = 0; i < n; ++i) p += i ? ",?" : "?";
  return p;
}

class statement {
 public:
  statement(sqlite3* db, std::string_view sql);
  ~statement();
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  statement& bind(int i, std::int64_t v);
  statement& bind(int i, std::string_view v);  // empty binds NULL
  // The same without SQLite's copy of the text: `v` must stay alive and
  // unchanged until the statement has been stepped (the writer's insert of
  // every event, where the copies were four allocations per row).
  statement& bind_borrowed(int i, std::string_view v);
  statement& bind_text(int i, std::string_view v);  // empty binds ''
  // Steps once: true while a row is available.
  bool step();
  void reset();
  // A statement without rows (BEGIN, COMMIT): steps it once and resets it,
  // also when the step throws, so it is ready for the next time.
  void run();
  std::int64_t column_int(int i) const;
  double column_double(int i) const;
  std::string_view column_text(int i) const;  // "" for NULL

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// The page size a data dir's file is created with (see connection's constructor).
inline constexpr int kNewFilePageSize = 16384;

class connection {
 public:
  // Opens (creating if asked) the file, in WAL mode with a busy timeout.
  connection(const std::string& path, bool create);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  void exec(std::string_view sql);
  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace freshet::store
