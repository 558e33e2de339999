#include "store/event_store.hpp"

#include <algorithm>

namespace freshet::store {

std::vector<tenant_summary> with_sync_times(std::vector<tenant_summary> out, std::int64_t whole,
                                            const std::map<std::string, std::int64_t>& own) {
  for (auto& t : out) {
    const auto it = own.find(t.tenant);
    t.last_sync_ms = std::max(whole, it != own.end() ? it->second : 0);
  }
  for (const auto& entry : own) {
    const std::string& tenant = entry.first;  // a named reference: clang 14 cannot capture a structured binding
    if (std::none_of(out.begin(), out.end(), [&](const tenant_summary& t) { return t.tenant == tenant; }))
      out.push_back({tenant, 0, std::max(whole, entry.second)});
  }
  if (out.empty() && whole) out.push_back({"", 0, whole});
  return out;
}

}  // namespace freshet::store
