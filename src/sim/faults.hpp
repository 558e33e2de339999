// What both simulators inject, count and control, for tests: faults drawn
// from a seeded generator so a run can be repeated (added latency, 5xx
// answers, answers that never come, cut-off bodies); the request meter behind
// /_sim/stats; and the simulated clock behind /_sim/clock.
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include "http/server.hpp"

#include <boost/json/array.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <vector>

namespace freshet::sim {

struct fault_options {
  int latency_min_ms = 0, latency_max_ms = 0;
  double fail_rate = 0;      // share of requests answered 500/502/503
  double timeout_rate = 0;   // share never answered (held until the client gives up)
  double truncate_rate = 0;  // share answered 200 with a cut-off body
  double drop_rate = 0;      // share whose connection is closed with no answer
  // Every JSON object answer gets a key no client knows ("_simExtra"), to
  // check that clients ignore unknown keys (forward compatibility).
  bool extra_keys = false;
};

class fault_injector {
 public:
  fault_injector(fault_options opts, std::uint64_t seed) : opts_(opts), rng_(seed) {}

  struct draw {
    std::chrono::milliseconds delay{0};
    bool fail = false;
    boost::beast::http::status fail_status = boost::beast::http::status::internal_server_error;
    bool truncate = false;
    bool drop = false;
  };
  draw next();
  // Applies a drawn truncation to a successful answer (valid HTTP, broken
  // JSON), and the extra key when asked.
  void shape(const draw& d, http::response& res);
  std::uint64_t injected() const;

 private:
  const fault_options opts_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  std::uint64_t injected_ = 0;
};

// Requests served, and the most seen in any one-second window (sliding), which
// is what tests compare against a rate limit.
// The answer to a request whose connection is to be dropped: none, the
// socket closed.
http::handler_result dropped_connection();

// Wall-clock time plus an offset that tests move forward (POST /_sim/clock),
// so expiry and "today" can be tested without waiting.
class sim_clock {
 public:
  std::int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() +
           offset_ms_.load();
  }
  void advance(std::chrono::milliseconds by) { offset_ms_ += by.count(); }

 private:
  std::atomic<std::int64_t> offset_ms_{0};
};

// POST /_sim/clock {"advance_seconds": N} moves the clock; GET tells it.
http::response clock_route(sim_clock& clock, const http::request& req);

// POST /_sim/changes {"count": N}: runs `apply(N)` (1 to 100,000) and
// answers {"applied": [...]} with what it returned.
http::response changes_route(const http::request& req, const std::function<boost::json::array(int)>& apply);

// A /_sim/ answer: JSON, and an error as {"error":{"code","message"}}.
http::response sim_reply(boost::beast::http::status st, const boost::json::value& body);
http::response sim_error(boost::beast::http::status st, std::string_view code, std::string_view message);

// Requests counted by when they reached the simulator's host
// (http::request_context::arrived, the kernel's stamp): the judge of the
// rate-limit tests. A worker that reads one late (its CPU taken by another
// page) counts it out of order, but at its true arrival, so requests sent
// evenly are never judged bunched by the judge's own lag.
//
// It also measures how close the sender came to the limit: the shortest time
// that `limit + 1` consecutive arrivals took (a sender within the limit keeps
// it at 1 s or more; a sender that paces with a margin m and whose requests
// all reach the host with the same delay keeps it at (1 + m) s, so what is
// missing from that is the jitter the margin absorbed).
class request_meter {
 public:
  // `limit`: requests allowed per second (its floor); 0: no span measured.
  explicit request_meter(double limit = 0);
  void count(std::chrono::system_clock::time_point arrived);
  std::uint64_t total() const;
  std::uint64_t max_in_one_second() const;  // the most arrivals in any 1 s (sliding)
  // The shortest span of limit + 1 consecutive arrivals, ms; -1 before there were that many.
  double tightest_span_ms() const;

 private:
  mutable std::mutex mu_;
  const std::size_t span_of_;  // limit + 1, or 0
  std::int64_t tightest_ = -1;  // ns
  std::uint64_t total_ = 0, max_ = 0;
  std::int64_t newest_ = 0;
  std::vector<std::int64_t> recent_;  // arrivals of the last seconds, ns since the epoch, sorted
};

// Arrivals per fixed one-second window (epoch seconds), as the real APIs
// count them, in whatever order they are read. Not thread-safe.
class second_windows {
 public:
  // Counts one arrival in `second`; returns how many that window now holds.
  std::uint64_t add(std::int64_t second);

 private:
  std::map<std::int64_t, std::uint64_t> counts_;  // the last few seconds
};

// Epoch seconds of a time point.
std::int64_t epoch_second(std::chrono::system_clock::time_point t);

}  // namespace freshet::sim
