// Runs blocking work (a store read) on the blocking pool and resumes the
// calling coroutine on its own executor, so a worker's loop never waits on disk.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <utility>

namespace freshet::app {

template <class F>
auto off_loop(boost::asio::any_io_executor pool, F f) -> boost::asio::awaitable<decltype(f())> {
  co_return co_await boost::asio::co_spawn(
      pool, [f = std::move(f)]() mutable -> boost::asio::awaitable<decltype(f())> { co_return f(); },
      boost::asio::use_awaitable);
}

}  // namespace freshet::app
