// A WebSocket client's bytes after a valid handshake: Beast's frame parser
// (masking, fragments, control frames, sizes past the server's message limit)
// as the server configures it, and each whole message through parse_subscribe.
#include "hub/subscribe_message.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

namespace {
constexpr char kHandshake[] =
    "GET /api/ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace asio = boost::asio;
  namespace websocket = boost::beast::websocket;
  using local = asio::local::stream_protocol;
  asio::io_context ioc;
  local::socket client(ioc), server(ioc);
  asio::local::connect_pair(client, server);
  std::string input(kHandshake);
  input.append(reinterpret_cast<const char*>(data), size);
  // Small enough for the socket buffer: write it all, then end the stream.
  if (input.size() > 100'000) return 0;
  boost::system::error_code ec;
  asio::write(client, asio::buffer(input), ec);
  client.shutdown(local::socket::shutdown_send, ec);

  websocket::stream<local::socket> ws(std::move(server));
  ws.read_message_max(freshet::hub::kMaxClientMessage);
  ws.accept(ec);
  if (ec) return 0;
  boost::beast::flat_buffer buf;
  for (int i = 0; i < 64; ++i) {
    buf.clear();
    ws.read(buf, ec);
    if (ec) break;
    (void)freshet::hub::parse_subscribe(boost::beast::buffers_to_string(buf.data()));
  }
  return 0;
}
