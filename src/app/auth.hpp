// Who is calling and what they may do. A principal comes from a Bearer token
// (or an access_token query parameter, for EventSource, which cannot set
// headers); with auth = "none" everyone is an unscoped admin.
#pragma once

#include "app/config.hpp"

#include <atomic>
#include <memory>
#include <optional>
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

class authenticator {
 public:
  authenticator(auth_mode mode, std::vector<token_config> tokens);

  // The principal for a presented secret (empty: none presented), or nullopt
  // when it matches no token. Comparison is constant-time per token.
  std::optional<principal> authenticate(std::string_view presented) const;

  bool enabled() const { return mode_ == auth_mode::tokens; }

  // A reload (SIGHUP): requests from now on are checked against these tokens;
  // streams already open keep what they were granted when they opened.
  void replace_tokens(std::vector<token_config> tokens);

 private:
  auth_mode mode_;
  // Swapped whole by a reload while workers read it.
  std::atomic<std::shared_ptr<const std::vector<token_config>>> tokens_;
};

// The secret from "Authorization: Bearer X", or "" when the header is absent or
// is not a Bearer credential.
std::string_view bearer_secret(std::string_view authorization_header);

}  // namespace freshet::app
