#include "app/request_metrics.hpp"
#include "app/routes.hpp"

#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>

namespace freshet::app {
namespace {

std::string check(std::string_view target) {
  auto url = boost::urls::parse_origin_form(target).value();
  const route_spec* r = find_route(url.path());
  if (!r) return "(no route)";
  auto e = check_query(*r, url);
  return e ? e->code + ": " + e->message : "ok";
}

TEST(Routes, PatternsMatchWholeSegments) {
  EXPECT_EQ(find_route("/api/objects/laptops/records")->pattern, "/api/objects/{object}/records");
  EXPECT_EQ(find_route("/api/objects/laptops/records/r1")->pattern, "/api/objects/{object}/records/{id}");
  EXPECT_EQ(find_route("/api/notifications/12/retry")->pattern, "/api/notifications/{id}/retry");
  EXPECT_EQ(find_route("/api/objects//records"), nullptr);  // an empty segment is no name
  EXPECT_EQ(find_route("/api/objects/laptops"), nullptr);
  EXPECT_EQ(find_route("/api/eventsx"), nullptr);
  EXPECT_EQ(find_route("/index.html"), nullptr);
}

TEST(Routes, LiteralPathsMatchOnlyThemselves) {
  for (const auto& r : api_routes()) {
    if (r.pattern.find('{') != std::string_view::npos) continue;
    EXPECT_EQ(find_route(r.pattern), &r) << r.pattern;
    const std::string p(r.pattern);
    EXPECT_EQ(find_route(p + "/"), nullptr) << p;
    EXPECT_EQ(find_route(p.substr(0, p.size() - 1)), nullptr) << p;
  }
  EXPECT_EQ(find_route("/API/broadcast"), nullptr);
}

TEST(Routes, EachPatternIsUniqueAndHasAMethod) {
  std::set<std::string_view> seen;
  for (const auto& r : api_routes()) {
    EXPECT_TRUE(seen.insert(r.pattern).second) << r.pattern;
    EXPECT_TRUE(r.method == boost::beast::http::verb::get || r.method == boost::beast::http::verb::post) << r.pattern;
  }
}

TEST(Routes, QueriesAreCheckedAgainstTheRoute) {
  EXPECT_EQ(check("/api/events?object=laptops&object=donations&tenant=anoka&last_event_id=4"), "ok");
  EXPECT_EQ(check("/api/events?objct=laptops"),
            "unknown_parameter: 'objct' is not a parameter of GET /api/events; it takes object, tenant, last_event_id.");
  EXPECT_EQ(check("/api/events?tenant=a,b"),
            "invalid_parameter: 'tenant=a,b' reads as a list; repeat the parameter for each (tenant=a&tenant=b), or "
            "write a comma that is part of a name as %2C.");
  EXPECT_EQ(check("/api/events?tenant=Minneapolis%2C%20MN"), "ok");
  EXPECT_EQ(check("/api/events?tenant="), "invalid_parameter: 'tenant' is empty: name one, or leave the parameter out.");
  EXPECT_EQ(check("/api/objects/laptops/records?limit=5&limit=6"),
            "invalid_parameter: 'limit' is given twice; GET /api/objects/{object}/records takes one.");
  EXPECT_EQ(check("/api/objects?tenant=a"),
            "unknown_parameter: 'tenant' is not a parameter of GET /api/objects; it takes no query parameters.");
  // Where a token in the query is not accepted, authorization says so (token_in_query).
  EXPECT_EQ(check("/api/stats?access_token=x"), "ok");
  // A webhook sender's own query is not Freshet's to judge.
  EXPECT_EQ(check("/api/webhooks/hti?anything=1"), "ok");
}

}  // namespace
}  // namespace freshet::app

namespace freshet::app {
namespace {

// Every route is counted under its own pattern: a pattern missing from the
// metrics' labels would count as "/other", as webhooks and record pages once
// did (routes.cpp also refuses to compile then). Each route's slot is its own.
TEST(Routes, EveryRouteCountsUnderItsPattern) {
  for (const auto& r : api_routes()) {
    request_metrics m;
    m.record(metrics_slot(r), 200, 0.001);
    std::string out;
    m.write_prometheus(out);
    EXPECT_NE(out.find(fmt::format("freshet_http_requests_total{{route=\"{}\",status=\"200\"}} 1", r.pattern)),
              std::string::npos)
        << out;
    EXPECT_EQ(out.find("route=\"/other\""), std::string::npos) << out;
    EXPECT_EQ(m.total(), 1u);
  }
}

}  // namespace
}  // namespace freshet::app
