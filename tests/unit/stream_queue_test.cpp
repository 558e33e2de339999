#include "hub/stream_queue.hpp"

#include "hub/hub.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>


namespace freshet::hub {
namespace {

namespace asio = boost::asio;

// Runs what is ready; restart() because a context that ran out of work stops.
void drain(asio::io_context& c) {
  c.restart();
  c.poll();
}

core::event_ptr ev(std::uint64_t id, std::string tenant, std::size_t payload = 10) {
  return core::make_event(id, core::event_type::change, "laptops", std::move(tenant), std::string(payload, 'x'));
}

TEST(StreamQueue, KeepsOnlyMatchingEventsInOrder) {
  asio::io_context ioc;
  auto q = std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, core::topic_filter{{}, {"a"}}, 1000);
  q->push({ev(1, "a"), ev(2, "b"), ev(3, "a")});
  auto got = q->take();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]->id, 1u);
  EXPECT_EQ(got[1]->id, 3u);
}

TEST(StreamQueue, PastTheLimitTheBacklogBecomesAGapReadFromTheLog) {
  asio::io_context ioc;
  auto q = std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, core::topic_filter{}, 100);
  q->start_after(7);
  q->push({ev(8, "a", 60)});
  q->push({ev(9, "a", 60), ev(10, "a", 1)});  // 121 bytes > 100
  EXPECT_EQ(q->closed(), close_reason::none);
  EXPECT_TRUE(q->behind());
  std::vector<core::event_ptr> got;
  EXPECT_EQ(q->take(got), (event_gap{7, 10}));
  EXPECT_TRUE(got.empty());
  q->push({ev(11, "a", 1)});  // after the gap: queued again, in order
  EXPECT_EQ(q->take(got), std::nullopt);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->id, 11u);
  EXPECT_FALSE(q->behind());  // caught up
}

TEST(StreamQueue, AGapStartsAfterTheLastEventTakenAndGrowsUntilTaken) {
  asio::io_context ioc;
  auto q = std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, core::topic_filter{{}, {"a"}}, 100);
  q->push({ev(1, "a", 60)});
  auto in_flight = q->take();  // being written: its bytes still count
  q->push({ev(2, "a", 60)});   // 60 in flight + 60
  q->push({ev(3, "b", 60), ev(4, "a", 60)});
  std::vector<core::event_ptr> got;
  EXPECT_EQ(q->take(got), (event_gap{1, 4}));
  q->written(60);
  q->push({ev(5, "a", 60)});
  q->push({ev(6, "a", 60)});  // a second gap, after the first one's end
  EXPECT_EQ(q->take(got), (event_gap{4, 6}));
}

TEST(StreamQueue, PrivateFramesSurviveAGap) {
  asio::io_context ioc;
  auto q = std::make_shared<stream_queue>(ioc.get_executor(), transport::sse, core::topic_filter{}, 100);
  auto err = std::make_shared<core::event>();
  err->sse_frame = "x";
  q->push_private(err);
  q->push({ev(1, "a", 200)});
  std::vector<core::event_ptr> got;
  EXPECT_EQ(q->take(got), (event_gap{0, 1}));
  EXPECT_EQ(q->take(got), std::nullopt);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], err);
}

TEST(StreamQueue, BehindForLongerThanTheLimitIsCutAtATick) {
  asio::io_context ioc;
  auto q = std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, core::topic_filter{}, 100);
  close_reason seen = close_reason::none;
  q->on_close([&](close_reason r) { seen = r; });
  const auto t0 = std::chrono::steady_clock::now();
  const auto limit = std::chrono::seconds(30);
  q->push({ev(1, "a", 200)});
  EXPECT_FALSE(q->tick(t0 + std::chrono::seconds(10), limit));
  EXPECT_EQ(q->closed(), close_reason::none);
  EXPECT_TRUE(q->tick(t0 + std::chrono::seconds(31), limit));
  EXPECT_EQ(q->closed(), close_reason::too_slow);
  std::vector<core::event_ptr> got;
  EXPECT_EQ(q->take(got), std::nullopt);  // nothing left to read once closed
  EXPECT_FALSE(q->tick(t0 + std::chrono::seconds(60), limit));  // counted once
  ioc.run();
  EXPECT_EQ(seen, close_reason::too_slow);
}

TEST(StreamQueue, CatchingUpStopsTheClock) {
  asio::io_context ioc;
  auto q = std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, core::topic_filter{}, 100);
  const auto t0 = std::chrono::steady_clock::now();
  q->push({ev(1, "a", 200)});
  std::vector<core::event_ptr> got;
  ASSERT_TRUE(q->take(got));  // the gap, read back from the log
  q->push({ev(2, "a", 1)});
  EXPECT_EQ(q->take(got), std::nullopt);  // live again
  EXPECT_FALSE(q->tick(t0 + std::chrono::hours(1), std::chrono::seconds(30)));
  EXPECT_EQ(q->closed(), close_reason::none);
}

TEST(StreamQueue, BytesBeingWrittenStillCountUntilWritten) {
  asio::io_context ioc;
  auto q = std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, core::topic_filter{}, 100);
  q->push({ev(1, "a", 60)});
  auto in_flight = q->take();
  q->push({ev(2, "a", 60)});  // 60 in flight + 60 queued
  EXPECT_TRUE(q->behind());
  auto q2 = std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, core::topic_filter{}, 100);
  q2->push({ev(1, "a", 60)});
  q2->take();
  q2->written(60);
  q2->push({ev(2, "a", 60)});
  EXPECT_FALSE(q2->behind());
  EXPECT_EQ(q2->take().size(), 1u);
}

TEST(StreamQueue, WaitWakesOnPushAndDrainsBurstsTogether) {
  asio::io_context ioc;
  auto q = std::make_shared<stream_queue>(ioc.get_executor(), transport::sse, core::topic_filter{}, 1 << 20);
  std::vector<std::vector<std::uint64_t>> turns;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        std::size_t got = 0;
        while (got < 4) {
          co_await q->async_wait(asio::use_awaitable);
          std::vector<std::uint64_t> ids;
          for (auto& e : q->take()) ids.push_back(e->id);
          got += ids.size();
          turns.push_back(ids);
        }
      },
      asio::detached);
  drain(ioc);  // the session is parked now
  EXPECT_TRUE(turns.empty());
  q->push({ev(1, "a")});
  drain(ioc);
  q->push({ev(2, "a")});
  q->push({ev(3, "a"), ev(4, "a")});  // arrives before the session runs: one turn
  drain(ioc);
  EXPECT_EQ(turns, (std::vector<std::vector<std::uint64_t>>{{1}, {2, 3, 4}}));
}

TEST(StreamQueue, CloseWakesTheWaiterAndRunsOnClose) {
  asio::io_context ioc;
  auto q = std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, core::topic_filter{}, 1000);
  bool woke = false;
  close_reason seen = close_reason::none;
  q->on_close([&](close_reason r) { seen = r; });
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        co_await q->async_wait(asio::use_awaitable);
        woke = true;
      },
      asio::detached);
  drain(ioc);
  q->close(close_reason::shutdown);
  drain(ioc);
  EXPECT_TRUE(woke);
  EXPECT_EQ(seen, close_reason::shutdown);
}

TEST(StreamQueue, TickOnlyPingsIdleSseStreams) {
  asio::io_context ioc;
  auto sse = std::make_shared<stream_queue>(ioc.get_executor(), transport::sse, core::topic_filter{}, 1000);
  auto ws = std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, core::topic_filter{}, 1000);
  const auto now = std::chrono::steady_clock::now();
  sse->tick(now, std::chrono::seconds(30));
  ws->tick(now, std::chrono::seconds(30));
  auto pings = sse->take();
  ASSERT_EQ(pings.size(), 1u);
  EXPECT_EQ(pings[0]->sse_frame, ": ping\n\n");
  EXPECT_EQ(pings[0]->id, 0u);
  EXPECT_TRUE(ws->take().empty());  // Beast pings WebSocket peers itself
  sse->push({ev(1, "a")});
  sse->take();
  sse->tick(now, std::chrono::seconds(30));  // it wrote since the last tick: no ping
  EXPECT_TRUE(sse->take().empty());
}

TEST(Hub, AttachReturnsTheLastDeliveredIdAndFansOut) {
  asio::io_context ioc;
  hub h({ioc.get_executor()}, 0);
  auto a = std::make_shared<stream_queue>(ioc.get_executor(), transport::sse, core::topic_filter{}, 1 << 20);
  auto b = std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, core::topic_filter{{}, {"x"}}, 1 << 20);
  EXPECT_EQ(h.attach(a), 0u);
  h.publish({ev(1, "x"), ev(2, "y")});
  EXPECT_EQ(a->take().size(), 0u);  // fan-out runs on the worker, not in publish()
  drain(ioc);
  EXPECT_EQ(h.attach(b), 2u);
  h.publish({ev(3, "x")});
  drain(ioc);
  EXPECT_EQ(a->take().size(), 3u);
  auto got_b = b->take();
  ASSERT_EQ(got_b.size(), 1u);
  EXPECT_EQ(got_b[0]->id, 3u);
  // The same bytes, not copies.
  h.publish({ev(4, "x")});
  drain(ioc);
  EXPECT_EQ(a->take()[0].get(), b->take()[0].get());
  auto s = h.stats();
  EXPECT_EQ(s.sse, 1u);
  EXPECT_EQ(s.ws, 1u);
  EXPECT_EQ(s.topics["tenants=x"], 1u);
  h.detach(a);
  EXPECT_EQ(h.stats().sse, 0u);
}

TEST(Hub, EachWorkerHasItsOwnShard) {
  asio::io_context w1, w2;
  hub h({w1.get_executor(), w2.get_executor()}, 10);
  auto a = std::make_shared<stream_queue>(w1.get_executor(), transport::sse, core::topic_filter{}, 1 << 20);
  auto b = std::make_shared<stream_queue>(w2.get_executor(), transport::sse, core::topic_filter{}, 1 << 20);
  EXPECT_EQ(h.attach(a), 10u);
  EXPECT_EQ(h.attach(b), 10u);
  h.publish({ev(11, "x")});
  drain(w1);  // only worker 1 has run its part so far
  EXPECT_EQ(a->take().size(), 1u);
  EXPECT_TRUE(b->take().empty());
  drain(w2);
  EXPECT_EQ(b->take().size(), 1u);
  EXPECT_EQ(h.stats().sse, 2u);
}

TEST(Hub, StartsFromTheLogsLastIdSoResumeAfterRestartReplays) {
  asio::io_context ioc;
  hub h({ioc.get_executor()}, 42);
  auto q = std::make_shared<stream_queue>(ioc.get_executor(), transport::sse, core::topic_filter{}, 1 << 20);
  EXPECT_EQ(h.attach(q), 42u);
}

TEST(Hub, SlowSubscriberIsDroppedWithoutTouchingOthers) {
  asio::io_context ioc;
  hub h({ioc.get_executor()}, 0, std::chrono::seconds(0));  // cut at the first tick behind
  auto slow = std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, core::topic_filter{}, 50);
  auto fast = std::make_shared<stream_queue>(ioc.get_executor(), transport::ws, core::topic_filter{}, 1 << 20);
  h.attach(slow);
  h.attach(fast);
  for (std::uint64_t i = 1; i <= 10; ++i) {
    h.publish({ev(i, "a")});
    drain(ioc);
    fast->take();  // the fast one keeps up; the slow one never drains
  }
  EXPECT_EQ(slow->closed(), close_reason::none);  // behind, reading from the log
  EXPECT_TRUE(slow->behind());
  h.keepalive_tick();
  drain(ioc);
  EXPECT_EQ(slow->closed(), close_reason::too_slow);
  EXPECT_EQ(fast->closed(), close_reason::none);
  EXPECT_EQ(h.stats().drops, 1u);
}

TEST(Hub, CloseAllEndsEveryStreamAndLaterAttaches) {
  asio::io_context ioc;
  hub h({ioc.get_executor()}, 0);
  auto a = std::make_shared<stream_queue>(ioc.get_executor(), transport::sse, core::topic_filter{}, 1 << 20);
  h.attach(a);
  h.close_all();
  drain(ioc);
  EXPECT_EQ(a->closed(), close_reason::shutdown);
  auto late = std::make_shared<stream_queue>(ioc.get_executor(), transport::sse, core::topic_filter{}, 1 << 20);
  h.attach(late);
  EXPECT_EQ(late->closed(), close_reason::shutdown);
}

}  // namespace
}  // namespace freshet::hub
