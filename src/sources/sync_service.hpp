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
#include <set>
#include <thread>

namespace freshet::sources {

class sync_service {
 public:
  // One sync engine a source, each reading only its own block of the config.
  // `lease_ttl`: how long a source's lease lasts without renewal (on a
  // store several instances share, the leader is the one instance that
  // syncs the source; another takes over within this time of its end).
  sync_service(const std::vector<app::source_config>& sources, store::event_store& log,
               std::chrono::milliseconds lease_ttl = std::chrono::seconds(10));
  ~sync_service();

  void start();
  void stop();
  // A signal between instances (event_store::send_signal) of topic
  // "sync:<source>": a hand-off from a follower to this source's leader.
  void on_signal(const std::string& topic, const std::string& body);

  source_sync* find(const std::string& source);  // nullptr: no such source
  boost::asio::any_io_executor executor() { return ioc_.get_executor(); }

 private:
  boost::asio::awaitable<void> bring_up(source_sync& s);
  // Holds the source's lease while this instance runs: takes it when free,
  // renews it every third of its time to live, says when it is lost.
  boost::asio::awaitable<void> keep_lease(source_sync& s);

  store::event_store& log_;
  const std::chrono::milliseconds lease_ttl_;
  boost::asio::io_context ioc_{1};
  std::map<std::string, std::unique_ptr<source_sync>> sources_;  // fixed after construction
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::set<std::string> started_;  // sources whose sync runs here (it led them once); on the sync thread
};

}  // namespace freshet::sources
