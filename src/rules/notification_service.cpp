#include "rules/notification_service.hpp"

#include "core/clock.hpp"
#include "store/event_store.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <utility>

namespace freshet::rules {

namespace json = boost::json;

notification_service::notification_service(rule_sections cfg, store::event_store& log, std::unique_ptr<outbox> box,
                                           std::chrono::milliseconds lease)
    : cfg_(cfg), log_(log), lease_(lease), box_(std::move(box)), dispatch_(new_dispatcher()) {}

std::unique_ptr<dispatcher> notification_service::new_dispatcher() {
  return std::make_unique<dispatcher>(
      cfg_, *box_, [this](const notification& n) { return summarize(n); },
      [this](const notification& n) { announce(n); });
}

notification_service::~notification_service() { stop(); }

void notification_service::start(unsigned short own_port, std::string link_base) {
  link_base_ = std::move(link_base);
  own_port_ = own_port;
  // The first hold here: on SQLite (always granted) the rules run before
  // start() returns, as they did before there were leases.
  try {
    if (auto token = log_.hold_lease("rules", lease_)) lead(*token);
  } catch (const std::exception& e) {
    spdlog::warn("msg=\"cannot take the rules' lease; retrying\" error=\"{}\"", e.what());
  }
  keeper_ = std::thread([this] { keep_lease(); });
}

void notification_service::keep_lease() {
  std::unique_lock lk(keeper_mu_);
  while (!keeper_cv_.wait_for(lk, lease_ / 3, [&] { return stopping_; })) {
    lk.unlock();
    std::optional<std::uint64_t> token;
    bool reachable = true;
    try {
      token = log_.hold_lease("rules", lease_);
    } catch (const std::exception& e) {
      reachable = false;
      spdlog::warn("msg=\"cannot renew the rules' lease\" error=\"{}\"", e.what());
    }
    if (!token_) try {
        box_->counts();  // what /api/stats shows here (the leader's dispatcher refreshes its own)
      } catch (const std::exception&) {
      }
    if (token && *token != token_) {
      if (token_) follow();  // a new token: another led in between; start again from its cursor
      lead(*token);
    } else if (!token && token_) {
      spdlog::warn("msg=\"another instance leads the rules now\" reachable={}", reachable);
      follow();
    }
    lk.lock();
  }
}

void notification_service::lead(std::uint64_t token) {
  box_->write_as(token);
  auto d = new_dispatcher();
  auto e = std::make_unique<rule_engine>(cfg_, log_, *box_, link_base_, [p = d.get()] { p->wake(); });
  try {
    e->start();  // reads the cursor and what the goal rules remember
  } catch (const std::exception& ex) {
    spdlog::warn("msg=\"cannot start the rules; retrying\" error=\"{}\"", ex.what());
    box_->write_as(0);
    try {
      log_.release_lease("rules");
    } catch (const std::exception&) {
      // It expires by itself.
    }
    return;
  }
  d->start(own_port_);
  std::unique_ptr<dispatcher> old;
  {
    std::lock_guard lk(parts_mu_);
    old = std::exchange(dispatch_, std::move(d));
    engine_ = std::move(e);
  }
  token_ = token;
  spdlog::info("msg=\"leading the rules\" token={}", token);
}

void notification_service::follow() {
  std::unique_ptr<rule_engine> e;
  {
    std::lock_guard lk(parts_mu_);
    e = std::move(engine_);
  }
  token_ = 0;
  box_->write_as(0);
  if (e) {
    e->stop();
    const auto c = e->counters();
    std::lock_guard lk(parts_mu_);
    before_ += c;
  }
  dispatcher* d = nullptr;
  {
    std::lock_guard lk(parts_mu_);
    d = dispatch_.get();
  }
  if (d) d->stop();  // its statuses stay; only the keeper replaces it
}

void notification_service::stop() {
  {
    std::lock_guard lk(keeper_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  keeper_cv_.notify_all();
  if (keeper_.joinable()) keeper_.join();
  const bool was = leading();
  follow();
  if (was) try {
      log_.release_lease("rules");  // a clean stop hands the rules on at once
    } catch (const std::exception&) {
    }
}

void notification_service::on_signal(const std::string& body) {
  if (!leading()) return;
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return;
  const auto* notifier = v.get_object().if_contains("resume");
  if (!notifier || !notifier->is_string()) return;
  std::lock_guard lk(parts_mu_);
  dispatch_->resume(std::string(notifier->get_string()));
}

bool notification_service::retry(std::int64_t id) {
  auto notifier = box_->retry(id);
  if (!notifier) return false;
  if (leading()) {
    std::lock_guard lk(parts_mu_);
    dispatch_->resume(*notifier);
  } else {
    log_.send_signal("rules", json::serialize(json::object{{"resume", *notifier}}));
  }
  return true;
}

std::vector<notifier_status> notification_service::notifiers() const {
  std::lock_guard lk(parts_mu_);
  return dispatch_->statuses();
}

rule_engine_counters notification_service::engine_counters() const {
  std::lock_guard lk(parts_mu_);
  rule_engine_counters c = before_;
  if (engine_) c += engine_->counters();
  return c;
}

const app::rule_config* notification_service::rule_named(const std::string& name) const {
  for (const auto& r : cfg_.rules)
    if (r.name == name) return &r;
  return nullptr;  // the rule left the config since it fired
}

std::string notification_service::summarize(const notification& n) const {
  const app::rule_config* rule = rule_named(n.rule);
  // "A, B, C, D, E and 7 more": the names kept were escaped when they fired.
  std::string names;
  for (const auto& v : n.names)
    if (v.is_string()) names += (names.empty() ? "" : ", ") + std::string(v.get_string());
  if (n.count > static_cast<std::int64_t>(n.names.size()))
    names += " and " + std::to_string(n.count - static_cast<std::int64_t>(n.names.size())) + " more";
  firing_context ctx;
  ctx.values = {{"tenant", n.tenant}, {"object", n.object}, {"rule", n.rule},   {"count", std::to_string(n.count)},
                {"names", names},     {"id", ""},           {"op", ""},         {"link", link_base_ + "/#/objects/" + n.object}};
  if (!rule) return std::to_string(n.count) + " × " + n.rule + ": " + names;  // the rule left the config
  return rule->summary.render(ctx);
}

// A `message` event whose message is {"notification": {...}} (docs/rules.md).
// It reaches whoever may see what the notification is about: its tenant's
// subscribers when it has a tenant; a goal's total (no tenant) goes to
// everyone, as the goal's `metric` events do. A change rule's notification
// about a record with no tenant is not announced: the change itself reaches
// unscoped subscribers only, and a tenantless message would reach all.
void notification_service::announce(const notification& n) {
  const app::rule_config* rule = rule_named(n.rule);
  if (!rule) return;  // the rule left the config: what it was about is not known
  if (n.tenant.empty() && rule->kind == app::rule_config::change) return;
  core::event_draft d;
  d.type = core::event_type::message;
  d.object = n.object;
  d.tenant = n.tenant;
  d.body["message"] = json::object{{"notification", json::object{{"id", n.id},
                                                                {"rule", n.rule},
                                                                {"notifier", n.notifier},
                                                                {"count", n.count},
                                                                {"text", n.text}}}};
  // Best effort: the notification is delivered and recorded whatever
  // becomes of its announcement (a full store queue drops it, and says so).
  log_.enqueue(std::move(d), [id = n.id](boost::system::error_code ec, core::event_ptr) {
    if (ec)
      spdlog::warn("msg=\"a delivered notification was not announced on the stream\" id={} error=\"{}\"", id,
                   ec.message());
  });
}

json::object notification_service::stats() {
  const auto e = engine_counters();
  const auto c = box_->last_counts();
  json::array notifiers;
  for (const auto& s : this->notifiers())
    notifiers.push_back(json::object{{"name", s.name},       {"kind", s.kind},       {"state", s.state},
                                     {"reason", s.reason},   {"sent", s.sent},       {"retried", s.retried},
                                     {"failed", s.failed},   {"rate_limited", s.rate_limited}});
  return json::object{
      {"rules", json::object{{"count", cfg_.rules.size()}, {"evaluated", e.evaluated}, {"fired", e.fired},
                             {"coalesced", e.coalesced}, {"refused", e.refused}, {"missed", e.missed},
                             {"role", leading() ? "leader" : "follower"}}},
      {"outbox", json::object{{"gathering", c.gathering}, {"pending", c.pending}, {"delivered", c.delivered},
                              {"failed", c.failed}, {"limit", cfg_.notifications.max_outbox}}},
      {"notifiers", std::move(notifiers)}};
}

}  // namespace freshet::rules
