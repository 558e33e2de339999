// Which events a subscription receives: a set of objects and a set of tenants,
// each empty for "all". Events that belong to no tenant and are not record
// changes (a global broadcast, a global metric) reach every subscription; a
// record change reaches a tenant-filtered subscription only if its tenant is in
// the set, so a tenant-scoped token never sees another tenant's records.
#pragma once

#include "core/event.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace freshet::core {

struct topic_filter {
  std::vector<std::string> objects;  // empty: every object
  std::vector<std::string> tenants;  // empty: every tenant

  bool matches(event_type type, std::string_view object, std::string_view tenant) const;
  bool matches(const event& ev) const { return matches(ev.type, ev.object, ev.tenant); }

  // A stable label for stats: "objects=a,b tenants=t" or "all".
  std::string label() const;
};

}  // namespace freshet::core
