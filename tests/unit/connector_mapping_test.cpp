// The connectors' pure parts: how upstream records become stored records, and
// the filters they send (upstream-apis.md 1.5, 1.6, 2.4).
#include "sources/airtable_connector.hpp"
#include "sources/knack_connector.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace freshet::sources {
namespace {

namespace json = boost::json;

app::object_config laptops() {
  app::object_config o;
  o.name = "laptops";
  o.key = "object_1";
  o.fields = {{"status", "field_3"}, {"county", "field_5"}, {"modified", "field_20"}, {"note", "field_9"},
              {"donation", "field_6"}};
  o.modified_field = "modified";
  o.tenant_field = "county";
  return o;
}

TEST(KnackMapping, RawValuesUnderLocalNamesAndNullForEmpty) {
  auto rec = json::parse(R"({"id":"5d79","field_3":"<b>Ready</b>","field_3_raw":"Ready",
    "field_5":"anoka","field_5_raw":"anoka","field_9":"",
    "field_6":"<span class=\"abc\">Library</span>","field_6_raw":[{"id":"abc","identifier":"Library"}],
    "field_20":"11/23/2026 1:38pm","field_20_raw":{"unix_timestamp":1795441080000,"date":"11/23/2026"}})").as_object();
  auto up = knack::map_record(laptops(), rec);
  EXPECT_EQ(up.id, "5d79");
  EXPECT_EQ(up.tenant, "anoka");
  EXPECT_EQ(up.fields.at("status"), "Ready");  // never the formatted HTML
  EXPECT_TRUE(up.fields.at("note").is_null());
  EXPECT_EQ(up.fields.at("donation").as_array()[0].as_object().at("identifier"), "Library");
  EXPECT_EQ(knack::max_modified_ms(laptops(), {up}, 0), 1795441080000);
  EXPECT_EQ(knack::max_modified_ms(laptops(), {up}, 1795441080001), 1795441080001);
}

TEST(KnackMapping, ModifiedFilterIsOnOrAfterAtTheFieldsGranularity) {
  // 1795441080000 ms is 2026-11-23 13:38 in the app's local frame (Knack's "Z" quirk).
  EXPECT_EQ(knack::modified_filter("field_20", true, 1795441080000),
            R"({"match":"or","rules":[{"field":"field_20","operator":"is","value":"11/23/2026 13:38"},)"
            R"({"field":"field_20","operator":"is after","value":"11/23/2026 13:38"}]})");
  EXPECT_EQ(knack::modified_filter("field_20", false, 1795441080000),
            R"({"match":"or","rules":[{"field":"field_20","operator":"is","value":"11/23/2026"},)"
            R"({"field":"field_20","operator":"is after","value":"11/23/2026"}]})");
}

TEST(TenantOf, StringsNumbersListsAndConnections) {
  json::value conn = json::parse(R"([{"id":"x","identifier":"Hennepin"}])");
  json::value num = 42, empty = json::array{}, str = "Q1-2026", none = nullptr;
  EXPECT_EQ(tenant_of(&conn), "Hennepin");
  EXPECT_EQ(tenant_of(&num), "42");
  EXPECT_EQ(tenant_of(&empty), "");
  EXPECT_EQ(tenant_of(&str), "Q1-2026");
  EXPECT_EQ(tenant_of(&none), "");
  EXPECT_EQ(tenant_of(nullptr), "");
}

TEST(AirtableMapping, AbsentFieldsAreNullAndTheTenantIsRead) {
  app::object_config o;
  o.fields = {{"name", "Name"}, {"quarter", "Quarter"}, {"done", "Done"}};
  o.tenant_field = "quarter";
  auto up = airtable::map_record(o, json::parse(R"({"id":"recA","createdTime":"x","fields":{"Name":"Ada","Quarter":"Q3-2025"}})").as_object());
  EXPECT_EQ(up.id, "recA");
  EXPECT_EQ(up.tenant, "Q3-2025");
  EXPECT_TRUE(up.fields.at("done").is_null());  // a false checkbox is left out by Airtable
  EXPECT_EQ(up.fields.size(), 3u);
}

// The mappers move values out of the upstream record: a key that two local
// names map must reach both, and the record passed as a copy stays whole.
TEST(ConnectorMapping, AKeyMappedTwiceReachesBothNames) {
  app::object_config k;
  k.fields = {{"county", "field_5"}, {"region", "field_5"}, {"status", "field_3"}};
  const auto rec = json::parse(R"({"id":"k1","field_5":"x","field_5_raw":[{"id":"c","identifier":"Anoka"}],
    "field_3":"Ready"})").as_object();
  auto up = knack::map_record(k, rec);
  EXPECT_EQ(up.fields.at("county"), up.fields.at("region"));
  EXPECT_EQ(up.fields.at("region").as_array()[0].as_object().at("identifier"), "Anoka");
  EXPECT_EQ(up.fields.at("status"), "Ready");
  EXPECT_EQ(rec.at("field_5_raw").as_array().size(), 1u);  // the caller's copy is untouched

  app::object_config a;
  a.fields = {{"name", "Name"}, {"title", "Name"}};
  auto at = airtable::map_record(a, json::parse(R"({"id":"recB","fields":{"Name":"Ada"}})").as_object());
  EXPECT_EQ(at.fields.at("name"), "Ada");
  EXPECT_EQ(at.fields.at("title"), "Ada");
}

TEST(AirtableFormulas, ThePatternsOfSection24) {
  app::object_config o;
  EXPECT_EQ(airtable::modified_formula(o, "2026-01-01T00:00:00.000Z"),
            R"(IS_AFTER(IF(NOT(LAST_MODIFIED_TIME()), CREATED_TIME(), LAST_MODIFIED_TIME()), "2026-01-01T00:00:00.000Z"))");
  o.fields = {{"changed", "Last Modified"}};
  o.modified_field = "changed";
  EXPECT_EQ(airtable::modified_formula(o, "T"), R"(IS_AFTER({Last Modified}, "T"))");
  EXPECT_EQ(airtable::ids_formula({"recA", "recB"}), R"(OR(RECORD_ID()="recA",RECORD_ID()="recB"))");
  EXPECT_EQ(airtable::quote(R"(a"b\c)"), R"("a\"b\\c")");
}

}  // namespace
}  // namespace freshet::sources
