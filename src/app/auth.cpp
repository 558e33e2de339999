#include "app/auth.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>

namespace freshet::app {

bool principal::may_see_tenant(std::string_view tenant) const {
  return tenants.empty() || std::find(tenants.begin(), tenants.end(), tenant) != tenants.end();
}

namespace {
std::int64_t system_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

std::shared_ptr<const authenticator::credentials> authenticator::make(std::vector<token_config> tokens,
                                                                      const std::vector<jwt_config>& issuers) {
  auto c = std::make_shared<credentials>();
  c->tokens = std::move(tokens);
  for (const auto& j : issuers) c->issuers.emplace_back(j);
  return c;
}

authenticator::authenticator(auth_mode mode, std::vector<token_config> tokens, const std::vector<jwt_config>& issuers)
    : mode_(mode), creds_(make(std::move(tokens), issuers)), now_s_(system_now_s) {}

void authenticator::replace_tokens(std::vector<token_config> tokens, const std::vector<jwt_config>& issuers) {
  creds_.store(make(std::move(tokens), issuers));
}

auth_outcome authenticator::authenticate(std::string_view presented) const {
  if (mode_ == auth_mode::none) return {principal{"anonymous", scope_read | scope_refresh | scope_admin, {}}, {}};
  if (presented.empty()) return {std::nullopt, {"unauthorized", "No token was presented."}};
  const token_config* match = nullptr;
  const auto creds = creds_.load();
  // Every token is compared, whatever matched, so timing says nothing about which.
  for (const auto& t : creds->tokens) {
    bool same = t.secret.size() == presented.size() &&
                CRYPTO_memcmp(t.secret.data(), presented.data(), presented.size()) == 0;
    if (same && !match) match = &t;
  }
  if (match) return {principal{match->name, match->scopes, match->tenants}, {}};
  if (!creds->issuers.empty() && looks_like_jwt(presented)) {
    auto j = verify_jwt(presented, creds->issuers, now_s_());
    return {std::move(j.who), std::move(j.refusal)};
  }
  return {std::nullopt, {"invalid_token", "The token is not valid."}};
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
