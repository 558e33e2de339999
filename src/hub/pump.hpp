// The part of a stream that SSE and WebSocket share: attach to the hub, replay
// the missed events from the log in chunks, then drain the live queue. The
// transport supplies a writer with
//   async_write_batch(const std::vector<core::event_ptr>&, token) -> void(error_code)
// an Asio operation, not a coroutine, so that a write in flight costs no
// coroutine frame of its own (10,000 of them at once would each be a malloc).
//
// The live phase is callbacks, not a coroutine: a stream waiting for its next
// event is one object (live_pump) whose handler is parked in its queue, with
// no frames behind it. A coroutine waiting there held four (the task's entry,
// the transport's, the pump's, and the frame Asio makes to initiate each
// co_awaited operation): 2.2 KiB of an idle SSE connection's 3.6.
#pragma once

#include "core/event.hpp"
#include "hub/streams.hpp"
#include "store/event_store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <exception>
#include <memory>

namespace freshet::hub {

// Events per replay read: large enough to amortise a query, small enough that
// a long replay interleaves with other work and stays within the send buffer.
inline constexpr std::size_t kReplayChunk = 512;

// The reset event: no id (the client's resume point stays where it was).
inline core::event_ptr make_reset_event() {
  static const std::string json =
      R"({"type":"reset","reason":"the resume point is not in the retained log; refetch the snapshot, then go on"})";
  auto ev = std::make_shared<core::event>();
  ev->type = core::event_type::reset;
  ev->json = json;
  ev->sse_frame = core::sse_frame_without_id(core::event_type::reset, json);
  return ev;
}

// Replays (after, live_from] from the log, in chunks read off the event loop:
// a resume at connect, or a gap the queue dropped (a burst larger than the
// send buffer). Its own coroutine, so that its frame is freed before the
// stream idles. Returns false when the connection is gone.
template <class Writer>
boost::asio::awaitable<bool> replay(stream_context& ctx, const std::shared_ptr<stream_queue>& q,
                                    std::uint64_t after, bool bad_resume_id, std::uint64_t live_from,
                                    Writer& out) {
  namespace asio = boost::asio;
  std::uint64_t cursor = after;
  const std::uint64_t first = ctx.log.first_id();
  // A resume point the log cannot continue from: ahead of it (another
  // deployment, a wiped data dir), behind what retention kept, or unreadable.
  bool ahead = cursor > live_from;
  if (ahead && !bad_resume_id) {
    // Ahead of this instance's hub is not always ahead of the deployment:
    // on a store shared by several instances, another may have sent those
    // events first. Then they are skipped here as they arrive, not reset.
    const std::uint64_t deployment = co_await ctx.blocking.run([&] { return ctx.log.read_last_id(); });
    if (q->closed() != close_reason::none) co_return false;
    if (cursor <= deployment) {
      q->skip_through(cursor);
      co_return true;
    }
  }
  const bool pruned = cursor < live_from && first > cursor + 1;
  if (bad_resume_id || ahead || pruned) {
    static const std::vector<core::event_ptr> reset{make_reset_event()};
    auto [ec] = co_await out.async_write_batch(reset, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return false;
    cursor = ahead ? live_from : (first ? first - 1 : 0);
  }
  while (cursor < live_from) {
    // Waits for a slot when the pool is saturated (a reconnect storm): a
    // client that only resumed is never refused.
    auto chunk = co_await ctx.blocking.run([&] { return ctx.log.read_range(cursor, live_from, q->filter(), kReplayChunk); });
    if (q->closed() != close_reason::none) co_return false;
    if (!chunk.empty()) {
      auto [ec] = co_await out.async_write_batch(chunk, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return false;
    }
    ctx.subscribers.count_deliveries(chunk.size());
    if (chunk.size() < kReplayChunk) break;
    cursor = chunk.back()->id;
  }
  co_return true;
}

// A stream from its attachment to its end. Attached to the hub when made and
// detached when destroyed, which is when the last handler that holds it is
// gone: the stream has ended (its queue closed, a write failed). Then
// `ended(queue, writer)` runs: the transport closes its connection and gives
// back its lease (it gets the queue and the writer here rather than keeping
// copies of them).
//
// Every handler runs on the connection's executor, the socket's, which is
// also the queue's: none is bound to an executor of its own, so a wake-up or
// a finished write is not dispatched through a second one.
template <class Writer, class Ended>
class live_pump : public std::enable_shared_from_this<live_pump<Writer, Ended>> {
 public:
  live_pump(stream_context& ctx, std::shared_ptr<stream_queue> q, Writer out, Ended ended)
      : ctx_(ctx), q_(std::move(q)), out_(std::move(out)), ended_(std::move(ended)) {
    live_from_ = ctx_.subscribers.attach(q_);
  }
  live_pump(const live_pump&) = delete;
  live_pump& operator=(const live_pump&) = delete;
  ~live_pump() {
    ctx_.subscribers.detach(q_);
    ended_(*q_, out_);
  }

  // The newest id the hub had delivered when the stream attached: a replay
  // reads up to it, the queue has everything after.
  std::uint64_t live_from() const { return live_from_; }
  Writer& out() { return out_; }
  // Drains the queue from now on; the caller's reference may go.
  void start() { wait(); }

 private:
  // The parked handler: the stream and nothing else (16 bytes parked; the
  // queue posts it to its own executor).
  struct resume {
    std::shared_ptr<live_pump> self;
    void operator()() { self->ready(); }
  };
  void wait() { q_->async_wait(resume{this->shared_from_this()}); }

  void ready() {
    namespace asio = boost::asio;
    if (q_->closed() != close_reason::none) return;  // the stream ends with this handler
    if (const auto gap = q_->take(batch_)) {
      // A burst larger than the send buffer: read back from the log, then on.
      asio::co_spawn(q_->executor(), replay(ctx_, q_, gap->after, false, gap->upto, out_),
                     [self = this->shared_from_this()](std::exception_ptr e, bool ok) {
                       if (e) {
                         try {
                           std::rethrow_exception(e);
                         } catch (const std::exception& x) {
                           spdlog::error("msg=\"stream replay failed\" error=\"{}\"", x.what());
                         }
                         return;
                       }
                       if (ok) self->wait();
                     });
      return;
    }
    if (batch_.empty()) return wait();
    std::size_t bytes = 0;
    std::size_t events = 0;
    for (const auto& ev : batch_) {
      bytes += q_->frame_size(*ev);
      events += ev->id != 0;  // private frames (errors, pings) are not deliveries
    }
    out_.async_write_batch(batch_, [self = this->shared_from_this(), bytes, events](boost::system::error_code ec) {
      if (ec) return;
      self->q_->written(bytes);
      self->ctx_.subscribers.count_deliveries(events);
      self->release_spare();
      self->wait();
    });
  }

  // After a write: the batch lets go of the events it delivered, and buffers
  // sized for a burst are freed, so a stream that has gone idle keeps room
  // for a few events, not for the largest batch it ever took (a burst of
  // 5,000 events left 80 KiB in each of 10,000 connections' vectors).
  void release_spare() {
    constexpr std::size_t kKeep = 64;
    if (batch_.capacity() > kKeep) std::vector<core::event_ptr>().swap(batch_);
    else batch_.clear();
    if constexpr (requires { out_.release_spare(kKeep); }) out_.release_spare(kKeep);
  }

  stream_context& ctx_;
  const std::shared_ptr<stream_queue> q_;
  Writer out_;
  Ended ended_;
  std::uint64_t live_from_ = 0;
  std::vector<core::event_ptr> batch_;  // reused across writes, up to release_spare's bound
};

// Attaches `q` to the hub, then calls `opened()` (an awaitable<bool>: the SSE
// response head; false when the connection is gone), replays what the
// subscriber missed, and hands the stream to a live_pump, which drains it
// after this coroutine has returned. Attach first, then answer: an event
// committed after the client saw the stream open is in the queue, whatever
// the client read on `open`. `ended` runs once, when the stream ends,
// however it ends (here, if the connection went before it was live).
template <class Writer, class Ended, class Opened>
boost::asio::awaitable<void> pump(stream_context& ctx, const std::shared_ptr<stream_queue>& q,
                                  const subscription& sub, Writer out, Ended ended, Opened opened) {
  auto live = std::make_shared<live_pump<Writer, Ended>>(ctx, q, std::move(out), std::move(ended));
  if (!co_await opened()) co_return;
  if ((sub.after || sub.bad_resume_id) &&
      !co_await replay(ctx, q, sub.after.value_or(0), sub.bad_resume_id, live->live_from(), live->out()))
    co_return;
  live->start();
}

// The same for a transport with nothing to answer once attached (WebSocket:
// the handshake is done before the subscription).
template <class Writer, class Ended>
boost::asio::awaitable<void> pump(stream_context& ctx, const std::shared_ptr<stream_queue>& q,
                                  const subscription& sub, Writer out, Ended ended) {
  return pump(ctx, q, sub, std::move(out), std::move(ended),
              []() -> boost::asio::awaitable<bool> { co_return true; });
}

}  // namespace freshet::hub
