// The store the config's [store] names (SQLite in data_dir, or Redis), with
// the retention and batching of [server]: what `serve` and `sync --once`
// open. Throws store::redis_store_error (Redis unreachable, too weak a
// durability) or what SQLite throws.
#pragma once

#include "app/config.hpp"
#include "rules/outbox.hpp"
#include "store/event_store.hpp"

#include <memory>

namespace freshet::app {

std::unique_ptr<store::event_store> open_store(const config& cfg);
// The rules' outbox beside that store: in its SQLite file, or in the same
// Redis (the deployment's instances share it).
std::unique_ptr<rules::outbox> open_outbox(const config& cfg, store::event_store& log);

}  // namespace freshet::app
