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

// A pool, the caller's loop and a gate over the pool; the latch is opened
// and the pool joined at the end, whatever the test left waiting.
struct rig {
  asio::thread_pool pool;
  asio::io_context ioc{1};
  work_gate gate;
  latch l;
  rig(int threads, std::size_t slots, std::size_t waiting)
      : pool(threads), gate(pool.get_executor(), slots, waiting) {}
  ~rig() {
    l.release();
    pool.join();
  }
  template <class F>
  void spawn(F f) {
    asio::co_spawn(ioc, std::move(f), asio::detached);
  }
  void until(const std::function<bool()>& done) { run_until(ioc, done); }
  work_gate_counters counters() const { return gate.counters(); }
};

TEST(WorkGate, NeverMoreTasksOnThePoolThanSlotsAndWaitersGoInTurn) {
  rig r(4, 2, 8);  // more threads than slots: only the gate bounds them
  int finished = 0;
  for (int i = 0; i < 6; ++i)
    r.spawn([&]() -> asio::awaitable<void> { finished += co_await r.gate.run([&] { return r.l.enter(); }); });
  r.until([&] { return r.counters().waited == 4; });
  r.l.wait_running(2);
  EXPECT_EQ(r.counters().in_use, 2u);
  EXPECT_EQ(r.counters().waited, 4u);
  r.l.release();
  r.until([&] { return finished == 6; });
  EXPECT_EQ(finished, 6);
  EXPECT_EQ(r.l.most, 2);
  EXPECT_EQ(r.counters().in_use, 0u);
}

TEST(WorkGate, TryRunIsRefusedOnlyWhenSlotsAndWaitingRoomAreFull) {
  rig r(2, 1, 2);
  std::vector<std::optional<int>> answers;
  // One on the pool, two waiting (the room allows two), then two refused.
  for (int i = 0; i < 5; ++i) {
    r.spawn([&]() -> asio::awaitable<void> { answers.push_back(co_await r.gate.try_run([&] { return r.l.enter(); })); });
    r.until([&] { return i == 0 ? r.counters().in_use == 1 : r.counters().waited + r.counters().refused == std::uint64_t(i); });
  }
  r.l.wait_running(1);
  EXPECT_EQ(answers.size(), 2u);  // the refusals answer at once
  for (const auto& a : answers) EXPECT_FALSE(a);
  EXPECT_EQ(r.counters().refused, 2u);
  r.l.release();
  r.until([&] { return answers.size() == 5; });
  ASSERT_EQ(answers.size(), 5u);
  for (std::size_t i = 2; i < 5; ++i) EXPECT_EQ(answers[i], 1) << i;
  // With the pool free again, try_run runs.
  std::optional<int> later;
  r.spawn([&]() -> asio::awaitable<void> { later = co_await r.gate.try_run([] { return 7; }); });
  r.until([&] { return later.has_value(); });
  EXPECT_EQ(later, 7);
}

TEST(WorkGate, ATaskThatThrowsGivesItsSlotBack) {
  rig r(1, 1, 1);
  int caught = 0, ran = 0;
  for (int i = 0; i < 3; ++i)
    r.spawn([&]() -> asio::awaitable<void> {
      try {
        co_await r.gate.run([]() -> int { throw std::runtime_error("disk"); });
      } catch (const std::runtime_error&) {
        ++caught;
      }
    });
  r.spawn([&]() -> asio::awaitable<void> { ran = co_await r.gate.run([] { return 1; }); });
  r.until([&] { return ran == 1; });
  EXPECT_EQ(caught, 3);
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(r.counters().in_use, 0u);
}

TEST(WorkGate, CloseEndsTheWaiters) {
  rig r(1, 1, 4);
  int ended = 0, closed = 0;
  r.spawn([&]() -> asio::awaitable<void> { ended += co_await r.gate.run([&] { return r.l.enter(); }); });
  for (int i = 0; i < 2; ++i)
    r.spawn([&]() -> asio::awaitable<void> {
      try {
        co_await r.gate.run([] { return 0; });
      } catch (const boost::system::system_error&) {
        ++closed;
      }
    });
  r.until([&] { return r.counters().waited == 2; });
  r.l.wait_running(1);
  r.gate.close();
  r.until([&] { return closed == 2; });
  EXPECT_EQ(closed, 2);
  r.l.release();
  r.until([&] { return ended == 1; });
  EXPECT_EQ(ended, 1);
}

}  // namespace
}  // namespace freshet::core
