#include "rules/rule_engine.hpp"

#include "store/event_log.hpp"

#include <boost/json/parse.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace freshet::rules {

namespace json = boost::json;

namespace {
constexpr std::size_t kChunk = 1000;  // events read and committed at once
}

rule_engine::rule_engine(const std::vector<app::rule_config>& rules, store::event_log& log, outbox& box,
                         std::string link_base, std::function<void()> on_firings)
    : rules_(rules), log_(log), box_(box), link_base_(std::move(link_base)), on_firings_(std::move(on_firings)) {
  for (const auto& r : rules_)
    if (std::find(objects_.begin(), objects_.end(), r.object) == objects_.end()) objects_.push_back(r.object);
}

rule_engine::~rule_engine() { stop(); }

void rule_engine::start() {
  if (auto c = box_.cursor()) {
    cursor_ = *c;
  } else {
    cursor_ = log_.last_id();
    box_.commit({}, cursor_);  // from here on, every event is evaluated exactly once
    spdlog::info("msg=\"rules start at the end of the log; earlier events do not notify\" cursor={}", cursor_);
  }
  thread_ = std::thread([this] { run(); });
}

void rule_engine::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void rule_engine::wake() {
  {
    std::lock_guard lk(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

rule_engine_counters rule_engine::counters() const {
  return {evaluated_.load(), fired_.load(), coalesced_.load(), refused_.load(), missed_.load()};
}

std::vector<firing> rule_engine::evaluate(const json::object& ev, std::uint64_t id) const {
  std::vector<firing> out;
  auto view = view_of_change(ev);
  if (!view) return out;
  auto str = [&](std::string_view k) -> std::string {
    auto it = ev.find(k);
    return it != ev.end() && it->value().is_string() ? std::string(it->value().get_string()) : std::string();
  };
  const std::string object = str("object"), tenant = str("tenant");
  for (const auto& r : rules_) {
    if (r.object != object) continue;
    if (!r.tenants.empty() && std::find(r.tenants.begin(), r.tenants.end(), tenant) == r.tenants.end()) continue;
    evaluated_.fetch_add(1, std::memory_order_relaxed);
    if (!r.when.matches(*view)) continue;
    const std::string record_id = str("record_id");
    std::string name = r.name_field.empty() ? record_id : display_value(view->now(r.name_field));
    if (name.empty()) name = record_id;
    firing_context ctx;
    ctx.change = &*view;
    ctx.values = {{"id", record_id}, {"tenant", tenant}, {"object", object}, {"rule", r.name}, {"op", str("op")},
                  {"count", "1"}, {"names", slack_escape(name)}, {"link", link_base_ + "/#/objects/" + object}};
    const std::string text = r.message.render(ctx);
    for (const auto& n : r.notify)
      out.push_back({r.name, n, object, tenant, text, slack_escape(name), record_id, id, r.coalesce_seconds});
  }
  return out;
}

bool rule_engine::step() {
  const std::uint64_t target = log_.last_id();
  if (cursor_ >= target) return false;
  if (const auto first = log_.first_id(); first > cursor_ + 1) {
    // Retention removed events the rules had not read (the engine was behind by
    // more than the log keeps). Say so; there is nothing to replay them from.
    missed_ += first - cursor_ - 1;
    spdlog::warn("msg=\"events were pruned before the rules read them; their notifications cannot be made\" "
                 "from={} to={}", cursor_ + 1, first - 1);
    cursor_ = first - 1;
  }
  core::topic_filter filter{objects_, {}};
  auto events = log_.read_range(cursor_, target, filter, kChunk);
  std::vector<firing> firings;
  for (const auto& ev : events) {
    if (ev->type != core::event_type::change) continue;
    boost::system::error_code ec;
    auto doc = json::parse(ev->json, ec);
    if (ec || !doc.is_object()) continue;
    auto f = evaluate(doc.get_object(), ev->id);
    std::move(f.begin(), f.end(), std::back_inserter(firings));
  }
  const std::uint64_t upto = events.size() == kChunk ? events.back()->id : target;
  auto r = box_.commit(firings, upto);
  cursor_ = upto;
  fired_ += r.added + r.coalesced;
  coalesced_ += r.coalesced;
  if (r.refused) {
    refused_ += r.refused;
    spdlog::error("msg=\"the outbox is full: notifications refused\" refused={} upto_event={}", r.refused, upto);
  }
  if (r.added && on_firings_) on_firings_();
  return cursor_ < log_.last_id();
}

void rule_engine::run() {
  while (true) {
    bool more = false;
    try {
      more = step();
    } catch (const std::exception& e) {
      // The store refused (disk full, busy): nothing moved; try again shortly.
      spdlog::error("msg=\"rules could not commit their firings; retrying\" error=\"{}\"", e.what());
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, std::chrono::seconds(1), [&] { return stopping_; });
      if (stopping_) return;
      continue;
    }
    std::unique_lock lk(mu_);
    if (stopping_) return;
    if (!more) {
      cv_.wait(lk, [&] { return woken_ || stopping_; });
      if (stopping_) return;
    }
    woken_ = false;
  }
}

}  // namespace freshet::rules
