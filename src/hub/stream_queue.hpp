// The bounded queue between the hub (which pushes from the store's writer
// thread) and one stream connection (which drains it on its strand). It counts
// the bytes queued plus the bytes being written; a push that would pass the
// limit closes the queue instead: the connection is dropped and the client
// resumes with Last-Event-ID. So a slow client costs at most `max_bytes` of
// references and never delays the hub or any other subscriber.
//
// Thread-safety: push() and close() from any thread; the rest on the strand.
#pragma once

#include "core/event.hpp"
#include "core/topic_filter.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace freshet::hub {

enum class transport { sse, ws };
enum class close_reason { none, overflow, client_gone, shutdown };

class stream_queue : public std::enable_shared_from_this<stream_queue> {
 public:
  stream_queue(boost::asio::any_io_executor strand, transport t, core::topic_filter filter,
               std::size_t max_bytes);

  const core::topic_filter& filter() const { return filter_; }
  transport kind() const { return kind_; }

  // Hub side. Appends the events of `batch` that match the filter. Returns
  // false when this push overflowed the queue (and so closed it).
  bool push(const std::vector<core::event_ptr>& batch);
  // Queues one frame for this connection alone (a WebSocket error reply), so
  // that every write still goes through the one writer.
  void push_private(core::event_ptr frame);
  // Any thread: ends the stream. The first reason given is kept.
  void close(close_reason why);

  // Session side, on the strand. Waits until events are queued, the queue is
  // closed, or `timeout` passes (then the caller sends a keep-alive).
  boost::asio::awaitable<void> wait(std::chrono::steady_clock::duration timeout);
  // Takes everything queued. Its bytes stay counted until written() says so.
  std::vector<core::event_ptr> take();
  void written(std::size_t bytes);
  close_reason closed() const;

  // Runs on the strand when the queue is closed from elsewhere (overflow,
  // shutdown), so the session can cancel a write stuck on a slow socket.
  // Set and cleared on the strand only.
  void on_close(std::function<void(close_reason)> f) { on_close_ = std::move(f); }

  std::size_t frame_size(const core::event& ev) const {
    return kind_ == transport::sse ? ev.sse_frame.size() : ev.json.size();
  }

 private:
  void wake_locked(bool also_abort);

  boost::asio::any_io_executor strand_;
  const transport kind_;
  const core::topic_filter filter_;
  const std::size_t max_bytes_;
  boost::asio::steady_timer timer_;  // the wake-up: cancelled on the strand to wake wait()
  std::function<void(close_reason)> on_close_;

  mutable std::mutex mu_;  // guards the members below
  std::vector<core::event_ptr> queued_;
  std::size_t bytes_ = 0;
  bool waiting_ = false;
  close_reason closed_ = close_reason::none;
};

}  // namespace freshet::hub
