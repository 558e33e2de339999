#include "app/auth.hpp"

#include <gtest/gtest.h>

namespace freshet::app {
namespace {

authenticator two_tokens() {
  return authenticator(auth_mode::tokens,
                       {{"ops", "E1", "s3cret-ops", scope_read | scope_admin, {}},
                        {"hennepin", "E2", "s3cret-hen", scope_read | scope_refresh, {"hennepin"}}});
}

TEST(Authenticator, KnownSecretGivesItsPrincipal) {
  auto a = two_tokens();
  auto p = a.authenticate("s3cret-hen").who;
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "hennepin");
  EXPECT_TRUE(p->has(scope_read));
  EXPECT_TRUE(p->has(scope_refresh));
  EXPECT_FALSE(p->has(scope_admin));
  EXPECT_TRUE(p->may_see_tenant("hennepin"));
  EXPECT_FALSE(p->may_see_tenant("ramsey"));
  EXPECT_FALSE(p->unscoped());
}

TEST(Authenticator, UnknownEmptyOrPrefixSecretIsRefused) {
  auto a = two_tokens();
  EXPECT_FALSE(a.authenticate("").who);
  EXPECT_FALSE(a.authenticate("nope").who);
  EXPECT_FALSE(a.authenticate("s3cret-he").who);    // a prefix
  EXPECT_FALSE(a.authenticate("s3cret-henX").who);  // a longer string
}

TEST(Authenticator, UnscopedTokenSeesEveryTenant) {
  auto p = two_tokens().authenticate("s3cret-ops").who;
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->unscoped());
  EXPECT_TRUE(p->may_see_tenant("anything"));
  EXPECT_TRUE(p->has(scope_admin));
  EXPECT_FALSE(p->has(scope_refresh));
}

TEST(Authenticator, AuthNoneMakesEveryoneAnUnscopedAdmin) {
  authenticator a(auth_mode::none, {});
  EXPECT_FALSE(a.enabled());
  auto p = a.authenticate("").who;
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->has(scope_admin));
  EXPECT_TRUE(p->unscoped());
}

TEST(BearerSecret, ParsesTheHeader) {
  EXPECT_EQ(bearer_secret("Bearer abc"), "abc");
  EXPECT_EQ(bearer_secret("bearer   abc  "), "abc");
  EXPECT_EQ(bearer_secret("Basic abc"), "");
  EXPECT_EQ(bearer_secret("Bearer"), "");
  EXPECT_EQ(bearer_secret(""), "");
}

}  // namespace
}  // namespace freshet::app
