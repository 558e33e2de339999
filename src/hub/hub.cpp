#include "hub/hub.hpp"

#include <algorithm>
#include <mutex>

namespace freshet::hub {

std::uint64_t hub::attach(const std::shared_ptr<stream_queue>& q) {
  std::unique_lock lk(mu_);
  if (closed_) {
    lk.unlock();
    q->close(close_reason::shutdown);
    return last_published_.load();
  }
  queues_.push_back(q);
  return last_published_.load();
}

void hub::detach(const std::shared_ptr<stream_queue>& q) {
  std::unique_lock lk(mu_);
  auto it = std::find(queues_.begin(), queues_.end(), q);
  if (it == queues_.end()) return;
  *it = std::move(queues_.back());
  queues_.pop_back();
}

void hub::publish(const std::vector<core::event_ptr>& batch) {
  if (batch.empty()) return;
  std::shared_lock lk(mu_);
  std::uint64_t dropped = 0;
  for (const auto& q : queues_)
    if (!q->push(batch)) ++dropped;
  last_published_.store(batch.back()->id);
  published_.fetch_add(batch.size(), std::memory_order_relaxed);
  if (dropped) drops_.fetch_add(dropped, std::memory_order_relaxed);
}

void hub::close_all() {
  std::vector<std::shared_ptr<stream_queue>> all;
  {
    std::unique_lock lk(mu_);
    closed_ = true;
    all = queues_;
  }
  for (auto& q : all) q->close(close_reason::shutdown);
}

hub_stats hub::stats() const {
  hub_stats s;
  {
    std::shared_lock lk(mu_);
    for (const auto& q : queues_) {
      (q->kind() == transport::sse ? s.sse : s.ws)++;
      s.topics[q->filter().label()]++;
    }
  }
  s.published = published_.load();
  s.deliveries = deliveries_.load();
  s.drops = drops_.load();
  return s;
}

}  // namespace freshet::hub
