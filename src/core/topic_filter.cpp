#include "core/topic_filter.hpp"

#include <algorithm>

namespace freshet::core {

namespace {
bool contains(const std::vector<std::string>& set, std::string_view v) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

void append_joined(std::string& out, const std::vector<std::string>& items) {
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += items[i];
  }
}
}  // namespace

bool topic_filter::matches(event_type type, std::string_view object, std::string_view tenant) const {
  if (!objects.empty() && !object.empty() && !contains(objects, object)) return false;
  if (tenants.empty()) return true;
  if (tenant.empty()) return type != event_type::change;
  return contains(tenants, tenant);
}

std::string topic_filter::label() const {
  if (objects.empty() && tenants.empty()) return "all";
  std::string out;
  if (!objects.empty()) {
    out += "objects=";
    append_joined(out, objects);
  }
  if (!tenants.empty()) {
    if (!out.empty()) out += ' ';
    out += "tenants=";
    append_joined(out, tenants);
  }
  return out;
}

}  // namespace freshet::core
