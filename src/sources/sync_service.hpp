// All sources' sync engines on one thread of their own, so upstream I/O and
// its retries never share a loop with the connections Freshet serves. A
// source whose upstream cannot be reached at start is retried every
// 15 seconds; the server starts regardless.
//
// Thread-safety: start() and stop() from the owning thread; find() any thread.
#pragma once

#include "app/config.hpp"
#include "sources/source_sync.hpp"
#include "store/event_store.hpp"

#include <boost/asio/io_context.hpp>

#include <map>
#include <memory>
#include <thread>

namespace freshet::sources {

class sync_service {
 public:
  // One sync engine a source, each reading only its own block of the config.
  sync_service(const std::vector<app::source_config>& sources, store::event_store& log);
  ~sync_service();

  void start();
  void stop();

  source_sync* find(const std::string& source);  // nullptr: no such source
  boost::asio::any_io_executor executor() { return ioc_.get_executor(); }

 private:
  boost::asio::awaitable<void> bring_up(source_sync& s);

  boost::asio::io_context ioc_{1};
  std::map<std::string, std::unique_ptr<source_sync>> sources_;  // fixed after construction
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace freshet::sources
