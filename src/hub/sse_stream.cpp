// GET /api/events: Server-Sent Events. The response has no length: the body is
// the stream, ended by closing the connection.
#include "hub/pump.hpp"
#include "hub/streams.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include <spdlog/spdlog.h>

#include <array>

namespace freshet::hub {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

constexpr auto kWriteTimeout = std::chrono::seconds(30);

// State shared by the writer and the disconnect watcher; both run on the
// connection's strand.
struct sse_connection {
  explicit sse_connection(beast::tcp_stream s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  bool open = true;

  void shut() {
    if (!open) return;
    open = false;
    boost::system::error_code ec;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    stream.socket().close(ec);
  }
};

struct sse_writer {
  std::shared_ptr<sse_connection> conn;

  asio::awaitable<bool> send(const std::vector<asio::const_buffer>& bufs) {
    if (!conn->open) co_return false;
    // A client that cannot take a write for this long is gone or stuck.
    conn->stream.expires_after(kWriteTimeout);
    auto [ec, n] = co_await asio::async_write(conn->stream, bufs, asio::as_tuple(asio::use_awaitable));
    if (conn->open) conn->stream.expires_never();
    co_return !ec;
  }

  asio::awaitable<bool> write(const std::vector<core::event_ptr>& batch) {
    std::vector<asio::const_buffer> bufs;
    bufs.reserve(batch.size());
    for (const auto& ev : batch) bufs.emplace_back(asio::buffer(ev->sse_frame));
    co_return co_await send(bufs);
  }

  asio::awaitable<bool> keepalive() {
    static constexpr std::string_view ping = ": ping\n\n";
    const std::vector<asio::const_buffer> bufs{asio::buffer(ping)};
    co_return co_await send(bufs);
  }

  asio::awaitable<bool> reset() {
    static const core::event_ptr ev = make_reset_event();
    const std::vector<asio::const_buffer> bufs{asio::buffer(ev->sse_frame)};
    co_return co_await send(bufs);
  }
};

// An SSE client never sends after its request, so the socket turning readable
// means it closed (EOF or reset). Readiness can be reported spuriously (with
// several threads an edge-triggered event for the request itself may arrive
// late), so each wake-up is confirmed with a non-blocking peek.
asio::awaitable<void> watch_disconnect(std::shared_ptr<sse_connection> conn,
                                       std::shared_ptr<stream_queue> q) {
  for (;;) {
    auto [ec] = co_await conn->stream.socket().async_wait(asio::socket_base::wait_read,
                                                          asio::as_tuple(asio::use_awaitable));
    if (!conn->open) co_return;
    if (!ec) {
      char byte;
      boost::system::error_code pec;
      conn->stream.socket().non_blocking(true, pec);
      const std::size_t n = conn->stream.socket().receive(asio::buffer(&byte, 1), asio::socket_base::message_peek, pec);
      if (pec == asio::error::would_block || pec == asio::error::try_again) continue;  // spurious
      if (!pec && n > 0) {
        // Bytes after an SSE request: not a protocol we speak. Drain and ignore
        // them so that a chatty client is not mistaken for a closed one.
        char sink[512];
        conn->stream.socket().receive(asio::buffer(sink), 0, pec);
        if (!pec) continue;
      }
    }
    q->close(close_reason::client_gone);
    co_return;
  }
}

std::string response_head(std::chrono::milliseconds retry) {
  std::string head =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/event-stream\r\n"
      "Cache-Control: no-cache, no-transform\r\n"
      "X-Accel-Buffering: no\r\n"
      "Connection: close\r\n"
      "\r\n";
  head += "retry: " + std::to_string(retry.count()) + "\n\n";
  return head;
}

}  // namespace

asio::awaitable<void> serve_sse(stream_context& ctx, beast::tcp_stream stream, subscription sub) {
  auto strand = co_await asio::this_coro::executor;
  auto conn = std::make_shared<sse_connection>(std::move(stream));
  auto q = std::make_shared<stream_queue>(strand, transport::sse, sub.filter, ctx.send_buffer_bytes);
  q->on_close([conn](close_reason) { conn->shut(); });
  sse_writer out{conn};

  const std::string head = response_head(ctx.sse_retry);
  const std::vector<asio::const_buffer> head_bufs{asio::buffer(head)};
  if (co_await out.send(head_bufs)) {
    asio::co_spawn(strand, watch_disconnect(conn, q), asio::detached);
    co_await pump(ctx, q, sub, out);
  }
  spdlog::debug("msg=\"sse stream ended\" reason={} open={}", static_cast<int>(q->closed()), conn->open);
  q->on_close(nullptr);
  conn->shut();
}

}  // namespace freshet::hub
