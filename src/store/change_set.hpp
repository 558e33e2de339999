// A change set: everything one sync step wants committed at once. The store
// writer applies it inside the same transaction as the events it causes, so
// records, watermarks, delivery ids and events are durable together or not at
// all: a crash at any point resumes with no gap and no duplicate event.
//
// The writer, not the caller, decides what changed: it compares each upsert
// with the stored record (content hash, then a field diff), so a page read
// twice, by a poll and a webhook at once or again after a crash, makes its
// events once.
#pragma once

#include "core/event.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace freshet::store {

// One record as the upstream has it now: local field names, raw values.
struct record_upsert {
  std::string id;
  std::string tenant;  // "" when the object has no tenant_field or the value is empty
  boost::json::object fields;
  // The fields' canonical JSON (what is stored) and its SHA-256 (the content
  // hash), made by prepare_upserts on the caller's thread before the set is
  // queued, so the one writer thread spends its transaction on SQL, not on
  // serializing and hashing. Empty: the writer makes them.
  std::string data, hash;
};

struct object_changes {
  std::string source, object;
  std::vector<std::string> watch_fields;  // empty: every field makes events
  std::vector<record_upsert> upserts;
  std::vector<std::string> deletes;  // ids the upstream says are gone
  // Reconciliation: every stored record (of `keep_only_tenant`, when set) whose
  // id is not in this list is gone upstream and is deleted.
  std::optional<std::vector<std::string>> keep_only;
  std::string keep_only_tenant;
};

struct audit_entry {
  std::string kind;     // webhook | refresh | sync
  std::string source;
  std::string who;      // token name, webhook id, "poller"
  std::string outcome;  // accepted | duplicate | rejected | ...
  boost::json::object detail;
};

struct tenant_sync {
  std::string source, object, tenant;  // tenant "" = the whole object
  std::int64_t at_ms = 0;
};

// Who may write a change set: the holder of a lease (a source's leader,
// event_store::hold_lease) with its fencing token. A commit with a token
// that is no longer the lease's is refused (errc::not_leader) and writes
// nothing, so a leader that paused past its lease cannot write after
// another took over.
struct fence {
  std::string lease;
  std::uint64_t token = 0;
};

struct change_set {
  std::vector<object_changes> objects;
  // sync_state rows (source, key) -> value: watermarks, cursors, webhook ids.
  struct state_write {
    std::string source, key, value;
  };
  std::vector<state_write> state;
  // A webhook delivery id: if (source, id) was committed before, the whole set
  // is a replay and nothing of it is applied (result.duplicate_delivery).
  std::optional<std::pair<std::string, std::string>> delivery;
  std::vector<audit_entry> audit;
  std::vector<tenant_sync> synced;
  std::vector<core::event_draft> events;  // extra events (job progress), after the record events
  std::optional<store::fence> fence;       // none: any instance may commit it (a webhook's records)
};

// Fills an upsert's data and hash, unless made already; the second for each
// upsert of a set (store/change_applier.cpp).
void prepare_upsert(record_upsert& up);
void prepare_upserts(change_set& cs);

struct change_result {
  std::uint64_t created = 0, updated = 0, deleted = 0, unchanged = 0;
  std::uint64_t events = 0;
  std::uint64_t last_event_id = 0;  // the newest event id after the commit
  bool duplicate_delivery = false;
};

}  // namespace freshet::store
