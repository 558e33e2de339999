// The bounded queue in front of one stream connection. It counts the bytes
// queued plus the bytes being written. A push that would pass the limit does
// not grow the queue: the queued events and the new ones are dropped and
// remembered as a gap, an id range (after, upto] that the session then reads
// back from the log, where every delivered event already is. So a burst
// larger than the buffer (a full sync: thousands of changes in one commit)
// reaches a client that keeps reading, complete and in order, and a slow
// client costs at most `max_bytes` of shared references and never delays the
// hub or any other subscriber.
//
// Falling behind is measured in time, not bytes: a connection that has been
// behind the live edge (a gap pending or being read back) for longer than the
// hub's limit is cut at a tick (counted as a slow-client drop), and its client
// resumes with Last-Event-ID. That also ends a stream whose peer stopped
// reading altogether: its write never completes, so it never catches up.
//
// Waking is one post per idle-to-busy turn: a waiting session parks its
// completion handler here and the first push posts it; bursts that arrive
// while it writes are taken together by the next take(). There are no
// per-connection timers: keep-alives come from the hub's one ticker.
//
// Thread-safety: none needed. A queue lives on its connection's worker thread
// and every member is called there (the hub's shard for that worker included).
#pragma once

#include "core/event.hpp"
#include "core/topic_filter.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <functional>
#include <new>
#include <optional>
#include <utility>
#include <memory>
#include <vector>

namespace freshet::hub {

enum class transport { sse, ws };
enum class close_reason { none, too_slow, client_gone, shutdown };

// Events the session reads back from the log: ids in (after, upto] that match
// its filter.
struct event_gap {
  std::uint64_t after = 0;
  std::uint64_t upto = 0;
  bool operator==(const event_gap&) const = default;
};

class stream_queue : public std::enable_shared_from_this<stream_queue> {
 public:
  stream_queue(boost::asio::any_io_executor executor, transport t, core::topic_filter filter,
               std::size_t max_bytes);

  const core::topic_filter& filter() const { return filter_; }
  transport kind() const { return kind_; }
  const boost::asio::any_io_executor& executor() const { return executor_; }

  // The id of the last event the session has (replayed or live) when it
  // attaches: a gap that opens before it takes anything starts there.
  void start_after(std::uint64_t id) { last_taken_ = id; }
  // Events with ids up to `id` are dropped, queued or to come: the client
  // has them already (it resumed from a point this instance's hub has not
  // reached yet: another instance sent them first).
  void skip_through(std::uint64_t id);
  // Appends the events of `batch` (in id order) that match the filter; past
  // the byte limit, turns what is queued and the batch into a gap instead.
  void push(const std::vector<core::event_ptr>& batch);
  // Queues one frame for this connection alone (a WebSocket error reply, an
  // SSE keep-alive), so that every write still goes through the one writer.
  void push_private(core::event_ptr frame);
  // Hub ticker: an SSE connection that wrote nothing since the last tick gets
  // a ": ping" comment, so proxies and clients see the stream is alive. One
  // that has been behind for longer than `behind_limit` is closed (too_slow);
  // returns true then.
  bool tick(std::chrono::steady_clock::time_point now, std::chrono::steady_clock::duration behind_limit);
  bool behind() const { return behind_since_.has_value(); }
  // Ends the stream. The first reason given is kept.
  void close(close_reason why);

  // Completes when events or a gap are queued or the queue is closed (at once
  // if any is already so).
  template <class CompletionToken>
  auto async_wait(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void()>(
        [this](auto handler) {
          using impl = parked_impl<decltype(handler)>;
          static_assert(sizeof(impl) <= kParkedSize && alignof(impl) <= alignof(std::max_align_t));
          // In place, not on the heap: with thousands of connections parked at
          // once, a heap block per turn is what malloc would spend its time on.
          parked* p = new (parked_storage_) impl(std::move(handler));
          if (!queued_.empty() || gap_ || closed_ != close_reason::none) {
            p->resume(executor_);
            p->~parked();
          } else {
            waiter_ = p;
          }
        },
        token);
  }
  // A pending gap comes first: it is returned (and `into` left empty), and the
  // session reads it from the log before it takes again. Otherwise takes
  // everything queued into `into` (cleared first; both vectors keep their
  // capacity), which also means the connection has caught up. The bytes
  // stay counted until written() says so.
  std::optional<event_gap> take(std::vector<core::event_ptr>& into);
  std::vector<core::event_ptr> take() {
    std::vector<core::event_ptr> out;
    take(out);
    return out;
  }
  void written(std::size_t bytes) { bytes_ = bytes_ > bytes ? bytes_ - bytes : 0; }
  close_reason closed() const { return closed_; }

  // Runs (posted) when the queue is closed: the session cuts a write that may
  // be stuck on a slow socket.
  void on_close(std::function<void(close_reason)> f) { on_close_ = std::move(f); }

  std::size_t frame_size(const core::event& ev) const {
    return kind_ == transport::sse ? ev.sse_frame.size() : ev.json.size();
  }

 private:
  // A parked completion handler, resumed by posting it to the queue's
  // executor (the connection's thread, so the post is cheap and never runs
  // the session inside the hub's loop over connections). The handler's own
  // executor must be that one (a stream's is). No work guard is parked with
  // it: a guard holds a copy of the executor, 120 bytes of every idle
  // stream, and the server's workers are kept running until shutdown anyway
  // (app/server_app.cpp), which closes every queue and so posts every waiter.
  struct parked {
    virtual ~parked() = default;
    virtual void resume(const boost::asio::any_io_executor& ex) = 0;
  };
  template <class Handler>
  struct parked_impl final : parked {
    explicit parked_impl(Handler h) : handler(std::move(h)) {}
    void resume(const boost::asio::any_io_executor& ex) override { boost::asio::post(ex, std::move(handler)); }
    Handler handler;
  };

  void wake() {
    if (parked* w = std::exchange(waiter_, nullptr)) {
      w->resume(executor_);
      w->~parked();
    }
  }

  const boost::asio::any_io_executor executor_;
  const transport kind_;
  const core::topic_filter filter_;
  const std::size_t max_bytes_;
  std::function<void(close_reason)> on_close_;

  std::vector<core::event_ptr> queued_;
  std::size_t bytes_ = 0;
  std::uint64_t last_taken_ = 0;      // the newest id the session has taken
  std::uint64_t skip_through_ = 0;    // ids up to this one are not queued (skip_through)
  std::optional<event_gap> gap_;      // dropped events, to be read from the log
  std::optional<std::chrono::steady_clock::time_point> behind_since_;
  bool wrote_since_tick_ = false;
  static constexpr std::size_t kParkedSize = 32;
  alignas(std::max_align_t) unsigned char parked_storage_[kParkedSize];
  parked* waiter_ = nullptr;  // in parked_storage_ while a session waits
  close_reason closed_ = close_reason::none;

 public:
  ~stream_queue() {
    if (waiter_) waiter_->~parked();
  }
};

}  // namespace freshet::hub
