// The hub: who is subscribed, and the fan-out of committed events to them.
//
// Threading: connections live on worker threads, one io_context each, and the
// hub keeps one shard per worker. A shard's subscriber list is touched only on
// its own thread, so fan-out takes no lock per connection: publish(), called
// by the store's writer with each committed batch in id order, groups the
// batch by tenant once and posts it to every shard, and the shard's thread
// appends it to the bounded queues of the connections that may match
// (subscriber_index: an event costs work for its tenant's subscribers, not
// for every connection).
//
// The seam between replay and live: attach() (on the connection's thread)
// returns the id of the last event its shard has delivered. Every later event
// reaches the queue; every event up to it is committed, so the session replays
// (after, that id] from the log and then drains the queue: no gap, no duplicate.
//
// Thread-safety: publish(), keepalive_tick(), close_all() and stats() from any
// thread; attach() and detach() on the connection's own executor.
#pragma once

#include "hub/stream_queue.hpp"
#include "hub/subscriber_index.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace freshet::hub {

struct hub_stats {
  std::size_t sse = 0, ws = 0;                 // open stream connections
  std::map<std::string, std::size_t> topics;   // filter label -> connections
  std::uint64_t published = 0;                 // events handed to the hub
  std::uint64_t deliveries = 0;                // events written to a connection
  std::uint64_t drops = 0;                     // connections cut for staying behind
};

class hub {
 public:
  // One shard per worker executor. `last_committed`: the log's newest id when
  // the hub starts, so a resume before the first new event replays up to it.
  // `behind_limit`: how long a connection may stay behind the live edge
  // (reading dropped events back from the log) before a tick cuts it.
  hub(std::vector<boost::asio::any_io_executor> workers, std::uint64_t last_committed,
      std::chrono::steady_clock::duration behind_limit = std::chrono::seconds(30));

  std::uint64_t attach(const std::shared_ptr<stream_queue>& q);
  void detach(const std::shared_ptr<stream_queue>& q);
  void publish(const std::vector<core::event_ptr>& batch);
  // Once per keepalive interval: pings every SSE stream that sent nothing since
  // the last tick, and cuts every stream behind for longer than the limit (one
  // timer for all connections instead of one each).
  void keepalive_tick();
  // Ends every stream (shutdown); later attaches are closed at once.
  void close_all();

  void count_deliveries(std::size_t n) { deliveries_.fetch_add(n, std::memory_order_relaxed); }
  // A stream its transport cut as a slow client (a WebSocket peer that
  // stopped answering pings).
  void count_drop() { drops_.fetch_add(1, std::memory_order_relaxed); }
  hub_stats stats() const;

 private:
  struct shard {
    boost::asio::any_io_executor executor;
    // On the shard's thread only:
    subscriber_index queues;  // the shard's connections, and whom an event may reach
    std::uint64_t last_delivered = 0;
    bool closed = false;
    // For stats, read from any thread (changed only on attach and detach).
    mutable std::mutex stats_mu;
    std::map<std::string, std::size_t> topics;
    std::size_t sse = 0, ws = 0;
  };

  shard& shard_of(const stream_queue& q);
  template <class F>
  void on_every_shard(F f);

  std::vector<std::unique_ptr<shard>> shards_;
  const std::chrono::steady_clock::duration behind_limit_;
  std::atomic<std::uint64_t> published_{0}, deliveries_{0}, drops_{0};
};

}  // namespace freshet::hub
