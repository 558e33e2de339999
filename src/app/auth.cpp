#include "app/auth.hpp"

#include <openssl/crypto.h>

#include <algorithm>

namespace freshet::app {

bool principal::may_see_tenant(std::string_view tenant) const {
  return tenants.empty() || std::find(tenants.begin(), tenants.end(), tenant) != tenants.end();
}

authenticator::authenticator(auth_mode mode, std::vector<token_config> tokens)
    : mode_(mode), tokens_(std::make_shared<const std::vector<token_config>>(std::move(tokens))) {}

void authenticator::replace_tokens(std::vector<token_config> tokens) {
  tokens_.store(std::make_shared<const std::vector<token_config>>(std::move(tokens)));
}

std::optional<principal> authenticator::authenticate(std::string_view presented) const {
  if (mode_ == auth_mode::none) return principal{"anonymous", scope_read | scope_refresh | scope_admin, {}};
  if (presented.empty()) return std::nullopt;
  const token_config* match = nullptr;
  const auto tokens = tokens_.load();
  // Every token is compared, whatever matched, so timing says nothing about which.
  for (const auto& t : *tokens) {
    bool same = t.secret.size() == presented.size() &&
                CRYPTO_memcmp(t.secret.data(), presented.data(), presented.size()) == 0;
    if (same && !match) match = &t;
  }
  if (!match) return std::nullopt;
  return principal{match->name, match->scopes, match->tenants};
}

std::string_view bearer_secret(std::string_view h) {
  constexpr std::string_view prefix = "Bearer ";
  if (h.size() <= prefix.size()) return {};
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(h[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return {};
  h.remove_prefix(prefix.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  return h;
}

}  // namespace freshet::app
