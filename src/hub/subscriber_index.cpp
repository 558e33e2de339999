#include "hub/subscriber_index.hpp"

#include "hub/stream_queue.hpp"

#include <algorithm>

namespace freshet::hub {

namespace {
void erase_one(std::vector<stream_queue*>& v, stream_queue* q) {
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

void subscriber_index::add(stream_queue* q) {
  all_.push_back(q);
  const auto& tenants = q->filter().tenants;
  if (tenants.empty()) {
    any_tenant_.push_back(q);
    return;
  }
  for (const auto& t : tenants) {
    auto& list = by_tenant_[t];
    if (std::find(list.begin(), list.end(), q) == list.end()) list.push_back(q);
  }
}

void subscriber_index::remove(stream_queue* q) {
  erase_one(all_, q);
  const auto& tenants = q->filter().tenants;
  if (tenants.empty()) {
    erase_one(any_tenant_, q);
    return;
  }
  for (const auto& t : tenants) {
    auto it = by_tenant_.find(std::string_view(t));
    if (it == by_tenant_.end()) continue;
    erase_one(it->second, q);
    if (it->second.empty()) by_tenant_.erase(it);
  }
}

void subscriber_index::deliver(const routed_batch& b) {
  if (b.reaches_every_tenant) {
    for (stream_queue* q : all_) q->push(b.events);
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
