#include "rules/notifier.hpp"
#include "rules/redis_outbox.hpp"
#include "rules/sqlite_outbox.hpp"
#include "rules/target_guard.hpp"

#include "core/standard_webhooks.hpp"
#include "store/redis_store.hpp"
#include "store/sqlite_store.hpp"

#include "redis_server.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

namespace freshet::rules {
namespace {

namespace json = boost::json;

// The outbox's behaviour, one suite for both engines: SQLite's file, and
// the deployment's Redis (a real redis-server, each test under a prefix of
// its own).
testing_support::redis_server& shared_redis() {
  static testing_support::redis_server server({"--appendonly", "yes", "--appendfsync", "always"});
  return server;
}

class OutboxTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    name_ = std::string("freshet-outbox-test-") + std::to_string(::getpid()) + "-" + GetParam() + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name_)
      if (c == '/') c = '_';
    dir_ = std::filesystem::temp_directory_path() / name_;
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "f.db").string();
    if (GetParam() == "redis") {
      redis_ = open_redis();
    } else {
      store::sqlite_store migrate({.path = path_});  // makes the schema, outbox tables included
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<store::redis_store> open_redis() {
    return std::make_unique<store::redis_store>(
        store::redis_store_options{.at = shared_redis().at(), .key_prefix = name_});
  }
  std::unique_ptr<outbox> open(std::size_t limit = 100) {
    if (redis_) return std::make_unique<redis_outbox>(*redis_, limit, [this] { return now_; });
    return std::make_unique<sqlite_outbox>(path_, limit, [this] { return now_; });
  }
  static firing fire(std::string rule, std::string tenant, std::string id, std::uint64_t event, int coalesce = 0) {
    return {rule, "slack", "laptops", tenant, "text of " + id, id, id, event, coalesce};
  }

  std::string name_;
  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<store::redis_store> redis_;
  std::int64_t now_ = 1'800'000'000'000;
};

INSTANTIATE_TEST_SUITE_P(Engines, OutboxTest, ::testing::Values("sqlite", "redis"),
                         [](const auto& info) { return info.param; });

TEST_P(OutboxTest, FiringsAndTheCursorCommitTogetherAndSurviveReopening) {
  {
    auto box = open();
    EXPECT_FALSE(box->cursor().has_value());
    auto r = box->commit({fire("new", "a", "r1", 5), fire("new", "b", "r2", 6)}, 6);
    EXPECT_EQ(r.added, 2u);
  }
  auto box = open();
  EXPECT_EQ(box->cursor(), 6u);
  std::int64_t next = -1;
  auto msg = box->next_due("slack", &next);
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->text, "text of r1");
  EXPECT_TRUE(msg->webhook_id.starts_with("msg_"));
  EXPECT_EQ(box->counts().pending, 2u);
}

TEST_P(OutboxTest, CoalescingGathersOneRuleAndTenantIntoOneMessage) {
  auto box = open();
  std::vector<firing> bulk;
  for (int i = 0; i < 500; ++i) bulk.push_back(fire("ready", "hennepin", "HTI-" + std::to_string(i), 10 + i, 30));
  bulk.push_back(fire("ready", "ramsey", "HTI-r", 600, 30));
  auto r = box->commit(bulk, 600);
  EXPECT_EQ(r.added, 2u);
  EXPECT_EQ(r.coalesced, 499u);
  std::int64_t next = 0;
  EXPECT_FALSE(box->next_due("slack", &next));  // still gathering
  EXPECT_EQ(box->close_windows([](const notification&) { return std::string("never"); }), 0u);
  now_ += 30'000;
  std::vector<std::int64_t> counts;
  box->close_windows([&](const notification& n) {
    counts.push_back(n.count);
    EXPECT_EQ(n.names.size(), outbox::kNamesKept);
    EXPECT_EQ(n.names[0], "HTI-0");
    return std::to_string(n.count) + " in " + n.tenant;
  });
  EXPECT_EQ(counts, std::vector<std::int64_t>{500});  // the single ramsey firing keeps its own text
  auto list = box->list({});
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].at("text"), "text of HTI-r");
  EXPECT_EQ(list[1].at("text"), "500 in hennepin");
  EXPECT_EQ(list[1].at("status"), "pending");
}

TEST_P(OutboxTest, AFullOutboxRefusesNewMessagesButStillGathers) {
  auto box = open(2);
  auto r = box->commit({fire("a", "t", "1", 1), fire("b", "t", "2", 2, 60), fire("c", "t", "3", 3)}, 3);
  EXPECT_EQ(r.added, 2u);
  EXPECT_EQ(r.refused, 1u);
  r = box->commit({fire("b", "t", "4", 4, 60)}, 4);  // joins the open window: no new row
  EXPECT_EQ(r.coalesced, 1u);
  EXPECT_EQ(r.refused, 0u);
}

TEST_P(OutboxTest, AttemptsFollowTheirOutcomeAndFailedMessagesCanBeRetried) {
  auto box = open();
  box->commit({fire("a", "t", "1", 1)}, 1);
  std::int64_t next = 0;
  auto msg = box->next_due("slack", &next);
  ASSERT_TRUE(msg);
  box->record_attempt(msg->id, 503, "busy", attempt_outcome::retry, now_ + 5000, 1);
  EXPECT_FALSE(box->next_due("slack", &next));
  EXPECT_EQ(next, now_ + 5000);
  now_ += 5000;
  msg = box->next_due("slack", &next);
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->step, 1);
  box->record_attempt(msg->id, 500, "down", attempt_outcome::failed);
  EXPECT_FALSE(box->next_due("slack", &next));
  EXPECT_EQ(next, 0);
  auto list = box->list({.status = "failed"});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("attempts").as_array().size(), 2u);
  EXPECT_EQ(list[0].at("attempts").as_array()[0].at("status"), 503);

  EXPECT_EQ(box->retry(msg->id), "slack");
  msg = box->next_due("slack", &next);
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->step, 0);
  box->record_attempt(msg->id, 200, "ok", attempt_outcome::delivered);
  EXPECT_FALSE(box->retry(msg->id));  // delivered: nothing to retry
  EXPECT_FALSE(box->retry(999));
  now_ += 1000;
  EXPECT_EQ(box->prune(now_), 1u);
  EXPECT_TRUE(box->list({}).empty());
}

TEST_P(OutboxTest, GoalStateMovesWithTheCursorAndAnEmptyValueForgetsIt) {
  auto box = open();
  box->commit({}, 3, {{"goal:g", "12.5"}, {"pace:p", "7"}});
  box->commit({}, 4, {{"pace:p", ""}});
  EXPECT_EQ(box->load_state(), (std::map<std::string, std::string>{{"goal:g", "12.5"}}));
  EXPECT_EQ(open()->cursor(), 4u);
}

// Two instances on one Redis: the rules' leader writes with its lease's
// token; once another instance holds the lease, the old leader's writes are
// refused and nothing of them lands.
TEST(RedisOutbox, AStaleLeadersWritesAreFenced) {
  const std::string prefix = "freshet-outbox-fence-" + std::to_string(::getpid());
  store::redis_store a({.at = shared_redis().at(), .key_prefix = prefix});
  store::redis_store b({.at = shared_redis().at(), .key_prefix = prefix});
  std::int64_t now = 1'800'000'000'000;
  redis_outbox box_a(a, 100, [&] { return now; }), box_b(b, 100, [&] { return now; });
  auto ta = a.hold_lease("rules", std::chrono::milliseconds(200));
  ASSERT_TRUE(ta);
  EXPECT_FALSE(b.hold_lease("rules", std::chrono::milliseconds(200)));
  box_a.write_as(*ta);
  firing f{"r", "hook", "laptops", "t", "text", "n", "id1", 1, 0};
  EXPECT_EQ(box_a.commit({f}, 1).added, 1u);
  std::int64_t next = 0;
  auto msg = box_a.next_due("hook", &next);
  ASSERT_TRUE(msg);

  std::optional<std::uint64_t> tb;
  for (int i = 0; i < 100 && !tb; ++i) {  // the lease expires by itself
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    tb = b.hold_lease("rules", std::chrono::seconds(10));
  }
  ASSERT_TRUE(tb);
  EXPECT_GT(*tb, *ta);
  f.record_id = "id2";
  EXPECT_THROW(box_a.commit({f}, 2), outbox_fenced);
  EXPECT_THROW(box_a.record_attempt(msg->id, 200, "ok", attempt_outcome::delivered), outbox_fenced);
  EXPECT_EQ(box_b.cursor(), 1u);
  EXPECT_EQ(box_b.counts().pending, 1u);

  box_b.write_as(*tb);
  box_b.record_attempt(msg->id, 200, "ok", attempt_outcome::delivered);
  EXPECT_EQ(box_b.commit({f}, 2).added, 1u);
  const auto c = box_a.counts();  // every instance reads the same outbox
  EXPECT_EQ(c.delivered, 1u);
  EXPECT_EQ(c.pending, 1u);
  EXPECT_EQ(box_a.list({}).size(), 2u);
}

TEST(Notifier, WebhookDeliveriesAreSignedForEverySecret) {
  app::notifier_config n{"hook", "webhook", "U", "http://x", "S",
                         {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_dGhpcyBpcyBhIHNlY29uZCBzZWNyZXQh"}};
  notification msg;
  msg.webhook_id = "msg_abc";
  msg.text = "hello";
  msg.count = 1;
  auto req = build_request(n, msg, 1'800'000'000);
  std::string sig;
  for (const auto& [k, v] : req.headers)
    if (k == "webhook-signature") sig = v;
  for (const auto& s : n.secrets) {
    auto key = core::decode_webhook_secret(s);
    ASSERT_TRUE(key);
    EXPECT_EQ(core::verify_webhook(*key, "msg_abc", "1800000000", sig, req.body, 1'800'000'000), core::webhook_check::ok);
  }
  auto body = json::parse(req.body).as_object();
  EXPECT_EQ(body.at("type"), "notification");
  EXPECT_EQ(body.at("data").at("text"), "hello");
}

TEST(Notifier, SlackMessagesAreTextWithOptionalBlocks) {
  app::notifier_config n{"s", "slack", "U", "https://hooks.slack.com/services/T/B/X", "", {}, false};
  notification msg;
  msg.rule = "ready";
  msg.tenant = "anoka";
  msg.count = 12;
  msg.text = "12 laptops &lt;ready&gt;";
  EXPECT_EQ(json::parse(build_request(n, msg, 0).body), json::parse(R"({"text":"12 laptops &lt;ready&gt;"})"));
  n.blocks = true;
  auto body = json::parse(build_request(n, msg, 0).body).as_object();
  EXPECT_EQ(body.at("text"), "12 laptops &lt;ready&gt;");  // the fallback stays
  EXPECT_EQ(body.at("blocks").at(0).at("text").at("text"), "12 laptops &lt;ready&gt;");
  EXPECT_EQ(body.at("blocks").at(1).at("elements").at(0).at("text"), "*ready* · anoka · 12 changes");
}

TEST(Notifier, AnswersAreClassifiedAsSlackAndStandardWebhooksSay) {
  auto answer = [](unsigned status, std::string body, std::string retry_after = {}) {
    http::upstream_response r;
    r.ok = true;
    r.status = status;
    r.body = std::move(body);
    r.retry_after = std::move(retry_after);
    return r;
  };
  EXPECT_EQ(classify_answer("slack", answer(200, "ok")).kind, answer_kind::delivered);
  auto limited = classify_answer("slack", answer(429, "rate_limited", "7"));
  EXPECT_EQ(limited.kind, answer_kind::rate_limited);
  EXPECT_EQ(limited.retry_after, std::chrono::seconds(7));
  EXPECT_EQ(classify_answer("slack", answer(404, "channel_not_found")).kind, answer_kind::failing);
  EXPECT_EQ(classify_answer("slack", answer(410, "channel_is_archived")).kind, answer_kind::failing);
  EXPECT_EQ(classify_answer("slack", answer(400, "invalid_payload")).kind, answer_kind::failing);
  EXPECT_EQ(classify_answer("slack", answer(500, "oops")).kind, answer_kind::retry);
  EXPECT_EQ(classify_answer("webhook", answer(410, "")).kind, answer_kind::disabled);
  EXPECT_EQ(classify_answer("webhook", answer(503, "")).kind, answer_kind::retry);
  EXPECT_EQ(classify_answer("webhook", answer(204, "")).kind, answer_kind::delivered);
  http::upstream_response timeout;
  timeout.error = "timed out";
  EXPECT_EQ(classify_answer("webhook", timeout).kind, answer_kind::retry);
}

TEST(TargetGuard, PrivateAndOwnAddressesAreRefused) {
  namespace ip = boost::asio::ip;
  const target_rules strict{false, 8080}, open{true, 8080};
  for (auto a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fd00::1",
                 "fe80::1", "0.0.0.0", "::ffff:169.254.169.254", "100.64.0.1"})
    EXPECT_FALSE(refuse_target(ip::make_address(a), 443, strict).empty()) << a;
  EXPECT_TRUE(refuse_target(ip::make_address("93.184.216.34"), 443, strict).empty());
  EXPECT_TRUE(refuse_target(ip::make_address("172.32.0.1"), 443, strict).empty());
  EXPECT_TRUE(refuse_target(ip::make_address("127.0.0.1"), 9000, open).empty());
  EXPECT_FALSE(refuse_target(ip::make_address("127.0.0.1"), 8080, open).empty());  // Freshet itself
}

}  // namespace
}  // namespace freshet::rules
