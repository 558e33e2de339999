#include "http/wire.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <cerrno>

#include <sys/socket.h>
#include <sys/uio.h>

namespace freshet::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

bool parse_buffered(bhttp::request_parser<bhttp::string_body>& parser, beast::flat_buffer& buffer,
                    boost::system::error_code& ec) {
  ec = {};
  parser.eager(true);  // the body in the same pass as the head
  while (!parser.is_done()) {
    if (buffer.size() == 0) return false;
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == bhttp::error::need_more) {
      ec = {};
      return false;
    }
    if (ec) return true;
    if (used == 0) return false;
  }
  return true;
}

std::string response_head(const bhttp::response<bhttp::string_body>& res) {
  std::string head;
  head.reserve(256);
  head += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  const unsigned code = res.result_int();
  head += static_cast<char>('0' + code / 100 % 10);
  head += static_cast<char>('0' + code / 10 % 10);
  head += static_cast<char>('0' + code % 10);
  head += ' ';
  head += res.reason();
  head += "\r\n";
  for (const auto& f : res) {
    head += f.name_string();
    head += ": ";
    head += f.value();
    head += "\r\n";
  }
  head += "\r\n";
  return head;
}

asio::awaitable<boost::system::error_code> send_response(beast::tcp_stream& stream,
                                                         const bhttp::response<bhttp::string_body>& res,
                                                         std::chrono::steady_clock::duration timeout) {
  if (res.chunked()) {
    stream.expires_after(timeout);
    auto [ec, n] = co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    co_return ec;
  }
  const std::string head = response_head(res);
  const std::array<asio::const_buffer, 2> wire{asio::buffer(head), asio::buffer(res.body())};
  std::array<iovec, 2> iov{iovec{const_cast<char*>(head.data()), head.size()},
                           iovec{const_cast<char*>(res.body().data()), res.body().size()}};
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = res.body().empty() ? 1 : 2;
  // MSG_DONTWAIT: never block the event loop; MSG_NOSIGNAL: a closed peer is
  // an error here, not a SIGPIPE.
  ssize_t sent = ::sendmsg(stream.socket().native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      co_return boost::system::error_code(errno, boost::system::system_category());
    sent = 0;
  }
  if (static_cast<std::size_t>(sent) == head.size() + res.body().size()) co_return boost::system::error_code{};
  beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest(wire);
  rest.consume(static_cast<std::size_t>(sent));
  stream.expires_after(timeout);
  auto [ec, n] = co_await asio::async_write(stream, rest, asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

}  // namespace freshet::http
