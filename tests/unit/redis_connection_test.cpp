// The Redis client against a real redis-server (Debian's; `make test`
// installs it), started by each test on a free loopback port: replies of
// every kind, pipelining, error replies, AUTH and SELECT from a URL, a
// stream read back by range with explicit ids (the event log's layout to
// come), and a server that goes away.
#include "redis/redis_connection.hpp"
#include "redis_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <thread>

#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

namespace freshet::redis {
namespace {

namespace asio = boost::asio;
using testing_support::free_port;
using testing_support::redis_server;

template <class T>
T run(asio::awaitable<T> a) {
  asio::io_context ioc;
  auto f = asio::co_spawn(ioc, std::move(a), asio::use_future);
  ioc.run();
  return f.get();
}

TEST(RedisConnection, RepliesOfEveryKind) {
  redis_server server;
  const auto replies = run([&]() -> asio::awaitable<std::vector<reply>> {
    connection c(co_await asio::this_coro::executor);
    co_await c.connect(server.at());
    const std::string binary("a\0b\r\nc", 6);
    std::vector<std::vector<std::string>> commands{{"SET", "k", binary}, {"GET", "k"}, {"GET", "missing"}, {"INCR", "n"},
                                   {"RPUSH", "l", "x", "y"}, {"LRANGE", "l", "0", "-1"}};
    co_return co_await c.exec_all(std::move(commands));
  }());
  ASSERT_EQ(replies.size(), 6u);
  EXPECT_EQ(replies[0].type, reply::kind::status);
  EXPECT_EQ(replies[0].str, "OK");
  EXPECT_EQ(replies[1].type, reply::kind::string);
  EXPECT_EQ(replies[1].str, std::string("a\0b\r\nc", 6));  // binary-safe both ways
  EXPECT_EQ(replies[2].type, reply::kind::nil);
  EXPECT_EQ(replies[3].type, reply::kind::integer);
  EXPECT_EQ(replies[3].integer, 1);
  EXPECT_EQ(replies[4].integer, 2);
  ASSERT_EQ(replies[5].type, reply::kind::array);
  ASSERT_EQ(replies[5].elements.size(), 2u);
  EXPECT_EQ(replies[5].elements[1].str, "y");
}

TEST(RedisConnection, PipelinedRepliesComeInTheCommandsOrder) {
  redis_server server;
  const auto replies = run([&]() -> asio::awaitable<std::vector<reply>> {
    connection c(co_await asio::this_coro::executor);
    co_await c.connect(server.at());
    std::vector<std::vector<std::string>> commands(5000, std::vector<std::string>{"INCR", "counter"});
    co_return co_await c.exec_all(std::move(commands));  // more than one read's worth of replies
  }());
  ASSERT_EQ(replies.size(), 5000u);
  for (std::size_t i = 0; i < replies.size(); ++i) ASSERT_EQ(replies[i].integer, static_cast<std::int64_t>(i + 1));
}

TEST(RedisConnection, AnErrorReplyIsAnAnswerAndTheConnectionGoesOn) {
  redis_server server;
  const auto replies = run([&]() -> asio::awaitable<std::vector<reply>> {
    connection c(co_await asio::this_coro::executor);
    co_await c.connect(server.at());
    std::vector<reply> out;
    std::vector<std::string> command1{"SET", "s", "text"};
    out.push_back(co_await c.exec(std::move(command1)));
    std::vector<std::string> command2{"INCR", "s"};
    out.push_back(co_await c.exec(std::move(command2)));
    std::vector<std::string> command3{"NOSUCHCOMMAND"};
    out.push_back(co_await c.exec(std::move(command3)));
    std::vector<std::string> command4{"GET", "s"};
    out.push_back(co_await c.exec(std::move(command4)));
    co_return out;
  }());
  EXPECT_TRUE(replies[1].is_error());
  EXPECT_NE(replies[1].str.find("not an integer"), std::string::npos) << replies[1].str;
  EXPECT_TRUE(replies[2].is_error());
  EXPECT_EQ(replies[3].str, "text");
}

TEST(RedisConnection, AuthAndDatabaseFromTheUrl) {
  redis_server server({"--requirepass", "s3cret"});
  const std::string base = "redis://:s3cret@127.0.0.1:" + std::to_string(server.port());
  std::string why;
  const auto in_db3 = parse_url(base + "/3", &why);
  ASSERT_TRUE(in_db3) << why;
  const auto in_db0 = parse_url(base, &why);
  ASSERT_TRUE(in_db0) << why;
  const auto got = run([&]() -> asio::awaitable<std::vector<reply>> {
    std::vector<reply> out;
    connection a(co_await asio::this_coro::executor), b(co_await asio::this_coro::executor);
    co_await a.connect(*in_db3);
    co_await b.connect(*in_db0);
    std::vector<std::string> command5{"SET", "where", "three"};
    out.push_back(co_await a.exec(std::move(command5)));
    std::vector<std::string> command6{"GET", "where"};
    out.push_back(co_await a.exec(std::move(command6)));
    std::vector<std::string> command7{"GET", "where"};
    out.push_back(co_await b.exec(std::move(command7)));  // another database: not there
    connection anonymous(co_await asio::this_coro::executor);
    co_await anonymous.connect(server.at());
    std::vector<std::string> command8{"GET", "where"};
    out.push_back(co_await anonymous.exec(std::move(command8)));
    co_return out;
  }());
  EXPECT_EQ(got[1].str, "three");
  EXPECT_EQ(got[2].type, reply::kind::nil);
  EXPECT_TRUE(got[3].is_error());  // NOAUTH
  EXPECT_NE(got[3].str.find("NOAUTH"), std::string::npos) << got[3].str;

  auto wrong = parse_url("redis://:wrong@127.0.0.1:" + std::to_string(server.port()), &why);
  ASSERT_TRUE(wrong);
  EXPECT_THROW(run([&]() -> asio::awaitable<int> {
                 connection c(co_await asio::this_coro::executor);
                 co_await c.connect(*wrong);
                 co_return 0;
               }()),
               connection_error);
}

TEST(RedisConnection, AStreamWithExplicitIdsReadsBackByRange) {
  redis_server server;
  const auto got = run([&]() -> asio::awaitable<std::vector<reply>> {
    connection c(co_await asio::this_coro::executor);
    co_await c.connect(server.at());
    std::vector<std::vector<std::string>> commands{{"XADD", "log", "1-0", "e", "{\"id\":1}"},
                                   {"XADD", "log", "2-0", "e", "{\"id\":2}"},
                                   {"XADD", "log", "2-0", "e", "again"},  // ids only grow
                                   {"XRANGE", "log", "(1-0", "+"}};
    co_return co_await c.exec_all(std::move(commands));
  }());
  EXPECT_EQ(got[0].str, "1-0");
  EXPECT_TRUE(got[2].is_error());
  ASSERT_EQ(got[3].elements.size(), 1u);
  EXPECT_EQ(got[3].elements[0].elements[0].str, "2-0");
  EXPECT_EQ(got[3].elements[0].elements[1].elements[1].str, "{\"id\":2}");
}

TEST(RedisConnection, AServerThatIsGoneIsAnErrorNotAHang) {
  const unsigned short nobody = free_port();
  EXPECT_THROW(run([&]() -> asio::awaitable<int> {
                 connection c(co_await asio::this_coro::executor);
                 const endpoint closed{.host = "127.0.0.1", .port = std::to_string(nobody)};
                 co_await c.connect(closed);
                 co_return 0;
               }()),
               connection_error);

  redis_server server;
  asio::io_context ioc;
  connection c(ioc.get_executor(), std::chrono::seconds(2));
  auto connected = asio::co_spawn(ioc, c.connect(server.at()), asio::use_future);
  ioc.run();
  connected.get();
  server.stop();  // kill -9: the connection's next command fails, and says so
  ioc.restart();
  auto after = asio::co_spawn(ioc, c.exec(std::vector<std::string>{"PING"}), asio::use_future);
  ioc.run();
  EXPECT_THROW(after.get(), connection_error);
  EXPECT_FALSE(c.is_open());
}

TEST(RedisUrl, ReadsHostPortPasswordAndDatabase) {
  std::string why;
  auto e = parse_url("redis://:pw@cache.internal:6380/2", &why);
  ASSERT_TRUE(e) << why;
  EXPECT_EQ(e->host, "cache.internal");
  EXPECT_EQ(e->port, "6380");
  EXPECT_EQ(e->password, "pw");
  EXPECT_TRUE(e->user.empty());
  EXPECT_EQ(e->db, 2);
  auto d = parse_url("redis://localhost", &why);
  ASSERT_TRUE(d) << why;
  EXPECT_EQ(d->port, "6379");
  EXPECT_EQ(d->db, 0);
  auto u = parse_url("redis://freshet:p%40ss@h:1/0", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->user, "freshet");
  EXPECT_EQ(u->password, "p@ss");  // percent-decoded
  EXPECT_FALSE(parse_url("http://h:6379", &why));
  EXPECT_NE(why.find("redis://"), std::string::npos);
  EXPECT_FALSE(parse_url("redis://h:6379/zero", &why));
  EXPECT_FALSE(parse_url("redis://user@h", &why));
  EXPECT_FALSE(parse_url("not a url", &why));
}

}  // namespace
}  // namespace freshet::redis
