// GET /api/events: Server-Sent Events. The response has no length: the body is
// the stream, ended by closing the connection.
#include "hub/pump.hpp"
#include "hub/streams.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/write.hpp>

#include <spdlog/spdlog.h>

#include <array>

namespace freshet::hub {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

// State shared by the writer and the disconnect watcher; both run on the
// connection's worker thread.
// A bare socket, not Beast's tcp_stream: a stream needs none of its timers,
// and an idle connection should cost as little as it can.
struct sse_connection {
  explicit sse_connection(asio::ip::tcp::socket s) : socket(std::move(s)) {}
  asio::ip::tcp::socket socket;
  bool open = true;

  void shut() {
    if (!open) return;
    open = false;
    boost::system::error_code ec;
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }
};

struct sse_writer {
  std::shared_ptr<sse_connection> conn;
  std::vector<asio::const_buffer> bufs;  // reused: no allocation per write

  // Called between writes (live_pump): room for a burst goes back.
  void release_spare(std::size_t keep) {
    if (bufs.capacity() > keep) std::vector<asio::const_buffer>().swap(bufs);
    else bufs.clear();
  }

  // One gather write of every frame, straight on the socket, with no
  // per-write timer: a client that stops reading is cut by the queue's byte
  // limit (on_close), not by a clock.
  template <class Token>
  auto async_write_batch(const std::vector<core::event_ptr>& batch, Token&& token) {
    bufs.clear();
    for (const auto& ev : batch) bufs.emplace_back(asio::buffer(ev->sse_frame));
    return asio::async_write(conn->socket, bufs,
                             asio::deferred([](boost::system::error_code ec, std::size_t) {
                               return asio::deferred.values(ec);
                             }))(std::forward<Token>(token));
  }
};

// An SSE client never sends after its request, so the socket turning readable
// means it closed (EOF or reset). Readiness can be reported spuriously (with
// several threads an edge-triggered event for the request itself may arrive
// late), so each wake-up is confirmed with a non-blocking peek. A plain
// callback, not a coroutine: an idle stream should not pay for another frame.
// The wait is allocated at its own size (std::allocator): Asio's recycling
// allocator would hand it a block cached from a larger operation, and it is
// held for as long as the stream is open.
void watch_disconnect(std::shared_ptr<sse_connection> conn, std::shared_ptr<stream_queue> q) {
  auto& socket = conn->socket;
  socket.async_wait(asio::socket_base::wait_read, asio::bind_allocator(std::allocator<void>(), [conn = std::move(conn), q = std::move(q)](
                                                      boost::system::error_code ec) mutable {
    if (!conn->open) return;
    if (!ec) {
      char byte;
      boost::system::error_code pec;
      conn->socket.non_blocking(true, pec);
      const std::size_t n = conn->socket.receive(asio::buffer(&byte, 1), asio::socket_base::message_peek, pec);
      if (pec == asio::error::would_block || pec == asio::error::try_again) {
        return watch_disconnect(std::move(conn), std::move(q));  // spurious
      }
      if (!pec && n > 0) {
        // Bytes after an SSE request: not a protocol we speak. Drain and ignore
        // them so that a chatty client is not mistaken for a closed one.
        char sink[512];
        conn->socket.receive(asio::buffer(sink), 0, pec);
        if (!pec) return watch_disconnect(std::move(conn), std::move(q));
      }
    }
    q->close(close_reason::client_gone);
  }));
}

std::string response_head(std::chrono::milliseconds retry, const std::string& extra) {
  std::string head =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/event-stream\r\n"
      "Cache-Control: no-cache, no-transform\r\n"
      "X-Accel-Buffering: no\r\n"
      "Connection: close\r\n";
  head += extra;
  head += "\r\n";
  head += "retry: " + std::to_string(retry.count()) + "\n\n";
  return head;
}

}  // namespace

asio::awaitable<void> serve_sse(stream_context& ctx, asio::ip::tcp::socket socket, subscription sub,
                                http::stream_lease lease) {
  auto executor = co_await asio::this_coro::executor;
  auto conn = std::make_shared<sse_connection>(std::move(socket));
  auto q = std::make_shared<stream_queue>(executor, transport::sse, sub.filter, ctx.send_buffer_bytes);
  q->on_close([conn](close_reason) { conn->shut(); });
  // When the stream ends: close the connection, and only then stop counting it.
  auto ended = [lease = std::move(lease)](stream_queue& q, sse_writer& out) mutable {
    spdlog::debug("msg=\"sse stream ended\" reason={} open={}", static_cast<int>(q.closed()), out.conn->open);
    q.on_close(nullptr);
    out.conn->shut();
    lease.release();
  };

  // The head goes out once the stream is attached (pump's `opened`); this
  // coroutine returns once the stream is live, and an idle stream is its
  // connection, its queue and a parked callback.
  auto opened = [&]() -> asio::awaitable<bool> {
    const std::string head = response_head(ctx.sse_retry, sub.extra_head);  // freed before the stream idles
    auto [hec, hn] = co_await asio::async_write(conn->socket, asio::buffer(head), asio::as_tuple(asio::use_awaitable));
    if (hec) co_return false;
    watch_disconnect(conn, q);
    co_return true;
  };
  // Named, not temporaries in the co_await expression: GCC 12 destroys a
  // temporary argument of a coroutine call there twice.
  sse_writer out{conn, {}};
  auto live = pump(ctx, q, sub, std::move(out), std::move(ended), std::move(opened));
  co_await std::move(live);
}

}  // namespace freshet::hub
