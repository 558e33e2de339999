#include "sources/rate_limiter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace freshet::sources {

namespace asio = boost::asio;

rate_limiter::rate_limiter(double requests_per_second, double margin)
    : base_(std::chrono::duration_cast<clock::duration>(
          std::chrono::duration<double>((1.0 + margin) / requests_per_second))),
      spacing_(base_) {}

asio::awaitable<void> rate_limiter::acquire() {
  clock::time_point slot;
  {
    std::lock_guard lk(mu_);
    const auto now = clock::now();
    slot = std::max(now, next_);
    next_ = slot + spacing_;  // each caller takes the next slot: first come, first served
    ++counters_.granted;
    counters_.waited += std::chrono::duration_cast<std::chrono::milliseconds>(slot - now);
  }
  if (slot > clock::now()) {
    asio::steady_timer t(co_await asio::this_coro::executor, slot);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void rate_limiter::on_rate_limited(std::chrono::milliseconds wait) {
  std::lock_guard lk(mu_);
  ++counters_.rate_limited;
  next_ = std::max(next_, clock::now() + wait);
  spacing_ = std::min(spacing_ * 2, base_ * 8);
}

void rate_limiter::on_success() {
  std::lock_guard lk(mu_);
  spacing_ = std::max(base_, spacing_ * 9 / 10);
}

std::chrono::steady_clock::duration rate_limiter::spacing() const {
  std::lock_guard lk(mu_);
  return spacing_;
}

rate_limiter_counters rate_limiter::counters() const {
  std::lock_guard lk(mu_);
  return counters_;
}

}  // namespace freshet::sources
