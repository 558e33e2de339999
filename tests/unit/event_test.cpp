#include "core/event.hpp"
#include "store/record_events.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace freshet::core {
namespace {

TEST(EventJson, CommonFieldsFirstThenBodyThenTime) {
  event_draft d;
  d.type = event_type::change;
  d.source = "hti";
  d.object = "laptops";
  d.tenant = "hennepin";
  d.body["op"] = "updated";
  d.body["record_id"] = "65f0c1";
  std::string json = encode_event_json(1234, d, "2026-11-22T10:15:03.120Z");
  EXPECT_EQ(json,
            R"({"id":"1234","type":"change","source":"hti","object":"laptops","tenant":"hennepin",)"
            R"("op":"updated","record_id":"65f0c1","at":"2026-11-22T10:15:03.120Z"})");
}

TEST(EventJson, EmptyScopeFieldsAreNull) {
  event_draft d;
  d.body["message"] = "hello";
  auto v = boost::json::parse(encode_event_json(7, d, "t"));
  EXPECT_TRUE(v.at("source").is_null());
  EXPECT_TRUE(v.at("object").is_null());
  EXPECT_TRUE(v.at("tenant").is_null());
  EXPECT_EQ(v.at("type").as_string(), "message");
}

TEST(EventJson, ABodyCannotOverrideTheCommonFields) {
  event_draft d;
  d.tenant = "north";
  d.body["tenant"] = "south";
  d.body["id"] = "forged";
  d.body["record"] = boost::json::object{{"id", "r1"}, {"n", 1}};
  EXPECT_EQ(encode_event_json(3, d, "t"),
            R"({"id":"3","type":"message","source":null,"object":null,"tenant":"north","record":{"id":"r1","n":1},"at":"t"})");
}

TEST(EventJson, NewlinesInValuesStayEscapedSoDataIsOneLine) {
  event_draft d;
  d.body["message"] = "line one\nline two\r\n";
  std::string json = encode_event_json(1, d, "t");
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_EQ(json.find('\r'), std::string::npos);
}

TEST(SseFrame, HasIdTypeAndOneDataLine) {
  auto ev = make_event(42, event_type::message, "", "t1", R"({"id":"42"})");
  EXPECT_EQ(ev->sse_frame, "id: 42\nevent: message\ndata: {\"id\":\"42\"}\n\n");
  EXPECT_EQ(ev->json, R"({"id":"42"})");
  EXPECT_EQ(ev->tenant, "t1");
}

TEST(SseFrame, ResetHasNoIdLine) {
  EXPECT_EQ(sse_frame_without_id(event_type::reset, "{}"), "event: reset\ndata: {}\n\n");
}

TEST(EventId, ParsesOnlyWholeDecimalNumbers) {
  EXPECT_EQ(parse_event_id("0"), 0u);
  EXPECT_EQ(parse_event_id("18446744073709551615"), 18446744073709551615ull);
  EXPECT_FALSE(parse_event_id(""));
  EXPECT_FALSE(parse_event_id("-1"));
  EXPECT_FALSE(parse_event_id("12a"));
  EXPECT_FALSE(parse_event_id(" 12"));
  EXPECT_FALSE(parse_event_id("18446744073709551616"));
  EXPECT_EQ(format_event_id(99), "99");
}

TEST(EventType, RoundTripsEveryName) {
  for (auto t : {event_type::change, event_type::job, event_type::message, event_type::metric, event_type::reset})
    EXPECT_EQ(parse_event_type(to_string(t)), t);
  EXPECT_FALSE(parse_event_type("changes"));
}

}  // namespace
}  // namespace freshet::core

// A change event carries the record as stored (canonical JSON, the id
// first), spliced in rather than serialized again: with fields, and with none.
TEST(ChangeEventRecord, IsTheStoredJsonWithItsIdFirst) {
  freshet::store::object_changes oc;
  oc.source = "s";
  oc.object = "laptops";
  std::vector<freshet::core::event_draft> drafts;
  const freshet::store::emit_fn emit = [&](freshet::core::event_draft d) {
    drafts.push_back(std::move(d));
    return static_cast<std::uint64_t>(drafts.size());
  };
  freshet::store::record_upsert with, empty;
  with.id = "r\"1";
  with.fields = boost::json::parse(R"({"b":2,"a":"x\n"})").as_object();
  empty.id = "r2";
  freshet::store::decide_upsert(oc, with, nullptr, emit);
  freshet::store::decide_upsert(oc, empty, nullptr, emit);
  ASSERT_EQ(drafts.size(), 2u);
  EXPECT_EQ(drafts[0].record_json, R"({"id":"r\"1","a":"x\n","b":2})");
  EXPECT_EQ(drafts[1].record_json, R"({"id":"r2"})");
  const auto doc = boost::json::parse(freshet::core::encode_event_json(7, drafts[0], "2026-12-03T00:00:00Z")).as_object();
  EXPECT_EQ(doc.at("record"), boost::json::parse(R"({"id":"r\"1","a":"x\n","b":2})"));
  EXPECT_EQ(doc.at("op"), "created");
  EXPECT_EQ(doc.at("at"), "2026-12-03T00:00:00Z");
}
