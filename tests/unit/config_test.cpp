#include "app/config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

namespace freshet::app {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("FT_TOKEN_A", "secret-a", 1);
    unsetenv("FT_UNSET");
  }
  static config ok(const std::string& text) {
    auto r = parse_config(text, "f.toml");
    if (auto* e = std::get_if<config_error>(&r)) ADD_FAILURE() << e->message;
    return std::get<config>(r);
  }
  static std::string error(const std::string& text) {
    auto r = parse_config(text, "f.toml");
    if (!std::holds_alternative<config_error>(r)) return "(accepted)";
    return std::get<config_error>(r).message;
  }
};

constexpr const char* kToken = R"(
[[tokens]]
name = "ops"
secret_env = "FT_TOKEN_A"
scopes = ["read", "admin"]
)";

TEST_F(ConfigTest, DesignExampleParses) {
  setenv("FT_TOKEN_HEN", "secret-h", 1);
  setenv("KNACK_APP_ID", "app-1", 1);
  setenv("KNACK_API_KEY", "key-1", 1);
  setenv("KNACK_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
  config c = ok(R"(
[server]
listen = "127.0.0.1:9090"
data_dir = "/tmp/x"
auth = "tokens"
keepalive_seconds = 5

[[tokens]]
name = "hennepin-dashboard"
secret_env = "FT_TOKEN_HEN"
scopes = ["read", "refresh"]
tenants = ["hennepin"]

[[sources]]
name = "hti"
kind = "knack"
base_url = "http://127.0.0.1:9001"
app_id_env = "KNACK_APP_ID"
api_key_env = "KNACK_API_KEY"
webhook_secret_env = "KNACK_WEBHOOK_SECRET"
requests_per_second = 10

  [[sources.objects]]
  name = "laptops"
  key = "object_1"
  fields = { status = "field_3", county = "field_5", modified = "field_20" }
  modified_field = "modified"
  tenant_field = "county"
  watch_fields = ["status", "county"]
  poll_min_seconds = 15
  poll_max_seconds = 180
  reconcile_seconds = 900
)");
  EXPECT_EQ(c.server.listen, "127.0.0.1:9090");
  EXPECT_EQ(c.server.keepalive_seconds, 5);
  ASSERT_EQ(c.tokens.size(), 1u);
  EXPECT_EQ(c.tokens[0].secret, "secret-h");
  EXPECT_EQ(c.tokens[0].scopes, unsigned(scope_read | scope_refresh));
  EXPECT_EQ(c.tokens[0].tenants, std::vector<std::string>{"hennepin"});
  ASSERT_EQ(c.sources.size(), 1u);
  ASSERT_EQ(c.sources[0].objects.size(), 1u);
  EXPECT_EQ(c.sources[0].objects[0].fields.at("status"), "field_3");
  EXPECT_EQ(c.sources[0].objects[0].tenant_field, "county");
  // Secrets come from the environment variables the file names.
  EXPECT_EQ(c.sources[0].app_id, "app-1");
  EXPECT_EQ(c.sources[0].api_key, "key-1");
  EXPECT_EQ(c.sources[0].overlap_seconds, 120);
  EXPECT_EQ(c.sources[0].rate_margin_percent, 3);  // the default
}

TEST_F(ConfigTest, DefaultsWhenServerSectionIsAbsent) {
  config c = ok(kToken);
  EXPECT_EQ(c.server.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.server.max_body_bytes, 1024u * 1024u);
  EXPECT_EQ(c.server.keepalive_seconds, 15);
  EXPECT_EQ(c.server.auth, auth_mode::tokens);
}

TEST_F(ConfigTest, AuthNoneMustBeExplicitAndThenNeedsNoTokens) {
  EXPECT_EQ(error("[server]\nlisten = \"127.0.0.1:1\"\n"),
            "f.toml:1:1: no [[tokens]] or [[jwt]] issuers are configured: add one, or set auth = \"none\" in [server] to run "
            "without authentication");
  EXPECT_EQ(ok("[server]\nauth = \"none\"\n").server.auth, auth_mode::none);
}

struct bad_case {
  const char* what;
  std::string toml;
  std::string message;
};

TEST_F(ConfigTest, EachBadInputHasItsMessage) {
  const std::string t = kToken;
  const bad_case cases[] = {
      {"unknown top-level key", "colour = 1\n" + t, "f.toml:1:1: unknown key 'colour' in the file"},
      {"unknown server key", "[server]\nlisten = \"a:1\"\nlisen = \"x\"\n" + t,
       "f.toml:3:1: unknown key 'lisen' in [server]"},
      {"bad auth value", "[server]\nauth = \"maybe\"\n" + t,
       "f.toml:2:8: 'auth' must be \"tokens\" or \"none\", not \"maybe\""},
      {"listen without port", "[server]\nlisten = \"localhost\"\n" + t,
       "f.toml:2:10: 'listen' must be host:port, e.g. 127.0.0.1:8080"},
      {"wrong type", "[server]\nkeepalive_seconds = \"15\"\n" + t,
       "f.toml:2:21: 'keepalive_seconds' must be an integer"},
      {"out of range", "[server]\nkeepalive_seconds = 0\n" + t,
       "f.toml:2:21: 'keepalive_seconds' must be between 1 and 3600, not 0"},
      {"missing secret variable", "[[tokens]]\nname = \"x\"\nsecret_env = \"FT_UNSET\"\nscopes = [\"read\"]\n",
       "f.toml:3:14: token 'x': environment variable FT_UNSET is not set"},
      {"unknown scope", "[[tokens]]\nname = \"x\"\nsecret_env = \"FT_TOKEN_A\"\nscopes = [\"write\"]\n",
       "f.toml:4:10: unknown scope 'write': use read, refresh or admin"},
      {"token without name", "[[tokens]]\nsecret_env = \"FT_TOKEN_A\"\nscopes = [\"read\"]\n",
       "f.toml:1:1: missing required key 'name'"},
      {"bad source kind", t + "[[sources]]\nname = \"s\"\nkind = \"notion\"\nbase_url = \"http://x\"\n",
       "f.toml:8:8: 'kind' must be \"knack\", \"airtable\" or \"webhook\", not \"notion\""},
      {"base_url not http", t + "[[sources]]\nname = \"s\"\nkind = \"knack\"\nbase_url = \"ftp://x\"\n",
       "f.toml:9:12: 'base_url' must start with http:// or https://"},
      {"knack without app id", t + "[[sources]]\nname = \"s\"\nkind = \"knack\"\nbase_url = \"http://x\"\n",
       "f.toml:6:1: source 's' (knack) needs 'app_id_env'"},
      {"airtable secret unset",
       t + "[[sources]]\nname = \"s\"\nkind = \"airtable\"\nbase_url = \"http://x\"\nbase_id_env = \"FT_UNSET\"\n",
       "f.toml:10:15: source 's': environment variable FT_UNSET is not set"},
      {"tenant_field not in fields",
       t + "[[sources]]\nname = \"s\"\nkind = \"webhook\"\nwebhook_secret_env = \"FT_TOKEN_A\"\n"
           "[[sources.objects]]\nname = \"o\"\n"
           "key = \"object_1\"\nfields = { a = \"field_1\" }\ntenant_field = \"county\"\n",
       "f.toml:14:16: 'tenant_field' names 'county', which is not in 'fields'"},
      {"empty tenant list (fail closed)",
       "[[tokens]]\nname = \"x\"\nsecret_env = \"FT_TOKEN_A\"\nscopes = [\"read\"]\ntenants = []\n",
       "f.toml:5:11: token 'x': 'tenants' is empty; list the tenants it may see, or leave the key out for every "
       "tenant"},
      {"admin with tenants",
       "[[tokens]]\nname = \"x\"\nsecret_env = \"FT_TOKEN_A\"\nscopes = [\"admin\"]\ntenants = [\"a\"]\n",
       "f.toml:5:11: token 'x': an admin token sees every tenant, so it cannot have 'tenants'; give the tenant "
       "dashboards a token of their own without 'admin'"},
      {"empty tenant name",
       "[[tokens]]\nname = \"x\"\nsecret_env = \"FT_TOKEN_A\"\nscopes = [\"read\"]\ntenants = [\"\"]\n",
       "f.toml:5:11: token 'x': a tenant name is empty"},
      {"ca_file that is not there",
       t + "[[sources]]\nname = \"s\"\nkind = \"webhook\"\nwebhook_secret_env = \"FT_TOKEN_A\"\nca_file = \"/nonexistent/ca.pem\"\n",
       "f.toml:10:11: 'ca_file' names '/nonexistent/ca.pem', which is not a readable file"},
      {"per-address cap out of range", "[server]\nmax_connections_per_address = -1\n" + t,
       "f.toml:2:31: 'max_connections_per_address' must be between 0 and 1000000, not -1"},
      {"rate margin out of range",
       t + "[[sources]]\nname = \"s\"\nkind = \"webhook\"\nwebhook_secret_env = \"FT_TOKEN_A\"\nrate_margin_percent = 150\n",
       "f.toml:10:23: 'rate_margin_percent' must be between 0 and 100, not 150"},
      {"syntax error", "[server\n", "f.toml:1:8: Error while parsing table header: expected ']', saw '\\n'"},
  };
  for (const auto& c : cases) EXPECT_EQ(error(c.toml), c.message) << c.what;
}

constexpr const char* kGoalSource = R"([server]
auth = "none"
[[sources]]
name = "hti"
kind = "webhook"
webhook_secret_env = "FT_TOKEN_A"
[[sources.objects]]
name = "laptops"
key = "laptops"
fields = { status = "s", units = "u", county = "c" }
)";

TEST_F(ConfigTest, GoalsParseWithTheirConditions) {
  config c = ok(std::string(kGoalSource) + R"(
[[goals]]
name = "donated"
object = "laptops"
where = { status = "Donated", units = 2, county = "anoka" }
sum = "units"
target = 3500
)");
  ASSERT_EQ(c.goals.size(), 1u);
  const auto& g = c.goals[0];
  EXPECT_EQ(g.label, "donated");  // the name when no label is given
  EXPECT_EQ(g.object, "laptops");
  EXPECT_EQ(g.sum, "units");
  EXPECT_EQ(g.target, 3500);
  // Values kept as JSON text, so that strings and numbers compare as such.
  std::vector<std::pair<std::string, std::string>> where{{"status", "\"Donated\""}, {"units", "2"}, {"county", "\"anoka\""}};
  std::sort(where.begin(), where.end());
  auto got = g.where;
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, where);
}

TEST_F(ConfigTest, EachBadGoalHasItsMessage) {
  const std::string t = kGoalSource;
  struct bad_case {
    const char* what;
    std::string toml, message;
  };
  const std::vector<bad_case> cases = {
      {"unknown object", t + "[[goals]]\nname = \"g\"\nobject = \"nope\"\ntarget = 1\n",
       "f.toml:13:10: goal 'g': no configured object is called 'nope'"},
      {"field not in fields", t + "[[goals]]\nname = \"g\"\nobject = \"laptops\"\nwhere = { colour = \"red\" }\ntarget = 1\n",
       "f.toml:14:20: goal 'g': object 'laptops' has no field 'colour' in 'fields'"},
      {"no target", t + "[[goals]]\nname = \"g\"\nobject = \"laptops\"\n",
       "f.toml:11:1: goal 'g' needs a 'target'"},
      {"zero target", t + "[[goals]]\nname = \"g\"\nobject = \"laptops\"\ntarget = 0\n",
       "f.toml:14:10: goal 'g': 'target' must be above 0"},
      {"a list in where", t + "[[goals]]\nname = \"g\"\nobject = \"laptops\"\nwhere = { status = [1] }\ntarget = 1\n",
       "f.toml:14:20: goal 'g': a 'where' value must be a string, an integer or a boolean"},
      {"twice", t + "[[goals]]\nname = \"g\"\nobject = \"laptops\"\ntarget = 1\n[[goals]]\nname = \"g\"\nobject = \"laptops\"\ntarget = 2\n",
       "f.toml:15:1: goal 'g' is configured twice"},
  };
  for (const auto& c : cases) EXPECT_EQ(error(c.toml), c.message) << c.what;
}

// Lines 11-14: the notifier; a rule starts at line 15 (name 16, object 17,
// notify 18, then the keys each case adds from line 19).
const std::string kRuleBase = std::string(kGoalSource) + R"([[notifiers]]
name = "slack"
kind = "slack"
url_env = "FT_TOKEN_A_URL"
)";

TEST_F(ConfigTest, RulesParseAndEachMistakeHasItsPlace) {
  setenv("FT_TOKEN_A_URL", "https://hooks.slack.com/services/T/B/X", 1);
  config c = ok(kRuleBase + R"([[rules]]
name = "ready"
object = "laptops"
when = 'status becomes "Ready" and units >= 0.5 * units'
notify = ["slack"]
message = "{status} in {tenant}"
coalesce_seconds = 30
)");
  ASSERT_EQ(c.rules.size(), 1u);
  EXPECT_EQ(c.rules[0].coalesce_seconds, 30);
  EXPECT_EQ(c.rules[0].summary.text(), "{count} × {rule} in {tenant}: {names}");
  // DESIGN.md's example: single quotes in the condition, and a message with no
  // record field that serves as the summary too.
  config d = ok(kRuleBase + R"([[rules]]
name = "ready-for-donation"
object = "laptops"
when = "status becomes 'Ready for Donation'"
notify = ["slack"]
message = "{count} laptops ready for donation in {tenant}"
coalesce_seconds = 60
)");
  EXPECT_EQ(d.rules[0].summary.text(), "{count} laptops ready for donation in {tenant}");
  EXPECT_EQ(c.notifiers[0].url, "https://hooks.slack.com/services/T/B/X");
  const std::string rule = kRuleBase + "[[rules]]\nname = \"r\"\nobject = \"laptops\"\nnotify = [\"slack\"]\n";
  struct bad_case {
    const char* what;
    std::string toml, message;
  };
  const std::vector<bad_case> cases = {
      {"unknown field in when", rule + "message = \"m\"\nwhen = 'colour = \"red\"'\n",
       "f.toml:20:9: rule 'r': unknown field 'colour'; the object's fields are: county, status, units"},
      {"a mistake mid-condition", rule + "message = \"m\"\nwhen = 'status = \"a\" and units < true'\n",
       "f.toml:20:32: rule 'r': '<' orders numbers and text; true, false and null can only be compared with = or !="},
      {"unknown field in message", rule + "message = \"{stat}\"\n",
       "f.toml:19:12: rule 'r': '{stat}': unknown field 'stat'; the object's fields are: county, status, units; and "
       "always: id, tenant, object, rule, op, count, names, link"},
      {"unknown notifier", kRuleBase + "[[rules]]\nname = \"r\"\nobject = \"laptops\"\nnotify = [\"email\"]\nmessage = \"m\"\n",
       "f.toml:18:10: rule 'r': no [[notifiers]] is called 'email'"},
      {"unknown object", kRuleBase + "[[rules]]\nname = \"r\"\nobject = \"nope\"\nnotify = [\"slack\"]\nmessage = \"m\"\n",
       "f.toml:17:10: rule 'r': no configured object is called 'nope'"},
      {"a field in the summary", rule + "message = \"m\"\nsummary = \"{status}\"\n",
       "f.toml:20:11: rule 'r': the summary speaks for several records, so it cannot show {status}; use {count}, "
       "{names}, {tenant}, {object}, {rule}, {link}"},
      {"a goal rule with no deadline", kRuleBase + "[[goals]]\nname = \"g\"\nobject = \"laptops\"\ntarget = 5\n"
                                       "[[rules]]\nname = \"p\"\ngoal = \"g\"\npace_days = 7\nnotify = [\"slack\"]\nmessage = \"m\"\n",
       "f.toml:21:8: rule 'p': goal 'g' has no 'deadline' for the pace to be checked against"},
  };
  for (const auto& bc : cases) EXPECT_EQ(error(bc.toml), bc.message) << bc.what;
}

TEST_F(ConfigTest, MissingFileIsAClearError) {
  auto r = load_config("/nonexistent/freshet.toml");
  ASSERT_TRUE(std::holds_alternative<config_error>(r));
  EXPECT_EQ(std::get<config_error>(r).message, "/nonexistent/freshet.toml: cannot open the config file");
}

}  // namespace
}  // namespace freshet::app

namespace freshet::app {
namespace {

TEST_F(ConfigTest, JwtIssuersParseAndEachMistakeHasItsPlace) {
  setenv("FT_JWT_SECRET", "0123456789abcdef0123456789abcdef", 1);
  setenv("FT_JWT_SHORT", "too-short", 1);
  auto c = ok(R"([[jwt]]
name = "portal"
algorithm = "HS256"
secret_env = "FT_JWT_SECRET"
issuer = "portal"
allow_all_tenants = true
clock_skew_seconds = 5
)");
  ASSERT_EQ(c.jwt.size(), 1u);  // a [[jwt]] alone is enough authentication
  EXPECT_EQ(c.jwt[0].secret, "0123456789abcdef0123456789abcdef");
  EXPECT_TRUE(c.jwt[0].allow_all_tenants);
  EXPECT_EQ(c.jwt[0].clock_skew_seconds, 5);
  EXPECT_EQ(error("[[jwt]]\nname = \"p\"\nalgorithm = \"none\"\n"),
            "f.toml:3:13: jwt issuer 'p': 'algorithm' must be \"HS256\", \"RS256\" or \"ES256\", not \"none\"");
  EXPECT_EQ(error("[[jwt]]\nname = \"p\"\nalgorithm = \"HS256\"\nsecret_env = \"FT_JWT_SHORT\"\n"),
            "f.toml:4:14: jwt issuer 'p': the secret in FT_JWT_SHORT is shorter than 32 bytes; HS256 needs 32 or more");
  EXPECT_EQ(error("[[jwt]]\nname = \"p\"\nalgorithm = \"RS256\"\npublic_key_file = \"/nonexistent.pem\"\n"),
            "f.toml:4:19: jwt issuer 'p': cannot read /nonexistent.pem");
  EXPECT_EQ(error("[[jwt]]\nname = \"p\"\nalgorithm = \"RS256\"\nsecret_env = \"FT_JWT_SECRET\"\n"),
            "f.toml:4:14: jwt issuer 'p': RS256 takes public_key_file, not a secret");
  EXPECT_EQ(error("[[jwt]]\nname = \"p\"\nalgorithm = \"HS256\"\nsecret_env = \"FT_JWT_SECRET\"\nkid = 1\n"),
            "f.toml:5:1: unknown key 'kid' in [[jwt]]");
}

}  // namespace
}  // namespace freshet::app
