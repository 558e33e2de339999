// The part of a stream that SSE and WebSocket share: attach to the hub, replay
// the missed events from the log in chunks, then drain the live queue. The
// transport supplies a writer with
//   async_write_batch(const std::vector<core::event_ptr>&, token) -> void(error_code)
// an Asio operation, not a coroutine, so that a write in flight costs no
// coroutine frame of its own (10,000 of them at once would each be a malloc).
#pragma once

#include "core/event.hpp"
#include "hub/streams.hpp"
#include "store/event_store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

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

// Attaches to the hub, then calls `opened()` (an awaitable<bool>: the SSE
// response head; false when the connection is gone), then replays and drains.
// Attach first, then answer: an event committed after the client saw the
// stream open is in the queue, whatever the client read on `open`.
template <class Writer, class Opened>
boost::asio::awaitable<void> pump(stream_context& ctx, const std::shared_ptr<stream_queue>& q,
                                  const subscription& sub, Writer& out, Opened opened) {
  namespace asio = boost::asio;
  const std::uint64_t live_from = ctx.subscribers.attach(q);
  struct detach_guard {
    hub& h;
    const std::shared_ptr<stream_queue>& q;
    ~detach_guard() { h.detach(q); }
  } guard{ctx.subscribers, q};
  if (!co_await opened()) co_return;

  if ((sub.after || sub.bad_resume_id) &&
      !co_await replay(ctx, q, sub.after.value_or(0), sub.bad_resume_id, live_from, out))
    co_return;

  std::vector<core::event_ptr> batch;
  for (;;) {
    co_await q->async_wait(asio::use_awaitable);
    if (q->closed() != close_reason::none) co_return;
    if (const auto gap = q->take(batch)) {
      if (!co_await replay(ctx, q, gap->after, false, gap->upto, out)) co_return;
      continue;
    }
    if (batch.empty()) continue;
    std::size_t bytes = 0;
    std::size_t events = 0;
    for (const auto& ev : batch) {
      bytes += q->frame_size(*ev);
      events += ev->id != 0;  // private frames (errors, pings) are not deliveries
    }
    auto [ec] = co_await out.async_write_batch(batch, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    q->written(bytes);
    ctx.subscribers.count_deliveries(events);
  }
}

// The same for a transport with nothing to answer once attached (WebSocket:
// the handshake is done before the subscription).
template <class Writer>
boost::asio::awaitable<void> pump(stream_context& ctx, const std::shared_ptr<stream_queue>& q,
                                  const subscription& sub, Writer& out) {
  return pump(ctx, q, sub, out, []() -> boost::asio::awaitable<bool> { co_return true; });
}

}  // namespace freshet::hub
