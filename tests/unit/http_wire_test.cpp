#include "http/wire.hpp"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>

#include <gtest/gtest.h>

#include <sstream>

namespace freshet::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using response = bhttp::response<bhttp::string_body>;

std::string as_beast_writes_it(const response& res) {
  std::ostringstream out;
  out << res;
  return out.str();
}

TEST(HttpWire, TheHeadIsByteForByteWhatBeastsSerializerWrites) {
  response ok{bhttp::status::ok, 11};
  ok.set(bhttp::field::content_type, "application/json");
  ok.set(bhttp::field::server, "freshet");
  ok.set("X-Custom", "a value");
  ok.body() = R"({"id":"42"})";
  ok.prepare_payload();
  response gone{bhttp::status::service_unavailable, 10};
  gone.set(bhttp::field::retry_after, "2");
  gone.keep_alive(false);
  gone.prepare_payload();
  response odd{static_cast<bhttp::status>(299), 11};  // a code Beast has no reason for
  odd.reason("Fine");
  odd.prepare_payload();
  for (const response* r : {&ok, &gone, &odd}) {
    EXPECT_EQ(response_head(*r) + r->body(), as_beast_writes_it(*r));
  }
}

TEST(HttpWire, AWholeBufferedRequestIsParsedWithNoRead) {
  bhttp::request_parser<bhttp::string_body> parser;
  beast::flat_buffer buffer;
  const std::string wire =
      "POST /api/broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n{\"message\":1}GET /next";
  auto space = buffer.prepare(wire.size());
  std::memcpy(space.data(), wire.data(), wire.size());
  buffer.commit(wire.size());
  boost::system::error_code ec;
  ASSERT_TRUE(parse_buffered(parser, buffer, ec));
  EXPECT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parser.is_done());
  EXPECT_EQ(parser.get().body(), R"({"message":1})");
  // The next request's bytes stay in the buffer for the next parser.
  EXPECT_EQ(beast::buffers_to_string(buffer.data()), "GET /next");
}

TEST(HttpWire, AnIncompleteRequestAsksForMoreAndTheParserGoesOnFromWhereItWas) {
  bhttp::request_parser<bhttp::string_body> parser;
  beast::flat_buffer buffer;
  auto feed = [&](std::string_view bytes) {
    auto space = buffer.prepare(bytes.size());
    std::memcpy(space.data(), bytes.data(), bytes.size());
    buffer.commit(bytes.size());
  };
  boost::system::error_code ec;
  feed("POST /api/broadcast HTTP/1.1\r\nContent-Le");
  EXPECT_FALSE(parse_buffered(parser, buffer, ec));
  EXPECT_FALSE(ec);
  feed("ngth: 4\r\n\r\nab");
  EXPECT_FALSE(parse_buffered(parser, buffer, ec));  // the head, half the body
  EXPECT_TRUE(parser.is_header_done());
  feed("cd");
  ASSERT_TRUE(parse_buffered(parser, buffer, ec));
  EXPECT_FALSE(ec);
  EXPECT_EQ(parser.get().body(), "abcd");
}

TEST(HttpWire, TheParsersLimitsAndErrorsAreTheAsynchronousReadsOnes) {
  auto parse = [](std::string wire, std::uint64_t body_limit) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(body_limit);
    parser.header_limit(64);
    beast::flat_buffer buffer;
    auto space = buffer.prepare(wire.size());
    std::memcpy(space.data(), wire.data(), wire.size());
    buffer.commit(wire.size());
    boost::system::error_code ec;
    EXPECT_TRUE(parse_buffered(parser, buffer, ec)) << wire;
    return ec;
  };
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", 5), bhttp::error::body_limit);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nX: " + std::string(100, 'a') + "\r\n\r\n", 5), bhttp::error::header_limit);
  EXPECT_TRUE(parse("NOT HTTP AT ALL\r\n\r\n", 5));
}

// An answer larger than the socket's send buffer: what one sendmsg could not
// take goes out asynchronously, whole and in order, to a reader that starts late.
TEST(HttpWire, AnAnswerTooLargeForOneSendArrivesWhole) {
  namespace asio = boost::asio;
  using asio::ip::tcp;
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::socket client(ioc);
  client.connect(acceptor.local_endpoint());
  beast::tcp_stream server(acceptor.accept());
  response big{bhttp::status::ok, 11};
  big.body().resize(8 * 1024 * 1024);
  for (std::size_t i = 0; i < big.body().size(); ++i) big.body()[i] = static_cast<char>('a' + i % 26);
  big.prepare_payload();
  const std::string expected = as_beast_writes_it(big);
  boost::system::error_code sent_ec = asio::error::would_block;
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    sent_ec = co_await send_response(server, big, std::chrono::seconds(10));
  }, asio::detached);
  ioc.poll();  // the first sendmsg fills the buffers; the rest waits for the reader
  EXPECT_EQ(sent_ec, asio::error::would_block);
  std::string got(expected.size(), '\0');
  asio::async_read(client, asio::buffer(got), [](boost::system::error_code, std::size_t) {});
  ioc.run_for(std::chrono::seconds(20));
  EXPECT_FALSE(sent_ec) << sent_ec.message();
  EXPECT_TRUE(got == expected);
}

}  // namespace
}  // namespace freshet::http
