#include "rules/rule_engine.hpp"

#include "core/clock.hpp"
#include "rules/goal_pace.hpp"
#include "rules/goal_tracker.hpp"
#include "store/event_store.hpp"

#include <boost/json/parse.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace freshet::rules {

namespace json = boost::json;

namespace {
constexpr std::size_t kChunk = 1000;  // events read and committed at once
constexpr std::int64_t kDaysKept = 400;  // daily goal values older than this are forgotten

std::string goal_value_text(double v) {
  auto j = goal_number(v);
  if (j.is_int64()) return std::to_string(j.get_int64());
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}
}  // namespace

rule_engine::rule_engine(rule_sections cfg, store::event_store& log, outbox& box, std::string link_base,
                         std::function<void()> on_firings, std::function<std::int64_t()> now_ms)
    : cfg_(cfg),
      rules_(cfg.rules),
      now_ms_(now_ms ? std::move(now_ms) : std::function<std::int64_t()>(core::wall_ms)),
      log_(log),
      box_(box),
      link_base_(std::move(link_base)),
      on_firings_(std::move(on_firings)) {
  for (const auto& r : rules_)
    if (r.kind == app::rule_config::change &&
        std::find(objects_.begin(), objects_.end(), r.object) == objects_.end())
      objects_.push_back(r.object);
  // Metric events name their goal's object: read those too.
  for (const auto& r : rules_)
    if (const auto* g = r.kind != app::rule_config::change ? goal_named(r.goal) : nullptr;
        g && std::find(objects_.begin(), objects_.end(), g->object) == objects_.end())
      objects_.push_back(g->object);
}

const app::goal_config* rule_engine::goal_named(const std::string& name) const {
  for (const auto& g : cfg_.goals)
    if (g.name == name) return &g;
  return nullptr;
}

void rule_engine::load() {
  if (loaded_) return;
  if (auto c = box_.cursor()) {
    cursor_ = *c;
  } else {
    cursor_ = log_.last_id();
    box_.commit({}, cursor_);  // from here on, every event is evaluated exactly once
    spdlog::info("msg=\"rules start at the end of the log; earlier events do not notify\" cursor={}", cursor_);
  }
  for (const auto& [k, v] : box_.load_state()) {
    try {
      if (k.starts_with("goal:")) goal_values_[k.substr(5)] = std::stod(v);
      else if (k.starts_with("pace:")) pace_last_[k.substr(5)] = std::stoll(v);
      else if (k.starts_with("day:")) {
        const auto colon = k.rfind(':');
        goal_days_[k.substr(4, colon - 4)][std::stoll(k.substr(colon + 1))] = std::stod(v);
      }
    } catch (const std::exception&) {
      // a value this build cannot read: forgotten, as if never seen
    }
  }
  loaded_ = true;
}

firing rule_engine::goal_firing(const app::rule_config& r, std::map<std::string, std::string> values,
                                std::uint64_t id) const {
  firing_context ctx;
  for (auto& [k, v] : values) ctx.values.emplace(k, std::move(v));
  ctx.values.emplace("rule", r.name);
  ctx.values.emplace("link", link_base_ + "/");
  firing f;
  f.rule = r.name;
  f.object = "";
  f.text = r.message.render(ctx);
  f.name = r.goal;
  f.record_id = "";
  f.event_id = id;
  return f;
}

// A goal's figure is kept per key: the goal's name for its total, and
// "name|tenant" for a tenant of a per-tenant goal.
void rule_engine::on_metric(const json::object& ev, std::uint64_t id, std::vector<firing>& out,
                            std::map<std::string, std::string>& state) {
  auto it = ev.find("metric");
  auto val = ev.find("value");
  if (it == ev.end() || !it->value().is_string() || val == ev.end() || !val->value().is_number()) return;
  const std::string goal(it->value().get_string());
  const app::goal_config* g = goal_named(goal);
  if (!g) return;
  std::string tenant;
  if (auto t = ev.find("tenant"); t != ev.end() && t->value().is_string()) tenant = t->value().get_string();
  const std::string key = tenant.empty() ? goal : goal + "|" + tenant;
  const double value = val->value().to_number<double>();
  const auto prev = goal_values_.find(key);
  for (const auto& r : rules_) {
    if (r.kind != app::rule_config::threshold || r.goal != goal) continue;
    // The first value the rules see is where they start: no crossing from nowhere.
    if (prev == goal_values_.end()) break;
    for (double t : r.thresholds) {
      const double level = g->target * t / 100.0;
      if (prev->second < level && value >= level) {
        auto f = goal_firing(r, {{"goal", goal}, {"label", g->label}, {"value", goal_value_text(value)},
                                 {"target", goal_value_text(g->target)}, {"tenant", tenant},
                                 {"percent", goal_value_text(std::floor(100.0 * value / g->target))},
                                 {"threshold", goal_value_text(t)}, {"deadline", g->deadline}},
                             id);
        f.tenant = tenant;
        for (const auto& n : r.notify) {
          f.notifier = n;
          out.push_back(f);
        }
      }
    }
  }
  goal_values_[key] = value;
  state["goal:" + key] = goal_value_text(value);
  const std::int64_t today = local_day(now_ms_());
  auto& days = goal_days_[key];
  days[today] = value;
  state["day:" + key + ":" + std::to_string(today)] = goal_value_text(value);
  while (!days.empty() && days.begin()->first < today - kDaysKept) {
    state["day:" + key + ":" + std::to_string(days.begin()->first)] = "";  // deleted
    days.erase(days.begin());
  }
}

std::int64_t rule_engine::next_pace_ms() const {
  std::int64_t next = 0;
  const std::int64_t now = now_ms_();
  for (const auto& r : rules_) {
    if (r.kind != app::rule_config::pace) continue;
    const std::int64_t today = local_day(now);
    std::int64_t slot = local_time_ms(today, r.at_minute);
    auto last = pace_last_.find(r.name);
    if ((last != pace_last_.end() && last->second >= slot) || (last == pace_last_.end() && now > slot))
      slot = local_time_ms(today + 1, r.at_minute);
    if (!next || slot < next) next = slot;
  }
  return next;
}

void rule_engine::run_pace(std::vector<firing>& out, std::map<std::string, std::string>& state) {
  const std::int64_t now = now_ms_();
  const std::int64_t today = local_day(now);
  for (const auto& r : rules_) {
    if (r.kind != app::rule_config::pace) continue;
    const std::int64_t slot = local_time_ms(today, r.at_minute);
    auto last = pace_last_.find(r.name);
    if (last == pace_last_.end()) {
      // A new rule counts from now: its first run is the next time of day to come.
      last = pace_last_.emplace(r.name, now).first;
      state["pace:" + r.name] = std::to_string(now);
    }
    if (now < slot || last->second >= slot) continue;  // not yet, or ran today already
    pace_last_[r.name] = now;
    state["pace:" + r.name] = std::to_string(now);
    const app::goal_config* g = goal_named(r.goal);
    const auto deadline = g ? day_of_date(g->deadline) : std::nullopt;
    if (!g || !deadline) continue;
    // The total, and each tenant of a per-tenant goal: every key of this goal.
    for (const auto& [key, value] : goal_values_) {
      const bool total = key == r.goal;
      if (!total && !key.starts_with(r.goal + "|")) continue;
      const std::string tenant = total ? std::string() : key.substr(r.goal.size() + 1);
      const auto p = project_pace(value, g->target, goal_days_[key], today, r.pace_days, *deadline);
      if (!p.known || !p.behind) continue;
      auto f = goal_firing(r, {{"goal", r.goal}, {"label", g->label}, {"value", goal_value_text(value)},
                               {"target", goal_value_text(g->target)}, {"tenant", tenant},
                               {"percent", goal_value_text(std::floor(100.0 * value / g->target))},
                               {"per_day", goal_value_text(p.per_day)},
                               {"projected", p.reached_day ? format_day(*p.reached_day) : std::string("never, at no progress")},
                               {"deadline", format_day(*deadline)}},
                           0);
      f.tenant = tenant;
      for (const auto& n : r.notify) {
        f.notifier = n;
        out.push_back(f);
      }
    }
  }
}

rule_engine::~rule_engine() { stop(); }

void rule_engine::start() {
  load();
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
    if (r.kind != app::rule_config::change || r.object != object) continue;
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

bool rule_engine::poll() {
  load();
  const std::uint64_t target = log_.last_id();
  std::vector<firing> firings;
  std::map<std::string, std::string> state;
  run_pace(firings, state);
  if (cursor_ >= target) {
    if (!firings.empty() || !state.empty()) {
      auto r = box_.commit(firings, cursor_, state);
      fired_ += r.added + r.coalesced;
      if (r.added && on_firings_) on_firings_();
    }
    return false;
  }
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
  for (const auto& ev : events) {
    if (ev->type != core::event_type::change && ev->type != core::event_type::metric) continue;
    boost::system::error_code ec;
    auto doc = json::parse(ev->json, ec);
    if (ec || !doc.is_object()) continue;
    if (ev->type == core::event_type::metric) {
      on_metric(doc.get_object(), ev->id, firings, state);
      continue;
    }
    auto f = evaluate(doc.get_object(), ev->id);
    std::move(f.begin(), f.end(), std::back_inserter(firings));
  }
  const std::uint64_t upto = events.size() == kChunk ? events.back()->id : target;
  auto r = box_.commit(firings, upto, state);
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
      more = poll();
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
      const std::int64_t pace = next_pace_ms();
      if (pace) {
        const auto wait = std::chrono::milliseconds(std::max<std::int64_t>(pace - now_ms_(), 0) + 50);
        cv_.wait_for(lk, std::min<std::chrono::milliseconds>(wait, std::chrono::minutes(10)),
                     [&] { return woken_ || stopping_; });
      } else {
        cv_.wait(lk, [&] { return woken_ || stopping_; });
      }
      if (stopping_) return;
    }
    woken_ = false;
  }
}

}  // namespace freshet::rules
