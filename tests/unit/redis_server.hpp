// A redis-server of a test's own (Debian's; `make test` installs it) on a
// free loopback port, in a temporary directory, killed when it goes.
#pragma once

#include "redis/redis_connection.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <csignal>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

namespace freshet::testing_support {

namespace asio = boost::asio;

inline unsigned short free_port() {
  asio::io_context ioc;
  asio::ip::tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

// A redis-server of the test's own, in a temporary directory, persisting nothing.
// `extra`: more redis-server options (later ones win); by default it
// persists nothing. stop() is kill -9; start() again runs a new server on
// the same port and directory, so with an AOF it finds what was written.
class redis_server {
 public:
  explicit redis_server(std::vector<std::string> extra = {}) : port_(free_port()) {
    dir_ = std::filesystem::temp_directory_path() / ("freshet-redis-" + std::to_string(::getpid()) + "-" +
                                                     std::to_string(port_));
    std::filesystem::create_directories(dir_);
    args_ = {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", dir_.string(), "--loglevel", "warning", "--logfile",
             (dir_ / "redis.log").string()};
    args_.insert(args_.end(), extra.begin(), extra.end());
    start();
  }
  ~redis_server() {
    stop();
    std::filesystem::remove_all(dir_);
  }
  void start() {
    if (pid_ > 0) return;
    std::vector<char*> argv;
    for (auto& a : args_) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0)
      throw std::runtime_error("cannot start redis-server: is it installed? (make test installs it)");
    // Ready when it accepts (bounded: five seconds).
    for (int i = 0; i < 500; ++i) {
      asio::io_context ioc;
      asio::ip::tcp::socket sock(ioc);
      boost::system::error_code ec;
      sock.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
      if (!ec) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("redis-server did not start listening");
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // SIGSTOP / SIGCONT: a server that is there but does not answer.
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }
  unsigned short port() const { return port_; }
  redis::endpoint at() const { return {.host = "127.0.0.1", .port = std::to_string(port_)}; }

 private:
  unsigned short port_;
  std::filesystem::path dir_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
};

}  // namespace freshet::testing_support
