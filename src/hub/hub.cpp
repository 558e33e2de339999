#include "hub/hub.hpp"

#include "core/post_batch.hpp"

#include <boost/asio/post.hpp>

#include <stdexcept>

namespace freshet::hub {

namespace asio = boost::asio;

hub::hub(std::vector<asio::any_io_executor> workers, std::uint64_t last_committed,
         std::chrono::steady_clock::duration behind_limit)
    : behind_limit_(behind_limit) {
  for (auto& ex : workers) {
    auto s = std::make_unique<shard>();
    s->executor = ex;
    s->last_delivered = last_committed;
    shards_.push_back(std::move(s));
  }
}

hub::shard& hub::shard_of(const stream_queue& q) {
  // By execution context: executors of one io_context may differ in their
  // properties (work tracking, blocking) and still be the same worker.
  auto* ctx = &asio::query(q.executor(), asio::execution::context);
  for (auto& s : shards_)
    if (&asio::query(s->executor, asio::execution::context) == ctx) return *s;
  throw std::logic_error("stream_queue on an executor the hub does not know");
}

template <class F>
void hub::on_every_shard(F f) {
  // Batched with the commit's acknowledgements when the store's writer calls.
  for (auto& s : shards_) core::post_batched(s->executor, [sp = s.get(), f] { f(*sp); });
}

std::uint64_t hub::attach(const std::shared_ptr<stream_queue>& q) {
  shard& s = shard_of(*q);
  if (s.closed) {
    q->close(close_reason::shutdown);
    return s.last_delivered;
  }
  q->start_after(s.last_delivered);
  s.queues.add(q);
  std::lock_guard lk(s.stats_mu);
  ++s.topics[q->filter().label()];
  ++(q->kind() == transport::sse ? s.sse : s.ws);
  return s.last_delivered;
}

void hub::detach(const std::shared_ptr<stream_queue>& q) {
  shard& s = shard_of(*q);
  if (!s.queues.remove(q.get())) return;
  std::lock_guard lk(s.stats_mu);
  auto t = s.topics.find(q->filter().label());
  if (t != s.topics.end() && --t->second == 0) s.topics.erase(t);
  --(q->kind() == transport::sse ? s.sse : s.ws);
}

void hub::publish(const std::vector<core::event_ptr>& batch) {
  if (batch.empty()) return;
  published_.fetch_add(batch.size(), std::memory_order_relaxed);
  auto routed = std::make_shared<const routed_batch>(batch);
  on_every_shard([routed](shard& s) {
    s.queues.deliver(*routed);
    s.last_delivered = routed->events.back()->id;
  });
}

void hub::keepalive_tick() {
  on_every_shard([this](shard& s) {
    const auto now = std::chrono::steady_clock::now();
    std::uint64_t dropped = 0;
    for (const auto& q : s.queues.all()) dropped += q->tick(now, behind_limit_);
    if (dropped) drops_.fetch_add(dropped, std::memory_order_relaxed);
  });
}

void hub::close_all() {
  on_every_shard([](shard& s) {
    s.closed = true;
    // close() only posts the session's wake-up, so the list stays intact here.
    for (const auto& q : s.queues.all()) q->close(close_reason::shutdown);
  });
}

hub_stats hub::stats() const {
  hub_stats st;
  for (const auto& s : shards_) {
    std::lock_guard lk(s->stats_mu);
    st.sse += s->sse;
    st.ws += s->ws;
    for (const auto& [label, n] : s->topics) st.topics[label] += n;
  }
  st.published = published_.load();
  st.deliveries = deliveries_.load();
  st.drops = drops_.load();
  return st;
}

}  // namespace freshet::hub
