// A rate over a sliding window of one-second samples of a growing counter
// (events committed per second, for /api/stats).
//
// Thread-safety: all members may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>

namespace freshet::app {

class rate_window {
 public:
  explicit rate_window(std::chrono::seconds span = std::chrono::seconds(10)) : span_(span) {}

  void sample(std::chrono::steady_clock::time_point t, std::uint64_t value) {
    std::lock_guard lk(mu_);
    samples_.push_back({t, value});
    while (samples_.size() > 2 && t - samples_.front().t > span_) samples_.pop_front();
  }

  // Per second across the window; 0 until two samples exist.
  double per_second() const {
    std::lock_guard lk(mu_);
    if (samples_.size() < 2) return 0;
    const auto& a = samples_.front();
    const auto& b = samples_.back();
    const double secs = std::chrono::duration<double>(b.t - a.t).count();
    return secs > 0 ? static_cast<double>(b.v - a.v) / secs : 0;
  }

 private:
  struct point {
    std::chrono::steady_clock::time_point t;
    std::uint64_t v;
  };
  const std::chrono::steady_clock::duration span_;
  mutable std::mutex mu_;
  std::deque<point> samples_;
};

}  // namespace freshet::app
