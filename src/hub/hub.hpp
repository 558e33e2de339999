// The hub: who is subscribed, and the fan-out of committed events to them.
// The store's writer calls publish() with each committed batch, in id order;
// publish() only appends shared pointers to bounded per-connection queues, so
// it never waits on a socket.
//
// The seam between replay and live: attach() returns the id of the last event
// the hub had published when the queue joined. Every later event reaches the
// queue; every event up to it is already committed, so the session replays
// (after, that id] from the log and then drains the queue: no gap, no duplicate.
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include "hub/stream_queue.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

namespace freshet::hub {

struct hub_stats {
  std::size_t sse = 0, ws = 0;                 // open stream connections
  std::map<std::string, std::size_t> topics;   // filter label -> connections
  std::uint64_t published = 0;                 // events handed to the hub
  std::uint64_t deliveries = 0;                // events written to a connection
  std::uint64_t drops = 0;                     // connections cut for falling behind
};

class hub {
 public:
  // `last_committed`: the log's newest id when the hub starts, so that a
  // resume before the first new event replays everything up to it.
  explicit hub(std::uint64_t last_committed = 0) : last_published_(last_committed) {}

  std::uint64_t attach(const std::shared_ptr<stream_queue>& q);
  void detach(const std::shared_ptr<stream_queue>& q);
  void publish(const std::vector<core::event_ptr>& batch);
  // Ends every stream (shutdown). Later attaches are refused: attach() closes them.
  void close_all();

  void count_deliveries(std::size_t n) { deliveries_.fetch_add(n, std::memory_order_relaxed); }
  hub_stats stats() const;

 private:
  mutable std::shared_mutex mu_;
  // Subscribers, guarded by mu_: publish() holds it shared for the whole batch
  // and moves last_published_ before letting go, so attach() (exclusive) sees a
  // list and an id that agree.
  std::vector<std::shared_ptr<stream_queue>> queues_;
  std::atomic<std::uint64_t> last_published_{0};
  bool closed_ = false;

  std::atomic<std::uint64_t> published_{0}, deliveries_{0}, drops_{0};
};

}  // namespace freshet::hub
