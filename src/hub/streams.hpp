// The two stream transports of DESIGN.md, SSE (/api/events) and WebSocket
// (/api/ws). Each takes over an accepted connection whose request has already
// been authenticated, replays what the subscriber missed from the log, then
// streams live events from its bounded queue until the client goes, falls
// behind, or the server stops.
#pragma once

#include "core/topic_filter.hpp"
#include "core/work_gate.hpp"
#include "http/api_error.hpp"
#include "http/stream_lease.hpp"
#include "hub/hub.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <variant>

namespace freshet::store {
class event_store;
}

namespace freshet::hub {

struct stream_context {
  hub& subscribers;
  store::event_store& log;
  core::work_gate& blocking;  // runs log reads off the event loop, a bounded number at once
  std::chrono::seconds keepalive{15};
  std::size_t send_buffer_bytes = 256 * 1024;
  std::chrono::milliseconds sse_retry{3000};
};

struct subscription {
  core::topic_filter filter;
  std::optional<std::uint64_t> after;  // resume after this id; none: live only
  // A resume id that is not a valid id: the client gets a `reset` and the
  // whole retained log, as for a resume point older than it.
  bool bad_resume_id = false;
  // Header lines ("Name: value\r\n") the SSE response head carries too (CORS).
  std::string extra_head;
};

// Decides what a WebSocket subscribe may see: the objects and tenant asked for,
// checked against the connection's token.
using subscribe_policy = std::function<std::variant<core::topic_filter, http::api_error>(
    const std::vector<std::string>& objects, const std::string& tenant)>;

// Both hold `lease` until the connection closes, which for SSE is after the
// coroutine has returned: a live SSE stream is callbacks (hub/pump.hpp).
boost::asio::awaitable<void> serve_sse(stream_context& ctx, boost::asio::ip::tcp::socket socket,
                                       subscription sub, http::stream_lease lease = {});

boost::asio::awaitable<void> serve_ws(
    stream_context& ctx, boost::asio::ip::tcp::socket socket,
    boost::beast::http::request<boost::beast::http::string_body> upgrade, subscribe_policy policy,
    http::stream_lease lease = {});

}  // namespace freshet::hub
