// The simulators' judge of the rate limit: arrivals counted at the time the
// kernel stamped them, whatever the order a loaded worker reads them in; and
// the server handing that stamp to the handler (over loopback, a worker held
// busy while the request arrives).
#include "http/server.hpp"
#include "sim/faults.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <random>
#include <thread>
#include <vector>

namespace freshet::sim {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::system_clock;

const system_clock::time_point t0 = system_clock::time_point(std::chrono::seconds(1'800'000'000));

TEST(RequestMeter, EvenlySpacedArrivalsReadInAnyOrderAreNeverBunched) {
  // Ten a 1.1 s window, as Freshet's limiter sends at 10/s, read shuffled:
  // any 1 s holds ten at most.
  std::vector<system_clock::time_point> arrivals;
  for (int i = 0; i < 60; ++i) arrivals.push_back(t0 + milliseconds(110 * i));
  std::mt19937 rng(7);
  std::shuffle(arrivals.begin(), arrivals.end(), rng);
  request_meter meter;
  for (auto a : arrivals) meter.count(a);
  EXPECT_EQ(meter.total(), 60u);
  EXPECT_EQ(meter.max_in_one_second(), 10u);
}

TEST(RequestMeter, AnArrivalReadLateStillCountsInItsOwnSecond) {
  request_meter meter;
  for (int i = 0; i < 10; ++i) meter.count(t0 + milliseconds(100 * i));  // 0 .. 900 ms
  meter.count(t0 + milliseconds(1000));                                  // [0, 1 s) still holds ten
  EXPECT_EQ(meter.max_in_one_second(), 10u);
  meter.count(t0 + milliseconds(50));  // read last, arrived among the first: [0, 1 s) holds eleven
  EXPECT_EQ(meter.max_in_one_second(), 11u);
}

TEST(RequestMeter, ArrivalsAWholeSecondApartShareNoWindow) {
  request_meter meter;
  meter.count(t0);
  meter.count(t0 + std::chrono::seconds(1));
  meter.count(t0 + std::chrono::seconds(2));
  EXPECT_EQ(meter.max_in_one_second(), 1u);
}

TEST(RequestMeter, TheTightestSpanOfElevenArrivalsIsWhatThePacingLeftOfItsMargin) {
  // Paced 110 ms apart, every run of eleven takes 1.1 s; one request held
  // back 40 ms on its way (jitter) shortens the run that it starts to 1.06 s.
  request_meter meter(10);
  EXPECT_EQ(meter.tightest_span_ms(), -1.0);
  std::vector<system_clock::time_point> arrivals;
  for (int i = 0; i < 40; ++i) arrivals.push_back(t0 + milliseconds(110 * i));
  for (int i = 0; i < 20; ++i) meter.count(arrivals[i]);
  EXPECT_DOUBLE_EQ(meter.tightest_span_ms(), 1100.0);
  arrivals[25] += milliseconds(40);
  std::mt19937 rng(3);
  std::shuffle(arrivals.begin() + 20, arrivals.end(), rng);  // read in any order
  for (int i = 20; i < 40; ++i) meter.count(arrivals[i]);
  EXPECT_DOUBLE_EQ(meter.tightest_span_ms(), 1060.0);
  EXPECT_EQ(meter.max_in_one_second(), 10u);
}

TEST(SecondWindows, CountEachArrivalInItsSecondInAnyOrder) {
  second_windows w;
  EXPECT_EQ(w.add(100), 1u);
  EXPECT_EQ(w.add(101), 1u);
  EXPECT_EQ(w.add(100), 2u);  // read after one of the next second: still the first window's
  EXPECT_EQ(w.add(101), 2u);
  EXPECT_EQ(epoch_second(t0 + milliseconds(999)), 1'800'000'000);
}

// Records what the server says of each request's arrival, and when it ran.
struct arrival_recorder : http::request_handler {
  boost::asio::awaitable<http::handler_result> handle(http::request&, const http::request_context& ctx) override {
    arrived = ctx.arrived;
    stamped = ctx.stamped;
    handled = system_clock::now();
    http::response res{boost::beast::http::status::ok, 11};
    res.prepare_payload();
    co_return http::handler_result{std::move(res), {}};
  }
  system_clock::time_point arrived, handled;
  std::atomic<bool> stamped{false};
};

// Sends a request while the server's only worker is held busy for 300 ms
// (after first exchanges on the same connection); keeps what the handler
// saw of it, and the time just before the send.
struct held_worker_exchange {
  arrival_recorder handler;
  system_clock::time_point before_send;

  explicit held_worker_exchange(bool stamp) {
    // The worker's context outlives the acceptor's, whose pending accept holds a socket of it.
    asio::io_context worker(1), acceptor(1);
    http::server_limits limits;
    limits.stamp_arrivals = stamp;
    http::server server(acceptor, {worker.get_executor()}, {asio::ip::make_address("127.0.0.1"), 0}, limits, handler);
    server.start();
    auto acceptor_work = asio::make_work_guard(acceptor);
    auto worker_work = asio::make_work_guard(worker);
    std::thread accepting([&] { acceptor.run(); });
    std::thread working([&] { worker.run(); });

    asio::io_context client_ioc;
    asio::ip::tcp::socket client(client_ioc);
    client.connect(server.local_endpoint());
    asio::streambuf answers;
    const std::string_view request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    // First exchanges: the session is then set up and waits for the next
    // request. With stamping, until the kernel stamps: Linux turns receive
    // timestamps on for the host lazily (a deferred static key) once a
    // socket asks, so the first requests may arrive unstamped (bounded: 2 s).
    for (int i = 0; i < 200; ++i) {
      asio::write(client, asio::buffer(request));
      asio::read_until(client, answers, "\r\n\r\n");
      answers.consume(answers.size());
      if (!stamp || handler.stamped) break;
      std::this_thread::sleep_for(milliseconds(10));
    }
    handler.stamped = false;
    std::promise<void> release, holding;
    asio::post(worker, [&] {
      holding.set_value();
      release.get_future().wait();
    });
    holding.get_future().wait();
    before_send = system_clock::now();
    asio::write(client, asio::buffer(request));
    std::this_thread::sleep_for(milliseconds(300));  // the worker is busy while the request waits
    release.set_value();
    asio::read_until(client, answers, "\r\n\r\n");  // the handler has run once the answer is here
    client.close();
    server.stop();
    acceptor_work.reset();
    worker_work.reset();
    acceptor.stop();
    worker.stop();
    accepting.join();
    working.join();
  }
};

TEST(ArrivalStamp, TheKernelsStampSaysWhenTheRequestArrivedNotWhenItWasRead) {
  held_worker_exchange stamped(true);
  EXPECT_TRUE(stamped.handler.stamped);
  EXPECT_GE(stamped.handler.handled - stamped.before_send, milliseconds(300));
  EXPECT_GE(stamped.handler.arrived, stamped.before_send - milliseconds(1));
  EXPECT_LT(stamped.handler.arrived - stamped.before_send, milliseconds(150));

  held_worker_exchange unstamped(false);  // the time of reading, after the hold
  EXPECT_FALSE(unstamped.handler.stamped);
  EXPECT_GE(unstamped.handler.arrived - unstamped.before_send, milliseconds(300));
}

}  // namespace
}  // namespace freshet::sim
