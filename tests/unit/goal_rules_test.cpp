// Goal rules on a simulated clock: the real log and outbox in a temp dir, the
// rule engine polled by the test with a clock it moves.
#include "app/config.hpp"
#include "rules/goal_pace.hpp"
#include "rules/sqlite_outbox.hpp"
#include "rules/rule_engine.hpp"
#include "store/sqlite_store.hpp"

#include <boost/json/object.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <future>

namespace freshet::rules {
namespace {

TEST(GoalPace, ProjectsFromTheLastDays) {
  // 870 now, 716 fourteen days ago: 11/day, 240 days to 3,500.
  std::map<std::int64_t, double> days{{100, 500}, {106, 716}, {115, 800}};
  auto p = project_pace(870, 3500, days, 120, 14, 180);
  ASSERT_TRUE(p.known);
  EXPECT_DOUBLE_EQ(p.per_day, 11);
  ASSERT_TRUE(p.reached_day);
  EXPECT_EQ(*p.reached_day, 120 + 240);
  EXPECT_TRUE(p.behind);
  EXPECT_FALSE(project_pace(870, 3500, days, 120, 14, 400).behind);
  // Less history than asked: the oldest day there is.
  p = project_pace(20, 100, {{118, 10}}, 120, 14, 130);
  EXPECT_DOUBLE_EQ(p.per_day, 5);
  EXPECT_FALSE(project_pace(20, 100, {{120, 10}}, 120, 14, 130).known);  // not a day of history yet
  EXPECT_TRUE(project_pace(20, 100, {{110, 20}}, 120, 5, 130).behind);  // no progress: never
  EXPECT_FALSE(project_pace(20, 100, {{110, 20}}, 120, 5, 130).reached_day);
  EXPECT_EQ(format_day(*day_of_date("2027-06-30")), "30 Jun 2027");
  EXPECT_FALSE(day_of_date("2027-6-30"));
}

class GoalRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    ::setenv("GR_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
    ::setenv("GR_SLACK", "http://127.0.0.1:9/services/x", 1);
    dir_ = std::filesystem::temp_directory_path() / ("freshet-goal-rules-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto parsed = app::parse_config(R"(
[server]
auth = "none"
[[sources]]
name = "hti"
kind = "webhook"
webhook_secret_env = "GR_SECRET"
  [[sources.objects]]
  name = "laptops"
  key = "laptops"
[[goals]]
name = "donated"
label = "Laptops donated"
object = "laptops"
target = 100
deadline = 2027-01-11
[[notifiers]]
name = "slack"
kind = "slack"
url_env = "GR_SLACK"
[[rules]]
name = "milestones"
goal = "donated"
thresholds = [50, 100]
notify = ["slack"]
message = "{label}: {value} of {target}, past {threshold}%"
[[rules]]
name = "pace"
goal = "donated"
pace_days = 2
at = "09:00"
notify = ["slack"]
message = "Behind pace: {value} of {target}; at {per_day}/day you reach it on {projected}, after the {deadline} deadline"
[[rules]]
name = "anoka_only"
object = "laptops"
tenants = ["anoka"]
when = 'op = "created"'
notify = ["slack"]
message = "{id} in {tenant}"
)", "goal_rules.toml");
    ASSERT_TRUE(std::holds_alternative<app::config>(parsed)) << std::get<app::config_error>(parsed).message;
    cfg_ = std::get<app::config>(parsed);
    log_ = std::make_unique<store::sqlite_store>(store::sqlite_store_options{.path = (dir_ / "f.db").string()});
    box_ = std::make_unique<sqlite_outbox>((dir_ / "f.db").string(), 100, [this] { return now_; });
    engine_ = std::make_unique<rule_engine>(sections_of(cfg_), *log_, *box_, "http://x", nullptr, [this] { return now_; });
  }
  void TearDown() override {
    engine_.reset();
    box_.reset();
    log_.reset();
    std::filesystem::remove_all(dir_);
  }

  void metric(double value, std::string tenant = "") {
    core::event_draft d;
    d.type = core::event_type::metric;
    d.object = "laptops";
    d.tenant = std::move(tenant);
    d.body["metric"] = "donated";
    d.body["value"] = value;
    d.body["target"] = 100;
    std::promise<void> done;
    log_->enqueue(std::move(d), [&](boost::system::error_code, core::event_ptr) { done.set_value(); });
    done.get_future().wait();
    while (engine_->poll()) {
    }
  }
  std::vector<std::string> texts(const std::string& rule) {
    std::vector<std::string> out;
    for (const auto& m : box_->list({.rule = rule})) out.insert(out.begin(), std::string(m.at("text").as_string()));
    return out;
  }
  void at(std::int64_t day, int hour, int minute = 0) {
    now_ = local_time_ms(day, hour * 60 + minute);
    while (engine_->poll()) {
    }
  }

  std::filesystem::path dir_;
  app::config cfg_;
  std::int64_t now_ = 0;
  std::unique_ptr<store::sqlite_store> log_;
  std::unique_ptr<outbox> box_;
  std::unique_ptr<rule_engine> engine_;
};

TEST_F(GoalRulesTest, ThresholdsFireOnceOnTheWayUp) {
  const std::int64_t d = *day_of_date("2027-01-01");
  at(d, 8);
  metric(10);  // the first value seen: no crossing from nowhere
  metric(49);
  metric(60);
  metric(40);
  metric(55);  // crossing 50 again after falling back: fires again, as it is a new crossing
  metric(120);
  EXPECT_EQ(texts("milestones"),
            (std::vector<std::string>{"Laptops donated: 60 of 100, past 50%", "Laptops donated: 55 of 100, past 50%",
                                      "Laptops donated: 120 of 100, past 100%"}));
}

TEST_F(GoalRulesTest, APerTenantGoalCrossesPerTenant) {
  at(*day_of_date("2027-01-01"), 8);
  metric(10, "anoka");
  metric(10, "ramsey");
  metric(20);          // the total: its own figure
  metric(55, "anoka");  // anoka crosses 50; ramsey and the total do not
  metric(45, "ramsey");
  const auto list = box_->list({.rule = "milestones"});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("tenant"), "anoka");
  EXPECT_EQ(list[0].at("text"), "Laptops donated: 55 of 100, past 50%");
}

TEST_F(GoalRulesTest, AChangeRuleWithTenantsFiresForThoseOnly) {
  auto created = [](const char* tenant) {
    return boost::json::object{{"type", "change"}, {"op", "created"}, {"object", "laptops"}, {"tenant", tenant},
                               {"record_id", "r1"}, {"record", boost::json::object{{"id", "r1"}}}};
  };
  const auto fired = engine_->evaluate(created("anoka"), 7);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].text, "r1 in anoka");
  EXPECT_EQ(fired[0].event_id, 7u);
  EXPECT_TRUE(engine_->evaluate(created("ramsey"), 8).empty());
  EXPECT_TRUE(engine_->evaluate(boost::json::object{{"type", "message"}, {"object", "laptops"}}, 9).empty());
}

TEST_F(GoalRulesTest, PaceRunsOncePerDayAtItsTimeAndSaysWhenBehind) {
  const std::int64_t d = *day_of_date("2027-01-01");
  at(d, 8);
  metric(10);  // day d ends at 10
  EXPECT_EQ(engine_->next_pace_ms(), local_time_ms(d, 9 * 60));
  at(d, 9, 1);   // the first run: no day of history yet, so nothing to say
  EXPECT_TRUE(texts("pace").empty());
  EXPECT_EQ(engine_->next_pace_ms(), local_time_ms(d + 1, 9 * 60));
  at(d + 1, 8);
  metric(14);    // 4 in one day
  at(d + 1, 9, 1);
  // 14 of 100 at 4/day: 22 more days, 24 Jan, after the 11 Jan deadline.
  EXPECT_EQ(texts("pace"),
            std::vector<std::string>{"Behind pace: 14 of 100; at 4/day you reach it on 24 Jan 2027, after the 11 Jan 2027 deadline"});
  at(d + 1, 15);  // later the same day: no second run
  EXPECT_EQ(texts("pace").size(), 1u);
  at(d + 2, 8);
  metric(60);    // 50 in two days: 25/day, reached 4 Jan: on track, nothing said
  at(d + 2, 9, 30);
  EXPECT_EQ(texts("pace").size(), 1u);

  // What the engine remembers survives a restart: no second run today.
  engine_ = std::make_unique<rule_engine>(sections_of(cfg_), *log_, *box_, "http://x", nullptr, [this] { return now_; });
  at(d + 2, 10);
  EXPECT_EQ(texts("pace").size(), 1u);
  EXPECT_EQ(engine_->next_pace_ms(), local_time_ms(d + 3, 9 * 60));
}

}  // namespace
}  // namespace freshet::rules
