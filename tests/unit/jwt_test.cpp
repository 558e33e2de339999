// JWT verification: each algorithm, and each way a token is refused with its
// own code. Tokens are made here with OpenSSL's signing calls (keys generated
// per run), base64url written out by hand.
#include "app/auth.hpp"
#include "app/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <gtest/gtest.h>

#include <memory>

namespace freshet::app {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kSecret = "a-shared-secret-of-at-least-32-bytes!";

std::string b64url(std::string_view bytes) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += abc[v >> 18];
    out += abc[(v >> 12) & 63];
    out += abc[(v >> 6) & 63];
    out += abc[v & 63];
  }
  if (bytes.size() - i == 1) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += abc[v >> 18];
    out += abc[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += abc[v >> 18];
    out += abc[(v >> 12) & 63];
    out += abc[(v >> 6) & 63];
  }
  return out;
}

struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey = std::unique_ptr<EVP_PKEY, pkey_free>;

pkey generate(const char* kind) {
  if (std::string_view(kind) == "RSA") return pkey(EVP_RSA_gen(2048));
  return pkey(EVP_EC_gen("P-256"));
}

std::string public_pem(EVP_PKEY* k) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), k);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string sign(EVP_PKEY* k, std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, k);
  std::size_t len = 0;
  EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(data.data()), data.size());
  sig.resize(len);
  if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC) return sig;
  // DER to the JWS form, R || S.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(es);
  return raw;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string token(const std::string& alg, const std::string& claims, EVP_PKEY* key = nullptr,
                  const std::string& hmac_key = kSecret) {
  const std::string signing = b64url(R"({"alg":")" + alg + R"(","typ":"JWT"})") + "." + b64url(claims);
  if (alg == "none") return signing + ".";
  return signing + "." + b64url(alg == "HS256" ? hmac(hmac_key, signing) : sign(key, signing));
}

std::string claims(const std::string& extra = R"("scope":"read refresh","tenants":["anoka"])",
                   std::int64_t exp = kNow + 600) {
  return R"({"sub":"staff-7","exp":)" + std::to_string(exp) + (extra.empty() ? "" : "," + extra) + "}";
}

class Jwt : public ::testing::Test {
 protected:
  void SetUp() override {
    rsa = generate("RSA");
    ec = generate("EC");
    jwt_config hs{.name = "portal", .algorithm = "HS256", .secret = kSecret};
    jwt_config rs{.name = "sso", .algorithm = "RS256", .public_key_pem = public_pem(rsa.get()),
                  .issuer = "https://sso.example.org", .audience = "freshet"};
    jwt_config es{.name = "mobile", .algorithm = "ES256", .public_key_pem = public_pem(ec.get()),
                  .issuer = "mobile", .allow_all_tenants = true};
    issuers.emplace_back(hs);
    issuers.emplace_back(rs);
    issuers.emplace_back(es);
  }
  std::string code(const std::string& tok, std::int64_t now = kNow) {
    auto out = verify_jwt(tok, issuers, now);
    return out.who ? "ok" : out.refusal.code;
  }
  pkey rsa, ec;
  std::vector<jwt_issuer> issuers;
};

TEST_F(Jwt, EachAlgorithmGrantsItsClaims) {
  auto hs = verify_jwt(token("HS256", claims()), issuers, kNow);
  ASSERT_TRUE(hs.who) << hs.refusal.message;
  EXPECT_EQ(hs.who->name, "portal:staff-7");
  EXPECT_EQ(hs.who->scopes, unsigned(scope_read | scope_refresh));
  EXPECT_EQ(hs.who->tenants, std::vector<std::string>{"anoka"});

  auto rs = verify_jwt(token("RS256", claims(R"("iss":"https://sso.example.org","aud":["x","freshet"],"scope":"read","tenants":["a","b"])"), rsa.get()),
                       issuers, kNow);
  ASSERT_TRUE(rs.who) << rs.refusal.message;
  EXPECT_EQ(rs.who->name, "sso:staff-7");
  EXPECT_EQ(rs.who->tenants, (std::vector<std::string>{"a", "b"}));

  auto es = verify_jwt(token("ES256", claims(R"("iss":"mobile","scope":"read admin")"), ec.get()), issuers, kNow);
  ASSERT_TRUE(es.who) << es.refusal.message;
  EXPECT_TRUE(es.who->unscoped());  // allow_all_tenants, and no tenants claim
  EXPECT_TRUE(es.who->has(scope_admin));
}

TEST_F(Jwt, TimeIsCheckedWithTheConfiguredSkew) {
  EXPECT_EQ(code(token("HS256", claims(R"("scope":"read","tenants":["a"])", kNow - 61))), "token_expired");
  EXPECT_EQ(code(token("HS256", claims(R"("scope":"read","tenants":["a"])", kNow - 59))), "ok");  // within 60 s
  EXPECT_EQ(code(token("HS256", claims(R"("scope":"read","tenants":["a"],"nbf":)" + std::to_string(kNow + 120)))),
            "token_not_yet_valid");
  EXPECT_EQ(code(token("HS256", R"({"scope":"read","tenants":["a"]})")), "token_claims_missing");  // no exp
}

TEST_F(Jwt, TheConfigNotTheTokenChoosesTheAlgorithm) {
  EXPECT_EQ(code(token("none", claims())), "token_algorithm_refused");
  // HS256 keyed with the RS256 issuer's public key: the classic confusion.
  const std::string pem = public_pem(rsa.get());
  std::vector<jwt_issuer> only_rs;
  only_rs.emplace_back(issuers[1].config());
  auto confused = verify_jwt(token("HS256", claims(R"("iss":"https://sso.example.org","scope":"read","tenants":["a"])"),
                                   nullptr, pem),
                             only_rs, kNow);
  EXPECT_FALSE(confused.who);
  EXPECT_EQ(confused.refusal.code, "token_algorithm_refused");
  // RS256 for an issuer configured as ES256.
  EXPECT_EQ(code(token("RS256", claims(R"("iss":"mobile","scope":"read")"), rsa.get())), "token_algorithm_refused");
}

TEST_F(Jwt, SignaturesIssuersAndAudiencesMustMatch) {
  EXPECT_EQ(code(token("HS256", claims(), nullptr, "another-secret-of-at-least-32-bytes")), "token_bad_signature");
  auto other = generate("RSA");
  EXPECT_EQ(code(token("RS256", claims(R"("iss":"https://sso.example.org","aud":"freshet","scope":"read","tenants":["a"])"), other.get())),
            "token_bad_signature");
  auto tok = token("HS256", claims());
  tok[tok.find('.') + 5] ^= 1;  // one bit of the claims changed
  EXPECT_NE(code(tok), "ok");
  EXPECT_EQ(code(token("RS256", claims(R"("iss":"https://sso.example.org","aud":"other","scope":"read","tenants":["a"])"), rsa.get())),
            "token_wrong_audience");
  EXPECT_EQ(code(token("ES256", claims(R"("iss":"stranger","scope":"read")"), ec.get())), "token_algorithm_refused");
}

TEST_F(Jwt, ClaimsAreRequiredAndChecked) {
  EXPECT_EQ(code(token("HS256", claims(R"("tenants":["a"])"))), "token_claims_missing");            // no scope
  EXPECT_EQ(code(token("HS256", claims(R"("scope":"write","tenants":["a"])"))), "token_claims_missing");  // none known
  EXPECT_EQ(code(token("HS256", claims(R"("scope":"read")"))), "token_claims_missing");  // no tenants, not allowed
  EXPECT_EQ(code(token("HS256", claims(R"("scope":"read","tenants":[])"))), "token_claims_invalid");
  EXPECT_EQ(code(token("HS256", claims(R"("scope":"read","tenants":[""])"))), "token_claims_invalid");
  EXPECT_EQ(code(token("HS256", claims(R"("scope":"read admin","tenants":["a"])"))), "token_claims_invalid");
}

TEST_F(Jwt, GarbageIsMalformed) {
  EXPECT_EQ(code("eyJ.eyJ.x"), "token_malformed");
  EXPECT_EQ(code(b64url("[1]") + "." + b64url("{}") + ".AAAA"), "token_malformed");
  EXPECT_EQ(code(b64url(R"({"alg":"HS256","crit":["b64"]})") + "." + b64url(claims()) + ".AAAA"), "token_malformed");
  EXPECT_FALSE(looks_like_jwt("plain-secret"));
  EXPECT_FALSE(looks_like_jwt("a.b.c.d"));
  EXPECT_TRUE(looks_like_jwt(token("HS256", claims())));
}

TEST_F(Jwt, KeysAreCheckedForTheirAlgorithm) {
  EXPECT_EQ(check_public_key(public_pem(rsa.get()), "RS256"), "");
  EXPECT_EQ(check_public_key(public_pem(ec.get()), "ES256"), "");
  EXPECT_NE(check_public_key(public_pem(ec.get()), "RS256"), "");
  EXPECT_NE(check_public_key(public_pem(rsa.get()), "ES256"), "");
  EXPECT_NE(check_public_key("not a key", "RS256"), "");
}

TEST(Authenticator, ConfiguredTokensComeFirstThenJwts) {
  authenticator a(auth_mode::tokens, {{"ops", "E1", "s3cret-ops", scope_read, {}}},
                  {jwt_config{.name = "portal", .algorithm = "HS256", .secret = kSecret}});
  a.set_clock([] { return kNow; });
  EXPECT_EQ(a.authenticate("s3cret-ops").who->name, "ops");
  auto j = a.authenticate(token("HS256", claims()));
  ASSERT_TRUE(j.who) << j.refusal.message;
  EXPECT_EQ(j.who->tenants, std::vector<std::string>{"anoka"});
  EXPECT_EQ(a.authenticate("eyJnope").refusal.code, "invalid_token");
  a.set_clock([] { return kNow + 3600; });
  EXPECT_EQ(a.authenticate(token("HS256", claims())).refusal.code, "token_expired");
}

}  // namespace
}  // namespace freshet::app
