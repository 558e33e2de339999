// Who is calling and what they may do: what a token (configured, or a JWT)
// grants.
#pragma once

#include "app/config.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace freshet::app {

struct principal {
  std::string name;
  unsigned scopes = 0;
  std::vector<std::string> tenants;  // empty: every tenant

  bool has(scope s) const { return (scopes & s) != 0; }
  bool unscoped() const { return tenants.empty(); }
  bool may_see_tenant(std::string_view tenant) const;
};

}  // namespace freshet::app
