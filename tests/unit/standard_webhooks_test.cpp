#include "core/standard_webhooks.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace freshet::core {
namespace {

// The example of the Standard Webhooks reference libraries' README.
constexpr std::string_view kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t kTs = 1614265330;
constexpr std::string_view kBody = R"({"test": 2432232314})";
constexpr std::string_view kSig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

TEST(StandardWebhooks, SignsTheReferenceExample) {
  auto key = decode_webhook_secret(kSecret);
  ASSERT_TRUE(key);
  EXPECT_EQ(sign_webhook(*key, kId, kTs, kBody), kSig);
}

TEST(StandardWebhooks, VerifiesAnyMatchingEntryWithinTolerance) {
  const std::string key = *decode_webhook_secret(kSecret);
  const std::string ts = std::to_string(kTs);
  EXPECT_EQ(verify_webhook(key, kId, ts, kSig, kBody, kTs), webhook_check::ok);
  EXPECT_EQ(verify_webhook(key, kId, ts, "v1,bm90IGl0 " + std::string(kSig), kBody, kTs), webhook_check::ok);
  EXPECT_EQ(verify_webhook(key, kId, ts, kSig, R"({"test": 2432232315})", kTs), webhook_check::bad_signature);
  EXPECT_EQ(verify_webhook(key, "msg_other", ts, kSig, kBody, kTs), webhook_check::bad_signature);
  EXPECT_EQ(verify_webhook(key, kId, ts, kSig, kBody, kTs + 301), webhook_check::stale_timestamp);
  EXPECT_EQ(verify_webhook(key, kId, ts, kSig, kBody, kTs - 301), webhook_check::stale_timestamp);
  EXPECT_EQ(verify_webhook(key, kId, "16142653x0", kSig, kBody, kTs), webhook_check::malformed);
  EXPECT_EQ(verify_webhook(key, "", ts, kSig, kBody, kTs), webhook_check::malformed);
}

TEST(Base64, RoundTripsAndRefusesGarbage) {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", std::string("\0\xff\x10", 3)})
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  EXPECT_FALSE(base64_decode("abc"));
  EXPECT_FALSE(base64_decode("ab$="));
}

}  // namespace
}  // namespace freshet::core
