#include "app/reload.hpp"

namespace freshet::app {

namespace {

// Rules hold parsed conditions and templates; what they were parsed from
// says whether they changed.
bool same_rules(const std::vector<rule_config>& a, const std::vector<rule_config>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto &x = a[i], &y = b[i];
    if (x.kind != y.kind || x.name != y.name || x.object != y.object || x.goal != y.goal || x.tenants != y.tenants ||
        x.when_text != y.when_text || x.notify != y.notify || x.message.text() != y.message.text() ||
        x.summary.text() != y.summary.text() || x.name_field != y.name_field ||
        x.coalesce_seconds != y.coalesce_seconds || x.thresholds != y.thresholds || x.pace_days != y.pace_days ||
        x.at_minute != y.at_minute)
      return false;
  }
  return true;
}

}  // namespace

reload_plan plan_reload(const config& running, const config& fresh) {
  reload_plan p;
  p.tokens = running.tokens != fresh.tokens || running.jwt != fresh.jwt;  // [[jwt]] issuers too
  if (fresh.server.log_level != running.server.log_level) p.log_level = fresh.server.log_level.empty() ? "info" : fresh.server.log_level;
  server_config a = running.server, b = fresh.server;
  a.log_level = b.log_level = "";
  if (a != b) p.needs_restart.push_back("[server]");
  if (running.store != fresh.store) p.needs_restart.push_back("[store]");
  if (running.sources != fresh.sources) p.needs_restart.push_back("[[sources]]");
  if (running.goals != fresh.goals) p.needs_restart.push_back("[[goals]]");
  if (running.notifiers != fresh.notifiers) p.needs_restart.push_back("[[notifiers]]");
  if (!same_rules(running.rules, fresh.rules)) p.needs_restart.push_back("[[rules]]");
  if (running.notifications != fresh.notifications) p.needs_restart.push_back("[notifications]");
  return p;
}

}  // namespace freshet::app
