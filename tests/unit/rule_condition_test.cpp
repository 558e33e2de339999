#include "rules/condition.hpp"
#include "rules/message_template.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace freshet::rules {
namespace {

namespace json = boost::json;

condition parse_ok(std::string_view text, const std::vector<std::string>& fields = {}) {
  auto r = condition::parse(text, fields);
  if (auto* e = std::get_if<condition_error>(&r)) ADD_FAILURE() << text << ": column " << e->column << ": " << e->message;
  return std::get_if<condition>(&r) ? std::get<condition>(r) : condition();
}

condition_error parse_bad(std::string_view text, const std::vector<std::string>& fields = {}) {
  auto r = condition::parse(text, fields);
  EXPECT_TRUE(std::holds_alternative<condition_error>(r)) << text << " parsed, but should not";
  return std::holds_alternative<condition_error>(r) ? std::get<condition_error>(r) : condition_error{};
}

// A change event as the store writes it.
struct change {
  json::object ev;
  change(std::string_view text) : ev(json::parse(text).as_object()) {}
  change_view view() const { return *view_of_change(ev); }
};

const change kCreated(R"({"type":"change","op":"created","record":{"id":"r1","status":"Received","quantity":40,
  "county":"hennepin","notes":"","registrations":9,"capacity":10,"donor":"Acme <Corp> & Co"}})");
const change kToReady(R"({"type":"change","op":"updated","changed":{"status":{"old":"Received","new":"Ready for Donation"}},
  "record":{"id":"r1","status":"Ready for Donation","quantity":40,"county":"hennepin","notes":"urgent: 2 left"}})");
const change kReadyAgain(R"({"type":"change","op":"updated","changed":{"notes":{"old":"","new":"x"}},
  "record":{"id":"r1","status":"Ready for Donation","quantity":40,"county":"hennepin","notes":"x"}})");
const change kDeleted(R"({"type":"change","op":"deleted","record":null,
  "previous":{"id":"r1","status":"Ready for Donation","quantity":"40","county":"ramsey"}})");

TEST(RuleCondition, TheOp) {
  auto c = parse_ok(R"(op = "created")");
  EXPECT_TRUE(c.matches(kCreated.view()));
  EXPECT_FALSE(c.matches(kToReady.view()));
  auto d = parse_ok(R"(op in ["updated", "deleted"])");
  EXPECT_FALSE(d.matches(kCreated.view()));
  EXPECT_TRUE(d.matches(kToReady.view()));
  EXPECT_TRUE(d.matches(kDeleted.view()));
  EXPECT_TRUE(parse_ok(R"(op != "created")").matches(kDeleted.view()));
}

TEST(RuleCondition, AFieldAgainstAConstant) {
  EXPECT_TRUE(parse_ok("quantity >= 40").matches(kCreated.view()));
  EXPECT_FALSE(parse_ok("quantity > 40").matches(kCreated.view()));
  EXPECT_TRUE(parse_ok("quantity < 41").matches(kCreated.view()));
  EXPECT_TRUE(parse_ok("quantity <= 40").matches(kCreated.view()));
  EXPECT_TRUE(parse_ok("quantity = 40").matches(kCreated.view()));
  EXPECT_TRUE(parse_ok("quantity != 41").matches(kCreated.view()));
  // A deletion is judged on the record as it was; Knack's numbers as text compare as numbers.
  EXPECT_TRUE(parse_ok("quantity = 40").matches(kDeleted.view()));
  EXPECT_TRUE(parse_ok(R"(county in ["hennepin", "ramsey"])").matches(kCreated.view()));
  EXPECT_FALSE(parse_ok(R"(county in ["anoka"])").matches(kCreated.view()));
  EXPECT_TRUE(parse_ok(R"(notes contains "urgent")").matches(kToReady.view()));
  EXPECT_FALSE(parse_ok(R"(notes contains "urgent")").matches(kCreated.view()));
  EXPECT_TRUE(parse_ok("notes is empty").matches(kCreated.view()));
  EXPECT_TRUE(parse_ok("missing_field is empty").matches(kCreated.view()));
  EXPECT_TRUE(parse_ok("notes is not empty").matches(kToReady.view()));
  // Unlike types are never ordered.
  EXPECT_FALSE(parse_ok(R"(quantity < "z")").matches(kCreated.view()));
  EXPECT_FALSE(parse_ok("county > 3").matches(kCreated.view()));
}

TEST(RuleCondition, AFieldAgainstAnotherTimesAFactor) {
  auto c = parse_ok("registrations >= 0.9 * capacity");
  EXPECT_TRUE(c.matches(kCreated.view()));  // 9 >= 9
  auto d = parse_ok("registrations > 0.9 * capacity");
  EXPECT_FALSE(d.matches(kCreated.view()));
  EXPECT_TRUE(parse_ok("registrations < capacity").matches(kCreated.view()));
  EXPECT_FALSE(parse_ok("registrations >= 0.9 * nothing").matches(kCreated.view()));
}

TEST(RuleCondition, TransitionsFireOnTheMoveOnly) {
  auto becomes = parse_ok(R"(status becomes "Ready for Donation")");
  EXPECT_TRUE(parse_ok("status becomes 'Ready for Donation'").matches(kToReady.view()));  // DESIGN.md's spelling
  EXPECT_TRUE(parse_ok(R"(donor = 'it\'s')").matches(change(R"({"type":"change","op":"created","record":{"donor":"it's"}})").view()));
  EXPECT_TRUE(becomes.matches(kToReady.view()));
  EXPECT_FALSE(becomes.matches(kReadyAgain.view()));  // already in the state: a later edit does not fire
  EXPECT_FALSE(becomes.matches(kDeleted.view()));
  EXPECT_FALSE(becomes.matches(kCreated.view()));     // created as Received
  EXPECT_TRUE(parse_ok(R"(status becomes "Received")").matches(kCreated.view()));  // created in the state

  auto leaves = parse_ok(R"(status leaves "Received")");
  EXPECT_TRUE(leaves.matches(kToReady.view()));
  EXPECT_FALSE(leaves.matches(kReadyAgain.view()));
  EXPECT_FALSE(leaves.matches(kCreated.view()));
  EXPECT_TRUE(parse_ok(R"(status leaves "Ready for Donation")").matches(kDeleted.view()));  // gone with the record

  auto changed = parse_ok("status changed");
  EXPECT_TRUE(changed.matches(kToReady.view()));
  EXPECT_FALSE(changed.matches(kReadyAgain.view()));
  EXPECT_TRUE(parse_ok("notes changed").matches(kReadyAgain.view()));

  EXPECT_TRUE(parse_ok(R"(old.status = "Received")").matches(kToReady.view()));
  EXPECT_FALSE(parse_ok(R"(old.status = "Received")").matches(kReadyAgain.view()));
  EXPECT_TRUE(parse_ok(R"(new.status = "Ready for Donation")").matches(kReadyAgain.view()));
}

TEST(RuleCondition, AllAnyNotAndPrecedence) {
  auto c = parse_ok(R"(status becomes "Ready for Donation" and county = "hennepin" and quantity >= 10)");
  EXPECT_TRUE(c.matches(kToReady.view()));
  EXPECT_FALSE(parse_ok(R"(status becomes "Ready for Donation" and county = "ramsey")").matches(kToReady.view()));
  // and binds tighter than or
  EXPECT_TRUE(parse_ok(R"(county = "x" and quantity = 1 or op = "updated")").matches(kToReady.view()));
  EXPECT_FALSE(parse_ok(R"(county = "x" and (quantity = 1 or op = "updated"))").matches(kToReady.view()));
  EXPECT_TRUE(parse_ok(R"(not (county = "x") and not op = "created")").matches(kToReady.view()));
  EXPECT_FALSE(parse_ok(R"(not status changed)").matches(kToReady.view()));
}

TEST(RuleCondition, MistakesNameTheirColumn) {
  const std::vector<std::string> fields{"status", "county", "quantity"};
  auto e = parse_bad(R"(statuss becomes "Ready")", fields);
  EXPECT_EQ(e.column, 1u);
  EXPECT_NE(e.message.find("unknown field 'statuss'"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("county"), std::string::npos);
  e = parse_bad(R"(status = "a" and county ~ "b")", fields);
  EXPECT_EQ(e.column, 25u) << e.message;
  e = parse_bad(R"(quantity < true)", fields);
  EXPECT_EQ(e.column, 10u);
  EXPECT_NE(e.message.find("orders numbers and text"), std::string::npos);
  e = parse_bad(R"(op = "moved")");
  EXPECT_NE(e.message.find("created"), std::string::npos);
  e = parse_bad(R"((status = "a")");
  EXPECT_EQ(e.column, 1u);
  EXPECT_NE(e.message.find("not closed"), std::string::npos);
  e = parse_bad(R"(status = "unterminated)");
  EXPECT_NE(e.message.find("closing"), std::string::npos);
  e = parse_bad("county in []");
  EXPECT_NE(e.message.find("empty"), std::string::npos);
  e = parse_bad(R"(old.status becomes "x")");
  EXPECT_NE(e.message.find("drop old."), std::string::npos);
  e = parse_bad("status");
  EXPECT_NE(e.message.find("ends after the field"), std::string::npos);
  e = parse_bad("   ");
  EXPECT_NE(e.message.find("empty"), std::string::npos);
  e = parse_bad(std::string(40, '(') + "a = 1" + std::string(40, ')'));
  EXPECT_NE(e.message.find("deeper"), std::string::npos);
}

TEST(RuleCondition, ListsTheFieldsItReads) {
  auto c = parse_ok(R"(status becomes "x" and registrations >= 0.9 * capacity)");
  EXPECT_EQ(c.fields(), (std::vector<std::string>{"capacity", "registrations", "status"}));
}

TEST(MessageTemplate, PlaceholdersAndSlackEscaping) {
  auto t = std::get<message_template>(message_template::parse(
      "New donation: {donor}, {quantity} laptops ({old.status} -> {new.status}) in {tenant} {{ok}} <{link}|open>"));
  firing_context ctx;
  auto view = kCreated.view();
  ctx.change = &view;
  ctx.values = {{"tenant", "hennepin"}, {"link", "http://x/#/objects/laptops"}};
  EXPECT_EQ(t.render(ctx),
            "New donation: Acme &lt;Corp&gt; &amp; Co, 40 laptops ( -> Received) in hennepin {ok} "
            "<http://x/#/objects/laptops|open>");
}

TEST(MessageTemplate, MistakesNameTheirColumn) {
  const std::vector<std::string> fields{"status"};
  auto r = message_template::parse("A {statu} here", fields);
  ASSERT_TRUE(std::holds_alternative<template_error>(r));
  EXPECT_EQ(std::get<template_error>(r).column, 3u);
  EXPECT_NE(std::get<template_error>(r).message.find("unknown field 'statu'"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<template_error>(message_template::parse("open {", fields)));
  EXPECT_TRUE(std::holds_alternative<template_error>(message_template::parse("a } b", fields)));
  EXPECT_TRUE(std::holds_alternative<template_error>(message_template::parse("{a b}", fields)));
  EXPECT_TRUE(std::holds_alternative<message_template>(message_template::parse("{count} {old.status} {id}", fields)));
}

TEST(MessageTemplate, DisplayValues) {
  EXPECT_EQ(display_value(json::value(12.5)), "12.5");
  EXPECT_EQ(display_value(json::value(3500.0)), "3500");
  EXPECT_EQ(display_value(json::parse(R"([{"id":"a","identifier":"Hennepin"},{"id":"b","identifier":"Ramsey"}])")),
            "Hennepin, Ramsey");
  EXPECT_EQ(display_value(json::value(nullptr)), "");
}

}  // namespace
}  // namespace freshet::rules
