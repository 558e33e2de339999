// Applies change sets on the store writer's connection, inside its open
// transaction (store/change_set.hpp says why there). Owned by the writer
// thread; its prepared statements live as long as it does.
#pragma once

#include "store/change_set.hpp"
#include "store/record_events.hpp"
#include "store/sqlite_db.hpp"

#include <functional>
#include <memory>

namespace freshet::store {

class change_applier {
 public:
  explicit change_applier(connection& db);
  ~change_applier();

  // Throws sqlite_error; the writer then rolls the whole transaction back.
  // Consumes the set's records (their fields move into the events).
  change_result apply(change_set& cs, const emit_fn& emit, std::int64_t now_ms, const std::string& now_iso);

  // Forgets delivery ids older than `cutoff_ms` (replays that old are refused
  // by the timestamp tolerance anyway).
  void prune_deliveries(std::int64_t cutoff_ms);

 private:
  struct statements;
  void apply_object(object_changes& oc, const emit_fn& emit, change_result& out);
  void remove(const object_changes& oc, const std::string& id, const std::string& tenant, const std::string& data,
              const emit_fn& emit, change_result& out);
  // Removes the record if the store has it (a delete of an unknown id is no change).
  void remove_if_stored(const object_changes& oc, const std::string& id, const emit_fn& emit, change_result& out);

  connection& db_;
  std::unique_ptr<statements> st_;
};

}  // namespace freshet::store
