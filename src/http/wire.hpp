// A request's and an answer's bytes on the connection without Beast's
// asynchronous read and write machinery, for the common case where it is not
// needed: a request that arrived whole with its first read, an answer that
// fits the socket's send buffer. Each saves an operation, the stream's timer
// (armed and cancelled) and a turn of the event loop; on the durable publish
// path, where every request is small, that is a measurable share of a worker's
// CPU (docs/benchmarks.md). Anything else goes the usual way.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <string>

namespace freshet::http {

// Feeds the buffered bytes to the parser. True when the request is whole or
// `ec` says what is wrong with it (as the asynchronous read would have);
// false when more bytes must be read: the parser has taken what it could, and
// an asynchronous read with the same parser and buffer goes on from there.
bool parse_buffered(boost::beast::http::request_parser<boost::beast::http::string_body>& parser,
                    boost::beast::flat_buffer& buffer, boost::system::error_code& ec);

// The status line and fields as Beast's serializer writes them, the blank
// line included.
std::string response_head(const boost::beast::http::response<boost::beast::http::string_body>& res);

// Writes the answer: at once with one sendmsg if the socket takes it all,
// otherwise the rest asynchronously within `timeout`. A chunked answer goes
// through Beast's serializer.
boost::asio::awaitable<boost::system::error_code> send_response(
    boost::beast::tcp_stream& stream, const boost::beast::http::response<boost::beast::http::string_body>& res,
    std::chrono::steady_clock::duration timeout);

}  // namespace freshet::http
