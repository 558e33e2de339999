// Who is calling and what they may do. A principal comes from a Bearer token
// (or an access_token query parameter, for EventSource, which cannot set
// headers); with auth = "none" everyone is an unscoped admin.
#pragma once

#include "app/config.hpp"
#include "app/jwt.hpp"
#include "app/principal.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace freshet::app {


// The principal a presented token grants, or why not.
struct auth_outcome {
  std::optional<principal> who;
  token_refusal refusal;  // when !who
};

class authenticator {
 public:
  // Throws std::runtime_error when a [[jwt]] key cannot be used.
  authenticator(auth_mode mode, std::vector<token_config> tokens, const std::vector<jwt_config>& issuers = {});

  // The principal for a presented secret: a configured token (compared in
  // constant time with each), else a JWT from a configured issuer.
  auth_outcome authenticate(std::string_view presented) const;

  bool enabled() const { return mode_ == auth_mode::tokens; }

  // A reload (SIGHUP): requests from now on are checked against these tokens;
  // streams already open keep what they were granted when they opened.
  void replace_tokens(std::vector<token_config> tokens, const std::vector<jwt_config>& issuers);

  // Unix seconds, for token expiry; tests set their own.
  void set_clock(std::int64_t (*now_s)()) { now_s_ = now_s; }

 private:
  struct credentials {
    std::vector<token_config> tokens;
    std::vector<jwt_issuer> issuers;
  };
  static std::shared_ptr<const credentials> make(std::vector<token_config> tokens, const std::vector<jwt_config>& issuers);

  auth_mode mode_;
  // Swapped whole by a reload while workers read it.
  std::atomic<std::shared_ptr<const credentials>> creds_;
  std::int64_t (*now_s_)();
};

// The secret from "Authorization: Bearer X", or "" when the header is absent or
// is not a Bearer credential.
std::string_view bearer_secret(std::string_view authorization_header);

}  // namespace freshet::app
