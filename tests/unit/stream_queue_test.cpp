#include "hub/stream_queue.hpp"

#include "hub/hub.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include <thread>

namespace freshet::hub {
namespace {

namespace asio = boost::asio;

core::event_ptr ev(std::uint64_t id, std::string tenant, std::size_t payload = 10) {
  return core::make_event(id, core::event_type::change, "laptops", std::move(tenant), std::string(payload, 'x'));
}

TEST(StreamQueue, KeepsOnlyMatchingEventsInOrder) {
  asio::io_context ioc;
  auto q = std::make_shared<stream_queue>(asio::make_strand(ioc), transport::ws, core::topic_filter{{}, {"a"}}, 1000);
  EXPECT_TRUE(q->push({ev(1, "a"), ev(2, "b"), ev(3, "a")}));
  auto got = q->take();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]->id, 1u);
  EXPECT_EQ(got[1]->id, 3u);
}

TEST(StreamQueue, OverflowClosesAndDropsTheBacklog) {
  asio::io_context ioc;
  auto q = std::make_shared<stream_queue>(asio::make_strand(ioc), transport::ws, core::topic_filter{}, 100);
  close_reason seen = close_reason::none;
  q->on_close([&](close_reason r) { seen = r; });
  EXPECT_TRUE(q->push({ev(1, "a", 60)}));
  EXPECT_FALSE(q->push({ev(2, "a", 60)}));  // 120 bytes > 100
  EXPECT_EQ(q->closed(), close_reason::overflow);
  EXPECT_TRUE(q->take().empty());
  EXPECT_TRUE(q->push({ev(3, "a", 1)}));  // closed: ignored, not a second drop
  ioc.run();
  EXPECT_EQ(seen, close_reason::overflow);
}

TEST(StreamQueue, BytesBeingWrittenStillCountUntilWritten) {
  asio::io_context ioc;
  auto q = std::make_shared<stream_queue>(asio::make_strand(ioc), transport::ws, core::topic_filter{}, 100);
  EXPECT_TRUE(q->push({ev(1, "a", 60)}));
  auto in_flight = q->take();
  EXPECT_FALSE(q->push({ev(2, "a", 60)}));  // 60 in flight + 60 queued
  auto q2 = std::make_shared<stream_queue>(asio::make_strand(ioc), transport::ws, core::topic_filter{}, 100);
  EXPECT_TRUE(q2->push({ev(1, "a", 60)}));
  q2->take();
  q2->written(60);
  EXPECT_TRUE(q2->push({ev(2, "a", 60)}));
}

TEST(StreamQueue, WaitWakesWhenAnotherThreadPushes) {
  asio::io_context ioc;
  auto strand = asio::make_strand(ioc);
  auto q = std::make_shared<stream_queue>(strand, transport::sse, core::topic_filter{}, 1 << 20);
  std::vector<std::uint64_t> got;
  asio::co_spawn(
      strand,
      [&]() -> asio::awaitable<void> {
        while (got.size() < 3) {
          co_await q->wait(std::chrono::seconds(30));  // far longer than the test may take
          for (auto& e : q->take()) got.push_back(e->id);
        }
      },
      asio::detached);
  std::thread pusher([&] {
    for (std::uint64_t i = 1; i <= 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      q->push({ev(i, "a")});
    }
  });
  const auto start = std::chrono::steady_clock::now();
  ioc.run_for(std::chrono::seconds(10));
  pusher.join();
  EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(Hub, AttachReturnsTheLastPublishedIdAndFansOut) {
  asio::io_context ioc;
  hub h;
  auto a = std::make_shared<stream_queue>(asio::make_strand(ioc), transport::sse, core::topic_filter{}, 1 << 20);
  auto b = std::make_shared<stream_queue>(asio::make_strand(ioc), transport::ws, core::topic_filter{{}, {"x"}}, 1 << 20);
  EXPECT_EQ(h.attach(a), 0u);
  h.publish({ev(1, "x"), ev(2, "y")});
  EXPECT_EQ(h.attach(b), 2u);
  h.publish({ev(3, "x")});
  EXPECT_EQ(a->take().size(), 3u);
  auto got_b = b->take();
  ASSERT_EQ(got_b.size(), 1u);
  EXPECT_EQ(got_b[0]->id, 3u);
  // The same bytes, not copies.
  h.publish({ev(4, "x")});
  EXPECT_EQ(a->take()[0].get(), b->take()[0].get());
  auto s = h.stats();
  EXPECT_EQ(s.sse, 1u);
  EXPECT_EQ(s.ws, 1u);
  EXPECT_EQ(s.topics["tenants=x"], 1u);
  h.detach(a);
  EXPECT_EQ(h.stats().sse, 0u);
}

TEST(Hub, StartsFromTheLogsLastIdSoResumeAfterRestartReplays) {
  asio::io_context ioc;
  hub h(42);
  auto q = std::make_shared<stream_queue>(asio::make_strand(ioc), transport::sse, core::topic_filter{}, 1 << 20);
  EXPECT_EQ(h.attach(q), 42u);
}

TEST(Hub, SlowSubscriberIsDroppedWithoutTouchingOthers) {
  asio::io_context ioc;
  hub h;
  auto slow = std::make_shared<stream_queue>(asio::make_strand(ioc), transport::ws, core::topic_filter{}, 50);
  auto fast = std::make_shared<stream_queue>(asio::make_strand(ioc), transport::ws, core::topic_filter{}, 1 << 20);
  h.attach(slow);
  h.attach(fast);
  for (std::uint64_t i = 1; i <= 10; ++i) {
    h.publish({ev(i, "a")});
    fast->take();  // the fast one keeps up; the slow one never drains
  }
  EXPECT_EQ(slow->closed(), close_reason::overflow);
  EXPECT_EQ(fast->closed(), close_reason::none);
  EXPECT_EQ(h.stats().drops, 1u);
}

}  // namespace
}  // namespace freshet::hub
