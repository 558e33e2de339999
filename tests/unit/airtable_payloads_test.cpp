#include "sources/airtable_payloads.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace freshet::sources {
namespace {

TEST(AirtablePayloads, ChangesAndDestructionsPerTableWithTheLastActWinning) {
  auto page = boost::json::parse(R"({"cursor":5,"mightHaveMore":true,"payloads":[
    {"changedTablesById":{"tblA":{"createdRecordsById":{"rec1":{}},"changedRecordsById":{"rec2":{}}}}},
    {"changedTablesById":{"tblA":{"destroyedRecordIds":["rec1","rec3"]},"tblB":{"changedRecordsById":{"rec9":{}}}}},
    {"changedTablesById":{"tblA":{"changedRecordsById":{"rec3":{}}}}},
    {"somethingElse":true}, 7]})").as_object();
  const auto p = parse_payload_page(page, 2);
  EXPECT_EQ(p.next_cursor, 5);
  EXPECT_TRUE(p.more);
  EXPECT_EQ(p.payloads, 5u);
  ASSERT_EQ(p.tables.size(), 2u);
  EXPECT_EQ(p.tables.at("tblA").changed, (std::set<std::string>{"rec2", "rec3"}));
  EXPECT_EQ(p.tables.at("tblA").destroyed, (std::set<std::string>{"rec1"}));
  EXPECT_EQ(p.tables.at("tblB").changed, (std::set<std::string>{"rec9"}));
}

TEST(AirtablePayloads, ACursorThatDidNotMoveMeansNoMoreWhateverItSays) {
  auto page = boost::json::parse(R"({"cursor":"x","mightHaveMore":true,"payloads":[]})").as_object();
  const auto p = parse_payload_page(page, 4);
  EXPECT_EQ(p.next_cursor, 4);
  EXPECT_FALSE(p.more);
}

}  // namespace
}  // namespace freshet::sources
