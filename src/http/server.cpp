#include "http/server.hpp"

#include "http/api_error.hpp"
#include "http/wire.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include <sys/socket.h>

namespace freshet::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

// What stop() needs to reach a connection: its worker, its socket, and
// whether a request is in flight.
struct server::session_entry {
  asio::any_io_executor executor;
  beast::tcp_stream* stream = nullptr;  // touched on the executor only
  bool busy = false;                    // on the executor only
};

namespace {

response error_response(const api_error& e, unsigned version) {
  response res{e.status, version};
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::server, "freshet");
  res.body() = error_body(e);
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

// A failed read: what to tell the client, if anything.
std::optional<api_error> read_error_reply(const boost::system::error_code& ec) {
  using s = bhttp::status;
  if (ec == bhttp::error::body_limit)
    return api_error{s::payload_too_large, "body_too_large", "The request body is larger than the server accepts."};
  if (ec == bhttp::error::header_limit)
    return api_error{s::request_header_fields_too_large, "headers_too_large",
                     "The request head is larger than the server accepts."};
  const auto& http_errors = bhttp::make_error_code(bhttp::error::end_of_stream).category();
  if (ec.category() == http_errors && ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message)
    return api_error{s::bad_request, "malformed_request", "The request is not valid HTTP/1.1."};
  return std::nullopt;  // closed, reset or timed out: nobody to answer
}

// The first bytes of the next request and the kernel's stamp of their
// arrival (SO_TIMESTAMPNS, which Linux gives TCP reads too): waits for them
// as long as `idle`, then takes them with one recvmsg. An error ends the
// connection; the stamp is the time of reading if the kernel gave none, or
// one that cannot be an arrival (not within the last minute).
asio::awaitable<boost::system::error_code> read_stamped(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                                        std::chrono::seconds idle, request_context& ctx) {
  using namespace asio::experimental::awaitable_operators;
  auto& socket = stream.socket();
  for (;;) {
    asio::steady_timer timer(socket.get_executor(), idle);
    auto ready = co_await (socket.async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable)) ||
                           timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (ready.index() == 1) co_return asio::error::timed_out;
    if (auto [ec] = std::get<0>(ready); ec) co_return ec;
    const auto space = buffer.prepare(4096);
    iovec iov{space.data(), space.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(socket.native_handle(), &msg, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (n < 0) co_return boost::system::error_code(errno, boost::system::system_category());
    if (n == 0) co_return asio::error::eof;
    buffer.commit(static_cast<std::size_t>(n));
    const auto now = std::chrono::system_clock::now();
    ctx.arrived = now;
    ctx.stamped = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
      timespec ts;
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      const auto stamp = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
      if (stamp > now - std::chrono::minutes(1) && stamp <= now + std::chrono::seconds(1)) {
        ctx.arrived = stamp;
        ctx.stamped = true;
      }
    }
    co_return boost::system::error_code{};
  }
}

void close_stream(beast::tcp_stream& stream) {
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.socket().close(ec);
}

}  // namespace

server::server(asio::io_context& ioc, std::vector<asio::any_io_executor> workers, const tcp::endpoint& at,
               server_limits limits, request_handler& handler)
    : ioc_(ioc), workers_(std::move(workers)), acceptor_(ioc), limits_(limits), handler_(handler) {
  acceptor_.open(at.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(at);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  local_ = acceptor_.local_endpoint();
}

void server::start() { asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached); }

void server::stop() {
  if (stopping_.exchange(true)) return;
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
  });
  std::lock_guard lk(sessions_mu_);
  for (auto& e : sessions_) {
    asio::post(e->executor, [e] {
      if (e->stream && !e->busy) e->stream->socket().close();
    });
  }
}

server_counters server::counters() const {
  return {accepted_.load(),        rejected_busy_.load(), rejected_address_.load(),
          protocol_errors_.load(), read_timeouts_.load(), open_.load()};
}

bool server::take_address_slot(const asio::ip::address& a) {
  if (limits_.max_connections_per_address == 0) return true;
  std::lock_guard lk(per_address_mu_);
  auto& n = per_address_[a];
  if (n >= limits_.max_connections_per_address) return false;
  ++n;
  return true;
}

void server::end_stream(const asio::ip::address& peer) {
  release_address_slot(peer);
  --open_;
}

void stream_lease::release() {
  server* s = std::exchange(server_, nullptr);
  if (s && !alive_.expired()) s->end_stream(peer_);
  alive_.reset();
}

void server::release_address_slot(const asio::ip::address& a) {
  if (limits_.max_connections_per_address == 0) return;
  std::lock_guard lk(per_address_mu_);
  auto it = per_address_.find(a);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

asio::awaitable<void> server::accept_loop() {
  while (!stopping_) {
    const auto& worker = workers_[next_worker_++ % workers_.size()];
    auto [ec, socket] = co_await acceptor_.async_accept(worker, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      // EMFILE and the like: say so, pause briefly rather than spin.
      spdlog::warn("msg=\"accept failed\" error=\"{}\"", ec.message());
      asio::steady_timer t(acceptor_.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    ++accepted_;
    // Events are small writes that must leave now: Nagle's algorithm would hold
    // one back until the previous is acknowledged (up to a delayed-ACK period).
    boost::system::error_code nec;
    socket.set_option(tcp::no_delay(true), nec);
    auto ex = socket.get_executor();
    if (open_.load() >= limits_.max_connections) {
      ++rejected_busy_;
      asio::co_spawn(ex,
                     refuse_busy(std::move(socket), "too_many_connections",
                                 "The server holds as many connections as it allows; try again shortly."),
                     asio::detached);
      continue;
    }
    boost::system::error_code rec;
    const auto peer = socket.remote_endpoint(rec).address();
    if (!take_address_slot(peer)) {
      ++rejected_address_;
      asio::co_spawn(ex,
                     refuse_busy(std::move(socket), "too_many_connections_from_address",
                                 "This address holds as many connections as the server allows one address; close "
                                 "some, or try again shortly."),
                     asio::detached);
      continue;
    }
    asio::co_spawn(ex, run_session(std::move(socket), peer), asio::detached);
  }
}

asio::awaitable<void> server::refuse_busy(tcp::socket socket, std::string code, std::string message) {
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(5));
  auto res = error_response({bhttp::status::service_unavailable, std::move(code), std::move(message)}, 11);
  co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  close_stream(stream);
}

asio::awaitable<void> server::run_session(tcp::socket socket, asio::ip::address peer) {
  ++open_;
  auto entry = std::make_shared<session_entry>();
  entry->executor = socket.get_executor();
  std::list<std::shared_ptr<session_entry>>::iterator where;
  {
    std::lock_guard lk(sessions_mu_);
    where = sessions_.insert(sessions_.end(), entry);
  }
  if (limits_.stamp_arrivals) {
    const int on = 1;
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  }
  beast::tcp_stream stream(std::move(socket));
  entry->stream = &stream;

  beast::flat_buffer buffer;
  stream_task stream_with;
  request_context context;
  try {
    while (!stopping_) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(limits_.max_header_bytes);
      parser.body_limit(limits_.max_body_bytes);

      // Idle until the first byte of the next request; from it, the whole
      // request (head and body) must arrive within read_timeout, so a head
      // sent a byte at a time cannot hold the connection for the idle time.
      if (buffer.size() == 0 && limits_.stamp_arrivals) {
        const auto fec = co_await read_stamped(stream, buffer, limits_.idle_timeout, context);
        if (fec) break;  // closed, or idle too long: nothing to answer
      } else if (buffer.size() == 0) {
        stream.expires_after(limits_.idle_timeout);
        auto [fec, fn] = co_await stream.async_read_some(buffer.prepare(4096), asio::as_tuple(asio::use_awaitable));
        if (fec) break;
        buffer.commit(fn);
        context = {std::chrono::system_clock::now(), false};
      } else {
        context = {std::chrono::system_clock::now(), false};  // already read with the one before
      }
      entry->busy = true;
      // Usually the whole request came with those first bytes: it is parsed
      // here, and only a request still incomplete is read on (http/wire.hpp).
      boost::system::error_code hec;
      if (!parse_buffered(parser, buffer, hec)) {
        stream.expires_after(limits_.read_timeout);
        auto [rec, hn] = co_await bhttp::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
        hec = rec;
        if (!hec && !parser.is_done()) {
          if (parser.get()[bhttp::field::expect] == "100-continue") {
            bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, parser.get().version()};
            co_await bhttp::async_write(stream, cont, asio::as_tuple(asio::use_awaitable));
          }
          auto [bec, bn] = co_await bhttp::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
          hec = bec;
        }
      }
      if (hec) {
        if (hec == beast::error::timeout) {
          ++read_timeouts_;
          spdlog::debug("msg=\"request not whole within read_timeout; connection cut\" peer={}", peer.to_string());
        }
        if (auto reply = read_error_reply(hec)) {
          ++protocol_errors_;
          auto res = error_response(*reply, 11);
          stream.expires_after(std::chrono::seconds(5));
          co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        }
        break;
      }
      stream.expires_never();

      request req = parser.release();
      handler_result result = co_await handler_.handle(req, context);
      if (result.stream) {
        stream_with = std::move(result.stream);
        break;
      }
      std::optional<response>& res = result.res;
      res->set(bhttp::field::server, "freshet");
      if (stopping_) res->keep_alive(false);
      const auto wec = co_await send_response(stream, *res, limits_.read_timeout);
      entry->busy = false;
      if (wec || !res->keep_alive()) break;
    }
  } catch (const std::exception& e) {
    // A last resort: one bad exchange never takes the server down.
    spdlog::error("msg=\"connection failed\" error=\"{}\"", e.what());
  }
  entry->stream = nullptr;
  {
    std::lock_guard lk(sessions_mu_);
    sessions_.erase(where);
  }
  // A stream keeps its address slot, and counts as open, until its lease ends.
  if (stream_with) {
    // The connection lives on in its own coroutine; this frame, the parser
    // and the read buffer are freed now.
    // Spawned as the task's own awaitable, with no wrapper coroutine: a frame
    // less for every stream.
    auto ex = stream.get_executor();
    asio::co_spawn(ex, stream_with(stream.release_socket(), stream_lease(this, alive_, peer)),
                   [](std::exception_ptr e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& x) {
                       spdlog::error("msg=\"stream failed\" error=\"{}\"", x.what());
                     }
                   });
    co_return;
  }
  close_stream(stream);
  release_address_slot(peer);
  --open_;
}


std::string listen_failure(const std::string& where, const boost::system::error_code& ec, std::string_view in_use_hint) {
  if (ec == boost::asio::error::address_in_use)
    return "cannot listen on " + where + ": address already in use; " + std::string(in_use_hint);
  if (ec == boost::asio::error::access_denied)
    return "cannot listen on " + where + ": permission denied (ports below 1024 need privileges); use a port above 1024";
  return "cannot listen on " + where + ": " + ec.message();
}

}  // namespace freshet::http
