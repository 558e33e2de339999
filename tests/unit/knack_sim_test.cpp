// The simulator's pure parts: Knack's date rendering, written values,
// filters, and the lenient query parser.
#include "sim/datasets.hpp"
#include "sim/knack_filters.hpp"
#include "sim/knack_format.hpp"
#include "sim/lenient_query.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace freshet::sim {
namespace {

namespace json = boost::json;

TEST(KnackDate, ParsesDayAndMinuteForms) {
  auto d = parse_knack_date("09/11/2019");
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->has_time);
  auto t = parse_knack_date("09/11/2019 16:14");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->has_time);
  EXPECT_EQ(t->local_ms - d->local_ms, (16 * 60 + 14) * 60000);
  EXPECT_FALSE(parse_knack_date("2019-09-11"));
  EXPECT_FALSE(parse_knack_date("13/01/2019"));
  EXPECT_FALSE(parse_knack_date("09/11/2019 25:00"));
}

TEST(KnackDate, RawObjectKeepsLocalWallTimeWithAMisleadingZ) {
  // 16:14 local is shown as ...T16:14:00.000Z, the quirk of upstream-apis 1.5.
  const auto t = parse_knack_date("09/11/2019 16:14")->local_ms;
  auto raw = render_date_raw(t, true);
  EXPECT_EQ(raw["date"].as_string(), "09/11/2019");
  EXPECT_EQ(raw["hours"].as_string(), "04");
  EXPECT_EQ(raw["minutes"].as_string(), "14");
  EXPECT_EQ(raw["am_pm"].as_string(), "PM");
  EXPECT_EQ(raw["iso_timestamp"].as_string(), "2019-09-11T16:14:00.000Z");
  EXPECT_EQ(raw["unix_timestamp"].as_int64(), 1568218440000);
  EXPECT_EQ(raw["time"].as_int64(), 974);
  EXPECT_EQ(format_date(t, true), "09/11/2019 4:14pm");
  auto day = render_date_raw(t, false);
  EXPECT_EQ(day["hours"].as_string(), "12");
  EXPECT_EQ(day["am_pm"].as_string(), "AM");
  EXPECT_EQ(day["time"].as_int64(), 720);
}

TEST(KnackWrite, ConvertsByFieldType) {
  std::string err;
  knack_field num{"field_8", "Laptops", knack_type::number, ""};
  EXPECT_EQ(parse_written_value(num, json::value("12"), err)->as_double(), 12.0);
  EXPECT_FALSE(parse_written_value(num, json::value("twelve"), err));
  EXPECT_EQ(err, "field_8 takes a number");
  knack_field yes{"field_9", "Active", knack_type::boolean, ""};
  EXPECT_EQ(parse_written_value(yes, json::value("On"), err)->as_bool(), true);
  knack_field conn{"field_6", "Donation", knack_type::connection, "object_2"};
  auto ids = parse_written_value(conn, json::parse(R"(["a1",{"id":"b2"}])"), err);
  EXPECT_EQ(json::serialize(*ids), R"(["a1","b2"])");
  EXPECT_TRUE(parse_written_value(num, json::value(""), err)->is_null());  // clears the field
}

class KnackFilterTest : public ::testing::Test {
 protected:
  knack_app app = make_hti(5);
  const knack_object& laptops = *app.object("object_1");

  std::size_t count(const std::string& filters) {
    auto parsed = parse_filters(filters, laptops);
    EXPECT_TRUE(std::holds_alternative<knack_filter>(parsed)) << std::get<std::string>(parsed);
    std::size_t n = 0;
    for (const auto& r : laptops.records) n += matches(std::get<knack_filter>(parsed), app, r, 0);
    return n;
  }
  std::string error(const std::string& filters) {
    auto parsed = parse_filters(filters, laptops);
    return std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : "(accepted)";
  }
};

// Found by fuzz_sim_filters: a text operator on a date field read an empty
// optional (undefined behaviour); it matches nothing.
TEST_F(KnackFilterTest, ATextOperatorOnADateFieldMatchesNothing) {
  EXPECT_EQ(count(R"([{"field":"field_4","operator":"contains","value":"ano"}])"), 0u);
}

TEST_F(KnackFilterTest, AndOrAndBareArrays) {
  const std::size_t all = laptops.records.size();
  const std::size_t hen = count(R"([{"field":"field_5","operator":"is","value":"Hennepin"}])");  // case-insensitive
  const std::size_t not_hen = count(R"({"match":"and","rules":[{"field":"field_5","operator":"is not","value":"hennepin"}]})");
  EXPECT_GT(hen, 0u);
  EXPECT_EQ(hen + not_hen, all);
  const std::size_t either = count(
      R"({"match":"or","rules":[{"field":"field_5","operator":"is","value":"hennepin"},{"field":"field_5","operator":"is","value":"ramsey"}]})");
  const std::size_t ram = count(R"([{"field":"field_5","operator":"is","value":"ramsey"}])");
  EXPECT_EQ(either, hen + ram);
  EXPECT_EQ(count(R"([{"field":"field_3","operator":"is any"}])"), all);
  EXPECT_EQ(count(R"([])"), all);
}

TEST_F(KnackFilterTest, DatesCompareByDayUnlessATimeIsGiven) {
  const std::size_t all = laptops.records.size();
  const std::string day = "06/15/2026";
  const std::size_t before = count(R"([{"field":"field_20","operator":"is before","value":")" + day + R"("}])");
  const std::size_t on = count(R"([{"field":"field_20","operator":"is","value":")" + day + R"("}])");
  const std::size_t after = count(R"([{"field":"field_20","operator":"is after","value":")" + day + R"("}])");
  EXPECT_EQ(before + on + after, all);
  const std::size_t after_noon = count(R"([{"field":"field_20","operator":"is after","value":")" + day + R"( 12:00"}])");
  EXPECT_GE(after_noon, after);
  EXPECT_LE(after_noon, after + on);
}

TEST_F(KnackFilterTest, RefusesWhatItCannotEvaluate) {
  EXPECT_EQ(error("{oops"), "filters is not valid JSON");
  EXPECT_EQ(error(R"([{"field":"field_42","operator":"is","value":1}])"), "unknown field field_42");
  EXPECT_EQ(error(R"([{"field":"field_5","operator":"sounds like","value":"x"}])"), "unsupported operator sounds like");
  EXPECT_EQ(error(R"([{"field":"field_5","operator":"is"}])"), "operator is needs a value");
  EXPECT_EQ(error(R"({"match":"xor","rules":[]})"), "filters.match must be \"and\" or \"or\"");
}

// The relative date rules of 1.6, against a fixed now: Monday 06/15/2026 12:00.
class KnackRelativeDates : public ::testing::Test {
 protected:
  knack_app app;
  knack_object obj{"object_9", "Dates", {{"field_1", "When", knack_type::date_time, ""}}, "field_1", "", {}};
  std::int64_t now = parse_knack_date("06/15/2026 12:00")->local_ms;

  bool hit(const std::string& rule, const std::string& when) {
    auto parsed = parse_filters("[" + rule + "]", obj);
    EXPECT_TRUE(std::holds_alternative<knack_filter>(parsed)) << std::get<std::string>(parsed);
    knack_record r{"r", {{"field_1", parse_knack_date(when)->local_ms}}};
    return matches(std::get<knack_filter>(parsed), app, r, now);
  }
  std::string error(const std::string& rule) {
    auto parsed = parse_filters("[" + rule + "]", obj);
    return std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : "(accepted)";
  }
};

TEST_F(KnackRelativeDates, TodayAndCurrentTime) {
  const std::string today_or_before = R"({"field":"field_1","operator":"is today or before"})";
  EXPECT_TRUE(hit(today_or_before, "06/15/2026 23:59"));
  EXPECT_FALSE(hit(today_or_before, "06/16/2026"));
  EXPECT_TRUE(hit(R"({"field":"field_1","operator":"is after today"})", "06/16/2026"));
  EXPECT_FALSE(hit(R"({"field":"field_1","operator":"is before today"})", "06/15/2026 00:00"));
  EXPECT_TRUE(hit(R"({"field":"field_1","operator":"is before current time"})", "06/15/2026 11:00"));
  EXPECT_FALSE(hit(R"({"field":"field_1","operator":"is before current time"})", "06/15/2026 13:00"));
}

TEST_F(KnackRelativeDates, DuringTheCurrentPeriod) {
  const std::string week = R"({"field":"field_1","operator":"is during the current","type":"week"})";
  EXPECT_TRUE(hit(week, "06/14/2026"));  // the Sunday it starts on
  EXPECT_TRUE(hit(week, "06/20/2026"));
  EXPECT_FALSE(hit(week, "06/21/2026"));
  const std::string quarter = R"({"field":"field_1","operator":"is during the current","type":"quarter"})";
  EXPECT_TRUE(hit(quarter, "04/01/2026"));
  EXPECT_FALSE(hit(quarter, "07/01/2026"));
  EXPECT_TRUE(hit(R"({"field":"field_1","operator":"is during the current","type":"year"})", "01/01/2026"));
}

TEST_F(KnackRelativeDates, PreviousNextAndBeyond) {
  const std::string prev3 = R"({"field":"field_1","operator":"is during the previous","range":"3","type":"days"})";
  EXPECT_TRUE(hit(prev3, "06/12/2026"));
  EXPECT_TRUE(hit(prev3, "06/14/2026 23:00"));
  EXPECT_FALSE(hit(prev3, "06/11/2026"));
  EXPECT_FALSE(hit(prev3, "06/15/2026"));
  const std::string next1w = R"({"field":"field_1","operator":"is during the next","range":1,"type":"weeks"})";
  EXPECT_TRUE(hit(next1w, "06/16/2026"));
  EXPECT_TRUE(hit(next1w, "06/22/2026"));
  EXPECT_FALSE(hit(next1w, "06/23/2026"));
  const std::string before_prev = R"({"field":"field_1","operator":"is before the previous","range":1,"type":"months"})";
  EXPECT_TRUE(hit(before_prev, "05/14/2026"));
  EXPECT_FALSE(hit(before_prev, "05/15/2026"));
  EXPECT_TRUE(hit(R"({"field":"field_1","operator":"is after the next","range":1,"type":"years"})", "06/16/2027"));
}

TEST_F(KnackRelativeDates, RefusesMissingRangeOrType) {
  EXPECT_EQ(error(R"({"field":"field_1","operator":"is during the current","type":"fortnight"})"),
            "is during the current needs \"type\": week, month, quarter or year");
  EXPECT_EQ(error(R"({"field":"field_1","operator":"is during the previous","type":"days"})"),
            "is during the previous needs a whole \"range\" of 1 or more");
  EXPECT_EQ(error(R"({"field":"field_1","operator":"is after the next","range":2})"),
            "is after the next needs \"type\": days, weeks, months or years");
}

TEST(LenientQuery, DecodesPlusAndPercentAndKeepsRawJson) {
  auto q = parse_lenient_target(R"(/v1/objects/object_1/records/?filters={"match":"and","rules":[]}&x=is+after&y=a%2Fb)");
  EXPECT_EQ(q.path, "/v1/objects/object_1/records/");
  EXPECT_EQ(q.get("filters"), R"({"match":"and","rules":[]})");
  EXPECT_EQ(q.get("x"), "is after");
  EXPECT_EQ(q.get("y"), "a/b");
  EXPECT_FALSE(q.has("z"));
}

TEST(Datasets, HtiIsDeterministicPerSeed) {
  auto a = make_hti(1), b = make_hti(1), c = make_hti(2);
  ASSERT_EQ(a.objects.size(), 3u);
  EXPECT_EQ(a.object("object_1")->records.size(), 2400u);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.object("object_1")->records[100].id, b.object("object_1")->records[100].id);
  EXPECT_NE(a.object("object_1")->records[100].id, c.object("object_1")->records[100].id);
  std::mt19937_64 ra(9), rb(9);
  for (int i = 0; i < 50; ++i) {
    auto x = apply_random_change(a, ra, 1'800'000'000'000);
    auto y = apply_random_change(b, rb, 1'800'000'000'000);
    EXPECT_EQ(x.op + x.object + x.id, y.op + y.object + y.id);
  }
}

TEST(Datasets, SchoolsHasTheBenchmarkSizesAndOneScorePerStudent) {
  auto app = make_schools(1);
  const auto& schools = app.object("object_1")->records;
  const auto& students = app.object("object_2")->records;
  ASSERT_EQ(schools.size(), 40u);
  std::map<std::string, std::int64_t> by_code;
  for (const auto& st : students) ++by_code[std::string(st.values.at("field_8").as_string())];
  std::vector<std::int64_t> sizes;
  for (const auto& s : schools) {
    EXPECT_EQ(by_code[std::string(s.values.at("field_2").as_string())], s.values.at("field_3").as_int64());
    sizes.push_back(s.values.at("field_3").as_int64());
  }
  for (std::int64_t want : {50, 200, 465, 1000, 2000})
    EXPECT_NE(std::find(sizes.begin(), sizes.end(), want), sizes.end()) << want;
  EXPECT_EQ(app.object("object_3")->records.size(), students.size());
  EXPECT_GT(students.size(), 15000u);
  EXPECT_EQ(make_schools(1).object("object_2")->records[777].id, students[777].id);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 30; ++i) EXPECT_FALSE(apply_random_change(app, rng, 1'800'000'000'000).id.empty());
}

}  // namespace
}  // namespace freshet::sim
