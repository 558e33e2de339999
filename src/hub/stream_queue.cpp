#include "hub/stream_queue.hpp"

#include <boost/asio/post.hpp>

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

bool stream_queue::push(const std::vector<core::event_ptr>& batch) {
  if (closed_ != close_reason::none) return true;
  const std::size_t before = queued_.size();
  for (const auto& ev : batch) {
    if (!filter_.matches(*ev)) continue;
    bytes_ += frame_size(*ev);
    if (bytes_ > max_bytes_) {
      close(close_reason::overflow);
      return false;
    }
    queued_.push_back(ev);
  }
  if (queued_.size() != before) wake();
  return true;
}

void stream_queue::push_private(core::event_ptr frame) {
  if (closed_ != close_reason::none) return;
  bytes_ += frame_size(*frame);
  queued_.push_back(std::move(frame));
  wake();
}

void stream_queue::keepalive() {
  static const core::event_ptr ping = make_ping();
  const bool idle = !wrote_since_tick_ && queued_.empty();
  wrote_since_tick_ = false;
  if (idle && kind_ == transport::sse) push_private(ping);
}

void stream_queue::close(close_reason why) {
  if (closed_ != close_reason::none) return;
  closed_ = why;
  queued_.clear();
  bytes_ = 0;
  wake();
  asio::post(executor_, [self = shared_from_this()] {
    if (self->on_close_) self->on_close_(self->closed_);
  });
}

void stream_queue::take(std::vector<core::event_ptr>& into) {
  into.clear();
  into.swap(queued_);
  if (!into.empty()) wrote_since_tick_ = true;
}

}  // namespace freshet::hub
