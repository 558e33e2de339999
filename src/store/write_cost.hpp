// What a queued write holds in memory, roughly, so that an engine can bound
// its queue by bytes as well as by count: a flood of large writes must not
// grow memory without end. An estimate (its strings and a word a scalar),
// cheaper than serializing.
#pragma once

#include "core/event.hpp"
#include "store/change_set.hpp"

#include <cstddef>

namespace freshet::store {

std::size_t write_cost(const core::event_draft& d);
// Of a change set whose upserts are prepared (prepare_upserts).
std::size_t write_cost(const change_set& cs);

}  // namespace freshet::store
