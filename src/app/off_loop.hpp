// Runs blocking work (a store read) on the blocking pool, through its gate
// (core/work_gate.hpp), and resumes the calling coroutine on its own
// executor, so a worker's loop never waits on disk.
//   off_loop:         waits for a slot (writes, and what a client must not be refused)
//   off_loop_or_busy: nullopt at once when the pool is saturated; the route
//                     answers busy_response() (responses.hpp)
#pragma once

#include "core/work_gate.hpp"

#include <optional>
#include <utility>

namespace freshet::app {

template <class F>
auto off_loop(core::work_gate& pool, F f) -> boost::asio::awaitable<decltype(f())> {
  return pool.run(std::move(f));
}

template <class F>
auto off_loop_or_busy(core::work_gate& pool, F f) -> boost::asio::awaitable<std::optional<decltype(f())>> {
  return pool.try_run(std::move(f));
}

}  // namespace freshet::app
