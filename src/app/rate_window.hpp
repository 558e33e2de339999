// A rate over a sliding window of one-second samples of a growing counter
// (events committed per second, for /api/stats).
//
// Thread-safety: all members may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

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

// The growth of a counter per bucket of `bucket` one-second samples, over the
// last `buckets` buckets (events committed per 5 s over 10 minutes, for the
// dashboard's chart). The newest bucket is the one filling now.
//
// Thread-safety: all members may be called from any thread.
class bucket_history {
 public:
  explicit bucket_history(int samples_per_bucket = 5, std::size_t buckets = 120)
      : per_bucket_(samples_per_bucket), max_(buckets) {}

  // Called once a second with the counter's current value.
  void sample(std::uint64_t value) {
    std::lock_guard lk(mu_);
    if (!started_) {
      started_ = true;
      last_ = value;
    }
    if (counts_.empty() || filled_ == per_bucket_) {
      counts_.push_back(0);
      filled_ = 0;
      while (counts_.size() > max_) counts_.pop_front();
    }
    counts_.back() += value - last_;
    last_ = value;
    ++filled_;
  }

  int bucket_seconds() const { return per_bucket_; }
  std::vector<std::uint64_t> counts() const {
    std::lock_guard lk(mu_);
    return {counts_.begin(), counts_.end()};
  }

 private:
  const int per_bucket_;
  const std::size_t max_;
  mutable std::mutex mu_;
  bool started_ = false;
  std::uint64_t last_ = 0;
  int filled_ = 0;
  std::deque<std::uint64_t> counts_;
};

}  // namespace freshet::app
