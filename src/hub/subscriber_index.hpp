// Which connections of one hub shard an event can reach, indexed by tenant,
// so that an event costs work in proportion to the subscriptions that may
// match it, not to every connection of the shard. A deployment of a thousand
// tenants sends each change to the few dashboards of its tenant.
//
// A subscription with no tenant set sees every tenant's events: it gets every
// batch (its own filter still picks by object). One with tenants is listed
// under each of them and gets only the events of those tenants, except when a
// batch holds an event that belongs to no tenant and is not a record change
// (a global broadcast or metric), which every subscription receives: such a
// batch goes to every connection. stream_queue::push applies the filter
// itself in every case, so the index only ever narrows whom to ask; what a
// connection receives is what topic_filter::matches says.
//
// Thread-safety: none; a shard's index lives on the shard's thread.
#pragma once

#include "core/event.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace freshet::hub {

class stream_queue;

// A committed batch with its events grouped by tenant: built once per batch
// (by the publisher, off the workers) and shared by every shard.
struct routed_batch {
  explicit routed_batch(std::vector<core::event_ptr> batch);

  std::vector<core::event_ptr> events;  // the whole batch, in id order
  // Each tenant's events of the batch, in id order (events without a tenant are in none).
  std::vector<std::pair<std::string, std::vector<core::event_ptr>>> by_tenant;
  bool reaches_every_tenant = false;  // holds an event without a tenant that is not a change
};

class subscriber_index {
 public:
  // The index holds the shard's connections (keeps them alive while attached).
  void add(std::shared_ptr<stream_queue> q);
  // False if `q` was not here.
  bool remove(const stream_queue* q);
  // Pushes to every queue that may match an event of `b`, once each, the
  // events of `b` it may match, in id order.
  void deliver(const routed_batch& b);

  // Every connection, for what concerns them all (ticks, shutdown).
  const std::vector<std::shared_ptr<stream_queue>>& all() const { return all_; }
  std::size_t size() const { return all_.size(); }

 private:
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::vector<std::shared_ptr<stream_queue>> all_;  // every queue of the shard
  std::vector<stream_queue*> any_tenant_;   // queues whose filter names no tenant
  std::vector<stream_queue*> scratch_;      // multi-tenant queues met in one batch
  std::unordered_map<std::string, std::vector<stream_queue*>, string_hash, std::equal_to<>> by_tenant_;
};

}  // namespace freshet::hub
