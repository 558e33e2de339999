// The rate limiter against the real Knack simulator over loopback: the
// simulator's own count is the judge (issue: "Freshet never sends faster than
// it, measured by the simulator's own count").
#include "sources/rate_limiter.hpp"

#include "http/client.hpp"
#include "http/server.hpp"
#include "sim/knack_simulator.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

namespace freshet::sources {
namespace {

namespace asio = boost::asio;

// A simulator on a free loopback port, served by its own thread.
struct simulator_fixture {
  explicit simulator_fixture(double limit) : sim({.requests_per_second = limit}) {
    server.start();
    thread = std::thread([this] { ioc.run(); });
  }
  ~simulator_fixture() {
    work.reset();
    ioc.stop();
    thread.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server.local_endpoint().port()) +
           "/v1/objects/object_3/records?rows_per_page=1";
  }
  std::vector<std::pair<std::string, std::string>> headers() const {
    return {{"X-Knack-Application-Id", sim.app_id()}, {"X-Knack-REST-API-Key", sim.api_key()}};
  }

  sim::knack_simulator sim;
  asio::io_context ioc{1};
  http::server server{ioc, {ioc.get_executor()}, {asio::ip::make_address("127.0.0.1"), 0}, {}, sim};
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(ioc);
  std::thread thread;
};

// `clients` concurrent callers, `each` requests apiece, through one limiter;
// a 429 is retried after the limiter is told. Returns the 200s.
int run_clients(simulator_fixture& s, rate_limiter& limiter, int clients, int each) {
  asio::io_context ioc;
  int ok = 0;
  for (int c = 0; c < clients; ++c)
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          for (int i = 0; i < each;) {
            co_await limiter.acquire();
            auto res = co_await http::fetch(boost::beast::http::verb::get, s.url(), s.headers(), "",
                                             std::chrono::seconds(5));
            if (res.ok && res.status == 429) {
              limiter.on_rate_limited(std::chrono::milliseconds(1000));  // Knack: wait under a second
              continue;
            }
            limiter.on_success();
            ok += res.ok && res.status == 200;
            ++i;
          }
        },
        asio::detached);
  ioc.run();
  return ok;
}

TEST(RateLimiter, AtTheUpstreamsOwnLimitDrawsNo429) {
  simulator_fixture s(10);
  rate_limiter limiter(10);
  EXPECT_EQ(run_clients(s, limiter, 6, 8), 48);
  const auto st = s.sim.stats();
  EXPECT_EQ(st.rate_limited, 0u);
  EXPECT_LE(st.max_requests_in_one_second, 10u);
  EXPECT_EQ(limiter.counters().rate_limited, 0u);
}

TEST(RateLimiter, SetTooHighIt429sButLosesNothing) {
  simulator_fixture s(10);
  rate_limiter limiter(40);  // four times what the upstream allows
  EXPECT_EQ(run_clients(s, limiter, 6, 8), 48);  // every request eventually succeeds
  EXPECT_GT(s.sim.stats().rate_limited, 0u);
  EXPECT_GT(limiter.counters().rate_limited, 0u);
}

TEST(RateLimiter, HalvesItsCapacityOnA429AndRecoversIt) {
  rate_limiter limiter(10, 0.0);
  const auto base = limiter.spacing();
  EXPECT_EQ(limiter.capacity(), 10u);
  limiter.on_rate_limited(std::chrono::milliseconds(200));
  EXPECT_EQ(limiter.capacity(), 5u);
  EXPECT_EQ(limiter.spacing(), base * 2);
  for (int i = 0; i < 10; ++i) limiter.on_success();
  EXPECT_EQ(limiter.capacity(), 10u);
  EXPECT_EQ(limiter.spacing(), base);
  for (int i = 0; i < 10; ++i) limiter.on_rate_limited(std::chrono::milliseconds(0));
  EXPECT_EQ(limiter.capacity(), 1u);  // never below one request per window
}

// An idle credential may start two requests at once (a webhook's payload
// list, then its records); after that starts are paced, and never more than
// a window's worth in any window.
TEST(RateLimiter, AnIdleCredentialSendsTwoAtOnceThenPaces) {
  rate_limiter limiter(5, 0.05);
  asio::io_context ioc;
  std::vector<std::chrono::steady_clock::time_point> starts;
  std::chrono::milliseconds waited_by_two{-1};
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 7; ++i) {
          co_await limiter.acquire();
          starts.push_back(std::chrono::steady_clock::now());
          if (i == 1) waited_by_two = limiter.counters().waited;
        }
      },
      asio::detached);
  ioc.run();
  ASSERT_EQ(starts.size(), 7u);
  using ms = std::chrono::milliseconds;
  auto gap = [&](int a, int b) { return std::chrono::duration_cast<ms>(starts[b] - starts[a]).count(); };
  EXPECT_EQ(waited_by_two.count(), 0);  // the first two were granted at once
  // Then one every 1.05 s / 5 = 210 ms. The pace is kept on the schedule
  // (GCRA): a start resumed a few ms late (a loaded machine: CI's full suite
  // measured 205) does not push the next slot back, so the gap between two
  // resumptions can be short by that much. The window below is checked on
  // actual starts and holds exactly.
  EXPECT_GE(gap(1, 2), 195);
  EXPECT_GE(gap(2, 3), 195);
  EXPECT_GE(gap(0, 5), 1049);           // and at most five in any 1.05 s
  EXPECT_GE(gap(1, 6), 1049);
}

// A refresh's eight page workers cannot starve a poll of the same credential:
// grants are first come, first served, so a poll that asks while they wait
// goes after at most the ones already waiting, not after all of their pages.
TEST(RateLimiter, APollIsNotStarvedByARefreshsWorkers) {
  rate_limiter limiter(100, 0.0);
  asio::io_context ioc;
  std::vector<std::string> order;
  for (int w = 0; w < 8; ++w)
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          for (int page = 0; page < 5; ++page) {
            co_await limiter.acquire();
            order.push_back("refresh");
          }
        },
        asio::detached);
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        co_await limiter.acquire();
        order.push_back("poll");
      },
      asio::detached);
  ioc.run();
  ASSERT_EQ(order.size(), 41u);
  const auto poll = std::find(order.begin(), order.end(), "poll") - order.begin();
  // After the eight workers' waiting requests and the two an idle credential
  // may start at once: before the other thirty pages.
  EXPECT_LE(poll, 10);
}

TEST(RateLimiter, BelowOnePerSecondTheWindowGrows) {
  rate_limiter limiter(0.5, 0.0);
  EXPECT_EQ(limiter.capacity(), 1u);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(limiter.spacing()).count(), 2000);
}

}  // namespace
}  // namespace freshet::sources
