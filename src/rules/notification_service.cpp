#include "rules/notification_service.hpp"

#include "core/clock.hpp"
#include "rules/sqlite_outbox.hpp"
#include "store/event_store.hpp"

#include <spdlog/spdlog.h>

namespace freshet::rules {

namespace json = boost::json;

notification_service::notification_service(rule_sections cfg, store::event_store& log, const std::string& db_path)
    : cfg_(cfg), log_(log) {
  box_ = std::make_unique<sqlite_outbox>(db_path, static_cast<std::size_t>(cfg.notifications.max_outbox), core::wall_ms);
  dispatch_ = std::make_unique<dispatcher>(
      cfg, *box_, [this](const notification& n) { return summarize(n); },
      [this](const notification& n) { announce(n); });
}

notification_service::~notification_service() { stop(); }

void notification_service::start(unsigned short own_port, std::string link_base) {
  link_base_ = std::move(link_base);
  engine_owner_ = std::make_unique<rule_engine>(cfg_, log_, *box_, link_base_, [d = dispatch_.get()] { d->wake(); });
  engine_owner_->start();
  engine_ = engine_owner_.get();
  dispatch_->start(own_port);
}

void notification_service::stop() {
  if (engine_owner_) engine_owner_->stop();
  if (dispatch_) dispatch_->stop();
}

bool notification_service::retry(std::int64_t id) {
  auto notifier = box_->retry(id);
  if (!notifier) return false;
  dispatch_->resume(*notifier);
  return true;
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
  for (const auto& s : dispatch_->statuses())
    notifiers.push_back(json::object{{"name", s.name},       {"kind", s.kind},       {"state", s.state},
                                     {"reason", s.reason},   {"sent", s.sent},       {"retried", s.retried},
                                     {"failed", s.failed},   {"rate_limited", s.rate_limited}});
  return json::object{
      {"rules", json::object{{"count", cfg_.rules.size()}, {"evaluated", e.evaluated}, {"fired", e.fired},
                             {"coalesced", e.coalesced}, {"refused", e.refused}, {"missed", e.missed}}},
      {"outbox", json::object{{"gathering", c.gathering}, {"pending", c.pending}, {"delivered", c.delivered},
                              {"failed", c.failed}, {"limit", cfg_.notifications.max_outbox}}},
      {"notifiers", std::move(notifiers)}};
}

}  // namespace freshet::rules
