#include "sources/rate_limiter.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cmath>

namespace freshet::sources {

namespace asio = boost::asio;

namespace {
// Below one request per second the window grows instead: one start per 1/rate.
std::size_t capacity_for(double rps) { return rps >= 1 ? static_cast<std::size_t>(std::floor(rps)) : 1; }
std::chrono::steady_clock::duration window_for(double rps, double margin) {
  const double secs = (rps >= 1 ? std::floor(rps) / rps : 1.0 / rps) * (1.0 + margin);
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(secs));
}
}  // namespace

rate_schedule::rate_schedule(double requests_per_second, double margin)
    : rate_(requests_per_second),
      max_capacity_(capacity_for(requests_per_second)),
      margin_(margin),
      window_(window_for(requests_per_second, margin)),
      capacity_(max_capacity_) {}

rate_schedule::clock::time_point rate_schedule::grant(clock::time_point now) {
  const auto pace = spacing();
  auto slot = std::max(now, paused_until_);
  // The pace, one start early at most: an idle credential may send two at once.
  slot = std::max(slot, next_ - pace);
  // The window: the start `capacity_` grants ago must be a whole window back.
  if (starts_.size() >= capacity_) slot = std::max(slot, starts_[starts_.size() - capacity_] + window_);
  next_ = std::max(next_, slot) + pace;
  starts_.push_back(slot);
  while (starts_.size() > max_capacity_) starts_.pop_front();
  return slot;
}

std::optional<rate_schedule::clock::time_point> rate_schedule::try_start(clock::time_point now) {
  // Checked again against actual starts: the window holds even when callers
  // resume late and bunch.
  if (sent_.size() >= capacity_ && now < sent_[sent_.size() - capacity_] + window_)
    return sent_[sent_.size() - capacity_] + window_;
  sent_.push_back(now);
  while (sent_.size() > max_capacity_) sent_.pop_front();
  return std::nullopt;
}

void rate_schedule::on_rate_limited(std::chrono::milliseconds wait, clock::time_point now) {
  paused_until_ = std::max(paused_until_, now + wait);
  capacity_ = std::max<std::size_t>(1, capacity_ / 2);
  successes_ = 0;
  // Wider, never narrower: a margin configured above the cap stays as it is.
  margin_ = std::max(margin_, std::min(0.5, std::max(0.10, margin_ * 2)));
  window_ = window_for(rate_, margin_);
}

void rate_schedule::on_success() {
  if (capacity_ < max_capacity_ && ++successes_ >= 2) {
    ++capacity_;
    successes_ = 0;
  }
}

rate_limiter::rate_limiter(double requests_per_second, double margin) : schedule_(requests_per_second, margin) {}

void rate_limiter::share_pace(store::event_store& store, std::string pace) {
  shared_ = &store;
  pace_ = std::move(pace);
}

asio::awaitable<void> rate_limiter::acquire() {
  asio::steady_timer t(co_await asio::this_coro::executor);
  if (shared_) {
    // The deployment's order first; then this instance's own rules (its
    // 429 pause, its window), which usually let the request go at once.
    std::optional<store::shared_slot> got;
    const auto spacing = std::chrono::duration_cast<std::chrono::microseconds>(this->spacing());
    try {
      got = shared_->take_slot(pace_, spacing);  // one Redis round trip
    } catch (const std::exception& e) {
      // Redis is away: nothing can be committed either; this instance's own
      // limiter still holds its requests to the rate.
      std::lock_guard lk(mu_);
      if (clock::now() - shared_warned_ > std::chrono::seconds(30)) {
        shared_warned_ = clock::now();
        spdlog::warn("msg=\"the rate limit shared with the other instances cannot be read; pacing alone\" pace={} "
                     "error=\"{}\"",
                     pace_, e.what());
      }
    }
    if (got) {
      {
        std::lock_guard lk(mu_);
        ++counters_.shared_slots;
        counters_.waited += std::chrono::duration_cast<std::chrono::milliseconds>(got->delay);
      }
      if (got->delay.count() > 0) {
        t.expires_after(got->delay);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      }
    }
  }
  clock::time_point slot;
  {
    std::lock_guard lk(mu_);
    const auto now = clock::now();
    slot = schedule_.grant(now);
    ++counters_.granted;
    counters_.waited += std::chrono::duration_cast<std::chrono::milliseconds>(slot - now);
  }
  for (;;) {
    if (slot > clock::now()) {
      t.expires_at(slot);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    std::lock_guard lk(mu_);
    const auto again = schedule_.try_start(clock::now());
    if (!again) co_return;
    slot = *again;
  }
}

void rate_limiter::on_rate_limited(std::chrono::milliseconds wait) {
  {
    std::lock_guard lk(mu_);
    ++counters_.rate_limited;
    const double before = schedule_.margin();
    schedule_.on_rate_limited(wait, clock::now());
    if (schedule_.margin() > before)
      spdlog::warn("msg=\"the upstream answered 429: the rate limit's margin is widened for good\" "
                   "margin_percent_before={:.0f} margin_percent={:.0f}",
                   before * 100, schedule_.margin() * 100);
  }
  if (shared_) shared_->pause_slots(pace_, wait);  // every instance waits it out
}

void rate_limiter::on_success() {
  std::lock_guard lk(mu_);
  schedule_.on_success();
}

std::chrono::steady_clock::duration rate_limiter::spacing() const {
  std::lock_guard lk(mu_);
  return schedule_.spacing();
}

std::size_t rate_limiter::capacity() const {
  std::lock_guard lk(mu_);
  return schedule_.capacity();
}

double rate_limiter::margin() const {
  std::lock_guard lk(mu_);
  return schedule_.margin();
}

rate_limiter_counters rate_limiter::counters() const {
  std::lock_guard lk(mu_);
  return counters_;
}

}  // namespace freshet::sources
