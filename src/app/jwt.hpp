// JSON Web Tokens minted by the operator's own backend, for people: a school's
// staff page gets a token for its school that expires within the hour, rather
// than a long-lived secret in its JavaScript. Checked with OpenSSL directly:
// the algorithm is the one the config names (never the token's own say, so
// neither `alg: none` nor an HS256 token keyed with an RS256 public key can
// pass), `exp` is required, `nbf`, `iss` and `aud` are checked, and the grant
// is the `scope` (space-separated) and `tenants` claims.
#pragma once

#include "app/config.hpp"
#include "app/principal.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace freshet::app {

// A refused token: its error.code (token_expired, ...) and a sentence.
struct token_refusal {
  std::string code;
  std::string message;
};

// One [[jwt]] issuer, its key parsed once.
class jwt_issuer {
 public:
  explicit jwt_issuer(const jwt_config& cfg);  // throws std::runtime_error on a bad key
  ~jwt_issuer();
  jwt_issuer(jwt_issuer&&) noexcept;

  const jwt_config& config() const { return cfg_; }
  // Whether the signature over `signed_part` is this issuer's.
  bool signature_ok(std::string_view signed_part, std::string_view signature) const;

 private:
  jwt_config cfg_;
  struct key;
  std::unique_ptr<key> key_;
};

// Whether `token` has the shape of a JWS compact token (three base64url parts).
bool looks_like_jwt(std::string_view token);

// The principal a JWT grants, or why it is refused. `now_s` is Unix seconds.
struct jwt_outcome {
  std::optional<principal> who;
  token_refusal refusal;
};
jwt_outcome verify_jwt(std::string_view token, const std::vector<jwt_issuer>& issuers, std::int64_t now_s);

// Reads and checks a public key file for `algorithm` (RS256: RSA of 2048 bits
// or more; ES256: EC P-256). Empty: fine; otherwise the sentence why not.
std::string check_public_key(const std::string& pem, const std::string& algorithm);

}  // namespace freshet::app
