#include "hub/stream_queue.hpp"

#include <boost/asio/post.hpp>

#include <utility>

namespace freshet::hub {

namespace asio = boost::asio;

namespace {
core::event_ptr make_ping() {
  auto ev = std::make_shared<core::event>();
  ev->sse_frame = ": ping\n\n";
  return ev;
}
}  // namespace

stream_queue::stream_queue(asio::any_io_executor executor, transport t, core::topic_filter filter,
                           std::size_t max_bytes)
    : executor_(std::move(executor)), kind_(t), filter_(std::move(filter)), max_bytes_(max_bytes) {}

void stream_queue::push(const std::vector<core::event_ptr>& batch) {
  if (closed_ != close_reason::none) return;
  const std::size_t before = queued_.size();
  for (const auto& ev : batch) {
    if (ev->id <= skip_through_ || !filter_.matches(*ev)) continue;
    bytes_ += frame_size(*ev);
    queued_.push_back(ev);
  }
  if (queued_.size() == before) return;
  if (bytes_ > max_bytes_) {
    // Too much to hold: keep only the private frames (pings, error replies)
    // and let the session read the events back from the log. A gap still
    // pending grows; otherwise one opens after the last event taken, so
    // nothing is lost and nothing is sent twice.
    const std::uint64_t upto = queued_.back()->id;
    std::erase_if(queued_, [this](const core::event_ptr& e) {
      if (e->id == 0) return false;
      bytes_ -= frame_size(*e);
      return true;
    });
    gap_ = event_gap{gap_ ? gap_->after : last_taken_, upto};
    if (!behind_since_) behind_since_ = std::chrono::steady_clock::now();
  }
  wake();
}

void stream_queue::skip_through(std::uint64_t id) {
  skip_through_ = id;
  if (last_taken_ < id) last_taken_ = id;
  std::erase_if(queued_, [&](const core::event_ptr& e) {
    if (e->id == 0 || e->id > id) return false;
    bytes_ -= frame_size(*e);
    return true;
  });
}

void stream_queue::push_private(core::event_ptr frame) {
  if (closed_ != close_reason::none) return;
  // Pings and error replies are best effort: a peer that keeps sending while
  // it reads nothing does not get to grow the queue past its limit.
  if (bytes_ + frame_size(*frame) > max_bytes_) return;
  bytes_ += frame_size(*frame);
  queued_.push_back(std::move(frame));
  wake();
}

bool stream_queue::tick(std::chrono::steady_clock::time_point now, std::chrono::steady_clock::duration behind_limit) {
  if (closed_ != close_reason::none) return false;
  if (behind_since_ && now - *behind_since_ >= behind_limit) {
    close(close_reason::too_slow);
    return true;
  }
  static const core::event_ptr ping = make_ping();
  const bool idle = !wrote_since_tick_ && queued_.empty() && !gap_;
  wrote_since_tick_ = false;
  if (idle && kind_ == transport::sse) push_private(ping);
  return false;
}

void stream_queue::close(close_reason why) {
  if (closed_ != close_reason::none) return;
  closed_ = why;
  queued_.clear();
  gap_.reset();
  bytes_ = 0;
  wake();
  asio::post(executor_, [self = shared_from_this()] {
    if (self->on_close_) self->on_close_(self->closed_);
  });
}

std::optional<event_gap> stream_queue::take(std::vector<core::event_ptr>& into) {
  into.clear();
  if (gap_) {
    // Events queued after the gap wait for the next take: order is kept.
    last_taken_ = gap_->upto;
    wrote_since_tick_ = true;
    return std::exchange(gap_, std::nullopt);
  }
  into.swap(queued_);
  for (auto it = into.rbegin(); it != into.rend(); ++it) {
    if ((*it)->id != 0) {
      last_taken_ = (*it)->id;
      break;
    }
  }
  if (!into.empty()) wrote_since_tick_ = true;
  behind_since_.reset();  // the gap, if any, has been read back: live again
  return std::nullopt;
}

}  // namespace freshet::hub
