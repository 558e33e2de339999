// The OpenAPI document the binary serves (docs/openapi.json, embedded) held
// to the two tables it describes: the route table (every route, its method,
// scope and query parameters, and nothing else) and the error-code table
// (the ErrorCode enum, and each response's codes under their one status).
#include "app/routes.hpp"
#include "http/error_codes.hpp"
#include "web/static_files.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace freshet::app {
namespace {

namespace json = boost::json;

const json::object& document() {
  static const json::value doc = [] {
    for (const auto& f : web::static_files())
      if (f.path == "/api/openapi.json") return json::parse(f.bytes);
    return json::value();
  }();
  return doc.as_object();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

TEST(OpenApi, IsServedAndIs31) {
  ASSERT_TRUE(document().contains("openapi"));
  EXPECT_EQ(document().at("openapi").as_string(), "3.1.0");
}

TEST(OpenApi, EveryRouteIsDescribedWithItsScopeAndQueryParameters) {
  const auto& paths = document().at("paths").as_object();
  for (const auto& r : api_routes()) {
    SCOPED_TRACE(std::string(r.pattern));
    const auto* path = paths.if_contains(r.pattern);
    ASSERT_NE(path, nullptr) << "the route is not in the document";
    const auto* op = path->as_object().if_contains(lower(boost::beast::http::to_string(r.method)));
    ASSERT_NE(op, nullptr) << "the route's method is not in the document";
    const auto& scope = op->as_object().at("x-freshet-scope");
    if (r.needs) EXPECT_EQ(scope.as_string(), scope_name(*r.needs));
    else EXPECT_TRUE(scope.is_null());
    std::set<std::string> declared, documented;
    for (const auto& p : r.params) declared.insert(std::string(p.name));
    if (const auto* ps = op->as_object().if_contains("parameters"))
      for (const auto& p : ps->as_array())
        if (p.at("in").as_string() == "query") documented.insert(std::string(p.at("name").as_string()));
    if (r.any_params) EXPECT_TRUE(documented.empty());
    else EXPECT_EQ(documented, declared);
  }
}

TEST(OpenApi, DescribesNoRouteTheTableLacks) {
  for (const auto& [pattern, ops] : document().at("paths").as_object())
    for (const auto& [method, op] : ops.as_object()) {
      const route_spec* r = find_route(std::string_view(pattern));
      ASSERT_NE(r, nullptr) << std::string(pattern);
      EXPECT_EQ(r->pattern, std::string_view(pattern));
      EXPECT_EQ(lower(boost::beast::http::to_string(r->method)), std::string_view(method)) << std::string(pattern);
    }
}

TEST(OpenApi, ErrorCodesAreTheTablesAndEachSitsUnderItsStatus) {
  std::set<std::string> table, enumerated, used;
  for (const auto& c : http::error_codes()) EXPECT_TRUE(table.insert(std::string(c.code)).second) << c.code << " twice";
  for (const auto& c : document().at("components").at("schemas").at("ErrorCode").at("enum").as_array())
    enumerated.insert(std::string(c.as_string()));
  EXPECT_EQ(enumerated, table);

  // Each error response says "Codes: a, b." and each of those has that status.
  const std::regex codes_re("Codes: ([a-z_, ]+)\\.");
  auto check = [&](std::string_view where, std::string_view status, const std::string& desc) {
    std::smatch m;
    if (!std::regex_search(desc, m, codes_re)) return;
    std::stringstream list(m[1].str());
    for (std::string code; std::getline(list, code, ',');) {
      code.erase(0, code.find_first_not_of(' '));
      const auto* spec = http::find_error_code(code);
      ASSERT_NE(spec, nullptr) << code << " in " << where;
      EXPECT_EQ(std::to_string(static_cast<unsigned>(spec->status)), std::string(status)) << code << " under " << where;
      used.insert(code);
    }
  };
  for (const auto& [pattern, ops] : document().at("paths").as_object())
    for (const auto& [method, op] : ops.as_object())
      for (const auto& [status, res] : op.at("responses").as_object())
        check(std::string(method) + " " + std::string(pattern), status, std::string(res.at("description").as_string()));
  for (const auto& [status, desc] : document().at("x-freshet-any-request").at("responses").as_object())
    check("any request", status, std::string(desc.as_string()));
  for (const auto& c : table)
    if (c != "invalid_message" && c != "already_subscribed")  // WebSocket frames (WsError), not HTTP answers
      EXPECT_TRUE(used.count(c)) << c << " is answered by no documented response";
}

}  // namespace
}  // namespace freshet::app
