// GET /api/ws: WebSocket. The client subscribes with one text message,
//   {"op":"subscribe","objects":[..],"tenant":"T","since":"<id>"}
// and then receives the same JSON events as SSE, one per text frame. A bad
// message gets an error frame {"type":"error","error":{code,message}} and the
// connection stays open; Beast's idle timeout sends pings and drops a peer
// that answers none.
#include "hub/pump.hpp"
#include "hub/subscribe_message.hpp"
#include "hub/streams.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace freshet::hub {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;

namespace {



using ws_stream = websocket::stream<beast::tcp_stream>;

struct ws_connection {
  explicit ws_connection(asio::ip::tcp::socket s) : ws(std::move(s)) {}
  ws_stream ws;
  bool open = true;

  void shut() {
    if (!open) return;
    open = false;
    boost::system::error_code ec;
    beast::get_lowest_layer(ws).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws).socket().close(ec);
  }
};

core::event_ptr error_frame(const http::api_error& e) {
  http::check_listed(e);
  auto ev = std::make_shared<core::event>();
  ev->type = core::event_type::message;
  ev->json = json::serialize(json::object{
      {"type", "error"}, {"error", json::object{{"code", e.code}, {"message", e.message}}}});
  return ev;
}

// Writes each event of a batch as its own text message, one after another.
struct ws_write_batch_op {
  ws_connection* conn;
  const std::vector<core::event_ptr>* batch;
  std::size_t next = 0;

  template <class Self>
  void operator()(Self& self, boost::system::error_code ec = {}, std::size_t = 0) {
    if (ec || !conn->open) return self.complete(ec ? ec : asio::error::operation_aborted);
    if (next == batch->size()) return self.complete({});
    const auto& ev = (*batch)[next++];
    conn->ws.async_write(asio::buffer(ev->json), std::move(self));
  }
};

struct ws_writer {
  std::shared_ptr<ws_connection> conn;

  template <class Token>
  auto async_write_batch(const std::vector<core::event_ptr>& batch, Token&& token) {
    return asio::async_compose<Token, void(boost::system::error_code)>(ws_write_batch_op{conn.get(), &batch},
                                                                        token, conn->ws);
  }
};

}  // namespace

asio::awaitable<void> serve_ws(stream_context& ctx, asio::ip::tcp::socket socket,
                               beast::http::request<beast::http::string_body> upgrade,
                               subscribe_policy policy, http::stream_lease lease) {
  auto strand = co_await asio::this_coro::executor;
  auto conn = std::make_shared<ws_connection>(std::move(socket));
  beast::get_lowest_layer(conn->ws).expires_never();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(30);
  timeouts.idle_timeout = ctx.keepalive * 2;  // a ping goes out at half of it
  timeouts.keep_alive_pings = true;
  conn->ws.set_option(timeouts);
  conn->ws.read_message_max(kMaxClientMessage);
  conn->ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& r) { r.set(beast::http::field::server, "freshet"); }));
  auto [aec] = co_await conn->ws.async_accept(upgrade, asio::as_tuple(asio::use_awaitable));
  if (aec) co_return;
  conn->ws.text(true);

  // Before a subscription there is no writer yet: the reader answers errors itself.
  beast::flat_buffer buf;
  std::optional<subscription> sub;
  while (!sub) {
    buf.clear();
    auto [ec, n] = co_await conn->ws.async_read(buf, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    auto parsed = parse_subscribe(beast::buffers_to_string(buf.data()));
    std::variant<core::topic_filter, http::api_error> decided =
        http::api_error{beast::http::status::bad_request, "", ""};
    if (auto* err = std::get_if<http::api_error>(&parsed)) decided = *err;
    else {
      auto& p = std::get<parsed_subscribe>(parsed);
      decided = policy(p.objects, p.tenant);
      if (auto* f = std::get_if<core::topic_filter>(&decided))
        sub = subscription{std::move(*f), p.since, p.bad_since, {}};
    }
    if (auto* err = std::get_if<http::api_error>(&decided)) {
      auto [wec, wn] = co_await conn->ws.async_write(asio::buffer(error_frame(*err)->json),
                                                     asio::as_tuple(asio::use_awaitable));
      if (wec) co_return;
    }
  }

  auto q = std::make_shared<stream_queue>(strand, transport::ws, sub->filter, ctx.send_buffer_bytes);
  // On shutdown the pump wakes and sends a close frame; any other reason (a
  // slow client) cuts the socket at once, even under a stuck write.
  q->on_close([conn](close_reason why) {
    if (why != close_reason::shutdown) conn->shut();
  });

  // After subscribing, the reader only keeps the connection's control frames
  // flowing (pongs, close); anything else is answered through the queue so
  // that the pump stays the only writer.
  asio::co_spawn(
      strand,
      [conn, q, &ctx]() -> asio::awaitable<void> {
        beast::flat_buffer rbuf;
        for (;;) {
          auto [ec, n] = co_await conn->ws.async_read(rbuf, asio::as_tuple(asio::use_awaitable));
          if (ec == beast::error::timeout && conn->open) {
            // No pong within the idle timeout: a peer that stopped reading,
            // cut like any other slow client, and counted with them.
            ctx.subscribers.count_drop();
            q->close(close_reason::too_slow);
            co_return;
          }
          if (ec) break;
          rbuf.consume(rbuf.size());
          q->push_private(error_frame({beast::http::status::conflict, "already_subscribed",
                                       "This connection is subscribed already; open another to change it."}));
        }
        if (conn->open) q->close(close_reason::client_gone);
      },
      asio::detached);

  // When the stream ends: a close frame first if the server is shutting down,
  // then the socket, then the lease.
  auto ended = [lease = std::move(lease)](stream_queue& q, ws_writer& out) mutable {
    const close_reason why = q.closed();
    q.on_close(nullptr);
    auto& conn = out.conn;
    if (conn->open && why == close_reason::shutdown) {
      conn->ws.async_close(websocket::close_code::going_away,
                           [conn, lease = std::move(lease)](boost::system::error_code) mutable {
                             conn->shut();
                             lease.release();
                           });
      return;
    }
    conn->shut();
    lease.release();
  };
  // Named, not a temporary in the co_await expression (GCC 12 would destroy
  // it twice; hub/sse_stream.cpp).
  ws_writer out{conn};
  auto live = pump(ctx, q, *sub, std::move(out), std::move(ended));
  co_await std::move(live);
}

}  // namespace freshet::hub
