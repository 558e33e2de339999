#include "core/record_diff.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <thread>

namespace freshet::core {
namespace {

namespace json = boost::json;

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

TEST(RecordDiff, ChangedAddedAndRemovedFields) {
  auto before = obj(R"({"status":"Received","county":"hennepin","model":"T480","note":"x"})");
  auto after = obj(R"({"status":"Ready for Donation","county":"hennepin","model":"T480","serial":"HTI-1"})");
  auto d = diff_fields(before, after);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].field, "status");
  EXPECT_EQ(d[0].old_value, "Received");
  EXPECT_EQ(d[0].new_value, "Ready for Donation");
  EXPECT_EQ(d[1].field, "serial");
  EXPECT_TRUE(d[1].old_value.is_null());
  EXPECT_EQ(d[2].field, "note");
  EXPECT_TRUE(d[2].new_value.is_null());
  EXPECT_EQ(json::serialize(changed_json({d[0]})), R"({"status":{"old":"Received","new":"Ready for Donation"}})");
}

TEST(RecordDiff, WatchFieldsLimitWhatCounts) {
  auto before = obj(R"({"status":"Received","model":"T480"})");
  auto after = obj(R"({"status":"Received","model":"X270"})");
  EXPECT_EQ(diff_fields(before, after).size(), 1u);
  EXPECT_TRUE(diff_fields(before, after, {"status", "county"}).empty());
}

TEST(RecordDiff, NestedValuesCompareByContentNotKeyOrder) {
  auto before = obj(R"({"donation":[{"id":"a1","identifier":"Library"}],"when":{"date":"06/01/2026","time":720}})");
  auto after = obj(R"({"when":{"time":720,"date":"06/01/2026"},"donation":[{"identifier":"Library","id":"a1"}]})");
  EXPECT_TRUE(diff_fields(before, after).empty());
  EXPECT_EQ(record_hash(before), record_hash(after));
  after["when"].as_object()["time"] = 721;
  EXPECT_EQ(diff_fields(before, after).size(), 1u);
  EXPECT_NE(record_hash(before), record_hash(after));
}

TEST(RecordDiff, CanonicalJsonSortsKeysAtEveryDepth) {
  EXPECT_EQ(canonical_json(json::parse(R"({"b":1,"a":{"d":[{"z":1,"y":2}],"c":null}})")),
            R"({"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1})");
  EXPECT_EQ(record_hash(obj("{}")).size(), 64u);
}

// The standard's vectors (FIPS 180-2), twice on one thread (its context is reused) and on another.
TEST(RecordDiff, Sha256HexGivesTheStandardDigests) {
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  const std::string empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  EXPECT_EQ(sha256_hex("abc"), abc);
  EXPECT_EQ(sha256_hex(""), empty);
  EXPECT_EQ(sha256_hex("abc"), abc);
  std::string other;
  std::thread([&] { other = sha256_hex("abc"); }).join();
  EXPECT_EQ(other, abc);
}

}  // namespace
}  // namespace freshet::core
