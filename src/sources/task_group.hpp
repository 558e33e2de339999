// Runs coroutines side by side on one executor and waits for them all: the
// C++20 shape of "fetch these pages in parallel". The first exception is kept
// and rethrown by wait(), after every task has ended.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <memory>

namespace freshet::sources {

class task_group {
 public:
  explicit task_group(boost::asio::any_io_executor ex) : ex_(ex), state_(std::make_shared<state>(ex)) {}

  void spawn(boost::asio::awaitable<void> task) {
    ++state_->running;
    boost::asio::co_spawn(ex_, std::move(task), [s = state_](std::exception_ptr e) {
      if (e && !s->error) s->error = e;
      if (--s->running == 0) s->done.cancel();
    });
  }

  boost::asio::awaitable<void> wait() {
    while (state_->running > 0) {
      state_->done.expires_at(boost::asio::steady_timer::time_point::max());
      co_await state_->done.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    if (state_->error) std::rethrow_exception(state_->error);
  }

 private:
  struct state {
    explicit state(boost::asio::any_io_executor ex) : done(ex) {}
    boost::asio::steady_timer done;
    int running = 0;
    std::exception_ptr error;
  };
  boost::asio::any_io_executor ex_;
  std::shared_ptr<state> state_;
};

}  // namespace freshet::sources
