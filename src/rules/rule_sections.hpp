// The parts of the config the rules read, and nothing else of it: the rule
// engine, the dispatcher and the notification service take these, not the
// whole app::config. Held by reference: the config outlives them.
#pragma once

#include "app/config.hpp"

#include <vector>

namespace freshet::rules {

struct rule_sections {
  const std::vector<app::rule_config>& rules;
  const std::vector<app::goal_config>& goals;  // the goals the goal rules name
  const std::vector<app::notifier_config>& notifiers;
  const app::notifications_config& notifications;
};

inline rule_sections sections_of(const app::config& c) { return {c.rules, c.goals, c.notifiers, c.notifications}; }

}  // namespace freshet::rules
