#include "rules/goal_tracker.hpp"

#include "store/event_store.hpp"

#include <spdlog/spdlog.h>

#include <cmath>

namespace freshet::rules {

boost::json::value goal_number(double v) {
  if (std::nearbyint(v) == v && std::fabs(v) < 9e15) return static_cast<std::int64_t>(v);
  return v;
}

goal_tracker::goal_tracker(const std::vector<app::goal_config>& goals, const std::vector<app::source_config>& sources,
                           store::event_store& log, boost::asio::any_io_executor executor,
                           std::chrono::milliseconds settle)
    : log_(log), executor_(std::move(executor)), settle_(settle),
      timer_(std::make_unique<boost::asio::steady_timer>(executor_)) {
  for (const auto& g : goals) {
    goal_value v{g.name, g.label, "", g.object, g.target, std::nullopt, g.per_tenant, {}};
    for (const auto& s : sources)
      for (const auto& o : s.objects)
        if (o.name == g.object) v.source = s.name;
    goals_.push_back(std::move(v));
    published_.emplace_back();
    configs_.push_back(g);
    objects_.insert(g.object);
  }
}

goal_tracker::~goal_tracker() { stop(); }

void goal_tracker::start() {
  std::lock_guard lk(mu_);
  dirty_ = objects_;
  schedule();
}

void goal_tracker::stop() {
  std::lock_guard lk(mu_);
  stopped_ = true;
}

void goal_tracker::on_commit(const std::vector<core::event_ptr>& batch) {
  if (objects_.empty()) return;
  std::lock_guard lk(mu_);
  if (stopped_) return;
  bool any = false;
  for (const auto& e : batch)
    if (e->type == core::event_type::change && objects_.count(e->object)) {
      dirty_.insert(e->object);
      any = true;
    }
  if (any) schedule();
}

// Holds mu_. One computation waits at a time: commits during the wait only
// add to `dirty_`, so a burst of changes costs one query per `settle_`.
void goal_tracker::schedule() {
  if (scheduled_ || stopped_) return;
  scheduled_ = true;
  timer_->expires_after(settle_);
  timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) recompute();
  });
}

void goal_tracker::recompute() {
  std::set<std::string> dirty;
  {
    std::lock_guard lk(mu_);
    scheduled_ = false;
    if (stopped_) return;
    dirty.swap(dirty_);
  }
  for (std::size_t i = 0; i < configs_.size(); ++i) {
    const auto& g = configs_[i];
    if (!dirty.count(g.object)) continue;
    const std::string& source = goals_[i].source;  // never written after construction
    double value = 0;
    std::map<std::string, double> tenants;
    try {
      value = log_.aggregate_records(source, g.object, g.where, g.sum);
      if (g.per_tenant) tenants = log_.aggregate_records_by_tenant(source, g.object, g.where, g.sum);
    } catch (const std::exception& e) {
      spdlog::error("msg=\"goal not computed\" goal={} error=\"{}\"", g.name, e.what());
      continue;
    }
    {
      std::lock_guard lk(mu_);
      goals_[i].value = value;
      if (g.per_tenant) goals_[i].tenants = tenants;
    }
    if (leads_ && !leads_(source)) continue;  // the source's leader publishes
    // What moved since this instance last published: the total, and (per
    // tenant) each tenant whose value is new, changed, or gone back to nothing.
    std::unique_lock lk(mu_);  // two computations may overlap on the pool
    auto& pub = published_[i];
    const bool total_moved = !pub.total || *pub.total != value;
    pub.total = value;
    std::vector<std::pair<std::string, double>> tenants_moved;
    if (g.per_tenant) {
      for (const auto& [t, v] : tenants) {
        auto it = pub.tenants.find(t);
        if (it == pub.tenants.end() || it->second != v) tenants_moved.emplace_back(t, v);
      }
      for (const auto& [t, v] : pub.tenants)
        if (!tenants.count(t)) tenants_moved.emplace_back(t, 0.0);
      pub.tenants = tenants;
    }
    lk.unlock();
    auto publish = [&](const std::string& tenant, double v) {
      core::event_draft d;
      d.type = core::event_type::metric;
      d.source = source;
      d.object = g.object;
      d.tenant = tenant;  // "": the deployment's total
      d.body["metric"] = g.name;
      d.body["label"] = g.label;
      d.body["value"] = goal_number(v);
      d.body["target"] = goal_number(g.target);
      log_.enqueue(std::move(d), [name = g.name](boost::system::error_code ec, const core::event_ptr&) {
        if (ec) spdlog::warn("msg=\"metric event not stored\" goal={} error=\"{}\"", name, ec.message());
      });
    };
    if (total_moved) publish("", value);
    for (const auto& [t, v] : tenants_moved) publish(t, v);
  }
}

std::vector<goal_value> goal_tracker::values() const {
  std::lock_guard lk(mu_);
  return goals_;
}

}  // namespace freshet::rules
