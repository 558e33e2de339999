// The read pool's bound (core/work_gate.hpp): never more tasks on the pool
// than slots, waiters served as slots come back, try_run refused only when
// every slot is taken and max_waiting callers already wait, a slot given back
// when a task throws, and close() ending the waiters.
#include "core/work_gate.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <functional>
#include <optional>
#include <vector>

namespace freshet::core {
namespace {

namespace asio = boost::asio;

// Holds every task on the pool until opened, counting how many run at once.
struct latch {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  int running = 0;
  int most = 0;
  int enter() {
    std::unique_lock lk(m);
    most = std::max(most, ++running);
    cv.notify_all();
    cv.wait(lk, [&] { return open; });
    --running;
    return 1;
  }
  void release() {
    std::lock_guard lk(m);
    open = true;
    cv.notify_all();
  }
  void wait_running(int n) {
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return running >= n; });
  }
};

// Runs the caller's loop until `done` or the bounded number of rounds ends.
void run_until(asio::io_context& ioc, const std::function<bool()>& done) {
  for (int i = 0; i < 20000 && !done(); ++i) {
    ioc.run_for(std::chrono::milliseconds(1));
    if (ioc.stopped()) ioc.restart();
  }
}

TEST(WorkGate, NeverMoreTasksOnThePoolThanSlotsAndWaitersGoInTurn) {
  asio::thread_pool pool(4);  // more threads than slots: only the gate bounds them
  asio::io_context ioc(1);
  work_gate gate(pool.get_executor(), 2, 8);
  latch l;
  int finished = 0;
  for (int i = 0; i < 6; ++i)
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> { finished += co_await gate.run([&] { return l.enter(); }); },
                   asio::detached);
  run_until(ioc, [&] { return gate.counters().waited == 4; });
  l.wait_running(2);
  EXPECT_EQ(gate.counters().in_use, 2u);
  EXPECT_EQ(gate.counters().waited, 4u);
  l.release();
  run_until(ioc, [&] { return finished == 6; });
  EXPECT_EQ(finished, 6);
  EXPECT_EQ(l.most, 2);
  EXPECT_EQ(gate.counters().in_use, 0u);
  pool.join();
}

TEST(WorkGate, TryRunIsRefusedOnlyWhenSlotsAndWaitingRoomAreFull) {
  asio::thread_pool pool(2);
  asio::io_context ioc(1);
  work_gate gate(pool.get_executor(), 1, 2);
  latch l;
  std::vector<std::optional<int>> answers;
  // One on the pool, two waiting (the room allows two), then two refused.
  for (int i = 0; i < 5; ++i) {
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> { answers.push_back(co_await gate.try_run([&] { return l.enter(); })); },
                   asio::detached);
    run_until(ioc, [&] { return i == 0 ? gate.counters().in_use == 1 : gate.counters().waited + gate.counters().refused == std::uint64_t(i); });
  }
  l.wait_running(1);
  EXPECT_EQ(answers.size(), 2u);  // the refusals answer at once
  for (const auto& a : answers) EXPECT_FALSE(a);
  EXPECT_EQ(gate.counters().refused, 2u);
  l.release();
  run_until(ioc, [&] { return answers.size() == 5; });
  ASSERT_EQ(answers.size(), 5u);
  for (std::size_t i = 2; i < 5; ++i) EXPECT_EQ(answers[i], 1) << i;
  // With the pool free again, try_run runs.
  std::optional<int> later;
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> { later = co_await gate.try_run([] { return 7; }); }, asio::detached);
  run_until(ioc, [&] { return later.has_value(); });
  EXPECT_EQ(later, 7);
  pool.join();
}

TEST(WorkGate, ATaskThatThrowsGivesItsSlotBack) {
  asio::thread_pool pool(1);
  asio::io_context ioc(1);
  work_gate gate(pool.get_executor(), 1, 1);
  int caught = 0, ran = 0;
  for (int i = 0; i < 3; ++i)
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
      try {
        co_await gate.run([]() -> int { throw std::runtime_error("disk"); });
      } catch (const std::runtime_error&) {
        ++caught;
      }
    }, asio::detached);
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> { ran = co_await gate.run([] { return 1; }); }, asio::detached);
  run_until(ioc, [&] { return ran == 1; });
  EXPECT_EQ(caught, 3);
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(gate.counters().in_use, 0u);
  pool.join();
}

TEST(WorkGate, CloseEndsTheWaiters) {
  asio::thread_pool pool(1);
  asio::io_context ioc(1);
  work_gate gate(pool.get_executor(), 1, 4);
  latch l;
  int ended = 0, closed = 0;
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> { ended += co_await gate.run([&] { return l.enter(); }); },
                 asio::detached);
  for (int i = 0; i < 2; ++i)
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
      try {
        co_await gate.run([] { return 0; });
      } catch (const boost::system::system_error&) {
        ++closed;
      }
    }, asio::detached);
  run_until(ioc, [&] { return gate.counters().waited == 2; });
  l.wait_running(1);
  gate.close();
  run_until(ioc, [&] { return closed == 2; });
  EXPECT_EQ(closed, 2);
  l.release();
  run_until(ioc, [&] { return ended == 1; });
  EXPECT_EQ(ended, 1);
  pool.join();
}

}  // namespace
}  // namespace freshet::core
