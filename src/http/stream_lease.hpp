// What a stream holds for as long as its connection is open: the server
// counts the connection as open (and against its address's cap) until the
// lease ends. A stream that goes on without a coroutine (an idle SSE stream is
// a parked callback) keeps the lease in the object that outlives the
// request's coroutines, and the connection stays counted exactly as long as
// it is open.
//
// Streams still open after the shutdown grace end when their io_context is
// destroyed, which is after the server: a lease then finds the server gone
// (its `alive` token expired) and does nothing.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <memory>
#include <utility>

namespace freshet::http {

class server;

class stream_lease {
 public:
  stream_lease() = default;  // a lease on nothing (tests, streams outside a server)
  stream_lease(stream_lease&& o) noexcept
      : server_(std::exchange(o.server_, nullptr)), alive_(std::move(o.alive_)), peer_(o.peer_) {}
  stream_lease& operator=(stream_lease&& o) noexcept {
    if (this != &o) {
      release();
      server_ = std::exchange(o.server_, nullptr);
      alive_ = std::move(o.alive_);
      peer_ = o.peer_;
    }
    return *this;
  }
  stream_lease(const stream_lease&) = delete;
  stream_lease& operator=(const stream_lease&) = delete;
  ~stream_lease() { release(); }

  // Ends the lease now (once; later calls and the destructor do nothing).
  void release();

 private:
  friend class server;
  stream_lease(server* s, std::weak_ptr<const void> alive, boost::asio::ip::address peer)
      : server_(s), alive_(std::move(alive)), peer_(peer) {}

  server* server_ = nullptr;
  std::weak_ptr<const void> alive_;
  boost::asio::ip::address peer_;
};

}  // namespace freshet::http
