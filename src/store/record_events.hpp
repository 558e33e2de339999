// What a change set's records mean as events, whatever engine stores them:
// an upsert compared with the stored row (content hash, tenant, then a
// field diff) is created, updated, moved or unchanged, with its events; a
// removal carries what the record held last. Each engine's writer reads the
// stored rows its way and writes the outcome its way; the decisions, and so
// the events every engine makes, are these.
#pragma once

#include "store/change_set.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace freshet::store {

// Gives the event an id, writes it to the log and returns the id.
using emit_fn = std::function<std::uint64_t(core::event_draft)>;

// A record as the engine holds it.
struct stored_row {
  std::string tenant, hash, data;  // data: the fields' canonical JSON
  std::uint64_t updated_event_id = 0;
};

enum class upsert_outcome { unchanged, created, updated };

struct upsert_decision {
  upsert_outcome outcome = upsert_outcome::unchanged;
  // The id of the event about the record's new content; 0 when none (only
  // fields outside the watch list moved): the stored updated id stays.
  std::uint64_t event_id = 0;
};

// Emits the events of one upsert against the stored row (`old`, null when
// there is none) and says what the engine must write (nothing when
// unchanged). Fills the upsert's data and hash if they are not made yet, and
// moves its fields into the events.
upsert_decision decide_upsert(const object_changes& oc, record_upsert& up, const stored_row* old, const emit_fn& emit);

// Emits the deletion event of a stored record.
void emit_removal(const object_changes& oc, const std::string& id, const std::string& tenant, const std::string& data,
                  const emit_fn& emit);

}  // namespace freshet::store
