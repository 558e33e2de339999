// A bound on the work queued on a thread pool: at most `slots` tasks are on
// the pool at once (queued or running). Without it a reconnect storm (10,000
// streams resuming at once, each reading its replay from the log) or a flood
// of page reads queues without limit on the pool, and a request that comes
// after waits behind all of it while the queue holds their memory.
//
// A caller that finds every slot taken either waits for one, suspended on its
// own event loop and holding nothing of the pool's (run: stream replays,
// which must not fail a client that only reconnected), or, when too many
// already wait, is told so at once (try_run: HTTP reads, answered 503 with
// Retry-After, which clients retry). The waiters are served in order.
//
// The slots are a concurrent channel's buffer: sending takes a slot (a full
// buffer suspends the sender), receiving gives one back and resumes the first
// waiter. close() fails every waiter; call it before the waiters' event loops
// are destroyed.
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <cstddef>
#include <optional>
#include <stdexcept>

namespace freshet::core {

struct work_gate_counters {
  std::uint64_t waited = 0;   // tasks that found every slot taken and waited for one
  std::uint64_t refused = 0;  // try_run calls turned away: every slot taken, too many waiting
  std::size_t in_use = 0;     // tasks on the pool now (approximate: read without a lock)
};

class work_gate {
 public:
  // `max_waiting`: how many try_run callers may wait for a slot before the
  // next is refused (run callers wait whatever the count).
  work_gate(boost::asio::any_io_executor pool, std::size_t slots, std::size_t max_waiting)
      : pool_(pool), slots_(pool, slots), max_waiting_(max_waiting) {
    if (slots == 0) throw std::invalid_argument("work_gate: no slots");
  }

  // Runs f() on the pool once a slot is free. Throws what f throws, or
  // system_error when the gate is closed while waiting.
  template <class F>
  auto run(F f) -> boost::asio::awaitable<decltype(f())> {
    co_await take(/*may_refuse=*/false);
    co_return co_await on_pool(std::move(f));
  }

  // The same, or nullopt at once when every slot is taken and max_waiting
  // callers already wait.
  // (Each co_await is a statement of its own, and the optional is built
  // explicitly: GCC 12 miscompiles a co_await in an if condition here.)
  template <class F>
  auto try_run(F f) -> boost::asio::awaitable<std::optional<decltype(f())>> {
    using result = std::optional<decltype(f())>;
    const bool got = co_await take(/*may_refuse=*/true);
    if (!got) co_return result();
    auto r = co_await on_pool(std::move(f));
    co_return result(std::move(r));
  }

  void close() {
    // In this order: close() alone leaves waiting sends waiting, and a
    // cancel() after close() takes them for receives.
    slots_.cancel();
    slots_.close();
  }

  work_gate_counters counters() const {
    return {waited_.load(std::memory_order_relaxed), refused_.load(std::memory_order_relaxed),
            in_use_.load(std::memory_order_relaxed)};
  }

 private:
  // Takes a slot; false when refused.
  boost::asio::awaitable<bool> take(bool may_refuse) {
    namespace asio = boost::asio;
    if (!slots_.try_send(boost::system::error_code{})) {
      if (may_refuse && waiting_.load(std::memory_order_relaxed) >= max_waiting_) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        co_return false;
      }
      waited_.fetch_add(1, std::memory_order_relaxed);
      waiting_.fetch_add(1, std::memory_order_relaxed);
      auto [ec] = co_await slots_.async_send(boost::system::error_code{}, asio::as_tuple(asio::use_awaitable));
      waiting_.fetch_sub(1, std::memory_order_relaxed);
      if (ec) throw boost::system::system_error(ec, "work_gate closed");
    }
    in_use_.fetch_add(1, std::memory_order_relaxed);
    co_return true;
  }

  // Runs f on the pool with the slot taken; gives the slot back however f ends.
  template <class F>
  auto on_pool(F f) -> boost::asio::awaitable<decltype(f())> {
    struct give_back {
      work_gate& g;
      ~give_back() {
        g.in_use_.fetch_sub(1, std::memory_order_relaxed);
        g.slots_.try_receive([](boost::system::error_code) {});
      }
    } slot{*this};
    co_return co_await boost::asio::co_spawn(
        pool_, [f = std::move(f)]() mutable -> boost::asio::awaitable<decltype(f())> { co_return f(); },
        boost::asio::use_awaitable);
  }

  boost::asio::any_io_executor pool_;
  boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> slots_;
  const std::size_t max_waiting_;
  std::atomic<std::size_t> waiting_{0};
  std::atomic<std::size_t> in_use_{0};
  std::atomic<std::uint64_t> waited_{0};
  std::atomic<std::uint64_t> refused_{0};
};

}  // namespace freshet::core
