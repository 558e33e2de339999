#include "hub/stream_queue.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace freshet::hub {

namespace asio = boost::asio;

stream_queue::stream_queue(asio::any_io_executor strand, transport t, core::topic_filter filter,
                           std::size_t max_bytes)
    : strand_(strand), kind_(t), filter_(std::move(filter)), max_bytes_(max_bytes), timer_(strand) {}

void stream_queue::wake_locked(bool also_abort) {
  // Only a waiting session needs a wake-up: one post per idle-to-busy turn,
  // however many events arrive, so bursts cost one wake per connection.
  if (!waiting_ && !also_abort) return;
  waiting_ = false;
  asio::post(strand_, [self = shared_from_this(), also_abort] {
    self->timer_.cancel();
    if (also_abort && self->on_close_) self->on_close_(self->closed());
  });
}

bool stream_queue::push(const std::vector<core::event_ptr>& batch) {
  std::lock_guard lk(mu_);
  if (closed_ != close_reason::none) return true;
  std::size_t added = 0;
  const std::size_t before = queued_.size();
  for (const auto& ev : batch) {
    if (!filter_.matches(*ev)) continue;
    added += frame_size(*ev);
    if (bytes_ + added > max_bytes_) {
      queued_.clear();
      bytes_ = 0;
      closed_ = close_reason::overflow;
      wake_locked(true);
      return false;
    }
    queued_.push_back(ev);
  }
  if (queued_.size() != before) {
    bytes_ += added;
    wake_locked(false);
  }
  return true;
}

void stream_queue::push_private(core::event_ptr frame) {
  std::lock_guard lk(mu_);
  if (closed_ != close_reason::none) return;
  bytes_ += frame_size(*frame);
  queued_.push_back(std::move(frame));
  wake_locked(false);
}

void stream_queue::close(close_reason why) {
  std::lock_guard lk(mu_);
  if (closed_ != close_reason::none) return;
  closed_ = why;
  queued_.clear();
  bytes_ = 0;
  wake_locked(true);
}

asio::awaitable<void> stream_queue::wait(std::chrono::steady_clock::duration timeout) {
  {
    std::lock_guard lk(mu_);
    if (!queued_.empty() || closed_ != close_reason::none) co_return;
    waiting_ = true;
  }
  timer_.expires_after(timeout);
  co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  std::lock_guard lk(mu_);
  waiting_ = false;
}

std::vector<core::event_ptr> stream_queue::take() {
  std::vector<core::event_ptr> out;
  std::lock_guard lk(mu_);
  out.swap(queued_);
  return out;
}

void stream_queue::written(std::size_t bytes) {
  std::lock_guard lk(mu_);
  bytes_ = bytes_ > bytes ? bytes_ - bytes : 0;
}

close_reason stream_queue::closed() const {
  std::lock_guard lk(mu_);
  return closed_;
}

}  // namespace freshet::hub
