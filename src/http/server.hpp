// The HTTP/1.1 server: a listener and one coroutine per connection. Each
// accepted connection is given, round robin, to one worker (an io_context run
// by one thread) and stays there, so a connection's code never runs on two
// threads and needs no strand. The server enforces the limits (head and body
// size, read and idle timeouts, connection count), answers protocol errors
// with DESIGN.md's JSON error, and hands each request to a request_handler,
// which either answers it or turns the connection into a stream (SSE,
// WebSocket).
//
// Thread-safety: start() and stop() from any thread; the counters are atomic.
#pragma once

#include "http/stream_lease.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <functional>
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

namespace freshet::http {

using request = boost::beast::http::request<boost::beast::http::string_body>;
using response = boost::beast::http::response<boost::beast::http::string_body>;

struct server_limits {
  std::uint32_t max_header_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 1024 * 1024;
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds idle_timeout{60};
  std::size_t max_connections = 19000;
  std::size_t max_connections_per_address = 0;  // 0: no cap
  // Take the kernel's stamp of each request's arrival (SO_TIMESTAMPNS) for
  // request_context::arrived: a handler that judges arrival times (the
  // simulators' rate limits) then judges when the bytes reached this host,
  // not when a loaded worker got round to reading them.
  bool stamp_arrivals = false;
};

// What the server knows of a request beyond its bytes.
struct request_context {
  // When its first bytes reached this host: the kernel's stamp with
  // server_limits::stamp_arrivals, otherwise when the server read them.
  std::chrono::system_clock::time_point arrived{};
  // Whether `arrived` is the kernel's stamp. It may not be for the first
  // requests after a process turns stamping on: Linux enables receive
  // timestamps for the whole host lazily, and stamps only what arrives after.
  bool stamped = false;
};

// A long-lived exchange that takes the connection over. The request's
// coroutine (its frame, parser and buffer) ends first, so an idle stream
// holds only what the stream itself needs.
// The task gets the bare socket (a stream that needs Beast's timers makes its
// own tcp_stream: a moved tcp_stream leaves an allocated impl behind in every
// frame it passed through) and the lease that keeps the connection counted.
using stream_task = std::function<boost::asio::awaitable<void>(boost::asio::ip::tcp::socket, stream_lease)>;

struct handler_result {
  std::optional<response> res;  // an answer, or
  stream_task stream;           // a stream to run on the connection
};

class request_handler {
 public:
  virtual ~request_handler() = default;
  virtual boost::asio::awaitable<handler_result> handle(request& req, const request_context& ctx) = 0;
};

struct server_counters {
  std::uint64_t accepted = 0;
  std::uint64_t rejected_busy = 0;   // over max_connections
  std::uint64_t rejected_address = 0; // over max_connections_per_address
  std::uint64_t protocol_errors = 0; // malformed, oversized
  std::uint64_t read_timeouts = 0;   // cut: a request not whole within read_timeout of its first byte
  std::size_t open = 0;              // connections now, streams included
};

class server {
 public:
  // Binds now (throws if it cannot); accepts after start(). The acceptor runs
  // on `ioc`; connections go to `workers` in turn.
  server(boost::asio::io_context& ioc, std::vector<boost::asio::any_io_executor> workers,
         const boost::asio::ip::tcp::endpoint& at, server_limits limits, request_handler& handler);

  void start();
  // Stops accepting, closes idle keep-alive connections, and lets requests in
  // flight finish; their connections close after the response.
  void stop();

  boost::asio::ip::tcp::endpoint local_endpoint() const { return local_; }
  server_counters counters() const;
  std::size_t open_connections() const { return open_.load(); }

 private:
  struct session_entry;

  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> run_session(boost::asio::ip::tcp::socket socket, boost::asio::ip::address peer);
  boost::asio::awaitable<void> refuse_busy(boost::asio::ip::tcp::socket socket, std::string code, std::string message);
  // Per-address connection counts, kept only when a cap is set.
  bool take_address_slot(const boost::asio::ip::address& a);
  void release_address_slot(const boost::asio::ip::address& a);
  friend class stream_lease;
  void end_stream(const boost::asio::ip::address& peer);

  boost::asio::io_context& ioc_;
  const std::vector<boost::asio::any_io_executor> workers_;
  std::size_t next_worker_ = 0;  // on the acceptor's thread only
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::endpoint local_;
  const server_limits limits_;
  request_handler& handler_;

  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> open_{0};
  std::atomic<std::uint64_t> accepted_{0}, rejected_busy_{0}, rejected_address_{0}, protocol_errors_{0},
      read_timeouts_{0};

  std::mutex per_address_mu_;  // guards per_address_
  std::map<boost::asio::ip::address, std::size_t> per_address_;

  std::mutex sessions_mu_;  // guards sessions_
  std::list<std::shared_ptr<session_entry>> sessions_;

  // Expires with the server: a stream_lease that outlives it does nothing.
  const std::shared_ptr<const void> alive_ = std::make_shared<const char>(0);
};

// Why a listening socket on `where` (host:port) could not be made, in words a
// newcomer can act on; `in_use_hint` says what to do when the port is taken.
std::string listen_failure(const std::string& where, const boost::system::error_code& ec, std::string_view in_use_hint);

}  // namespace freshet::http
