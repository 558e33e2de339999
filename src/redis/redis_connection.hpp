// One connection to Redis, for the Redis engine of the store (issue #13).
// hiredis formats the commands (redisFormatCommandArgv) and parses the
// replies (its redisReader); the socket is Asio's, so Redis I/O runs on the
// one event-loop model, as coroutines, and never blocks a loop. Chosen over
// hiredis's own blocking calls on threads of their own (a thread a
// connection, and a second model of concurrency) and over a hand-written
// RESP parser (hiredis's is the well-kept one).
//
// Pipelining: exec_all writes every command in one write and reads their
// replies in order: many commands, one round trip.
//
// Thread-safety: one connection is used by one coroutine at a time, on its
// executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;

namespace freshet::redis {

// A reply as Redis sent it.
struct reply {
  enum class kind { nil, status, error, integer, string, array };
  kind type = kind::nil;
  std::int64_t integer = 0;
  std::string str;  // a status, an error or a string
  std::vector<reply> elements;

  bool is_error() const { return type == kind::error; }
};

// What the connection could not do: connect, authenticate, write, read, or
// parse (the connection is closed then).
struct connection_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Where Redis is: redis://[[user]:password@]host[:port][/db].
struct endpoint {
  std::string host = "127.0.0.1";
  std::string port = "6379";
  std::string user, password;  // empty: no AUTH
  int db = 0;
};
// The endpoint of a redis:// URL, or none with *why saying what is wrong.
std::optional<endpoint> parse_url(std::string_view url, std::string* why);

class connection {
 public:
  explicit connection(boost::asio::any_io_executor ex, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Connects, then AUTH and SELECT when the endpoint asks for them. Throws
  // connection_error. (By value: the coroutine keeps its own copy.)
  boost::asio::awaitable<void> connect(endpoint at);
  // One command and its reply (an error reply is a reply, not a throw).
  // Throws connection_error when the connection fails.
  boost::asio::awaitable<reply> exec(std::vector<std::string> command);
  // Several, pipelined: the replies in the commands' order.
  boost::asio::awaitable<std::vector<reply>> exec_all(std::vector<std::vector<std::string>> commands);

  bool is_open() const;
  void close();

 private:
  // Reads until the reader holds one whole reply.
  boost::asio::awaitable<reply> read_reply();
  [[noreturn]] void fail(const std::string& what);

  boost::beast::tcp_stream stream_;
  const std::chrono::milliseconds timeout_;
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader_;
};

}  // namespace freshet::redis
