#include "redis/redis_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/url/parse.hpp>

#include <hiredis/hiredis.h>

#include <charconv>

namespace freshet::redis {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

// hiredis's reply tree, copied into ours (hiredis 0.14, Debian 12's, speaks
// RESP2 only: the six types below).
reply reply_of(const redisReply& r) {
  reply out;
  switch (r.type) {
    case REDIS_REPLY_STATUS: out.type = reply::kind::status; break;
    case REDIS_REPLY_ERROR: out.type = reply::kind::error; break;
    case REDIS_REPLY_INTEGER:
      out.type = reply::kind::integer;
      out.integer = r.integer;
      return out;
    case REDIS_REPLY_NIL: return out;
    case REDIS_REPLY_ARRAY:
      out.type = reply::kind::array;
      out.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(reply_of(*r.element[i]));
      return out;
    default: out.type = reply::kind::string; break;
  }
  if (r.str) out.str.assign(r.str, r.len);
  return out;
}

// One command in RESP, as hiredis formats it (binary-safe arguments).
std::string resp_command(const std::vector<std::string>& command) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& a : command) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  char* raw = nullptr;
  const int n = redisFormatCommandArgv(&raw, static_cast<int>(argv.size()), argv.data(), lengths.data());
  if (n < 0 || !raw) throw connection_error("cannot format a Redis command");
  std::string out(raw, static_cast<std::size_t>(n));
  redisFreeCommand(raw);
  return out;
}

}  // namespace

std::optional<endpoint> parse_url(std::string_view url, std::string* why) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    if (why) *why = "not a URL: " + parsed.error().message();
    return std::nullopt;
  }
  const auto& u = *parsed;
  if (u.scheme() != "redis") {
    if (why) *why = "the scheme must be redis:// (rediss://, TLS, is not supported)";
    return std::nullopt;
  }
  endpoint e;
  if (!u.host().empty()) e.host = u.host();
  if (u.has_port()) e.port = u.port();
  if (u.has_userinfo()) {
    e.user = u.user();
    if (u.has_password()) e.password = u.password();
  }
  if (e.user == "default") e.user.clear();  // Redis's own name for the user of a bare password
  if (!e.user.empty() && e.password.empty()) {
    if (why) *why = "a user needs a password (redis://user:password@host)";
    return std::nullopt;
  }
  std::string path = u.path();
  if (!path.empty() && path.front() == '/') path.erase(0, 1);
  if (!path.empty()) {
    const auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), e.db);
    if (ec != std::errc{} || end != path.data() + path.size() || e.db < 0) {
      if (why) *why = "the path must be a database number (redis://host:6379/0)";
      return std::nullopt;
    }
  }
  return e;
}

connection::connection(asio::any_io_executor ex, std::chrono::milliseconds timeout)
    : stream_(std::move(ex)), timeout_(timeout), reader_(redisReaderCreate(), redisReaderFree) {
  if (!reader_) throw connection_error("out of memory for a Redis reply reader");
}

connection::~connection() = default;

bool connection::is_open() const { return stream_.socket().is_open(); }

void connection::close() {
  boost::system::error_code ec;
  stream_.socket().close(ec);
}

void connection::fail(const std::string& what) {
  close();
  throw connection_error(what);
}

asio::awaitable<void> connection::connect(endpoint at) {
  asio::ip::tcp::resolver resolver(stream_.get_executor());
  auto [rec, found] = co_await resolver.async_resolve(at.host, at.port, as_tuple(use_awaitable));
  if (rec) fail("cannot resolve Redis at " + at.host + ": " + rec.message());
  stream_.expires_after(timeout_);
  auto [cec, ep] = co_await stream_.async_connect(found, as_tuple(use_awaitable));
  if (cec) fail("cannot connect to Redis at " + at.host + ":" + at.port + ": " + cec.message());
  stream_.socket().set_option(asio::ip::tcp::no_delay(true));
  std::vector<std::vector<std::string>> hello;
  if (!at.password.empty())
    hello.push_back(at.user.empty() ? std::vector<std::string>{"AUTH", at.password}
                                    : std::vector<std::string>{"AUTH", at.user, at.password});
  if (at.db != 0) hello.push_back({"SELECT", std::to_string(at.db)});
  if (hello.empty()) co_return;
  const auto replies = co_await exec_all(std::move(hello));
  for (const auto& r : replies)
    if (r.is_error()) fail("Redis refused the connection's set-up: " + r.str);
}

asio::awaitable<reply> connection::exec(std::vector<std::string> command) {
  std::vector<std::vector<std::string>> one;
  one.push_back(std::move(command));
  auto replies = co_await exec_all(std::move(one));
  co_return std::move(replies.front());
}

asio::awaitable<std::vector<reply>> connection::exec_all(std::vector<std::vector<std::string>> commands) {
  if (!is_open()) throw connection_error("the Redis connection is closed");
  std::string out;
  for (const auto& c : commands) out += resp_command(c);
  stream_.expires_after(timeout_);
  auto [wec, wn] = co_await asio::async_write(stream_, asio::buffer(out), as_tuple(use_awaitable));
  if (wec) fail("cannot write to Redis: " + wec.message());
  std::vector<reply> replies;
  replies.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    auto r = co_await read_reply();
    replies.push_back(std::move(r));
  }
  stream_.expires_never();
  co_return replies;
}

asio::awaitable<reply> connection::read_reply() {
  char buf[16 * 1024];
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK)
      fail(std::string("Redis sent what is not RESP: ") + reader_->errstr);
    if (raw) {
      std::unique_ptr<redisReply, void (*)(void*)> owned(static_cast<redisReply*>(raw), freeReplyObject);
      co_return reply_of(*owned);
    }
    stream_.expires_after(timeout_);
    auto [ec, n] = co_await stream_.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
    if (ec) fail("cannot read from Redis: " + ec.message());
    if (redisReaderFeed(reader_.get(), buf, n) != REDIS_OK) fail("cannot buffer a Redis reply");
  }
}

}  // namespace freshet::redis
