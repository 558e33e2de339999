#include "app/jwt.hpp"

#include "core/standard_webhooks.hpp"

#include <boost/json/parse.hpp>
#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <algorithm>
#include <stdexcept>

namespace freshet::app {

namespace json = boost::json;

namespace {

struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

pkey_ptr read_public_key(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  if (!bio) return nullptr;
  return pkey_ptr(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
}

bool is_base64url(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_';
  });
}

// JWS uses base64url without padding (RFC 7515 §2).
std::optional<std::string> base64url_decode(std::string_view s) {
  if (!is_base64url(s) || s.size() % 4 == 1) return std::nullopt;
  std::string b64(s);
  std::replace(b64.begin(), b64.end(), '-', '+');
  std::replace(b64.begin(), b64.end(), '_', '/');
  while (b64.size() % 4) b64 += '=';
  return core::base64_decode(b64);
}

std::optional<json::object> decode_part(std::string_view part) {
  auto bytes = base64url_decode(part);
  if (!bytes) return std::nullopt;
  boost::system::error_code ec;
  auto v = json::parse(*bytes, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

bool verify_with_key(EVP_PKEY* key, std::string_view data, const unsigned char* sig, std::size_t sig_len) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) return false;
  return EVP_DigestVerify(ctx.get(), sig, sig_len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

// ES256 signs as R || S, 32 bytes each (RFC 7518 §3.4); OpenSSL verifies DER.
std::optional<std::string> es256_to_der(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  if (!sig) return std::nullopt;
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

token_refusal refuse(std::string code, std::string message) { return {std::move(code), std::move(message)}; }

// A NumericDate claim (RFC 7519 §2): seconds, possibly fractional.
std::optional<std::int64_t> numeric_date(const json::object& claims, std::string_view name) {
  const auto* v = claims.if_contains(name);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(std::min<std::uint64_t>(v->get_uint64(), INT64_MAX));
  if (v->is_double()) return static_cast<std::int64_t>(v->get_double());
  return std::nullopt;
}

bool audience_matches(const json::value* aud, const std::string& want) {
  if (!aud) return false;
  if (aud->is_string()) return aud->get_string() == want;
  if (aud->is_array())
    for (const auto& a : aud->get_array())
      if (a.is_string() && a.get_string() == want) return true;
  return false;
}

}  // namespace

struct jwt_issuer::key {
  pkey_ptr pkey;
};

jwt_issuer::jwt_issuer(const jwt_config& cfg) : cfg_(cfg), key_(std::make_unique<key>()) {
  if (cfg_.algorithm == "HS256") return;
  if (auto why = check_public_key(cfg_.public_key_pem, cfg_.algorithm); !why.empty()) throw std::runtime_error(why);
  key_->pkey = read_public_key(cfg_.public_key_pem);
}

jwt_issuer::~jwt_issuer() = default;
jwt_issuer::jwt_issuer(jwt_issuer&&) noexcept = default;

bool jwt_issuer::signature_ok(std::string_view signed_part, std::string_view signature) const {
  if (cfg_.algorithm == "HS256") {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), cfg_.secret.data(), static_cast<int>(cfg_.secret.size()),
         reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac, &len);
    return signature.size() == len && CRYPTO_memcmp(mac, signature.data(), len) == 0;
  }
  if (!key_->pkey) return false;
  if (cfg_.algorithm == "RS256")
    return verify_with_key(key_->pkey.get(), signed_part, reinterpret_cast<const unsigned char*>(signature.data()),
                           signature.size());
  auto der = es256_to_der(signature);
  return der && verify_with_key(key_->pkey.get(), signed_part, reinterpret_cast<const unsigned char*>(der->data()),
                                der->size());
}

std::string check_public_key(const std::string& pem, const std::string& algorithm) {
  auto k = read_public_key(pem);
  if (!k) return "the file holds no PEM public key (-----BEGIN PUBLIC KEY-----)";
  if (algorithm == "RS256") {
    if (EVP_PKEY_get_base_id(k.get()) != EVP_PKEY_RSA) return "RS256 needs an RSA public key, and this key is not one";
    if (EVP_PKEY_get_bits(k.get()) < 2048) return "an RSA key for RS256 must have at least 2048 bits";
    return "";
  }
  if (algorithm == "ES256") {
    char curve[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_base_id(k.get()) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(k.get(), "group", curve, sizeof curve, &len) != 1 ||
        std::string_view(curve, len) != "prime256v1")
      return "ES256 needs an EC public key on the P-256 curve (prime256v1), and this key is not one";
    return "";
  }
  return "algorithm " + algorithm + " takes no public key";
}

bool looks_like_jwt(std::string_view token) {
  const auto first = token.find('.');
  if (first == std::string_view::npos) return false;
  const auto second = token.find('.', first + 1);
  return second != std::string_view::npos && token.find('.', second + 1) == std::string_view::npos &&
         token.starts_with("eyJ");
}

jwt_outcome verify_jwt(std::string_view token, const std::vector<jwt_issuer>& issuers, std::int64_t now_s) {
  jwt_outcome out;
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  const auto header = decode_part(token.substr(0, first));
  const auto claims = decode_part(token.substr(first + 1, second - first - 1));
  const auto signature = base64url_decode(token.substr(second + 1));
  if (!header || !claims || !signature) {
    out.refusal = refuse("token_malformed", "The token is not a JSON Web Token: expected three base64url parts, "
                                            "a JSON header and claims, and a signature.");
    return out;
  }
  // Extensions that must be understood (RFC 7515 §4.1.11): none are.
  if (header->contains("crit")) {
    out.refusal = refuse("token_malformed", "The token's header names critical extensions ('crit'), which Freshet does not implement.");
    return out;
  }
  const auto* alg = header->if_contains("alg");
  const std::string algorithm = alg && alg->is_string() ? std::string(alg->get_string()) : std::string();
  const auto* iss = claims->if_contains("iss");
  const std::string issuer = iss && iss->is_string() ? std::string(iss->get_string()) : std::string();

  // The config decides the algorithm: a token's "alg" only picks among the
  // issuers that name it, so "none", or HS256 keyed with a public key, never
  // reaches a check it could pass.
  std::vector<const jwt_issuer*> candidates;
  std::string named;
  for (const auto& i : issuers) {
    if (!i.config().issuer.empty() && i.config().issuer != issuer) continue;
    named += (named.empty() ? "" : ", ") + i.config().algorithm;
    if (i.config().algorithm == algorithm) candidates.push_back(&i);
  }
  if (candidates.empty()) {
    if (named.empty())
      out.refusal = refuse("token_wrong_issuer", fmt::format("No configured issuer is '{}'.", issuer));
    else
      out.refusal = refuse("token_algorithm_refused",
                           fmt::format("The token is signed with '{}'; its issuer's tokens must be signed with {}.",
                                       algorithm.empty() ? "no algorithm" : algorithm, named));
    return out;
  }
  const std::string_view signed_part = token.substr(0, second);
  const jwt_issuer* by = nullptr;
  for (const auto* c : candidates)
    if (c->signature_ok(signed_part, *signature)) {
      by = c;
      break;
    }
  if (!by) {
    out.refusal = refuse("token_bad_signature", "The token's signature does not verify with the configured key.");
    return out;
  }
  const auto& cfg = by->config();

  const auto exp = numeric_date(*claims, "exp");
  if (!exp) {
    out.refusal = refuse("token_claims_missing", "The token has no 'exp' claim: tokens must expire.");
    return out;
  }
  if (now_s > *exp + cfg.clock_skew_seconds) {
    out.refusal = refuse("token_expired", fmt::format("The token expired {} s ago; get a new one.", now_s - *exp));
    return out;
  }
  if (const auto nbf = numeric_date(*claims, "nbf"); nbf && now_s + cfg.clock_skew_seconds < *nbf) {
    out.refusal = refuse("token_not_yet_valid", "The token's 'nbf' is still in the future.");
    return out;
  }
  if (!cfg.audience.empty() && !audience_matches(claims->if_contains("aud"), cfg.audience)) {
    out.refusal = refuse("token_wrong_audience", fmt::format("The token is not for audience '{}'.", cfg.audience));
    return out;
  }

  principal who;
  const auto* sub = claims->if_contains("sub");
  who.name = cfg.name + (sub && sub->is_string() ? ":" + std::string(sub->get_string()) : std::string());
  const auto* scope_claim = claims->if_contains("scope");
  if (!scope_claim || !scope_claim->is_string()) {
    out.refusal = refuse("token_claims_missing", "The token has no 'scope' claim (space-separated: read refresh).");
    return out;
  }
  std::string_view words = scope_claim->get_string();
  while (!words.empty()) {
    const auto sp = words.find(' ');
    const auto word = words.substr(0, sp);
    for (auto [v, name] : scope_names)
      if (word == name) who.scopes |= v;
    words = sp == std::string_view::npos ? std::string_view() : words.substr(sp + 1);
  }
  if (!who.scopes) {
    out.refusal = refuse("token_claims_missing", "The token's 'scope' names none of read, refresh, admin.");
    return out;
  }
  if (const auto* t = claims->if_contains("tenants")) {
    if (!t->is_array() || t->get_array().empty()) {
      out.refusal = refuse("token_claims_invalid", "The token's 'tenants' must be a non-empty array of tenant names.");
      return out;
    }
    for (const auto& name : t->get_array()) {
      if (!name.is_string() || name.get_string().empty()) {
        out.refusal = refuse("token_claims_invalid", "The token's 'tenants' must hold only non-empty strings.");
        return out;
      }
      who.tenants.emplace_back(name.get_string());
    }
    // As for configured tokens: admin sees the whole deployment.
    if (who.has(scope_admin)) {
      out.refusal = refuse("token_claims_invalid", "A token with the admin scope cannot be limited to tenants.");
      return out;
    }
  } else if (!cfg.allow_all_tenants) {
    out.refusal = refuse("token_claims_missing",
                         fmt::format("The token has no 'tenants' claim, and issuer '{}' does not grant every tenant "
                                     "(allow_all_tenants).", cfg.name));
    return out;
  }
  out.who = std::move(who);
  return out;
}

}  // namespace freshet::app
