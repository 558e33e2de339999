#include "hub/subscriber_index.hpp"

#include "hub/stream_queue.hpp"

#include <algorithm>

namespace freshet::hub {

namespace {
void erase_one(std::vector<stream_queue*>& v, const stream_queue* q) {
  auto it = std::find(v.begin(), v.end(), q);
  if (it == v.end()) return;
  *it = v.back();
  v.pop_back();
}
}  // namespace

routed_batch::routed_batch(std::vector<core::event_ptr> batch) : events(std::move(batch)) {
  for (const auto& ev : events) {
    if (ev->tenant.empty()) {
      if (ev->type != core::event_type::change) reaches_every_tenant = true;
      continue;
    }
    // A batch holds few tenants (one, for most commits): a linear search beats a map.
    auto it = std::find_if(by_tenant.begin(), by_tenant.end(), [&](const auto& g) { return g.first == ev->tenant; });
    if (it == by_tenant.end()) it = by_tenant.insert(by_tenant.end(), {ev->tenant, {}});
    it->second.push_back(ev);
  }
}

void subscriber_index::add(std::shared_ptr<stream_queue> q) {
  stream_queue* p = q.get();
  all_.push_back(std::move(q));
  const auto& tenants = p->filter().tenants;
  if (tenants.empty()) {
    any_tenant_.push_back(p);
    return;
  }
  for (const auto& t : tenants) {
    auto& list = by_tenant_[t];
    if (std::find(list.begin(), list.end(), p) == list.end()) list.push_back(p);
  }
}

bool subscriber_index::remove(const stream_queue* q) {
  auto at = std::find_if(all_.begin(), all_.end(), [q](const auto& p) { return p.get() == q; });
  if (at == all_.end()) return false;
  const auto& tenants = q->filter().tenants;
  if (tenants.empty()) erase_one(any_tenant_, q);
  for (const auto& t : tenants) {
    auto it = by_tenant_.find(std::string_view(t));
    if (it == by_tenant_.end()) continue;
    erase_one(it->second, q);
    if (it->second.empty()) by_tenant_.erase(it);
  }
  *at = std::move(all_.back());  // last, since `q` may be kept alive only by this entry
  all_.pop_back();
  return true;
}

void subscriber_index::deliver(const routed_batch& b) {
  if (b.reaches_every_tenant) {
    for (const auto& q : all_) q->push(b.events);
    return;
  }
  for (stream_queue* q : any_tenant_) q->push(b.events);
  scratch_.clear();
  for (const auto& [tenant, events] : b.by_tenant) {
    auto it = by_tenant_.find(std::string_view(tenant));
    if (it == by_tenant_.end()) continue;
    for (stream_queue* q : it->second) {
      if (q->filter().tenants.size() == 1) {
        q->push(events);
      } else {
        scratch_.push_back(q);  // may be listed under several tenants of this batch
      }
    }
  }
  if (scratch_.empty()) return;
  // A subscription to several tenants takes the whole batch once (its filter
  // keeps its tenants' events in id order).
  std::sort(scratch_.begin(), scratch_.end());
  scratch_.erase(std::unique(scratch_.begin(), scratch_.end()), scratch_.end());
  for (stream_queue* q : scratch_) q->push(b.events);
}

}  // namespace freshet::hub
